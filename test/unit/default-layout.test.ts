// The per-domain layout's names, which pools a scan for one domain reads, the domain pools a root
// directory holds that a host has not defined, and where a run's default location goes.
import {
  domainOfPool,
  domainPoolName,
  domainPoolPath,
  poolsForDomain,
  undefinedDomainPools,
} from '../../src/pool/default-layout';
import { mapBounded } from '../../src/pool/bounded-map';
import { resolveLocation } from '../../src/core/shared/targets';
import type { BackupDefinition } from '../../src/model';

const A = '0b6a7c1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b';
const B = 'f00dcafe-0000-4000-8000-000000000001';
const push = (extra: Partial<BackupDefinition> = {}): BackupDefinition => ({
  mode: 'push',
  kind: 'auto',
  disks: [],
  ...extra,
});

describe('per-domain layout names', () => {
  it('names a domain pool by root and lower-case uuid, its directory under the root', () => {
    expect(domainPoolName('volback', A.toUpperCase())).toBe(`volback-${A}`);
    expect(domainPoolPath('/var/lib/libvirt/backups/', A)).toBe(`/var/lib/libvirt/backups/${A}`);
  });

  it('takes only a full uuid after the root for a domain pool', () => {
    expect(domainOfPool('volback', `volback-${A}`)).toBe(A);
    expect(domainOfPool('volback', 'volback')).toBeUndefined();
    expect(domainOfPool('volback', 'volback-rbd')).toBeUndefined();
    expect(domainOfPool('volback', `volback-${A}-old`)).toBeUndefined();
    expect(domainOfPool('volback', `other-${A}`)).toBeUndefined();
    expect(domainOfPool('backups', `volback-${A}`)).toBeUndefined();
  });
});

describe('which pools a scan reads', () => {
  const active = ['default', 'volback', `volback-${A}`, `volback-${B}`, 'volback-rbd', 'images'];

  it('reads every pool without a domain', () => {
    expect(poolsForDomain(active, 'volback')).toEqual(active);
  });

  it("skips only the other domains' pools for one domain", () => {
    expect(poolsForDomain(active, 'volback', A.toUpperCase())).toEqual([
      'default',
      'volback',
      `volback-${A}`,
      'volback-rbd',
      'images',
    ]);
  });

  it('names the domain directories of the root that have no active pool', () => {
    expect(
      undefinedDomainPools('volback', [B, 'vm1.vda.x.qcow2', A, 'not-a-uuid'], [`volback-${A}`]),
    ).toEqual([{ pool: `volback-${B}`, domainUuid: B }]);
  });
});

describe('where a run goes', () => {
  const defaults = { pool: 'volback', path: '/srv/b', layout: 'per-domain' as const };

  it("sends a domain's default location to its own pool, with the root to create first", () => {
    expect(resolveLocation(push(), defaults, A)).toEqual({
      pool: `volback-${A}`,
      path: `/srv/b/${A}`,
      root: { pool: 'volback', path: '/srv/b' },
    });
  });

  it('keeps the root with the single layout, and a definition location as it is', () => {
    expect(resolveLocation(push(), { ...defaults, layout: 'single' }, A)).toEqual({
      pool: 'volback',
      path: '/srv/b',
    });
    expect(resolveLocation(push(), { pool: 'volback', path: '/srv/b' }, A)).toEqual({
      pool: 'volback',
      path: '/srv/b',
    });
    expect(resolveLocation(push({ location: { pool: 'fast' } }), defaults, A)).toEqual({ pool: 'fast' });
  });

  it("refuses a definition that sends disks into another domain's pool", () => {
    expect(() => resolveLocation(push({ location: { pool: `volback-${B}` } }), defaults, A)).toThrow(
      /holds the backups of domain f00dcafe/,
    );
    expect(() =>
      resolveLocation(
        push({ disks: [{ name: 'vda', backup: true, target: { pool: `volback-${B}` } }] }),
        defaults,
        A,
      ),
    ).toThrow(/holds the backups/);
    expect(resolveLocation(push({ location: { pool: `volback-${A}` } }), defaults, A)).toEqual({
      pool: `volback-${A}`,
    });
  });
});

describe('mapBounded', () => {
  it('keeps order and never runs more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapBounded([5, 1, 4, 2, 3, 0], 2, async (n) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, n * 3));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(most).toBe(2);
  });

  it('rejects with the first failure after every started call settled', async () => {
    let settled = 0;
    await expect(
      mapBounded([1, 2, 3], 3, async (n) => {
        await new Promise((r) => setTimeout(r, n * 5));
        settled++;
        if (n === 1) throw new Error('one');
      }),
    ).rejects.toThrow('one');
    expect(settled).toBe(3);
  });
});

// The pure parts of backing up many domains: which domains a selector picks, labels read from a
// domain's <metadata>, the flags, and the exit code of a summary.
import { chooseDomains, globToRegExp, type DomainOutcome } from '../../src/core/backup/many';
import { domainLabels, LABELS_NAMESPACE } from '../../src/xml/domain-labels';
import { manyExitCode, parallelFrom, selectorFrom } from '../../src/cli/commands/backup-many';
import { VolbackError, ErrorCodes } from '../../src/errors';
import type { BackupResult } from '../../src/core/backup/coordinator';

const domains = ['web-1', 'web-2', 'db-1', 'web.x', 'webby'].map((name, i) => ({
  name,
  uuid: `0000000${i}-0000-4000-8000-000000000000`,
  labels: name.startsWith('db') ? ['nightly'] : [],
}));

describe('selecting domains', () => {
  it('--all takes every domain, sorted by name', () => {
    expect(chooseDomains(domains, { all: true }).map((d) => d.name)).toEqual([
      'db-1',
      'web-1',
      'web-2',
      'web.x',
      'webby',
    ]);
  });
  it('a glob matches whole names; only * and ? are special', () => {
    expect(chooseDomains(domains, { match: 'web-*' }).map((d) => d.name)).toEqual(['web-1', 'web-2']);
    expect(chooseDomains(domains, { match: 'web?x' }).map((d) => d.name)).toEqual(['web.x']);
    expect(chooseDomains(domains, { match: 'web.x' }).map((d) => d.name)).toEqual(['web.x']);
    expect(chooseDomains(domains, { match: 'web' })).toEqual([]);
    expect(globToRegExp('a(b)[c]+').test('a(b)[c]+')).toBe(true);
  });
  it('a label takes the labelled domains', () => {
    expect(chooseDomains(domains, { label: 'nightly' }).map((d) => d.name)).toEqual(['db-1']);
  });
});

describe('domainLabels', () => {
  it("reads labels in volback's namespace, with libvirt's prefixes, and nothing else", async () => {
    const xml =
      `<domain type='kvm'><name>vm</name><metadata>` +
      `<volback:backup xmlns:volback="${LABELS_NAMESPACE}"><volback:label>nightly</volback:label>` +
      `<volback:label>web</volback:label><volback:label>bad label</volback:label></volback:backup>` +
      `<other:backup xmlns:other="https://example.com/x"><other:label>foreign</other:label></other:backup>` +
      `</metadata></domain>`;
    expect(await domainLabels(xml)).toEqual(['nightly', 'web']);
    expect(await domainLabels(`<domain><name>vm</name></domain>`)).toEqual([]);
    expect(
      await domainLabels(
        `<domain><metadata><backup xmlns="${LABELS_NAMESPACE}"><label>x1</label></backup></metadata></domain>`,
      ),
    ).toEqual(['x1']);
  });
});

describe('flags', () => {
  it('one selector or a domain name, never both', () => {
    expect(selectorFrom({}, 'vm1')).toBeUndefined();
    expect(selectorFrom({ all: true }, undefined)).toEqual({ all: true });
    expect(selectorFrom({ match: 'web-*' }, undefined)).toEqual({ match: 'web-*' });
    expect(selectorFrom({ label: 'nightly' }, undefined)).toEqual({ label: 'nightly' });
    expect(() => selectorFrom({ all: true, match: 'x' }, undefined)).toThrow('exclude each other');
    expect(() => selectorFrom({ all: true }, 'vm1')).toThrow('exclude each other');
    expect(() => selectorFrom({}, undefined)).toThrow('missing argument');
    expect(() => selectorFrom({ parallel: '2' }, 'vm1')).toThrow('--parallel needs');
    expect(() => selectorFrom({ label: 'a b' }, undefined)).toThrow('not a plain word');
    expect(() => selectorFrom({ match: '' }, undefined)).toThrow('non-empty');
  });
  it('--parallel is 1..64, else the configured default', () => {
    expect(parallelFrom({}, 2)).toBe(2);
    expect(parallelFrom({ parallel: '8' }, 2)).toBe(8);
    for (const bad of ['0', '65', '-1', '2.5', 'x'])
      expect(() => parallelFrom({ parallel: bad }, 2)).toThrow();
  });
});

describe('manyExitCode', () => {
  const domain = domains[0];
  const ok = { domain, ok: true, result: {} as BackupResult } as DomainOutcome;
  const failed = { domain, ok: false, error: new Error('x') } as DomainOutcome;
  const cancelled = {
    domain,
    ok: false,
    error: new VolbackError(ErrorCodes.CANCELLED, 'cancelled'),
  } as DomainOutcome;
  it('0 all ok, 3 some failed, 1 all failed, 130 cancelled', () => {
    expect(manyExitCode([])).toBe(0);
    expect(manyExitCode([ok, ok])).toBe(0);
    expect(manyExitCode([ok, failed])).toBe(3);
    expect(manyExitCode([failed, failed])).toBe(1);
    expect(manyExitCode([ok, cancelled])).toBe(130);
  });
});

// The pure parts of `volback pool migrate`: chains of the root's sets, which sets cannot move, the
// retargeted copy, and the metadata-only rebase argv its dir driver runs.
import type { BackupSet } from '../../src/model';
import type { CatalogScan, StoredSet } from '../../src/core/catalog/scan';
import { chainRefusal, chainsOf, migrationRefusal, retargetSet } from '../../src/core/migration/pool-migrate';
import { claimsOf } from '../../src/core/removal/ownership';
import { backupVolumeName, metadataVolumeName } from '../../src/pool/volume-names';
import { keyedLayer, rebaseUnsafeArgv } from '../../src/tools/qemu-img';
import type { PoolRef } from '../../src/pool/driver';
import { createDirDriver } from '../../pool-drivers/dir';

const set = (id: string, minute: number, parentId?: string, over: Partial<BackupSet> = {}): BackupSet => ({
  id,
  volbackVersion: '0',
  mode: 'push',
  kind: parentId ? 'incremental' : 'full',
  state: 'complete',
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, minute)),
  parentId,
  domain: { name: 'vm1', uuid: '11111111-2222-3333-4444-555555555555' },
  disks: [
    {
      id: `${id}-vda`,
      target: 'vda',
      sourcePath: '/d/vda.qcow2',
      sourceFormat: 'qcow2',
      volume: { pool: 'volback', name: `vm1.vda.${id}.qcow2`, format: 'qcow2' },
      kind: parentId ? 'incremental' : 'full',
      virtualSize: 1024,
      bytesCopied: 0,
    },
  ],
  domainXml: '<domain/>',
  ...over,
});

describe('pool migrate: chains and refusals', () => {
  it('groups sets into chains, each oldest first, a set whose parent is elsewhere starting its own', () => {
    const chains = chainsOf([
      set('c', 3, 'b'),
      set('a', 1),
      set('b', 2, 'a'),
      set('x', 4),
      set('y', 5, 'gone'),
    ]);
    expect(chains.map((c) => c.map((s) => s.id))).toEqual([['a', 'b', 'c'], ['x'], ['y']]);
  });

  it('refuses sets that are not complete or not wholly in the root; an encrypted one moves (with its key)', () => {
    expect(migrationRefusal(set('a', 1), 'volback')).toBeUndefined();
    expect(migrationRefusal(set('a', 1, undefined, { state: 'merging' }), 'volback')).toMatch(
      /state merging/,
    );
    expect(
      migrationRefusal(
        set('a', 1, undefined, { encryption: { secretUuid: 'u' } as BackupSet['encryption'] }),
        'volback',
      ),
    ).toBeUndefined();
    expect(migrationRefusal(set('a', 1), 'other')).toMatch(/vda backup is in pool volback, not in other/);
    const external = set('a', 1);
    delete external.disks[0].volume;
    expect(migrationRefusal(external, 'volback')).toMatch(/external/);
  });

  it('retargets only the data volumes pool, nothing else', () => {
    const moved = retargetSet(set('a', 1), 'volback-x');
    expect(moved.disks[0].volume).toEqual({ pool: 'volback-x', name: 'vm1.vda.a.qcow2', format: 'qcow2' });
    expect({ ...moved, disks: [] }).toEqual({ ...set('a', 1), disks: [] });
  });

  it('re-points a copy with a metadata-only rebase (-u)', () => {
    expect(
      rebaseUnsafeArgv({ path: '/d/c.qcow2', format: 'qcow2' }, { path: '/d/p.qcow2', format: 'qcow2' }),
    ).toEqual(['qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', '/d/p.qcow2', '-F', 'qcow2', '/d/c.qcow2']);
  });

  it('re-points an encrypted copy opened with its key, read from a pipe, never argv', () => {
    const key = { id: 'chain-key', value: Buffer.from('cGFzc3BocmFzZQ==') };
    const argv = rebaseUnsafeArgv(keyedLayer('/d/c.qcow2', key), { path: '/d/p.qcow2', format: 'qcow2' });
    expect(argv).toEqual([
      'qemu-img',
      'rebase',
      '--object',
      'secret,id=chain-key,file=/dev/fd/3,format=base64',
      '-u',
      '-f',
      'qcow2',
      '-b',
      '/d/p.qcow2',
      '-F',
      'qcow2',
      'json:{"encrypt":{"key-secret":"chain-key"},"driver":"qcow2","file":{"driver":"file","filename":"/d/c.qcow2"}}',
    ]);
    expect(argv.join(' ')).not.toContain(key.value.toString());
  });
});

describe('pool migrate: names checked before the first byte is copied', () => {
  const ROOT = 'volback';
  const TARGET = 'volback-11111111-2222-3333-4444-555555555555';
  /** A set whose data volume has the name volback gives it (ids are uuids, as in real metadata). */
  const named = (n: number, parentId?: string): BackupSet => {
    const id = `0000000${n}-aaaa-4bbb-8ccc-dddddddddddd`;
    const s = set(id, n, parentId);
    s.disks[0].id = `0000000${n}-eeee-4fff-8000-111111111111`;
    s.disks[0].volume!.name = backupVolumeName({
      domain: 'vm1',
      disk: 'vda',
      createdAt: s.createdAt,
      setId: id,
      format: 'qcow2',
    });
    return s;
  };
  const stored = (s: BackupSet, pool: string): StoredSet => ({
    set: pool === ROOT ? s : retargetSet(s, pool),
    pool,
    metadataVolume: metadataVolumeName({ domain: 'vm1', createdAt: s.createdAt, setId: s.id }),
  });
  const scanOf = (sets: StoredSet[]): CatalogScan => ({
    catalog: {} as CatalogScan['catalog'],
    stored: sets,
    invalid: [],
    strayVolumes: [],
    damage: [],
    liveRestores: [],
    pools: [ROOT, TARGET],
    unreadable: [],
  });
  const refusal = (members: StoredSet[], others: StoredSet[] = []): string | undefined => {
    const all = [...members, ...others];
    const inTarget = new Map(all.filter((s) => s.pool === TARGET).map((s) => [s.set.id, s]));
    const claims = claimsOf(all.filter((s) => s.pool === TARGET).map((s) => s.set));
    return chainRefusal(scanOf(all), members, inTarget, claims, TARGET, ROOT);
  };

  it('moves a chain whose volumes are its own and whose names are free in the domain pool', () => {
    const full = named(1);
    expect(refusal([stored(full, ROOT), stored(named(2, full.id), ROOT)])).toBeUndefined();
  });

  it('keeps a chain with a <target volume> name: the root copy could not be deleted after it', () => {
    const custom = named(1);
    custom.disks[0].volume!.name = 'vm1-vda-custom.qcow2';
    expect(refusal([stored(custom, ROOT)])).toMatch(/volume vm1-vda-custom.qcow2: its name is not the one/);
  });

  it('keeps a chain when a set in the domain pool names a volume the copy would replace', () => {
    const root = named(1);
    const other = named(3);
    other.disks[0].volume!.name = root.disks[0].volume!.name; // e.g. a forged or foreign document
    expect(refusal([stored(root, ROOT)], [stored(other, TARGET)])).toMatch(
      new RegExp(`holds ${root.disks[0].volume!.name.replace(/\./g, '\\.')}, a volume of set ${other.id}`),
    );
  });

  it('keeps a chain when another root set names the same volume', () => {
    const a = named(1);
    const b = named(2);
    b.disks[0].volume!.name = a.disks[0].volume!.name;
    expect(refusal([stored(a, ROOT)], [stored(b, ROOT)])).toMatch(new RegExp(`set ${b.id} also names it`));
  });

  it('keeps a chain whose checksums are not named after their data volume', () => {
    const s = named(1);
    s.disks[0].checksums = { document: 'elsewhere.sums', sha256: '0'.repeat(64) } as never;
    expect(refusal([stored(s, ROOT)])).toMatch(/checksums elsewhere.sums are not named after/);
  });

  it('finishes a committed set: its own copy in the domain pool is no conflict', () => {
    const s = named(1);
    expect(refusal([stored(s, ROOT)], [stored(s, TARGET)])).toBeUndefined();
  });
});

describe('the dir driver refuses to copy layers it cannot reach', () => {
  // A pool as copyLayerRefusal sees it: its type and its connection's URI (kindOf reads only that).
  const poolOn = (uri: string, type = 'dir') =>
    ({ name: 'volback', type, conn: { getURI: async () => uri } }) as unknown as PoolRef;
  const driver = createDirDriver();

  it('copies out of a dir pool of this host', async () => {
    expect(await driver.copyLayerRefusal!(poolOn('qemu:///system'))).toBeUndefined();
  });

  it('refuses a dir pool of another host, and a pool of another type, naming the pool', async () => {
    expect(await driver.copyLayerRefusal!(poolOn('qemu+tcp://10.0.0.2/system'))).toMatch(
      /pool 'volback' is on another host/,
    );
    expect(await driver.copyLayerRefusal!(poolOn('qemu:///system', 'rbd'))).toMatch(
      /only from dir pools, and pool 'volback' is rbd/,
    );
  });
});

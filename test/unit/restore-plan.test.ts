// Unit tests of the pure parts of restore: set lookup by id or prefix, disk selection, size estimate,
// dropped disks, convert progress parsing, restored volume names and the clone rewrite of domain XML.
import { buildCatalog } from '../../src/core/catalog/chains';
import {
  disksToDrop,
  domainStateName,
  findRestorableSet,
  restoreSizeEstimate,
  selectDisks,
} from '../../src/core/restore/plan';
import { ErrorCodes, isVolbackError } from '../../src/errors';
import type { BackupSet, DiskBackup } from '../../src/model';
import {
  isSafeVolumeName,
  parseBackupVolumeName,
  parseMetadataVolumeName,
  restoredVolumeName,
} from '../../src/pool/volume-names';
import { parseConvertProgress } from '../../src/tools/qemu-img';
import { parseDomainXml, rewriteDomainXml, type DomainDisk } from '../../src/xml/libvirt-domain';

const MiB = 1024 * 1024;
const UUID = '4dea22b3-1d52-d8f3-2516-782e98ab3fa0';
let n = 0;

function disk(target: string, over: Partial<DiskBackup> = {}): DiskBackup {
  n++;
  return {
    id: `d${String(n).padStart(7, '0')}-0000-4000-8000-000000000000`,
    target,
    sourcePath: `/images/${target}.qcow2`,
    sourceFormat: 'qcow2',
    volume: { pool: 'backups', name: `vm1.${target}.${n}.qcow2`, format: 'qcow2' },
    kind: 'full',
    virtualSize: 64 * MiB,
    bytesCopied: 2 * MiB,
    ...over,
  };
}

function set(id: string, disks: DiskBackup[], parent?: BackupSet, at = n): BackupSet {
  return {
    id,
    volbackVersion: '0.1.0',
    mode: 'push',
    kind: parent ? 'incremental' : 'full',
    state: 'complete',
    createdAt: new Date(Date.UTC(2026, 10, 26, 0, 0, at)),
    parentId: parent?.id,
    domain: { name: 'vm1', uuid: UUID },
    disks,
    domainXml: '<domain/>',
  };
}

function expectError(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isVolbackError(err) && err.code).toBe(code);
    if (message) expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('findRestorableSet', () => {
  const fullDisks = [disk('vda'), disk('vdb')];
  const full = set('1a2b3c4d-0000-4000-8000-000000000001', fullDisks);
  const inc = set(
    '1a2b3c4d-0000-4000-8000-000000000002',
    [disk('vda', { kind: 'incremental', parentId: fullDisks[0].id })],
    full,
  );
  const other = set('9f000000-0000-4000-8000-000000000003', [disk('vda')]);
  const orphan = set(
    '77000000-0000-4000-8000-000000000004',
    [disk('vda', { kind: 'incremental', parentId: 'gone' })],
    {
      ...full,
      id: 'ffffffff-0000-4000-8000-00000000dead',
    },
  );
  const catalog = buildCatalog([full, inc, other, orphan]);

  it('finds a set by its full id (any case) or a unique prefix', () => {
    expect(findRestorableSet(catalog, inc.id).set).toBe(inc);
    expect(findRestorableSet(catalog, inc.id.toUpperCase()).set).toBe(inc);
    expect(findRestorableSet(catalog, '9f').set).toBe(other);
    expect(findRestorableSet(catalog, '1a2b3c4d-0000-4000-8000-000000000001').set).toBe(full);
  });

  it('lists the candidates of an ambiguous prefix', () => {
    expectError(
      () => findRestorableSet(catalog, '1a2b3c4d'),
      ErrorCodes.INVALID_INPUT,
      /ambiguous: 1a2b3c4d-.*0001 \(vm1, full, .*\), 1a2b3c4d-.*0002 \(vm1, incremental/,
    );
  });

  it('reports unknown ids, garbage and unrestorable sets', () => {
    expectError(
      () => findRestorableSet(catalog, 'abcdef'),
      ErrorCodes.NOT_FOUND,
      /no backup set with id abcdef/,
    );
    expectError(() => findRestorableSet(catalog, 'vm1; rm'), ErrorCodes.INVALID_INPUT);
    expectError(() => findRestorableSet(catalog, ''), ErrorCodes.INVALID_INPUT);
    expectError(
      () => findRestorableSet(catalog, '77'),
      ErrorCodes.CHAIN_BROKEN,
      /cannot be restored: .*missing/,
    );
  });

  it('selects disks with their chains, full first', () => {
    const all = selectDisks(catalog, inc);
    expect(all.map((d) => [d.disk.target, d.chain.map((c) => c.kind)])).toEqual([
      ['vda', ['full', 'incremental']],
    ]);
    expect(selectDisks(catalog, full, ['vdb']).map((d) => d.disk.target)).toEqual(['vdb']);
    expectError(
      () => selectDisks(catalog, inc, ['vdb']),
      ErrorCodes.NOT_FOUND,
      /holds no backup of disk vdb \(it has vda\)/,
    );
    expectError(() => selectDisks(catalog, full, []), ErrorCodes.INVALID_INPUT);
    expectError(() => selectDisks(catalog, full, ['vda', 'vda']), ErrorCodes.INVALID_INPUT, /twice/);
  });

  it('refuses disks whose data is not in a pool (external backups)', () => {
    const ext = set('ee000000-0000-4000-8000-000000000005', [disk('vda', { volume: undefined })]);
    expectError(() => selectDisks(buildCatalog([ext]), ext), ErrorCodes.CHAIN_BROKEN, /external/);
  });
});

describe('restore helpers', () => {
  it('estimates the room a flattened copy needs, capped at the virtual size', () => {
    expect(
      restoreSizeEstimate([disk('vda', { bytesCopied: 3 * MiB }), disk('vda', { bytesCopied: MiB })]),
    ).toBe(4 * MiB);
    expect(
      restoreSizeEstimate([disk('vda', { bytesCopied: 60 * MiB }), disk('vda', { bytesCopied: 10 * MiB })]),
    ).toBe(64 * MiB);
  });

  it('drops hard disks that were not restored, keeps cdroms', () => {
    const d = (target: string, device: string): DomainDisk => ({
      target,
      device,
      type: 'file',
      readonly: false,
    });
    expect(
      disksToDrop([d('vda', 'disk'), d('vdb', 'disk'), d('sda', 'cdrom'), d('sdb', 'lun')], ['vda']),
    ).toEqual(['vdb', 'sdb']);
  });

  it('names domain states', () => {
    expect(domainStateName(1)).toBe('running');
    expect(domainStateName(5)).toBe('shut off');
    expect(domainStateName(42)).toBe('state 42');
  });
});

describe('parseConvertProgress', () => {
  it('reads complete records and keeps the unfinished tail', () => {
    expect(parseConvertProgress('    (0.00/100%)\r    (6.25/100%)\r    (12.')).toEqual({
      percents: [0, 6.25],
      rest: '    (12.',
    });
    expect(parseConvertProgress('    (12.' + '50/100%)\r')).toEqual({ percents: [12.5], rest: '' });
    expect(parseConvertProgress('    (100.00/100%)\n')).toEqual({ percents: [100], rest: '' });
    expect(parseConvertProgress('noise\r')).toEqual({ percents: [], rest: '' });
  });
});

describe('restoredVolumeName', () => {
  const at = new Date('2026-11-26T00:15:00.789Z');
  it('builds safe names no backup parser accepts', () => {
    const name = restoredVolumeName({ domain: 'vm1', disk: 'vda', restoredAt: at, format: 'qcow2' });
    expect(name).toBe('vm1.vda.restored-20261126T001500Z.qcow2');
    expect(
      restoredVolumeName({
        domain: 'db.example.com',
        disk: 'sdb',
        restoredAt: at,
        format: 'raw',
        sequence: 2,
      }),
    ).toMatch(/^db_example_com--[0-9a-f]{8}\.sdb\.restored-20261126T001500Z-2\.raw$/);
    expect(isSafeVolumeName(name)).toBe(true);
    expect(parseBackupVolumeName(name)).toBeUndefined();
    expect(parseMetadataVolumeName(name)).toBeUndefined();
  });
  it('stays within 127 characters for the longest domain and disk', () => {
    const name = restoredVolumeName({
      domain: 'x'.repeat(300),
      disk: 'a'.repeat(16),
      restoredAt: at,
      format: 'qcow2',
      sequence: 99,
    });
    expect(name.length).toBeLessThanOrEqual(127);
    expect(isSafeVolumeName(name)).toBe(true);
  });
  it('refuses bad disks, formats and sequences', () => {
    expectError(
      () => restoredVolumeName({ domain: 'vm1', disk: 'v/a', restoredAt: at, format: 'qcow2' }),
      ErrorCodes.INVALID_INPUT,
    );
    expectError(
      () => restoredVolumeName({ domain: 'vm1', disk: 'vda', restoredAt: at, format: 'vmdk' as 'raw' }),
      ErrorCodes.INVALID_INPUT,
    );
    expectError(
      () => restoredVolumeName({ domain: 'vm1', disk: 'vda', restoredAt: at, format: 'raw', sequence: 1 }),
      ErrorCodes.INVALID_INPUT,
    );
  });
});

describe('rewriteDomainXml for a clone', () => {
  it('drops MACs, the UUID and unrestored disks; keeps other devices', async () => {
    const xml = `<domain type='kvm'><name>vm1</name><uuid>${UUID}</uuid><devices>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>
      <interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/><model type='virtio'/></interface>
      <serial type='pty'><target port='0'/></serial></devices></domain>`;
    const out = await rewriteDomainXml(xml, {
      name: 'vm1-clone',
      newUuid: true,
      disks: { vda: { type: 'file', file: '/pool/vm1.vda.restored.raw', format: 'raw' } },
      dropDisks: ['vdb'],
      dropMacs: true,
    });
    expect(out).not.toContain('52:54:00:12:34:56');
    expect(out).not.toContain(UUID);
    expect(out).toContain('<source network="default"/>');
    expect(out).toContain('<serial type="pty">');
    const parsed = await parseDomainXml(out);
    expect(parsed.name).toBe('vm1-clone');
    expect(parsed.disks.map((d) => [d.target, d.sourcePath, d.format])).toEqual([
      ['vda', '/pool/vm1.vda.restored.raw', 'raw'],
    ]);
  });
});

// The backup planner: disk selection, full vs incremental per disk, targets, names, libvirt XML.
import type { BackupDefinition, BackupSet } from '../../src/model';
import { planBackup, type PlanInput } from '../../src/core/backup/plan';
import type { PoolDriverCapabilities } from '../../src/pool/driver';
import { checkpointXml, pushBackupXml } from '../../src/xml/libvirt-backup';
import type { DomainDisk } from '../../src/xml/libvirt-domain';

const disk = (target: string, over: Partial<DomainDisk> = {}): DomainDisk => ({
  target,
  device: 'disk',
  type: 'file',
  sourcePath: `/img/${target}.qcow2`,
  format: 'qcow2',
  readonly: false,
  ...over,
});

const MiB = 1024 * 1024;
/** What the dir driver declares; the planner reads nothing else of a pool. */
const DIR: PoolDriverCapabilities = {
  fullFormats: ['qcow2', 'raw'],
  incremental: { kind: 'overlay', format: 'qcow2' },
  libvirtPushTarget: true,
  qmpTarget: 'fd',
  hostCopySource: true,
};
const createdAt = new Date(Date.UTC(2026, 10, 26, 0, 15, 0, 123));
const SET = '1a2b3c4d-0000-4000-8000-000000000001';

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    domain: {
      name: 'vm1',
      uuid: 'u-1',
      disks: [disk('vda'), disk('vdb'), disk('sda', { device: 'cdrom', sourcePath: undefined })],
    },
    definition: { mode: 'push', kind: 'auto', disks: [] },
    facts: {
      vda: { virtualSize: 64 * MiB, allocation: 10 * MiB, compat: '1.1' },
      vdb: { virtualSize: 32 * MiB, allocation: 32 * MiB, compat: '1.1' },
    },
    base: undefined,
    defaults: { pool: 'volback', format: 'qcow2' },
    capabilities: () => DIR,
    setId: SET,
    createdAt,
    ...over,
  };
}

function baseSet(): BackupSet {
  return {
    id: 'b0000000-0000-4000-8000-000000000000',
    volbackVersion: '0.1.0',
    mode: 'push',
    kind: 'full',
    state: 'complete',
    createdAt: new Date(createdAt.getTime() - 3600_000),
    domain: { name: 'vm1', uuid: 'u-1' },
    checkpoint: { name: 'volback-b0000000-0000-4000-8000-000000000000', xml: '<domaincheckpoint/>' },
    disks: [
      {
        id: 'd-vda',
        target: 'vda',
        sourcePath: '/img/vda.qcow2',
        sourceFormat: 'qcow2',
        volume: { pool: 'fast', name: 'vm1.vda.old.qcow2', format: 'qcow2' },
        kind: 'full',
        virtualSize: 64 * MiB,
        bytesCopied: MiB,
      },
    ],
    domainXml: '<domain/>',
  };
}

describe('planBackup', () => {
  it('backs up every disk with defaults and skips devices that are not disks', () => {
    const plan = planBackup(input());
    expect(plan.kind).toBe('full');
    expect(plan.checkpointName).toBe(`volback-${SET}`);
    expect(plan.disks.map((d) => [d.target, d.pool, d.volumeName, d.format, d.kind, d.bitmap])).toEqual([
      ['vda', 'volback', 'vm1.vda.20261126T001500Z-1a2b3c4d.qcow2', 'qcow2', 'full', true],
      ['vdb', 'volback', 'vm1.vdb.20261126T001500Z-1a2b3c4d.qcow2', 'qcow2', 'full', true],
    ]);
    expect(plan.skipped).toEqual([{ target: 'sda', reason: 'cdrom devices are not backed up' }]);
    expect(plan.disks[0].maxBytes).toBeGreaterThanOrEqual(10 * MiB);
  });

  it("honours backup='no', per-disk targets and the definition's location", () => {
    const definition: BackupDefinition = {
      mode: 'push',
      kind: 'full',
      location: { pool: 'other' },
      disks: [
        { name: 'vda', backup: true, target: { pool: 'fast', volume: 'manual.raw', format: 'raw' } },
        { name: 'vdb', backup: false },
      ],
    };
    const plan = planBackup(input({ definition }));
    expect(plan.disks.map((d) => [d.target, d.pool, d.volumeName, d.format])).toEqual([
      ['vda', 'fast', 'manual.raw', 'raw'],
    ]);
    expect(plan.skipped).toContainEqual({ target: 'vdb', reason: "backup='no' in the definition" });
  });

  it.each(['vm1.vda.20200101T000000Z-0badc0de.qcow2', 'x.volback.xml', 'volback-catalog.0123456789ab.gen'])(
    'refuses a <target volume> that takes a name volback reserves (%s), before anything is made',
    (volume) => {
      const definition: BackupDefinition = {
        mode: 'push',
        kind: 'full',
        disks: [{ name: 'vda', backup: true, target: { volume } }],
      };
      expect(() => planBackup(input({ definition }))).toThrow(
        new RegExp(`names volume '${volume.replace(/\./g, '\\.')}' for disk vda, a name volback reserves`),
      );
    },
  );

  it('rejects a definition naming a disk the domain does not have', () => {
    const definition: BackupDefinition = {
      mode: 'push',
      kind: 'auto',
      disks: [{ name: 'vdz', backup: true }],
    };
    expect(() => planBackup(input({ definition }))).toThrow(
      "names disk 'vdz', but domain vm1 has vda, vdb, sda",
    );
  });

  it('continues the chain per disk and copies disks new to the chain in full', () => {
    const plan = planBackup(input({ base: { set: baseSet(), usable: true } }));
    expect(plan.kind).toBe('incremental');
    expect(plan.parent?.id).toBe(baseSet().id);
    const vda = plan.disks.find((d) => d.target === 'vda')!;
    expect([vda.kind, vda.pool, vda.parent?.id]).toEqual(['incremental', 'fast', 'd-vda']);
    expect(plan.disks.find((d) => d.target === 'vdb')!.kind).toBe('full');
    const xml = pushBackupXml(plan, ['vda', 'vdb', 'sda'], {
      vda: { type: 'file', path: '/b/vda.qcow2', format: 'qcow2' },
      vdb: { type: 'file', path: '/b/vdb.qcow2', format: 'qcow2' },
    });
    expect(xml).toBe(
      "<domainbackup mode='push'><incremental>volback-b0000000-0000-4000-8000-000000000000</incremental><disks>" +
        "<disk name='vda' backup='yes' type='file' backupmode='incremental' incremental='volback-b0000000-0000-4000-8000-000000000000'><target file='/b/vda.qcow2'/><driver type='qcow2'/></disk>" +
        "<disk name='vdb' backup='yes' type='file' backupmode='full'><target file='/b/vdb.qcow2'/><driver type='qcow2'/></disk>" +
        "<disk name='sda' backup='no'/></disks></domainbackup>",
    );
  });

  describe('reads how each pool stores backups from its driver', () => {
    const rawBase = (): BackupSet => {
      const set = baseSet();
      set.disks[0].volume = { pool: 'fast', name: 'vm1.vda.old.raw', format: 'raw' };
      return set;
    };
    const caps = (over: Partial<PoolDriverCapabilities>): PoolDriverCapabilities => ({ ...DIR, ...over });
    const vdaOf = (plan: ReturnType<typeof planBackup>) => plan.disks.find((d) => d.target === 'vda')!;

    it('continues a raw full with a qcow2 overlay where the driver stores increments as overlays', () => {
      const plan = planBackup(input({ base: { set: rawBase(), usable: true } }));
      expect([vdaOf(plan).kind, vdaOf(plan).pool, vdaOf(plan).format, vdaOf(plan).parent?.id]).toEqual([
        'incremental',
        'fast',
        'qcow2',
        'd-vda',
      ]);
    });

    it("continues a chain in a pool libvirt's push job cannot write (the QMP engine copies it)", () => {
      const capabilities = (pool: string) =>
        pool === 'fast' ? caps({ incremental: { kind: 'clone' }, libvirtPushTarget: false }) : DIR;
      const plan = planBackup(input({ base: { set: rawBase(), usable: true }, capabilities }));
      expect([vdaOf(plan).kind, vdaOf(plan).pool, vdaOf(plan).format]).toEqual([
        'incremental',
        'fast',
        'raw',
      ]);
    });

    it("stores a clone in its parent's format", () => {
      const capabilities = (pool: string) =>
        pool === 'fast' ? caps({ incremental: { kind: 'clone' } }) : DIR;
      const plan = planBackup(input({ base: { set: rawBase(), usable: true }, capabilities }));
      expect([vdaOf(plan).kind, vdaOf(plan).format]).toEqual(['incremental', 'raw']);
    });

    it.each([
      [
        'stores only fulls',
        caps({ incremental: { kind: 'none' } }),
        /pool fast cannot hold an increment \(its pool stores only full backups\)/,
      ],
      ['is gone', undefined, /pool fast cannot hold an increment \(that pool is not there any more\)/],
    ])('takes a full, saying why, when the chain pool %s', (_what, chainCaps, note) => {
      const capabilities = (pool: string) => (pool === 'fast' ? chainCaps : DIR);
      const plan = planBackup(input({ base: { set: baseSet(), usable: true }, capabilities }));
      expect([vdaOf(plan).kind, vdaOf(plan).pool]).toEqual(['full', 'volback']);
      expect(plan.notes.join('\n')).toMatch(note);
    });

    it("refuses a full format the target pool's driver does not take, and prefers one it does", () => {
      const rawOnly = () => caps({ fullFormats: ['raw'] });
      const definition: BackupDefinition = {
        mode: 'push',
        kind: 'full',
        disks: [{ name: 'vda', backup: true, target: { format: 'qcow2' } }],
      };
      expect(() => planBackup(input({ definition, capabilities: rawOnly }))).toThrow(
        'disk vda asks for a qcow2 volume, but pool volback stores full backups as raw',
      );
      const plan = planBackup(input({ capabilities: rawOnly }));
      expect(plan.disks.map((d) => d.format)).toEqual(['raw', 'raw']);
    });
  });

  it('falls back to a full with the reason when the base cannot be trusted', () => {
    const plan = planBackup(input({ base: { set: baseSet(), usable: false, reason: 'bitmap missing' } }));
    expect(plan.kind).toBe('full');
    expect(plan.fallbackReason).toBe('bitmap missing');
    expect(plan.parent).toBeUndefined();
    expect(plan.disks.every((d) => d.kind === 'full')).toBe(true);
  });

  it('refuses an explicit incremental without any base', () => {
    const definition: BackupDefinition = { mode: 'push', kind: 'incremental', disks: [] };
    expect(() => planBackup(input({ definition }))).toThrow(
      /no earlier backup with a checkpoint to build on/,
    );
  });

  it('copies compat 0.10 and raw disks in full and explains why', () => {
    const plan = planBackup(
      input({
        domain: {
          name: 'vm1',
          uuid: 'u-1',
          disks: [disk('vda'), disk('vdb', { format: 'raw', sourcePath: '/img/vdb.raw' })],
        },
        facts: {
          vda: { virtualSize: MiB, allocation: MiB, compat: '0.10' },
          vdb: { virtualSize: MiB, allocation: MiB },
        },
      }),
    );
    expect(plan.checkpointName).toBeUndefined();
    expect(plan.notes.join('\n')).toMatch(
      /compat 0\.10: persistent dirty bitmaps need compat 1\.1.*qemu-img amend -o compat=1\.1 \/img\/vda\.qcow2/,
    );
    expect(plan.notes.join('\n')).toMatch(/vdb is raw: only qcow2 disks keep dirty bitmaps/);
  });

  it('builds a checkpoint with bitmaps only where disks can carry them', () => {
    const plan = planBackup(
      input({ definition: { mode: 'push', kind: 'auto', disks: [{ name: 'vdb', backup: false }] } }),
    );
    expect(checkpointXml(plan, ['vda', 'vdb', 'sda'])).toBe(
      `<domaincheckpoint><name>volback-${SET}</name><description>volback backup set ${SET}</description><disks>` +
        `<disk name='vda' checkpoint='bitmap' bitmap='volback-${SET}'/><disk name='vdb' checkpoint='no'/><disk name='sda' checkpoint='no'/>` +
        '</disks></domaincheckpoint>',
    );
    // The QMP engine registers the checkpoint itself: parent and creation time as libvirt records them.
    expect(checkpointXml(plan, ['vda'], { parent: 'volback-older', creationTime: createdAt })).toBe(
      `<domaincheckpoint><name>volback-${SET}</name><description>volback backup set ${SET}</description>` +
        `<parent><name>volback-older</name></parent><creationTime>${Math.floor(createdAt.getTime() / 1000)}</creationTime>` +
        `<disks><disk name='vda' checkpoint='bitmap' bitmap='volback-${SET}'/></disks></domaincheckpoint>`,
    );
  });
});

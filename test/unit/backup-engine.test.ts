// Which copy engine a backup gets: the setting, the plan's kind, pools libvirt's job cannot write,
// a confined QEMU and a graph the QMP engine cannot use (pure logic), and the merged-bitmap actions
// of an incremental as libvirt 9.0 builds them.
import { decideEngine, engineSetting, qmpUnavailable, type EngineFacts } from '../../src/core/backup/engine';
import {
  BitmapChainBroken,
  backingChain,
  changedBitmapName,
  changedBitmapTag,
  changedBlocksActions,
  type NodeInfo,
} from '../../src/core/backup/qmp-job';

const facts = (over: Partial<EngineFacts> = {}): EngineFacts => ({
  setting: 'auto',
  incremental: false,
  unwritable: [],
  domain: 'vm1',
  confinedBy: [],
  fdPassing: true,
  fdTargets: [],
  ...over,
});

describe('engine decision', () => {
  it.each([
    ['auto', false, { engine: 'qmp', required: false }],
    ['auto', true, { engine: 'libvirt', why: 'incremental' }],
    ['qmp', false, { engine: 'qmp', required: false }],
    ['qmp', true, { engine: 'qmp', required: false }],
    ['libvirt', false, { engine: 'libvirt' }],
    ['libvirt', true, { engine: 'libvirt' }],
  ] as const)('into pools libvirt can write: setting %s, incremental %s', (setting, incremental, want) => {
    expect(decideEngine(facts({ setting, incremental }))).toMatchObject(want);
  });

  it.each(['auto', 'qmp'] as const)(
    'sends fulls and incrementals into a pool libvirt cannot write through QMP (setting %s)',
    (setting) => {
      for (const incremental of [false, true])
        expect(decideEngine(facts({ setting, incremental, unwritable: ['ceph'] }))).toEqual({
          engine: 'qmp',
          required: true,
          why: "libvirt's push job cannot write pool ceph",
        });
    },
  );

  it('refuses a pool libvirt cannot write when the setting is libvirt, naming pool and setting', () => {
    expect(decideEngine(facts({ setting: 'libvirt', unwritable: ['ceph', 'ceph2'] }))).toEqual({
      refused: "libvirt's push job cannot write pools ceph, ceph2, and backup_engine is libvirt",
    });
  });

  it('a confined QEMU: libvirt where it can write, refused where only QMP could', () => {
    expect(decideEngine(facts({ setting: 'qmp', confinedBy: ['apparmor'] }))).toEqual({
      engine: 'libvirt',
      why: 'vm1 is confined by apparmor',
    });
    expect(decideEngine(facts({ unwritable: ['ceph'], confinedBy: ['selinux'] }))).toEqual({
      refused:
        'pool ceph can only be written by the QMP engine, which cannot copy vm1: it is confined by selinux',
    });
  });

  it.each(['auto', 'qmp'] as const)(
    'on a remote connection, sends disks for descriptor-target pools through libvirt (setting %s)',
    (setting) => {
      for (const incremental of [false, true])
        expect(
          decideEngine(facts({ setting, incremental, fdPassing: false, fdTargets: ['default'] })),
        ).toEqual({
          engine: 'libvirt',
          why: 'vm1 is on a remote connection, which cannot pass QEMU the descriptors of pool default',
        });
    },
  );

  it('on a remote connection, keeps QMP for pools it reaches without descriptors (network nodes)', () => {
    expect(decideEngine(facts({ fdPassing: false, unwritable: ['ceph'] }))).toMatchObject({
      engine: 'qmp',
      required: true,
    });
    expect(decideEngine(facts({ fdPassing: false, fdTargets: [] }))).toMatchObject({ engine: 'qmp' });
    // a local connection passes descriptors: nothing changes
    expect(decideEngine(facts({ fdPassing: true, fdTargets: ['default'] }))).toMatchObject({ engine: 'qmp' });
  });

  it('on a remote connection, refuses a plan that needs QMP for one pool and descriptors for another', () => {
    expect(
      decideEngine(facts({ fdPassing: false, unwritable: ['ceph'], fdTargets: ['default', 'more'] })),
    ).toEqual({
      refused:
        'pool ceph can only be written by the QMP engine, which cannot copy vm1: it is on a remote connection, which cannot pass QEMU the descriptors of pools default, more',
    });
  });

  it('a graph QMP cannot use: libvirt when QMP was a preference, refused when it was required', () => {
    const why = 'disk vda (alias virtio-disk0): its top node is a copy-on-read node, not qcow2';
    expect(qmpUnavailable({ required: false }, facts(), why)).toEqual({ engine: 'libvirt', why });
    expect(qmpUnavailable({ required: true }, facts({ unwritable: ['ceph'] }), why)).toEqual({
      refused: `pool ceph can only be written by the QMP engine, which cannot copy vm1: ${why}`,
    });
  });

  it('reads the setting from backupEngine, else the older fullBackupEngine', () => {
    expect(engineSetting({})).toBe('auto');
    expect(engineSetting({ fullBackupEngine: 'qmp' })).toBe('auto');
    expect(engineSetting({ fullBackupEngine: 'libvirt' })).toBe('libvirt');
    expect(engineSetting({ backupEngine: 'qmp', fullBackupEngine: 'libvirt' })).toBe('qmp');
  });
});

describe("an incremental's changed-blocks bitmap", () => {
  const bitmap = (name: string, over: object = {}) => ({
    name,
    recording: true,
    persistent: true,
    granularity: 65536,
    ...over,
  });
  // A disk whose top overlay sits on a base image, with a protocol node for each file.
  const nodes = (top: object[], base: object[]): NodeInfo[] => [
    {
      'node-name': 'libvirt-2-format',
      drv: 'qcow2',
      file: '/d/top.qcow2',
      backing_file: 'base.qcow2',
      image: { 'full-backing-filename': '/d/base.qcow2' },
      'dirty-bitmaps': top as NodeInfo['dirty-bitmaps'],
    },
    { 'node-name': 'libvirt-2-storage', drv: 'file', file: '/d/top.qcow2' },
    { 'node-name': 'libvirt-1-storage', drv: 'file', file: '/d/base.qcow2' },
    {
      'node-name': 'libvirt-1-format',
      drv: 'qcow2',
      file: '/d/base.qcow2',
      'dirty-bitmaps': base as NodeInfo['dirty-bitmaps'],
    },
  ];
  const disk = { target: 'vda', sourceNode: 'libvirt-2-format', since: 'volback-p' };

  it('follows the backing chain through format nodes only', () => {
    expect(backingChain(nodes([], []), 'libvirt-2-format').map((n) => n['node-name'])).toEqual([
      'libvirt-2-format',
      'libvirt-1-format',
    ]);
  });

  it("is a transient, disabled bitmap on the top node, merged from the checkpoint's bitmap in every layer", () => {
    const temp = changedBitmapName('1a2b3c4d', 'vda');
    expect(changedBlocksActions(nodes([bitmap('volback-p')], [bitmap('volback-p')]), disk, temp)).toEqual([
      {
        type: 'block-dirty-bitmap-add',
        data: { node: 'libvirt-2-format', name: temp, persistent: false, disabled: true, granularity: 65536 },
      },
      {
        type: 'block-dirty-bitmap-merge',
        data: {
          node: 'libvirt-2-format',
          target: temp,
          bitmaps: [
            { node: 'libvirt-2-format', name: 'volback-p' },
            { node: 'libvirt-1-format', name: 'volback-p' },
          ],
        },
      },
    ]);
  });

  it('merges only the top when the lower layers have none', () => {
    const [, merge] = changedBlocksActions(nodes([bitmap('volback-p')], [bitmap('other')]), disk, 't');
    expect(merge.data.bitmaps).toEqual([{ node: 'libvirt-2-format', name: 'volback-p' }]);
  });

  it.each([
    ['missing at the top', [], [bitmap('volback-p')], /top\) has none/],
    ['inconsistent', [bitmap('volback-p', { inconsistent: true })], [], /inconsistent/],
    ['not recording', [bitmap('volback-p', { recording: false })], [], /not recording/],
    ['not persistent', [bitmap('volback-p', { persistent: false })], [], /not persistent/],
  ])('refuses a bitmap %s, as libvirt would', (_what, top, base, why) => {
    const run = () => changedBlocksActions(nodes(top, base), disk, 't');
    expect(run).toThrow(BitmapChainBroken);
    expect(run).toThrow(/missing or broken bitmap 'volback-p' for disk 'vda'/);
    expect(run).toThrow(why);
  });

  it('is named so that a sweep finds its run', () => {
    expect(changedBitmapTag(changedBitmapName('1a2b3c4d', 'vdb'))).toBe('1a2b3c4d');
    // A checkpoint's bitmap is not a temporary one.
    expect(changedBitmapTag('volback-1a2b3c4d-0000-4000-8000-000000000000')).toBeUndefined();
  });
});

// `repair --qemu` and the temporary bitmap libvirt's push job keeps in QEMU during an incremental
// (`backup-<disk>`): one left behind while no backup job runs is removed, and nothing else is — not
// the checkpoint's bitmap, not a bitmap of another name.
import { createBackup } from '../../src/core/backup/coordinator';
import { repair } from '../../src/core/removal/repair';
import type { Connection } from '../../src/libvirt';
import { Cleanup, backupLocation, createTestDomain, openSystemConnection, qemuBitmaps } from '../support';

const MiB = 1024 * 1024;
jest.setTimeout(300_000);

describe('repair and the bitmap an interrupted libvirt backup job leaves', () => {
  const cleanup = new Cleanup();
  let conn: Connection;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
  });
  afterAll(() => cleanup.run());

  it('removes backup-<disk> when no backup job runs, and keeps every other bitmap', async () => {
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB], label: 'pushbitmap' });
    await vm.write('vda', 0x61, 0, MiB);
    const { set } = await createBackup(conn, vm.name, { defaults, lockDir });
    const nodes = await vm.domain.qmp<Array<{ 'node-name': string; drv: string; file: string }>>(
      'query-named-block-nodes',
      { flat: true },
    );
    const node = nodes.find((n) => n.drv === 'qcow2' && n.file === vm.disks[0].path)!['node-name'];
    // What libvirtd leaves when it stops during an incremental, and a bitmap that is nobody's here.
    for (const name of ['backup-vda', 'backup-other'])
      await vm.domain.qmp('block-dirty-bitmap-add', { node, name, persistent: false });
    expect((await qemuBitmaps(vm.domain)).sort()).toEqual(
      ['backup-other', 'backup-vda', set.checkpoint!.name].sort(),
    );

    const dry = await repair(conn, { domain: vm.name, lockDir, qemu: true, dryRun: true });
    expect(dry.removed.filter((r) => r.kind === 'qemu-objects').map((r) => r.name)).toEqual([
      'bitmap backup-vda',
    ]);
    expect(await qemuBitmaps(vm.domain)).toContain('backup-vda');

    await repair(conn, { domain: vm.name, lockDir, qemu: true });
    expect((await qemuBitmaps(vm.domain)).sort()).toEqual(['backup-other', set.checkpoint!.name].sort());
  });
});

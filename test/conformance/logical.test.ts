// lane: testhost (scripts/test-lanes)
// The logical driver against the shared conformance suite, on the LVM test host's volume group
// (scripts/testhost: this kernel has no device-mapper), over qemu+tcp; the suite checks the LVs
// with qemu-io and qemu-img run inside the test host. The pool is the host's one VG, shared with
// the LVM system tests, so the suite removes exactly the volumes its own names mark as this run's.
import { closePools, openPool } from '../../src/pool/pool-layer';
import { TESTHOST_VG } from '../support';
import { describeDriverConformance } from './driver-conformance';
import { TEST_HOST } from './image-host';

jest.setTimeout(600_000);

describeDriverConformance({
  type: 'logical',
  host: TEST_HOST,
  thickFulls: true,
  async openPool(conn, cleanup) {
    const pool = await openPool(conn, TESTHOST_VG);
    cleanup.add(`handle of pool ${pool.name}`, async () => closePools([pool]));
    // Runs before the handle is closed: clean-up steps run newest first.
    cleanup.add(`volumes this run added to pool ${pool.name}`, async () => {
      await pool.pool.refresh();
      const mine = (await pool.pool.listVolumeNames()).filter((n) => n.includes(`-${process.pid}-`));
      for (const name of mine) {
        const volume = await pool.pool.lookupVolumeByName(name);
        try {
          await volume.delete();
        } finally {
          volume.free();
        }
      }
    });
    return pool;
  },
});

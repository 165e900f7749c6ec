// The rbd driver against the shared conformance suite, on the real Ceph cluster of scripts/ceph. The
// cluster's user may use one Ceph pool, so the suite shares the test pool and removes every image it
// added (the suite's checks compare against what was there before, never against an empty pool).
import { closePools, openPool } from '../../src/pool/pool-layer';
import { removeNewVolumes, rbdPoolName } from '../support/rbd';
import { describeDriverConformance } from './driver-conformance';

jest.setTimeout(300_000);

describeDriverConformance({
  type: 'rbd',
  async openPool(conn, cleanup) {
    const pool = await openPool(conn, rbdPoolName());
    await pool.pool.refresh();
    const before = new Set(await pool.pool.listVolumeNames());
    cleanup.add(`handle of pool ${pool.name}`, async () => closePools([pool]));
    // Runs before the handle is closed: clean-up steps run newest first.
    cleanup.add(`images the suite added to pool ${pool.name}`, async () => {
      const left = await removeNewVolumes(pool.pool, before);
      if (left.length) throw new Error(`could not remove ${left.join(', ')}`);
    });
    return pool;
  },
});

// The rbd driver against the shared conformance suite, on the real Ceph cluster of scripts/ceph. The
// cluster's user may use one Ceph pool, so the suite shares the test pool and removes every image it
// added (the suite's checks compare against what was there before, never against an empty pool).
import { FULL_OBJECT_ORDER } from '../../pool-drivers/rbd';
import { openTestRbdPool } from '../support/rbd';
import { describeDriverConformance } from './driver-conformance';

jest.setTimeout(300_000);

describeDriverConformance({
  type: 'rbd',
  openPool: (conn, cleanup) => openTestRbdPool(conn, cleanup),
  // A full's objects: librbd reports an object's data from its start to the last byte written.
  fullAllocationUnit: 2 ** FULL_OBJECT_ORDER,
});

// The rbd driver against the shared conformance suite, on the real Ceph cluster of scripts/ceph. The
// cluster's user may use one Ceph pool, so the suite shares the test pool and removes every image it
// added (the suite's checks compare against what was there before, never against an empty pool).
import { openTestRbdPool } from '../support/rbd';
import { describeDriverConformance } from './driver-conformance';

jest.setTimeout(300_000);

describeDriverConformance({
  type: 'rbd',
  openPool: (conn, cleanup) => openTestRbdPool(conn, cleanup),
});

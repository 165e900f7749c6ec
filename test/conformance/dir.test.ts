// The dir driver against the shared conformance suite, on a real dir pool of the system libvirtd.
import { closePools, openPool } from '../../src/pool/pool-layer';
import { createDirPool } from '../support';
import { describeDriverConformance } from './driver-conformance';

jest.setTimeout(180_000);

describeDriverConformance({
  type: 'dir',
  async openPool(conn, cleanup) {
    const { name } = await createDirPool(conn, cleanup, 'conform');
    const pool = await openPool(conn, name);
    cleanup.add(`handle of pool ${name}`, async () => closePools([pool]));
    return pool;
  },
});

// refreshPool's retry rule (src/pool/refresh.ts): only libvirt's "asynchronous jobs running" refusal
// (its text, or its code) is tried again; any other error ends the attempts at once. A fake pool (pure logic).
import type { PoolRef } from '../../src/pool/driver';
import { LibvirtError } from '../../src/libvirt';
import { refreshPool } from '../../src/pool/refresh';

const BUSY = "storage pool 'p' has asynchronous jobs running.";

/** A pool whose refresh throws `errors` in turn (a text: an Error), then succeeds; counts the calls. */
function poolFailing(errors: Array<string | Error>): { pool: PoolRef; calls: () => number } {
  let calls = 0;
  const pool = {
    name: 'p',
    pool: {
      refresh: async () => {
        const err = errors[calls++];
        if (err !== undefined) throw typeof err === 'string' ? new Error(err) : err;
      },
    },
  } as unknown as PoolRef;
  return { pool, calls: () => calls };
}

describe('refreshPool', () => {
  it('tries the busy refusal again until the refresh passes', async () => {
    const { pool, calls } = poolFailing([BUSY]);
    await refreshPool(pool, { required: true, attempts: 3 });
    expect(calls()).toBe(2);
  });

  it("knows libvirt's refusal by its code too, whatever the locale words it", async () => {
    const localized = new LibvirtError({
      message: "le pool 'p' a des tâches asynchrones en cours",
      libvirtCode: 1, // VIR_ERR_INTERNAL_ERROR
      libvirtDomain: 18, // VIR_FROM_STORAGE
    });
    const { pool, calls } = poolFailing([localized]);
    await refreshPool(pool, { required: true, attempts: 2 });
    expect(calls()).toBe(2);
  });

  it('throws a required refresh whose pool stays busy after its attempts', async () => {
    const { pool, calls } = poolFailing([BUSY, BUSY, BUSY]);
    await expect(refreshPool(pool, { required: true, attempts: 2 })).rejects.toThrow(BUSY);
    expect(calls()).toBe(2);
  });

  it('does not retry another error: a required refresh throws it at once, a tolerant one goes on', async () => {
    const required = poolFailing(['no such pool']);
    await expect(refreshPool(required.pool, { required: true })).rejects.toThrow('no such pool');
    expect(required.calls()).toBe(1);
    const tolerant = poolFailing(['no such pool']);
    await refreshPool(tolerant.pool);
    expect(tolerant.calls()).toBe(1);
  });
});

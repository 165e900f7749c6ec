// The Ceph addon (pool-drivers/rbd) against the real test cluster, reached the way the rbd driver
// reaches it: auth from the libvirt pool's XML and its secret (cephAuthFromPool), then librados and
// librbd in this process. Every image is named with one unique prefix and removed at the end.
import fs from 'node:fs';
import { connectCeph, type CephAuth, type CephCluster, type RbdPool } from '../../pool-drivers/rbd/ceph';
import { cephAuthFromPool, base64Bytes } from '../../pool-drivers/rbd/auth';
import { CephError, isCephError, isCephNotFound } from '../../pool-drivers/rbd/ceph-errors';
import { ErrorCodes, VolbackError } from '../../src/errors';
import type { Connection } from '../../src/libvirt';
import { Cleanup, openSystemConnection, uniqueName } from '../support';
import { CEPH_FIX, cephEnv } from '../support/ceph';

jest.setTimeout(180_000);

const KiB = 1024;
const MiB = 1024 * KiB;
/** Images in the readMany scan (VOLBACK_TEST_READMANY overrides, e.g. for a quick run). */
const SCAN_IMAGES = Number(process.env.VOLBACK_TEST_READMANY ?? 2000);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

/** Bytes only this test writes: a label repeated, so a mix-up between images shows. */
function pattern(label: string, length: number): Buffer {
  return Buffer.alloc(length, `${label}|`);
}

/** Every process's argv on the host, for a secret that must not be there. */
function allCommandLines(): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p))) {
    try {
      out.push(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Child processes of this process (all its threads). */
function ourChildren(): string[] {
  const tasks = fs.readdirSync('/proc/self/task');
  return tasks.flatMap((t) => {
    try {
      return fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8').split(' ').filter(Boolean);
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}

describe('Ceph addon against the test cluster', () => {
  const cleanup = new Cleanup();
  const images: string[] = [];
  let conn: Connection;
  let env: Record<string, string>;
  let keyText: string;
  let auth: CephAuth;
  let cluster: CephCluster;
  let pool: RbdPool;
  let prefix: string;

  const name = (label: string): string => {
    const n = `${prefix}-${label}`;
    images.push(n);
    return n;
  };

  beforeAll(async () => {
    env = await cephEnv();
    keyText = fs.readFileSync(env.VOLBACK_CEPH_KEY_FILE, 'utf8').trim();
    conn = cleanup.connection(await openSystemConnection());
    let xml: string;
    try {
      const p = await conn.lookupStoragePoolByName(env.VOLBACK_CEPH_LIBVIRT_POOL);
      xml = await p.getXMLDesc();
      p.free();
    } catch (err) {
      throw new Error(`libvirt pool ${env.VOLBACK_CEPH_LIBVIRT_POOL} is not defined. ${CEPH_FIX}`, {
        cause: err,
      });
    }
    auth = await cephAuthFromPool(conn, xml);
    cluster = await connectCeph(auth);
    pool = await cluster.pool(env.VOLBACK_CEPH_POOL);
    prefix = uniqueName('ceph');
    // newest first: clones before their parents; snapshots before their image
    cleanup.add('ceph test images', async () => {
      const c = await connectCeph(auth);
      const p = await c.pool(env.VOLBACK_CEPH_POOL);
      const removeOne = async (image: string) => {
        try {
          for (const s of await p.snapshots(image)) {
            if (s.protected) await p.unprotectSnapshot(image, s.name);
            await p.removeSnapshot(image, s.name);
          }
          await p.remove(image);
        } catch (err) {
          if (!isCephNotFound(err)) throw err;
        }
      };
      const scan = images.filter((i) => i.includes('-scan-'));
      await inBatches(scan, 32, removeOne); // no clones among them: any order
      for (const image of images.filter((i) => !i.includes('-scan-')).reverse()) await removeOne(image);
      await c.close();
    });
    cleanup.add('close cluster', () => cluster.close());
  });

  afterAll(() => cleanup.run());

  it('takes monitors, user and key from the libvirt pool and its secret alone', () => {
    expect(auth.monHosts).toEqual([env.VOLBACK_CEPH_MON_HOST]);
    expect(auth.user).toBe(env.VOLBACK_CEPH_USER);
    expect(auth.key?.toString()).toBe(keyText);
    expect(base64Bytes(Buffer.from('any+bytes/ok?')).toString()).toBe(
      Buffer.from('any+bytes/ok?').toString('base64'),
    );
    for (const n of [0, 1, 2, 3, 31, 32, 33]) {
      const raw = Buffer.alloc(n, 0xa7);
      expect(base64Bytes(raw).toString()).toBe(raw.toString('base64'));
    }
  });

  it('explains a pool XML that lacks what a connection needs, without any key', async () => {
    const cases: Array<[string, string]> = [
      [
        "<pool type='rbd'><name>p1</name><source><name>x</name></source></pool>",
        'rbd pool p1: its XML names no monitor',
      ],
      [
        "<pool type='rbd'><name>p2</name><source><host name='h' port='1'/><auth type='ceph'><secret uuid='6d1e3b14-0000-4000-8000-000000000000'/></auth></source></pool>",
        "rbd pool p2: <auth type='ceph'> has no username",
      ],
      [
        "<pool type='rbd'><name>p3</name><source><host name='h'/><auth type='ceph' username='u'/></source></pool>",
        'rbd pool p3: <auth> names no secret',
      ],
      [
        "<pool type='rbd'><name>p4</name><source><host name='h'/><auth type='ceph' username='u'><secret uuid='6d1e3b14-0000-4000-8000-000000000000'/></auth></source></pool>",
        'rbd pool p4: its libvirt secret (uuid 6d1e3b14-0000-4000-8000-000000000000) is not defined on this host',
      ],
    ];
    for (const [xml, message] of cases) {
      const err = await rejection(cephAuthFromPool(conn, xml));
      expect(err).toBeInstanceOf(VolbackError);
      expect((err as VolbackError).code).toBe(ErrorCodes.INVALID_INPUT);
      expect((err as Error).message).toContain(message);
    }
    // auth none: monitors only
    await expect(
      cephAuthFromPool(
        conn,
        "<pool type='rbd'><name>p5</name><source><host name='::1' port='6789'/></source></pool>",
      ),
    ).resolves.toEqual({ monHosts: ['[::1]:6789'] });
  });

  it('creates, writes, reads and sizes an image; EEXIST, ENOENT and out-of-range are clear errors', async () => {
    const img = name('doc');
    await pool.create(img, 4 * MiB);
    expect(await pool.size(img)).toBe(4 * MiB);
    const data = pattern(img, 100_000);
    await pool.write(img, 12_345, data);
    expect((await pool.read(img, 12_345, data.length)).equals(data)).toBe(true);
    // untouched bytes read as zeros
    expect((await pool.read(img, 0, 12_345)).equals(Buffer.alloc(12_345))).toBe(true);

    const exists = await rejection(pool.create(img, MiB));
    expect(isCephError(exists, 'EEXIST')).toBe(true);
    expect((exists as Error).message).toContain(`${env.VOLBACK_CEPH_POOL}/${img}`);

    const gone = await rejection(pool.read(`${prefix}-never-made`, 0, 1));
    expect(isCephNotFound(gone)).toBe(true);
    expect((gone as CephError).fault).toBe('user');
    expect((gone as Error).message).toContain(`${prefix}-never-made`);

    const past = await rejection(pool.write(img, 4 * MiB - 10, Buffer.alloc(11)));
    expect(isCephError(past, 'EINVAL')).toBe(true);
    expect((past as Error).message).toContain('goes past the end');
    expect(isCephError(await rejection(pool.read(img, 4 * MiB, 1)), 'EINVAL')).toBe(true);
    await expect(pool.read(img, 4 * MiB, 0)).resolves.toEqual(Buffer.alloc(0));
  });

  it(`reads ${SCAN_IMAGES} small images in one readMany, with per-image errors`, async () => {
    const names = Array.from({ length: SCAN_IMAGES }, (_, i) => name(`scan-${i}`));
    let t0 = Date.now();
    await inBatches(names, 32, async (n) => {
      await pool.create(n, 4 * KiB);
      await pool.write(n, 0, pattern(n, 4 * KiB));
    });
    const made = Date.now() - t0;
    const big = name('scan-big');
    await pool.create(big, 64 * KiB);
    const missing = `${prefix}-scan-missing`;
    const asked = [...names.slice(0, 3), missing, big, ...names.slice(3)];

    t0 = Date.now();
    const got = await pool.readMany(asked, 8 * KiB);
    const scan = Date.now() - t0;
    console.log(
      `readMany: ${SCAN_IMAGES} images of 4 KiB in ${scan} ms (creating and writing them took ${made} ms)`,
    );

    expect(got.map((r) => r.image)).toEqual(asked);
    for (const r of got) {
      if (r.image === missing) {
        expect('error' in r && isCephNotFound(r.error)).toBe(true);
      } else if (r.image === big) {
        expect('error' in r && isCephError(r.error, 'EFBIG')).toBe(true);
        expect('error' in r && r.error.message).toContain('more than the 8192');
      } else {
        expect('bytes' in r && r.bytes.equals(pattern(r.image, 4 * KiB))).toBe(true);
      }
    }
    expect(await pool.readMany([], 1)).toEqual([]);
  });

  it('clones from a protected snapshot: layer extents, parent, children, flatten, remove', async () => {
    const parent = name('parent');
    const snap = 'vbt-snap';
    await pool.create(parent, 16 * MiB);
    // parent data in objects 0 and 3 only (4 MiB objects): writing objects 1 and 2 of the clone
    // copies nothing up, writing object 3 copies that whole object up from the parent
    const base = Buffer.alloc(16 * MiB);
    pattern(parent, 4 * MiB).copy(base, 0);
    pattern(parent, 4 * MiB).copy(base, 12 * MiB);
    await pool.write(parent, 0, base.subarray(0, 4 * MiB));
    await pool.write(parent, 12 * MiB, base.subarray(12 * MiB));
    await pool.createSnapshot(parent, snap);
    await pool.protectSnapshot(parent, snap);
    expect(await pool.snapshots(parent)).toEqual([{ name: snap, size: 16 * MiB, protected: true }]);
    expect(await pool.parent(parent)).toBeUndefined();
    expect(await pool.layerExtents(parent)).toEqual([
      { offset: 0, length: 4 * MiB, exists: true },
      { offset: 12 * MiB, length: 4 * MiB, exists: true },
    ]);

    const child = name('child');
    await pool.clone(parent, snap, child);
    expect(await pool.parent(child)).toEqual({ pool: env.VOLBACK_CEPH_POOL, image: parent, snapshot: snap });
    expect(await pool.children(parent, snap)).toEqual([`${env.VOLBACK_CEPH_POOL}/${child}`]);
    expect(await pool.layerExtents(child)).toEqual([]);

    // two known ranges, not object-aligned, in objects the parent has no data in. librbd (pacific)
    // reports a head-only object from its start to its last written byte: what the layer stores
    const a = { offset: 4 * MiB + 4 * KiB, data: pattern('range-a', 8 * KiB) };
    const b = { offset: 9 * MiB + 512, data: pattern('range-b', 1000) };
    await pool.write(child, a.offset, a.data);
    await pool.write(child, b.offset, b.data);
    const upTo = (r: { offset: number; data: Buffer }, objectStart: number) => ({
      offset: objectStart,
      length: r.offset + r.data.length - objectStart,
      exists: true,
    });
    expect(await pool.layerExtents(child)).toEqual([upTo(a, 4 * MiB), upTo(b, 8 * MiB)]);
    // a write into an object the parent has data in: copy-up makes the whole object this layer's
    const c = { offset: 13 * MiB, data: pattern('range-c', 4 * KiB) };
    await pool.write(child, c.offset, c.data);
    expect(await pool.layerExtents(child)).toEqual([
      upTo(a, 4 * MiB),
      upTo(b, 8 * MiB),
      { offset: 12 * MiB, length: 4 * MiB, exists: true },
    ]);
    const expected = Buffer.from(base);
    for (const r of [a, b, c]) r.data.copy(expected, r.offset);
    expect((await pool.read(child, 0, 16 * MiB)).equals(expected)).toBe(true);

    // a protected snapshot with a child cannot be unprotected
    expect(isCephError(await rejection(pool.unprotectSnapshot(parent, snap)), 'EBUSY')).toBe(true);

    await pool.flatten(child);
    expect(await pool.parent(child)).toBeUndefined();
    expect(await pool.children(parent, snap)).toEqual([]);
    expect((await pool.read(child, 0, 16 * MiB)).equals(expected)).toBe(true);
    // the parent is unchanged
    expect((await pool.read(parent, 0, 16 * MiB)).equals(base)).toBe(true);

    await pool.unprotectSnapshot(parent, snap);
    expect(await pool.snapshots(parent)).toEqual([{ name: snap, size: 16 * MiB, protected: false }]);
    // an image with a snapshot cannot be removed
    expect(isCephError(await rejection(pool.remove(parent)), 'ENOTEMPTY')).toBe(true);
    await pool.removeSnapshot(parent, snap);
    expect(await pool.snapshots(parent)).toEqual([]);
    await pool.remove(child);
    await pool.remove(parent);
    expect(isCephNotFound(await rejection(pool.size(child)))).toBe(true);
    expect(isCephNotFound(await rejection(pool.size(parent)))).toBe(true);
  });

  it('clones with objects of their own size: small writes into a child of a 4 MiB-object parent store only themselves', async () => {
    const parent = name('big-parent');
    const snap = 'vbt-snap';
    await pool.create(parent, 8 * MiB, { order: 22 });
    const base = pattern(parent, 8 * MiB);
    await pool.write(parent, 0, base);
    await pool.createSnapshot(parent, snap);
    await pool.protectSnapshot(parent, snap);
    const child = name('small-child');
    await pool.clone(parent, snap, child, { order: 16 });
    // one whole 64 KiB object of the child inside the parent's first 4 MiB object: nothing copied up
    const w = { offset: 3 * MiB, data: pattern('small-write', 64 * KiB) };
    await pool.write(child, w.offset, w.data);
    expect(await pool.layerExtents(child)).toEqual([{ offset: w.offset, length: 64 * KiB, exists: true }]);
    const expected = Buffer.from(base);
    w.data.copy(expected, w.offset);
    expect((await pool.read(child, 0, 8 * MiB)).equals(expected)).toBe(true);
    await pool.flatten(child);
    expect((await pool.read(child, 0, 8 * MiB)).equals(expected)).toBe(true);
    await expect(pool.clone(parent, snap, name('bad-order'), { order: 11 })).rejects.toThrow(
      /outside 12..25/,
    );
    await pool.remove(child);
    await pool.unprotectSnapshot(parent, snap);
    await pool.removeSnapshot(parent, snap);
    await pool.remove(parent);
  });

  it('fails clearly with a wrong or malformed key, within the timeout, never showing a key', async () => {
    // a well-formed cephx key (same type and length) with other secret bytes
    const raw = Buffer.from(keyText, 'base64');
    raw.fill(0x5a, raw.length - 16);
    const wrongKey = base64Bytes(raw);
    const t0 = Date.now();
    const err = await rejection(connectCeph({ ...auth, key: wrongKey }, { timeoutSeconds: 10 }));
    const took = Date.now() - t0;
    expect(err).toBeInstanceOf(CephError);
    expect(took).toBeLessThan(15_000);
    const text = `${(err as Error).message} ${(err as CephError).hint ?? ''} ${(err as Error).stack}`;
    expect(text).toContain(`client.${auth.user}`);
    expect(text).not.toContain(wrongKey.toString());
    expect(text).not.toContain(keyText);
    console.log(`wrong key: ${(err as CephError).errnoName} after ${took} ms: ${(err as Error).message}`);

    const garbled = Buffer.from(`${keyText.slice(0, 10)}!!${keyText.slice(12)}`);
    const bad = await rejection(connectCeph({ ...auth, key: garbled }));
    expect(isCephError(bad, 'EINVAL')).toBe(true);
    expect((bad as Error).message).toContain('is not base64 text');
    expect((bad as Error).message).not.toContain(garbled.toString());
  });

  it('gives up on monitors that do not answer after the timeout', async () => {
    const t0 = Date.now();
    const err = await rejection(connectCeph({ ...auth, monHosts: ['127.0.0.1:9'] }, { timeoutSeconds: 3 }));
    const took = Date.now() - t0;
    expect(isCephError(err, 'ETIMEDOUT')).toBe(true);
    expect((err as CephError).hint).toContain('did not accept the connection in time');
    expect(took).toBeGreaterThanOrEqual(2_500);
    expect(took).toBeLessThan(10_000);
  });

  it('refuses bad input before connecting', async () => {
    for (const [a, message] of [
      [{ monHosts: [] }, 'no monitor given'],
      [{ monHosts: ['h:1 --key x'] }, 'is not host or host:port'],
      [{ monHosts: ['h'], user: 'client.volback', key: Buffer.from('x') }, 'without its "client." prefix'],
      [{ monHosts: ['h'], user: 'volback' }, 'has no key'],
      [{ monHosts: ['h'], key: Buffer.from('x') }, 'without a cephx user'],
    ] as Array<[CephAuth, string]>) {
      const err = await rejection(connectCeph(a));
      expect((err as VolbackError).code).toBe(ErrorCodes.INVALID_INPUT);
      expect((err as Error).message).toContain(message);
    }
  });

  it('starts no process and puts the key in no command line', async () => {
    const seen: string[][] = [];
    const sample = () => seen.push(ourChildren());
    const timer = setInterval(sample, 5);
    const lines: string[] = [];
    try {
      const c = await connectCeph(auth);
      const p = await c.pool(env.VOLBACK_CEPH_POOL);
      const img = name('argv');
      await p.create(img, MiB);
      const work = Promise.all([p.write(img, 0, pattern(img, MiB)), p.readMany([img, img, img], MiB)]);
      lines.push(...allCommandLines());
      await work;
      await p.remove(img);
      await c.close();
    } finally {
      clearInterval(timer);
    }
    sample();
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.flat()).toEqual([]);
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.filter((l) => l.includes(keyText))).toEqual([]);
  });

  it('close() is idempotent and later calls fail with ESHUTDOWN', async () => {
    const c = await connectCeph(auth);
    const p = await c.pool(env.VOLBACK_CEPH_POOL);
    const pending = p.size(`${prefix}-never-made`).catch((e: unknown) => e);
    await Promise.all([c.close(), c.close()]);
    await c.close();
    expect(isCephNotFound(await pending)).toBe(true); // a call in flight finishes before the shutdown
    expect(isCephError(await rejection(p.size('x')), 'ESHUTDOWN')).toBe(true);
    expect(isCephError(await rejection(c.pool(env.VOLBACK_CEPH_POOL)), 'ESHUTDOWN')).toBe(true);
  });
});

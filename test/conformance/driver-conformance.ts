// The pool-driver conformance suite: what every driver must do against a real pool of its type, so
// that core can rely on the contract (src/pool/driver.ts) alone. A driver's test file provides a
// fixture (how to get a fresh, empty pool of its type) and calls describeDriverConformance; a
// fixture whose service is missing must throw with the command that starts it, never skip.
import { randomUUID } from 'node:crypto';
import { createBackup } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { verifyBackup } from '../../src/core/catalog/verify';
import { beginExternalBackup, endExternalBackup } from '../../src/core/external/session-lifecycle';
import { ErrorCodes } from '../../src/errors';
import type { Connection, StorageVolume } from '../../src/libvirt';
import type { BackupSet, DiskSource, VolumeFormat } from '../../src/model';
import type { ByteRange } from '../../src/pool/driver';
import { extentsOf } from '../../src/pool/checksums';
import { frameDocument, readDocuments, writeDocument } from '../../src/pool/documents';
import { deleteVolumeIfPresent, findVolume, generationOf, type OpenPool } from '../../src/pool/pool-layer';
import { metadataVolumeName } from '../../src/pool/volume-names';
import { compareArgv, infoArgv, parseInfo, secretObjectArgs, type ImageRef } from '../../src/tools/qemu-img';
import { formatBackupSet } from '../../src/xml';
import { rewriteDomainXml } from '../../src/xml/libvirt-domain';
import { Cleanup, uniqueName } from '../support';
import { LOCAL_HOST, readsAsRuns, type ImageHost } from './image-host';

const MiB = 1024 * 1024;
/** QEMU's and qcow2's usual granule: a write of whole granules stores exactly that many bytes. */
const GRANULE = 64 * 1024;

export interface ConformanceFixture {
  /** libvirt pool type under test. */
  type: string;
  /** The host whose libvirtd has the pool; default this machine. */
  host?: ImageHost;
  /** A fresh, empty, active pool of that type, removed again by `cleanup`. */
  openPool(conn: Connection, cleanup: Cleanup): Promise<OpenPool>;
  /**
   * The unit a full's stored data is accounted in (an RBD object); default GRANULE. A full's
   * storedBytes and layerExtents may round a write out to whole units, never report less.
   */
  fullAllocationUnit?: number;
  /**
   * A full holds every byte of its disk from the moment it is made (an LV): its storedBytes is the
   * disk, its layerExtents the whole disk, and until a copy writes all of it (zeros included) it
   * holds whatever that space held before. Default: sparse, only what was written is stored.
   */
  thickFulls?: boolean;
}

/** Bytes of [offset, offset+length) rounded out to whole `unit`s. Pure. */
const roundedOut = (offset: number, length: number, unit: number): number =>
  Math.ceil((offset + length) / unit) * unit - Math.floor(offset / unit) * unit;

/** Writes `length` bytes of `pattern` at `offset` into an image no QEMU has open. */
async function writeImage(
  host: ImageHost,
  image: ImageRef,
  pattern: number,
  offset: number,
  length: number,
): Promise<void> {
  const write = `write -P 0x${pattern.toString(16)} ${offset} ${length}`;
  await host.tool(
    ['qemu-io', ...secretObjectArgs(image), '-f', image.format, '-c', write, image.path],
    [image],
  );
}

/** The bytes [offset, offset+length) of an image as a guest reads them (its parents included). */
const readsAs = (
  host: ImageHost,
  image: ImageRef,
  pattern: number,
  offset: number,
  length: number,
): Promise<boolean> => readsAsRuns(host, image, [[offset, length, pattern]]);

/** True when both images have the same guest-visible content. */
const imagesEqual = async (host: ImageHost, a: ImageRef, b: ImageRef): Promise<boolean> =>
  (await host.tool(compareArgv(a, b), [a, b], [1])).exitCode === 0;

/** The image's virtual size, as qemu-img on its host reads it. */
const virtualSize = async (host: ImageHost, image: ImageRef): Promise<number> =>
  parseInfo(JSON.parse((await host.tool(infoArgv(image), [image])).stdout)).virtualSize;

const names = async (pool: OpenPool): Promise<string[]> => (await pool.driver.listVolumeNames(pool)).sort();

export function describeDriverConformance(fixture: ConformanceFixture): void {
  describe(`pool driver '${fixture.type}' conformance`, () => {
    const cleanup = new Cleanup();
    // A thick full (an LV) stores the whole disk: its one allocation unit is the disk.
    const thick = (): boolean => fixture.thickFulls === true;
    const fullUnit = (): number => (thick() ? 8 * MiB : (fixture.fullAllocationUnit ?? GRANULE));
    const host = fixture.host ?? LOCAL_HOST;
    let conn: Connection;
    let pool: OpenPool;
    const made: StorageVolume[] = [];
    /**
     * A backup volume (full, or incremental on `parent`), freed at the end. A thick full holds old
     * bytes until a copy writes all of it, so the suite writes its zeros first, as the copy would
     * (`asMade`: not).
     */
    const volume = async (
      format: VolumeFormat,
      parent?: StorageVolume,
      { asMade = false } = {},
    ): Promise<StorageVolume> => {
      const v = await pool.driver.createBackupVolume(pool, {
        name: `${uniqueName('conf')}.${format}`,
        format,
        capacity: 8 * MiB,
        parent,
      });
      made.push(v);
      if (thick() && !parent && !asMade) await writeImage(host, await imageOf(v), 0, 0, 8 * MiB);
      return v;
    };
    const imageOf = (v: StorageVolume): Promise<ImageRef> => pool.driver.image(pool, v);
    /**
     * In a thick pool, leaves old bytes where the next volumes go (freed space is reused as it is),
     * and proves it: a full made there does not read as zeros. The copy must then write every byte.
     * LVM puts a new LV in the smallest free area that holds it, so the dirt is made of volumes of
     * the size the next ones have, several at once (each takes the next area), all freed again: a
     * volume of that size then lands where the first was, whatever gaps earlier volumes left.
     */
    const dirtyFreeSpace = async (): Promise<void> => {
      if (!thick()) return;
      const format = pool.driver.capabilities.fullFormats[0];
      const dirt: StorageVolume[] = [];
      try {
        for (let i = 0; i < 4; i++) {
          const v = await pool.driver.createBackupVolume(pool, {
            name: `${uniqueName('conf-dirt')}.${format}`,
            format,
            capacity: 8 * MiB,
          });
          dirt.push(v);
          await writeImage(host, await imageOf(v), 0xee, 0, 8 * MiB);
        }
      } finally {
        for (const v of dirt.reverse()) {
          await pool.driver.deleteVolume(pool, v);
          v.free();
        }
      }
      const probe = await volume(format, undefined, { asMade: true });
      expect(await readsAs(host, await imageOf(probe), 0, 0, 8 * MiB)).toBe(false);
      await pool.driver.deleteVolume(pool, probe);
    };

    beforeAll(async () => {
      conn = await host.connect();
      pool = await fixture.openPool(conn, cleanup);
    });
    afterAll(async () => {
      for (const v of made) v.free();
      await cleanup.run();
      await conn?.close();
    });

    it('declares its capabilities as data and describes its own pool', async () => {
      const caps = pool.driver.capabilities;
      expect(pool.driver.type).toBe(fixture.type);
      expect(caps.fullFormats.length).toBeGreaterThan(0);
      for (const f of caps.fullFormats) expect(['qcow2', 'raw']).toContain(f);
      expect(['overlay', 'clone', 'none']).toContain(caps.incremental.kind);
      expect(typeof caps.libvirtPushTarget).toBe('boolean');
      expect(['fd', 'node']).toContain(caps.qmpTarget);
      // An optional method is a function or absent, never a stub: the callers answer "not supported".
      for (const name of [
        'createPool',
        'createScratchVolume',
        'createLiveRestoreVolume',
        'rebase',
        'finishRebase',
        'copyLayer',
        'copyLayerRefusal',
      ] as const) {
        expect(['undefined', 'function']).toContain(typeof pool.driver[name]);
      }
      // A copy refusal answers for copyLayer: a driver has it only beside one.
      if (pool.driver.copyLayerRefusal) expect(typeof pool.driver.copyLayer).toBe('function');
      // finishRebase finishes what a rebase left: a driver has it only beside a rebase.
      if (pool.driver.finishRebase) expect(typeof pool.driver.rebase).toBe('function');
      // A live restore's layer says how it is filled; one filled in place needs a rebase.
      if (pool.driver.createLiveRestoreVolume) expect(['block-pull', 'rebase']).toContain(caps.liveLayerFill);
      else expect(caps.liveLayerFill).toBeUndefined();
      if (caps.liveLayerFill === 'rebase') expect(typeof pool.driver.rebase).toBe('function');
      await expect(pool.driver.describePool(pool.xml)).resolves.toBeDefined();
      await expect(
        pool.driver.describePool("<pool type='volback-none'><name>x</name></pool>"),
      ).rejects.toThrow();
    });

    it.each(['qcow2', 'raw'] as const)(
      'creates an empty %s full that reads as zeros and stores nothing, or the whole disk when thick',
      async (format) => {
        if (!pool.driver.capabilities.fullFormats.includes(format)) return;
        const v = await volume(format);
        const image = await imageOf(v);
        expect(await virtualSize(host, image)).toBe(8 * MiB);
        expect(await pool.driver.storedBytes(pool, v)).toBe(thick() ? 8 * MiB : 0);
        // A thick volume holds what its space held before: the copy writes every byte (tested below).
        if (!thick()) expect(await readsAs(host, image, 0, 0, 8 * MiB)).toBe(true);
        expect(await pool.driver.checkLayer(pool, v)).toEqual([]);
        await writeImage(host, image, 0x5a, 2 * MiB, 3 * GRANULE);
        const stored = await pool.driver.storedBytes(pool, v);
        expect(stored).toBeGreaterThanOrEqual(3 * GRANULE);
        expect(stored).toBeLessThanOrEqual(roundedOut(2 * MiB, 3 * GRANULE, fullUnit()));
      },
    );

    it('leaves nothing behind when a create fails', async () => {
      const taken = await volume(pool.driver.capabilities.fullFormats[0]);
      const name = await taken.getName();
      const before = await names(pool);
      await expect(
        pool.driver.createBackupVolume(pool, {
          name,
          format: pool.driver.capabilities.fullFormats[0],
          capacity: MiB,
        }),
      ).rejects.toThrow();
      // A parent that is gone: the incremental cannot be made, and no half of it stays.
      const doomed = await volume(pool.driver.capabilities.fullFormats[0]);
      await pool.driver.deleteVolume(pool, doomed);
      const orphanName = `${uniqueName('conf')}.qcow2`;
      if (pool.driver.capabilities.incremental.kind !== 'none') {
        await expect(
          pool.driver.createBackupVolume(pool, {
            name: orphanName,
            format: 'qcow2',
            capacity: MiB,
            parent: doomed,
          }),
        ).rejects.toThrow();
      }
      expect(await names(pool)).toEqual(before);
      await expect(pool.driver.writeDocumentVolume(pool, name, Buffer.from('x'))).rejects.toThrow();
      expect(await names(pool)).toEqual(before);
    });

    it('stores an incremental as it declares: reads as its parent, holds only what changed', async () => {
      const storage = pool.driver.capabilities.incremental;
      const parentFormat = pool.driver.capabilities.fullFormats[0];
      const parent = await volume(parentFormat);
      await writeImage(host, await imageOf(parent), 0x11, 0, 4 * MiB);
      if (storage.kind === 'none') {
        await expect(volume(parentFormat, parent)).rejects.toThrow();
        return;
      }
      const format = storage.kind === 'overlay' ? storage.format : parentFormat;
      const child = await volume(format, parent);
      const childImage = await imageOf(child);
      expect(childImage.format).toBe(format);
      expect(await imagesEqual(host, childImage, await imageOf(parent))).toBe(true);
      expect(await pool.driver.storedBytes(pool, child)).toBe(0);
      await writeImage(host, childImage, 0x22, MiB, 2 * GRANULE);
      expect(await pool.driver.storedBytes(pool, child)).toBe(2 * GRANULE);
      expect(await readsAs(host, childImage, 0x22, MiB, 2 * GRANULE)).toBe(true);
      expect(await readsAs(host, childImage, 0x11, 2 * MiB, 2 * MiB)).toBe(true);
      expect(await readsAs(host, await imageOf(parent), 0x11, MiB, 2 * GRANULE)).toBe(true); // parent untouched
      // checkLayer knows the chain: the right parent passes, none or another one does not.
      expect(await pool.driver.checkLayer(pool, child, parent)).toEqual([]);
      expect((await pool.driver.checkLayer(pool, child)).length).toBeGreaterThan(0);
      const other = await volume(parentFormat);
      expect((await pool.driver.checkLayer(pool, child, other)).length).toBeGreaterThan(0);
    });

    it('a raw full can carry an incremental when the driver takes raw fulls', async () => {
      const storage = pool.driver.capabilities.incremental;
      if (!pool.driver.capabilities.fullFormats.includes('raw') || storage.kind === 'none') return;
      const parent = await volume('raw');
      await writeImage(host, await imageOf(parent), 0x33, 0, MiB);
      const child = await volume(storage.kind === 'overlay' ? storage.format : 'raw', parent);
      expect(await readsAs(host, await imageOf(child), 0x33, 0, MiB)).toBe(true);
      expect(await pool.driver.checkLayer(pool, child, parent)).toEqual([]);
    });

    it('rebases an incremental without changing what it reads, or declares it cannot', async () => {
      const rebase = pool.driver.rebase;
      if (!rebase) {
        expect(rebase).toBeUndefined(); // absent, never a stub
        return;
      }
      const format = pool.driver.capabilities.fullFormats[0];
      const storage = pool.driver.capabilities.incremental;
      const incFormat = storage.kind === 'overlay' ? storage.format : format;
      const full = await volume(format);
      await writeImage(host, await imageOf(full), 0x41, 0, 2 * MiB);
      const inc1 = await volume(incFormat, full);
      await writeImage(host, await imageOf(inc1), 0x42, MiB, MiB);
      const inc2 = await volume(incFormat, inc1);
      await writeImage(host, await imageOf(inc2), 0x43, 3 * MiB, GRANULE);
      const expected = await volume(format);
      await writeImage(host, await imageOf(expected), 0x41, 0, MiB);
      await writeImage(host, await imageOf(expected), 0x42, MiB, MiB);
      await writeImage(host, await imageOf(expected), 0x43, 3 * MiB, GRANULE);

      await rebase(pool, inc2, full); // inc1 leaves the chain
      expect(await pool.driver.checkLayer(pool, inc2, full)).toEqual([]);
      expect(await imagesEqual(host, await imageOf(inc2), await imageOf(expected))).toBe(true);
      await rebase(pool, inc2, full); // idempotent
      await rebase(pool, inc2); // stands alone now
      expect(await pool.driver.checkLayer(pool, inc2)).toEqual([]);
      expect(await imagesEqual(host, await imageOf(inc2), await imageOf(expected))).toBe(true);
      // Nothing interrupted: finishing a rebase of a volume the pool does not hold changes nothing.
      if (pool.driver.finishRebase) {
        const before = await names(pool);
        expect(await pool.driver.finishRebase(pool, `${uniqueName('conf')}.${incFormat}`, full)).toBe(false);
        expect(await names(pool)).toEqual(before);
      }
    });

    it('copies a chain layer by layer, each copy on its parent copy, or declares it cannot', async () => {
      const copyLayer = pool.driver.copyLayer;
      if (!copyLayer) {
        expect(copyLayer).toBeUndefined(); // absent, never a stub: pool migrate refuses
        return;
      }
      // The suite's own pool is one the driver copies out of, or the copies below would throw.
      expect(await pool.driver.copyLayerRefusal?.(pool)).toBeUndefined();
      const format = pool.driver.capabilities.fullFormats[0];
      const storage = pool.driver.capabilities.incremental;
      const incFormat = storage.kind === 'overlay' ? storage.format : format;
      const full = await volume(format);
      await writeImage(host, await imageOf(full), 0x51, 0, 2 * MiB);
      const inc = await volume(incFormat, full);
      await writeImage(host, await imageOf(inc), 0x52, MiB, GRANULE);
      // The suite has one pool: the copies go beside their originals, which a move between pools does too.
      const fullCopy = await copyLayer(pool, `${uniqueName('conf-copy')}.${format}`, { pool, volume: full });
      made.push(fullCopy);
      const incCopy = await copyLayer(
        pool,
        `${uniqueName('conf-copy')}.${incFormat}`,
        { pool, volume: inc },
        fullCopy,
      );
      made.push(incCopy);
      expect(await pool.driver.checkLayer(pool, fullCopy)).toEqual([]);
      expect(await pool.driver.checkLayer(pool, incCopy, fullCopy)).toEqual([]);
      expect(await pool.driver.storedBytes(pool, incCopy)).toBe(await pool.driver.storedBytes(pool, inc));
      expect(await imagesEqual(host, await imageOf(incCopy), await imageOf(inc))).toBe(true);
      // The copies stand on their own: the originals can go.
      await pool.driver.deleteVolume(pool, inc);
      await pool.driver.deleteVolume(pool, full);
      expect(await readsAs(host, await imageOf(incCopy), 0x52, MiB, GRANULE)).toBe(true);
      expect(await readsAs(host, await imageOf(incCopy), 0x51, 2 * GRANULE + MiB, MiB - 2 * GRANULE)).toBe(
        true,
      );
    });

    it('layers a live restore over a backup: reads as it, takes writes alone, then stands alone, or declares it cannot', async () => {
      const create = pool.driver.createLiveRestoreVolume;
      if (!create) {
        expect(create).toBeUndefined(); // absent, never a stub
        return;
      }
      const storage = pool.driver.capabilities.incremental;
      const format = storage.kind === 'overlay' ? storage.format : pool.driver.capabilities.fullFormats[0];
      const backup = await volume(pool.driver.capabilities.fullFormats[0]);
      await writeImage(host, await imageOf(backup), 0x61, 0, 2 * MiB);
      const source = await pool.driver.diskSource(pool, backup);
      const spec = { name: `${uniqueName('conf-live')}.${format}`, format, capacity: 8 * MiB };
      // A source it cannot stand on is refused before anything is made.
      const before = await names(pool);
      const foreign: DiskSource =
        source.type === 'network'
          ? { type: 'file', file: '/nonexistent/backup.qcow2', format: 'qcow2' }
          : { type: 'network', format: 'raw', protocol: 'rbd', name: 'p/i', hosts: [{ name: '127.0.0.1' }] };
      await expect(create(pool, spec, foreign)).rejects.toMatchObject({ code: ErrorCodes.POOL_UNSUPPORTED });
      expect(await names(pool)).toEqual(before);

      const layer = await create(pool, spec, source);
      made.push(layer);
      try {
        expect(await readsAs(host, await imageOf(layer), 0x61, 0, 2 * MiB)).toBe(true);
        expect(await readsAs(host, await imageOf(layer), 0, 2 * MiB, 6 * MiB)).toBe(true);
        expect((await pool.driver.checkLayer(pool, layer)).length).toBeGreaterThan(0); // it reads the backup
        await writeImage(host, await imageOf(layer), 0x62, MiB, GRANULE);
        expect(await readsAs(host, await imageOf(backup), 0x61, MiB, GRANULE)).toBe(true); // the backup is not written
        // Filled in place (what a live restore of a shut-off domain, or an RBD one, does).
        if (!pool.driver.rebase) return; // then only a block pull fills it: the system tests' part
        await pool.driver.rebase(pool, layer);
        expect(await pool.driver.checkLayer(pool, layer)).toEqual([]);
        expect(await readsAs(host, await imageOf(layer), 0x61, 0, MiB)).toBe(true);
        expect(await readsAs(host, await imageOf(layer), 0x62, MiB, GRANULE)).toBe(true);
        expect(await readsAs(host, await imageOf(layer), 0x61, MiB + GRANULE, MiB - GRANULE)).toBe(true);
      } finally {
        // Before the backup: a clone's parent cannot go while it is there.
        await pool.driver.deleteVolume(pool, layer);
        made.splice(made.indexOf(layer), 1);
        layer.free();
      }
    });

    it('reports the ranges a layer stores (what checksums cover) and reads its guest-visible bytes', async () => {
      const covers = (ranges: ByteRange[], start: number, length: number): boolean =>
        ranges.some((r) => r.start <= start && start + length <= r.start + r.length);
      const overlaps = (ranges: ByteRange[], start: number, length: number): boolean =>
        ranges.some((r) => r.start < start + length && start < r.start + r.length);
      const sorted = (ranges: ByteRange[]): void => {
        for (let i = 1; i < ranges.length; i++)
          expect(ranges[i].start).toBeGreaterThan(ranges[i - 1].start + ranges[i - 1].length - 1);
      };
      for (const format of pool.driver.capabilities.fullFormats) {
        const full = await volume(format);
        const empty = thick() ? [{ start: 0, length: 8 * MiB }] : [];
        expect(await pool.driver.layerExtents(pool, full)).toEqual(empty); // an empty full stores nothing
        await writeImage(host, await imageOf(full), 0x51, 2 * MiB, 3 * GRANULE);
        const ranges = await pool.driver.layerExtents(pool, full);
        sorted(ranges);
        expect(covers(ranges, 2 * MiB, 3 * GRANULE)).toBe(true);
        if (thick()) expect(ranges).toEqual(empty);
        else expect(overlaps(ranges, 6 * MiB, 2 * MiB)).toBe(false); // a hole (raw too) is not stored data
      }
      const storage = pool.driver.capabilities.incremental;
      if (storage.kind === 'none') return;
      const parentFormat = pool.driver.capabilities.fullFormats[0];
      const parent = await volume(parentFormat);
      await writeImage(host, await imageOf(parent), 0x61, 0, 4 * MiB);
      const child = await volume(storage.kind === 'overlay' ? storage.format : parentFormat, parent);
      expect(await pool.driver.layerExtents(pool, child)).toEqual([]);
      await writeImage(host, await imageOf(child), 0x62, 5 * MiB, 2 * GRANULE);
      await writeImage(host, await imageOf(child), 0x00, MiB, GRANULE); // zeros over the parent's data: stored
      const own = await pool.driver.layerExtents(pool, child);
      sorted(own);
      expect(covers(own, 5 * MiB, 2 * GRANULE)).toBe(true);
      expect(covers(own, MiB, GRANULE)).toBe(true);
      expect(overlaps(own, 2 * MiB, 2 * MiB)).toBe(false); // only shown from the parent

      // The reader shows what a domain on the volume sees: the parent where the child holds nothing.
      const reader = await pool.driver.openReader(pool, child);
      try {
        expect(reader.size).toBe(8 * MiB);
        const read = async (offset: number, length: number): Promise<Buffer> => {
          const chunks: Buffer[] = [];
          await reader.read(offset, length, (c) => chunks.push(Buffer.from(c)));
          return Buffer.concat(chunks);
        };
        const [a, b, c, d, whole] = await Promise.all([
          read(5 * MiB, 2 * GRANULE),
          read(MiB, GRANULE),
          read(2 * MiB, 2 * MiB),
          read(7 * MiB, MiB),
          read(0, 8 * MiB),
        ]);
        expect(a.equals(Buffer.alloc(2 * GRANULE, 0x62))).toBe(true);
        expect(b.equals(Buffer.alloc(GRANULE, 0))).toBe(true);
        expect(c.equals(Buffer.alloc(2 * MiB, 0x61))).toBe(true);
        expect(d.equals(Buffer.alloc(MiB, 0))).toBe(true);
        expect(whole.length).toBe(8 * MiB);
        expect(whole.subarray(5 * MiB, 5 * MiB + 2 * GRANULE).equals(a)).toBe(true);
        await expect(read(8 * MiB - 1, 2)).rejects.toThrow('outside');
      } finally {
        await reader.close();
      }
      await reader.close(); // idempotent
      await expect(reader.read(0, 1, () => undefined)).rejects.toThrow();
      // Read-only: nothing a reader does changes the volume.
      expect(await pool.driver.storedBytes(pool, child)).toBe(3 * GRANULE);
      const gone = await volume(parentFormat);
      await pool.driver.deleteVolume(pool, gone);
      await expect(pool.driver.openReader(pool, gone)).rejects.toThrow();
    });

    it('keeps documents whole: round trip, framing in a larger volume, cut short, legacy, missing', async () => {
      const texts = ['', 'plain', `é ü 中 \n<a b='1'/>\r\n`, 'x'.repeat(MiB + 17)];
      const docNames = texts.map(() => `${uniqueName('doc')}.json`);
      for (const [i, text] of texts.entries()) await writeDocument(pool, docNames[i], text);
      const missing = `${uniqueName('doc')}.json`;
      const read = await readDocuments(pool, [...docNames, missing]);
      expect(read.map((r) => r.name)).toEqual([...docNames, missing]);
      expect(read.slice(0, texts.length).map((r) => ('text' in r ? r.text : r.error.message))).toEqual(texts);
      expect('error' in read[texts.length]).toBe(true);

      // A volume larger than its document (an LV's extent, an RBD object): trailing bytes are ignored.
      const padded = `${uniqueName('doc')}.json`;
      await pool.driver.writeDocumentVolume(
        pool,
        padded,
        Buffer.concat([frameDocument('{"whole":true}'), Buffer.alloc(4096, 0xee)]),
      );
      // A write cut short: the header promises more than the volume holds; or the header itself is cut.
      const cut = `${uniqueName('doc')}.json`;
      const whole = frameDocument('{"whole":false}');
      await pool.driver.writeDocumentVolume(pool, cut, whole.subarray(0, whole.length - 5));
      const cutHeader = `${uniqueName('doc')}.json`;
      await pool.driver.writeDocumentVolume(pool, cutHeader, whole.subarray(0, 40));
      // A document written before framing existed is read whole.
      const legacy = `${uniqueName('doc')}.json`;
      await pool.driver.writeDocumentVolume(pool, legacy, Buffer.from('{"legacy":1}'));
      const [p, c, h, l] = await readDocuments(pool, [padded, cut, cutHeader, legacy]);
      expect(p).toEqual({ name: padded, text: '{"whole":true}' });
      // A pool that rounds a volume up and fills the rest (an LV) shows the cut as a body that fails
      // its checksum; either way the document is refused, never read.
      expect('error' in c && c.error.message).toMatch(
        /holds 10 of the 15 bytes its header announces: the write was cut short|does not match its checksum/,
      );
      expect('error' in h && h.error.message).toMatch(/its document header is damaged/);
      expect(l).toEqual({ name: legacy, text: '{"legacy":1}' });

      const all = [...docNames, padded, cut, cutHeader, legacy];
      expect(await pool.driver.listVolumeNames(pool)).toEqual(expect.arrayContaining(all));
      for (const name of all) await deleteVolumeIfPresent(pool, name);
      const left = await pool.driver.listVolumeNames(pool);
      expect(all.filter((n) => left.includes(n))).toEqual([]);
    });

    it('keeps the catalog index valid when metadata is rewritten or deleted through the generic layer', async () => {
      const domain = uniqueName('vm');
      const at = new Date(Date.UTC(2026, 11, 1, 12, 0, 0, 0));
      const sets: BackupSet[] = [0, 1].map((i) => ({
        id: randomUUID(),
        volbackVersion: '0.1.0',
        mode: 'pull',
        kind: 'full',
        state: 'external',
        createdAt: new Date(at.getTime() + i * 1000),
        domain: { name: domain, uuid: randomUUID() },
        disks: [
          {
            id: randomUUID(),
            target: 'vda',
            sourcePath: '/x',
            sourceFormat: 'qcow2',
            kind: 'full',
            virtualSize: MiB,
            bytesCopied: 0,
          },
        ],
        domainXml: `<domain type='kvm'><name>${domain}</name></domain>`,
      }));
      const nameOf = (s: BackupSet): string =>
        metadataVolumeName({ domain, createdAt: s.createdAt, setId: s.id });
      for (const s of sets) await writeDocument(pool, nameOf(s), await formatBackupSet(s));
      const listed = async (): Promise<BackupSet[]> =>
        (await scanCatalog(conn, { pools: [pool.name] })).stored
          .map((s) => s.set)
          .filter((s) => s.domain.name === domain);
      expect((await listed()).map((s) => s.id).sort()).toEqual(sets.map((s) => s.id).sort());
      const generation = generationOf(await pool.driver.listVolumeNames(pool));
      expect(generation).toHaveLength(1);

      const rewritten = { ...sets[0], description: 'rewritten after the index was built' };
      await writeDocument(pool, nameOf(sets[0]), await formatBackupSet(rewritten));
      expect(generationOf(await pool.driver.listVolumeNames(pool))).not.toEqual(generation);
      expect((await listed()).find((s) => s.id === sets[0].id)).toEqual(rewritten);
      await deleteVolumeIfPresent(pool, nameOf(sets[1]));
      expect((await listed()).map((s) => s.id)).toEqual([sets[0].id]);
      await deleteVolumeIfPresent(pool, nameOf(sets[0]));
    });

    it('gives copy targets that both engines write, and disk sources a domain starts on', async () => {
      const vm = await host.createDomain(conn, cleanup, 8 * MiB, 'conf');
      await vm.write(0x6c, MiB, 2 * MiB);
      const format = pool.driver.capabilities.fullFormats[0];
      const copied: StorageVolume[] = [];
      // QEMU's blockdev-backup, the way the coordinator runs it (a full backup).
      await dirtyFreeSpace();
      const result = await createBackup(conn, vm.name, {
        defaults: { pool: pool.name, path: '/nonexistent-never-created', format },
        definition: { mode: 'push', kind: 'full', disks: [], location: { pool: pool.name } },
        fullBackupEngine: 'qmp',
        lockDir: `/tmp/volback-conformance-locks-${process.pid}`,
      });
      const target = (await findVolume(pool, result.set.disks[0].volume!.name))!;
      copied.push(target);
      expect(await vm.diskMatchesModel()).toBe(true);
      expect(await vm.matchesModel(await imageOf(target))).toBe(true);
      const copyTarget = await pool.driver.copyTarget(pool, target);
      expect(copyTarget.format).toBe(format);
      expect(copyTarget.libvirt !== undefined).toBe(pool.driver.capabilities.libvirtPushTarget);
      expect(copyTarget.qemu.via).toBe(pool.driver.capabilities.qmpTarget);
      if (pool.driver.capabilities.libvirtPushTarget) {
        // libvirt's push job, the way the coordinator runs it (here a full, with full_backup_engine libvirt).
        await vm.write(0x6d, 5 * MiB, GRANULE);
        await dirtyFreeSpace();
        const inc = await createBackup(conn, vm.name, {
          defaults: { pool: pool.name, path: '/nonexistent-never-created', format },
          definition: { mode: 'push', kind: 'full', disks: [], location: { pool: pool.name } },
          fullBackupEngine: 'libvirt',
          lockDir: `/tmp/volback-conformance-locks-${process.pid}`,
        });
        const v = (await findVolume(pool, inc.set.disks[0].volume!.name))!;
        copied.push(v);
        expect(await vm.matchesModel(await imageOf(v))).toBe(true);
      }
      // Each backup recorded checksums of what landed in the pool, and they hold for every extent.
      for (const s of (await scanCatalog(conn, { pools: [pool.name] })).stored) {
        if (s.set.domain.name !== vm.name) continue;
        expect(s.set.disks[0].checksums).toBeDefined();
        const verified = await verifyBackup(conn, { setId: s.set.id, deep: true, record: false });
        expect(verified).toMatchObject({ verdict: 'ok', damage: [] });
        // The data written: MiB 1-3, and for the second full also the granule at 5 MiB; a pool that
        // accounts in larger units may check the whole units around it.
        const written = [
          { start: MiB, length: 2 * MiB },
          ...(s.set.id === result.set.id ? [] : [{ start: 5 * MiB, length: GRANULE }]),
        ];
        const units = written.map((r) => ({
          start: r.start - (r.start % fullUnit()),
          length: roundedOut(r.start, r.length, fullUnit()),
        }));
        expect(verified.disks[0].checksums).toMatchObject({ state: 'complete' });
        const checked = verified.disks[0].checksums!.checked;
        expect(checked).toBeGreaterThanOrEqual(extentsOf(written, MiB, 8 * MiB).length);
        expect(checked).toBeLessThanOrEqual(extentsOf(units, MiB, 8 * MiB).length);
      }
      // A domain whose disk is the backup volume, as a restored domain's would be, starts.
      const source = await pool.driver.diskSource(pool, target);
      const xml = await rewriteDomainXml(await vm.xml(), {
        name: uniqueName('conf-src'),
        newUuid: true,
        disks: { vda: source },
      });
      const started = await conn.createDomain(xml, 1 /* VIR_DOMAIN_START_PAUSED */);
      try {
        expect(await started.isActive()).toBe(true);
      } finally {
        await started.destroy();
        started.free();
      }
      for (const v of copied) v.free();
      const stored = await scanCatalog(conn, { pools: [pool.name] });
      for (const s of stored.stored.filter((x) => x.set.domain.name === vm.name)) {
        await deleteVolumeIfPresent(pool, s.metadataVolume);
        for (const d of s.set.disks) {
          await deleteVolumeIfPresent(pool, d.volume!.name);
          if (d.checksums) await deleteVolumeIfPresent(pool, d.checksums.document);
        }
      }
    });

    it("makes pull-mode scratch volumes that libvirt's pull job uses, or declares it cannot", async () => {
      if (!pool.driver.createScratchVolume) {
        expect(pool.driver.createScratchVolume).toBeUndefined();
        return;
      }
      const vm = await host.createDomain(conn, cleanup, 8 * MiB, 'conf-pull');
      const lockDir = `/tmp/volback-conformance-locks-${process.pid}`;
      const session = await beginExternalBackup(conn, vm.name, {
        definition: {
          mode: 'pull',
          kind: 'full',
          location: { pool: pool.name },
          disks: [{ name: 'vda', backup: true, scratchPool: pool.name }],
        },
        defaults: { pool: pool.name, path: '/nonexistent-never-created', format: 'qcow2' },
        lockDir,
      });
      const scratch = session.disks[0].scratch;
      expect(scratch.pool).toBe(pool.name);
      expect(await pool.driver.listVolumeNames(pool)).toContain(scratch.volume);
      await endExternalBackup(conn, vm.name, { success: false, lockDir });
      expect(await pool.driver.listVolumeNames(pool)).not.toContain(scratch.volume);
    });
  });
}

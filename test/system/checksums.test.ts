// Checksums on real domains and real qcow2 chains: a full and an incremental record them; one byte
// flipped inside a data cluster of the full's volume (found with `qemu-img map`, flipped with dd) is
// found by a deep verify, which names the set, disk, volume and byte range and records the damage in
// the pool, so a fresh connection's listing shows the full damaged and the incremental depending on
// it; a restore refuses (and leaves no volume) unless told to ignore the damage, a restore over the
// domain's disks refuses before touching them; a tampered or swapped checksum document is damage;
// a set from before checksums says so; and a deep verify of repaired data clears the record.
import path from 'node:path';
import { createBackup, type BackupDefaults, type BackupResult } from '../../src/core/backup/coordinator';
import { listBackups, scanCatalog } from '../../src/core/catalog/scan';
import { verifyBackup } from '../../src/core/catalog/verify';
import { deleteBackup } from '../../src/core/removal/delete';
import { restoreDomain } from '../../src/core/restore/domain';
import { restoreBackup } from '../../src/core/restore/restore';
import { isVolbackError } from '../../src/errors';
import type { Connection } from '../../src/libvirt';
import type { BackupSet } from '../../src/model';
import { checksumDocumentName, extentsOf, parseChecksumDocument } from '../../src/pool/checksums';
import { readDocuments, writeDocument } from '../../src/pool/documents';
import { closePools, openPool } from '../../src/pool/pool-layer';
import { metadataVolumeName } from '../../src/pool/volume-names';
import { run } from '../../src/tools/exec';
import { storedRanges, type MapExtent } from '../../src/tools/qemu-img';
import { formatBackupSet } from '../../src/xml';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  poolVolumeNames,
  sameContent,
  type TestDomain,
} from '../support';
import { cleanupDomainByName } from './restore-helpers';

const MiB = 1024 * 1024;
jest.setTimeout(300_000);

describe('checksums on real backups', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let defaults: BackupDefaults;
  let lockDir: string;
  let vm: TestDomain;
  let full: BackupResult;
  let inc: BackupResult;
  let incModel: string;
  /** Where the flipped byte is: the host file offset and the guest offset it shows at. */
  let flip: { file: string; fileOffset: number; guestOffset: number; original: number };

  const volumePath = (set: BackupSet, target = 'vda'): string =>
    path.join(defaults.path, set.disks.find((d) => d.target === target)!.volume!.name);
  const writeByte = (file: string, offset: number, byte: number) =>
    run(['dd', `of=${file}`, 'bs=1', `seek=${offset}`, 'conv=notrunc', 'status=none'], {
      input: Buffer.from([byte]),
    });
  const readByte = async (file: string, offset: number): Promise<number> => {
    const out = await run(['od', '-An', '-tu1', '-j', String(offset), '-N1', file]);
    return Number(out.stdout.trim());
  };
  const setStatus = async (c: Connection, setId: string) => {
    const listing = await listBackups(c, { pools: [defaults.pool] });
    return listing.sets.find((s) => s.set.id === setId)!;
  };

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    ({ defaults, lockDir } = backupLocation(conn, cleanup));
    vm = await createTestDomain(conn, cleanup, { diskSizes: [32 * MiB, 16 * MiB], label: 'sums' });
    await vm.write('vda', 0xab, 1 * MiB, 2 * MiB);
    await vm.write('vdb', 0xcd, 0, 1 * MiB);
    full = await createBackup(conn, vm.name, { defaults, lockDir });
    await vm.write('vda', 0x11, 8 * MiB, 1 * MiB);
    await vm.write('vda', 0x12, 20 * MiB + 4096, 64 * 1024); // part of one extent: the rest is the full's
    inc = await createBackup(conn, vm.name, { defaults, lockDir });
    incModel = vm.snapshotModel('vda', 'inc');
    expect([full.set.kind, inc.set.kind]).toEqual(['full', 'incremental']);
  });
  afterAll(() => cleanup.run());

  it('records checksums of what each volume stores, in a document the metadata names with its sha256', async () => {
    const pool = await openPool(conn, defaults.pool);
    try {
      for (const [result, target] of [
        [full, 'vda'],
        [full, 'vdb'],
        [inc, 'vda'],
        [inc, 'vdb'],
      ] as const) {
        const disk = result.set.disks.find((d) => d.target === target)!;
        expect(disk.checksums).toMatchObject({
          document: checksumDocumentName(disk.volume!.name),
          extentSize: MiB,
          algorithm: 'sha256',
        });
        const [read] = await readDocuments(pool, [disk.checksums!.document]);
        if ('error' in read) throw read.error;
        const doc = parseChecksumDocument(read.text, 'test');
        expect(doc).toMatchObject({ setId: result.set.id, diskBackupId: disk.id, volume: disk.volume!.name });
        // Exactly the extents the layer stores: an incremental hashes only what it changed.
        const stored = extentsOf(
          await storedRanges({ path: volumePath(result.set, target), format: 'qcow2' }),
          MiB,
          disk.virtualSize,
        );
        expect([...doc.digests.keys()]).toEqual(stored);
      }
      const incVda = inc.set.disks.find((d) => d.target === 'vda')!;
      const [read] = await readDocuments(pool, [incVda.checksums!.document]);
      expect([...parseChecksumDocument((read as { text: string }).text, 't').digests.keys()]).toEqual([
        8, 20,
      ]);
    } finally {
      closePools([pool]);
    }
    const ok = await verifyBackup(conn, { setId: inc.set.id, deep: true });
    expect(ok).toMatchObject({ ok: true, verdict: 'ok', damage: [] });
    expect(ok.disks.find((d) => d.target === 'vda')!.checksums).toMatchObject({
      state: 'complete',
      checked: 4, // extents 1, 2 (the full's), 8 and 20 (the incremental's)
      sample: false,
    });
    const sampled = await verifyBackup(conn, { setId: inc.set.id, sample: 2, seed: 7 });
    expect(sampled).toMatchObject({ ok: true, seed: 7 });
    expect(sampled.disks.find((d) => d.target === 'vda')!.checksums).toMatchObject({
      checked: 2,
      checkable: 4,
      sample: true,
    });
  });

  it('finds one flipped byte in a data cluster of the full, names set, disk, volume and range, and every host sees it', async () => {
    // The host file offset of guest byte 1.5 MiB, from qemu-img map of the full's volume.
    const file = volumePath(full.set);
    const guestOffset = 1 * MiB + 512 * 1024 + 123;
    const map = JSON.parse(
      (await run(['qemu-img', 'map', '--output=json', '-f', 'qcow2', file])).stdout,
    ) as Array<MapExtent & { offset?: number }>;
    const cluster = map.find(
      (e) => e.data && e.offset !== undefined && e.start <= guestOffset && guestOffset < e.start + e.length,
    )!;
    const fileOffset = cluster.offset! + (guestOffset - cluster.start);
    flip = { file, fileOffset, guestOffset, original: await readByte(file, fileOffset) };
    expect(flip.original).toBe(0xab);
    await writeByte(file, fileOffset, 0xa5);

    const deep = await verifyBackup(conn, { setId: inc.set.id, deep: true });
    expect(deep).toMatchObject({ ok: false, verdict: 'damaged' });
    const vdaVolume = full.set.disks.find((d) => d.target === 'vda')!.volume!.name;
    expect(deep.damage).toEqual([
      expect.objectContaining({
        setId: full.set.id,
        target: 'vda',
        volume: vdaVolume,
        pool: defaults.pool,
        range: { start: 1 * MiB, end: 2 * MiB },
      }),
    ]);
    expect(deep.damage[0].range!.start).toBeLessThanOrEqual(guestOffset);
    expect(deep.damage[0].range!.end).toBeGreaterThan(guestOffset);
    expect(deep.records.written).toEqual([full.set.id]);
    // The other disk is whole.
    expect(deep.disks.find((d) => d.target === 'vdb')).toMatchObject({ ok: true, damage: [] });

    // Another connection (another host would do the same: it reads only the pool) sees the damage.
    const other = cleanup.connection(await openSystemConnection());
    const fullListed = await setStatus(other, full.set.id);
    const incListed = await setStatus(other, inc.set.id);
    expect(fullListed.restorable).toBe(false);
    expect(fullListed.problems.map((p) => p.kind)).toEqual(['damaged']);
    expect(fullListed.problems[0].message).toContain(`bytes ${MiB}-${2 * MiB - 1}`);
    expect(incListed.problems).toEqual([
      expect.objectContaining({ kind: 'damaged-ancestor', relatedId: full.set.id }),
    ]);
    // A sample verify does not call recorded damage ok, even when its sample misses it.
    const sampled = await verifyBackup(conn, { setId: full.set.id, sample: 0 });
    expect(sampled).toMatchObject({ ok: false, verdict: 'damaged', damage: [] });
    expect(sampled.recordedDamage.join()).toContain('damaged data');
    // The next backup does not build on damaged data: with no sound set to continue, it is a full.
    const next = await createBackup(conn, vm.name, { defaults, lockDir });
    expect(next.set.kind).toBe('full');
  });

  it('refuses a restore from the damaged data and leaves no volume; with ignoreDamage it restores and lists the range', async () => {
    const before = await poolVolumeNames(conn, defaults.pool);
    const refused = await restoreBackup(conn, { setId: inc.set.id, disks: ['vda'] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isVolbackError(refused, 'ERR_DAMAGED')).toBe(true);
    expect((refused as Error).message).toContain(`bytes ${MiB}-${2 * MiB - 1}`);
    expect((refused as Error).message).toContain(full.set.disks[0].volume!.name);
    expect(
      (await poolVolumeNames(conn, defaults.pool)).filter((n) => !n.endsWith('.volback-damage.json')),
    ).toEqual(before.filter((n) => !n.endsWith('.volback-damage.json')));

    const forced = await restoreBackup(conn, { setId: inc.set.id, disks: ['vda'], ignoreDamage: true });
    cleanup.add('restored volume', async () => {
      const pool = await conn.lookupStoragePoolByName(defaults.pool);
      const v = await pool.lookupVolumeByName(forced.volumes[0].volume).catch(() => undefined);
      await v?.delete();
      v?.free();
      pool.free();
    });
    expect(forced.damage).toEqual([
      expect.objectContaining({ setId: full.set.id, target: 'vda', range: { start: MiB, end: 2 * MiB } }),
    ]);
    // What it restored is the backup as it is now: the model with the flipped byte.
    expect(await sameContent({ path: forced.volumes[0].path, format: 'qcow2' }, incModel)).toBe(false);

    // A whole domain: refused the same way, nothing defined, no volume left.
    const name = `${vm.name}-copy`;
    await expect(restoreDomain(conn, { setId: inc.set.id, name, newUuid: true })).rejects.toMatchObject({
      code: 'ERR_DAMAGED',
    });
    await expect(conn.lookupDomainByName(name)).rejects.toThrow();

    // Over the domain's own disks: refused before they are touched.
    await vm.domain.destroy();
    await expect(
      restoreBackup(conn, { setId: inc.set.id, disks: ['vda'], overwrite: true, lockDir }),
    ).rejects.toMatchObject({ code: 'ERR_DAMAGED' });
    expect(await vm.diskMatches('vda', vm.disks[0].modelPath)).toBe(true);
    await vm.domain.create();
  });

  it('a deep verify of repaired data clears the record; the restore then succeeds and is checked', async () => {
    await writeByte(flip.file, flip.fileOffset, flip.original);
    const deep = await verifyBackup(conn, { setId: full.set.id, deep: true });
    expect(deep).toMatchObject({ ok: true, verdict: 'ok', records: { cleared: true } });
    expect((await setStatus(conn, full.set.id)).restorable).toBe(true);
    expect((await setStatus(conn, inc.set.id)).restorable).toBe(true);

    const name = `${vm.name}-clone`;
    cleanupDomainByName(conn, cleanup, name);
    const restored = await restoreDomain(conn, { setId: inc.set.id, name, newUuid: true });
    expect(restored).toMatchObject({ damage: [], notes: [] });
    const vda = restored.volumes.find((v) => v.target === 'vda')!;
    expect(await sameContent({ path: vda.path, format: vda.format }, incModel)).toBe(true);
    for (const v of restored.volumes) {
      cleanup.add(`volume ${v.volume}`, async () => {
        const pool = await conn.lookupStoragePoolByName(v.pool);
        const vol = await pool.lookupVolumeByName(v.volume).catch(() => undefined);
        await vol?.delete();
        vol?.free();
        pool.free();
      });
    }
  });

  it('a changed or swapped checksum document is damage of its set', async () => {
    const pool = await openPool(conn, defaults.pool);
    try {
      const vdb = full.set.disks.find((d) => d.target === 'vdb')!;
      const vda = full.set.disks.find((d) => d.target === 'vda')!;
      const [original] = await readDocuments(pool, [vdb.checksums!.document]);
      const [other] = await readDocuments(pool, [vda.checksums!.document]);
      const text = (original as { text: string }).text;
      // Swapped: vda's (valid) document under vdb's name.
      await writeDocument(pool, vdb.checksums!.document, (other as { text: string }).text);
      let result = await verifyBackup(conn, { setId: full.set.id, sample: 1, record: false });
      expect(result.verdict).toBe('damaged');
      expect(result.damage).toEqual([
        expect.objectContaining({
          setId: full.set.id,
          target: 'vdb',
          reason: expect.stringContaining('not the one recorded with the backup'),
        }),
      ]);
      // Tampered: one digest changed, the framing made to match.
      const lines = text.split('\n');
      const last = lines.length - 2;
      lines[last] = lines[last].replace(/ ./, (m) => (m === ' A' ? ' B' : ' A'));
      await writeDocument(pool, vdb.checksums!.document, lines.join('\n'));
      result = await verifyBackup(conn, { setId: full.set.id, sample: 1, record: false });
      expect(result.damage[0].reason).toContain('not the one recorded with the backup');
      await expect(restoreBackup(conn, { setId: full.set.id, disks: ['vdb'] })).rejects.toMatchObject({
        code: 'ERR_DAMAGED',
      });
      // Missing.
      await run(['rm', path.join(defaults.path, vdb.checksums!.document)]);
      await pool.pool.refresh();
      result = await verifyBackup(conn, { setId: full.set.id, sample: 1, record: false });
      expect(result.damage[0].reason).toContain('is missing');
      await writeDocument(pool, vdb.checksums!.document, text);
      result = await verifyBackup(conn, { setId: full.set.id, deep: true });
      expect(result.verdict).toBe('ok');
    } finally {
      closePools([pool]);
    }
  });

  it('a set from before checksums verifies as "no checksums" and restores with a note', async () => {
    const old = await createBackup(conn, vm.name, {
      defaults,
      lockDir,
      definition: { mode: 'push', kind: 'full', disks: [] },
    });
    // Rewrite its metadata as an older volback wrote it: no checksum references.
    const legacy: BackupSet = {
      ...old.set,
      disks: old.set.disks.map(({ checksums: _c, ...d }) => d),
    };
    const pool = await openPool(conn, defaults.pool);
    try {
      await writeDocument(
        pool,
        metadataVolumeName({ domain: vm.name, createdAt: old.set.createdAt, setId: old.set.id }),
        await formatBackupSet(legacy),
      );
    } finally {
      closePools([pool]);
    }
    const result = await verifyBackup(conn, { setId: old.set.id });
    expect(result).toMatchObject({ ok: true, verdict: 'no-checksums', damage: [] });
    expect(result.disks.map((d) => d.checksums?.state)).toEqual(['none', 'none']);
    // A deep verify reads all of what no checksum covers, through the driver's reader.
    const deep = await verifyBackup(conn, { setId: old.set.id, deep: true, record: false });
    expect(deep).toMatchObject({ ok: true, verdict: 'no-checksums', damage: [] });
    expect(deep.disks.every((d) => d.problems.length === 0)).toBe(true);
    const restored = await restoreBackup(conn, { setId: old.set.id, disks: ['vdb'] });
    cleanup.add('restored legacy volume', async () => {
      const p = await conn.lookupStoragePoolByName(defaults.pool);
      const v = await p.lookupVolumeByName(restored.volumes[0].volume).catch(() => undefined);
      await v?.delete();
      v?.free();
      p.free();
    });
    expect(restored.notes.join()).toContain('no checksums (taken before volback recorded them)');
    // Its leftover documents are stray (no metadata names them): listed, not silently kept.
    const scan = await scanCatalog(conn, { pools: [defaults.pool] });
    expect(scan.strayVolumes.map((v) => v.volume).sort()).toEqual(
      old.set.disks.map((d) => d.checksums!.document).sort(),
    );
  });

  it("records add up: a verify and a restore keep each other's findings; a deep verify replaces them", async () => {
    const pool = await openPool(conn, defaults.pool);
    const vda = full.set.disks.find((d) => d.target === 'vda')!;
    const vdb = full.set.disks.find((d) => d.target === 'vdb')!;
    try {
      const [own] = await readDocuments(pool, [vdb.checksums!.document]);
      const [other] = await readDocuments(pool, [vda.checksums!.document]);
      await writeDocument(pool, vdb.checksums!.document, (other as { text: string }).text);
      expect((await verifyBackup(conn, { setId: full.set.id, sample: 1 })).records.written).toEqual([
        full.set.id,
      ]);
      await writeDocument(pool, vdb.checksums!.document, (own as { text: string }).text);
    } finally {
      closePools([pool]);
    }
    await writeByte(flip.file, flip.fileOffset, 0xa5);
    const forced = await restoreBackup(conn, { setId: full.set.id, disks: ['vda'], ignoreDamage: true });
    cleanup.add('restored volume', async () => {
      const p = await conn.lookupStoragePoolByName(defaults.pool);
      const v = await p.lookupVolumeByName(forced.volumes[0].volume).catch(() => undefined);
      await v?.delete();
      v?.free();
      p.free();
    });
    expect(forced.damage.map((f) => f.target)).toEqual(['vda']);
    const damaged = (await setStatus(conn, full.set.id)).problems[0];
    expect(damaged.message).toMatch(
      /^backup set \S+ is damaged: restore on .* disk vda volume .* bytes 1048576-2097151: .*\(and 1 more\)$/,
    );
    await writeByte(flip.file, flip.fileOffset, flip.original);
    expect(await verifyBackup(conn, { setId: full.set.id, deep: true })).toMatchObject({
      verdict: 'ok',
      records: { cleared: true },
    });
  });

  it("a merge gives the absorbing incremental the merged parent's checksums, and they still find damage", async () => {
    const removed = await deleteBackup(conn, { setId: full.set.id, dependents: 'merge', lockDir });
    expect(removed.merged.map((m) => m.into).sort()).toEqual(inc.set.disks.map((d) => d.id).sort());
    const scan = await scanCatalog(conn, { pools: [defaults.pool] });
    const merged = scan.catalog.sets.get(inc.set.id)!.set;
    expect(merged.kind).toBe('full');
    const vda = merged.disks.find((d) => d.target === 'vda')!;
    expect(vda.checksums!.document).toBe(`${vda.volume!.name}.msums`);
    const names = await poolVolumeNames(conn, defaults.pool);
    for (const d of [...full.set.disks, ...inc.set.disks]) expect(names).not.toContain(d.checksums!.document);
    expect(scan.strayVolumes.filter((v) => v.volume.includes(inc.set.id.slice(0, 8)))).toEqual([]);
    const ok = await verifyBackup(conn, { setId: inc.set.id, deep: true });
    expect(ok).toMatchObject({ verdict: 'ok' });
    expect(ok.disks.find((d) => d.target === 'vda')!.checksums).toMatchObject({
      state: 'complete',
      checked: 4,
    });

    // Extent 1 came from the full: the merged checksums still cover it.
    const file = volumePath(merged);
    const map = JSON.parse(
      (await run(['qemu-img', 'map', '--output=json', '-f', 'qcow2', file])).stdout,
    ) as Array<MapExtent & { offset?: number }>;
    const cluster = map.find(
      (e) =>
        e.depth === 0 &&
        e.data &&
        e.offset !== undefined &&
        e.start <= MiB + 99 &&
        MiB + 99 < e.start + e.length,
    )!;
    const at = cluster.offset! + (MiB + 99 - cluster.start);
    await writeByte(file, at, 0x5a);
    const damaged = await verifyBackup(conn, { setId: inc.set.id, deep: true, record: false });
    expect(damaged.damage).toEqual([
      expect.objectContaining({ setId: inc.set.id, target: 'vda', range: { start: MiB, end: 2 * MiB } }),
    ]);
    await writeByte(file, at, 0xab);
  });
});

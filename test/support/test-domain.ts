// A real QEMU test domain with qcow2 (compat 1.1) disks, known writes through HMP qemu-io, and a
// model of every disk's expected content (a local sparse raw file) to compare backups against.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { virDomainUndefineFlagsValues, type Connection, type Domain } from '../../src/libvirt';
import { flushDisk, writeDiskPattern } from '../../src/host/scratch-domain';
import { imagesEqual, type ImageRef } from '../../src/tools/qemu-img';
import type { Cleanup } from './cleanup';
import { buildDomainXml, chooseVirtType, type VirtChoice } from './domain-xml';
import { createDirPool, createVolume, type TestDirPool } from './libvirt';
import { uniqueName } from './names';

export interface TestDomainDisk {
  target: string;
  path: string;
  size: number;
  /** A sparse raw file holding what the disk should contain now. */
  modelPath: string;
}

export interface TestDomain {
  name: string;
  domain: Domain;
  pool: TestDirPool;
  virt: VirtChoice;
  xml: string;
  disks: TestDomainDisk[];
  /** Writes `length` bytes of `pattern` at `offset` into the running domain's disk and into its model. */
  write(target: string, pattern: number, offset: number, length: number): Promise<void>;
  /** Copies the disk's current model, to compare a backup of this moment with later. */
  snapshotModel(target: string, label: string): string;
  /**
   * True when the domain's own disk holds exactly `modelPath`. A running domain's disk is flushed
   * first: until then QEMU may hold new clusters' qcow2 metadata in its cache, and a reader outside
   * QEMU sees old content. Every test that reads a live disk goes through here.
   */
  diskMatches(target: string, modelPath: string): Promise<boolean>;
  /**
   * Takes a new handle of the domain from `conn` (after libvirtd restarted, every old handle is dead).
   * The cleanup registered at creation still holds the old handle: see test/support/libvirtd.ts.
   */
  reattach(conn: Connection): Promise<void>;
}

/** Fills [offset, offset+length) of a local file with one byte value. */
export function writePattern(file: string, pattern: number, offset: number, length: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const chunk = Buffer.alloc(Math.min(length, 4 * 1024 * 1024), pattern);
    for (let done = 0; done < length;) {
      const n = Math.min(chunk.length, length - done);
      fs.writeSync(fd, chunk, 0, n, offset + done);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Defines (and unless `start: false`, starts) a domain with one qcow2 disk per size, in a fresh dir
 * pool. Everything is registered on `cleanup` (domain undefined with its checkpoint metadata).
 */
export async function createTestDomain(
  conn: Connection,
  cleanup: Cleanup,
  options: { diskSizes: number[]; start?: boolean; label?: string },
): Promise<TestDomain> {
  const virt = await chooseVirtType(conn);
  const pool = await createDirPool(conn, cleanup, options.label ?? 'dom');
  const modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-model-'));
  cleanup.add(`model ${modelDir}`, async () => fs.rmSync(modelDir, { recursive: true, force: true }));
  const disks: TestDomainDisk[] = [];
  for (const [i, size] of options.diskSizes.entries()) {
    const target = `vd${String.fromCharCode(97 + i)}`;
    const volume = await createVolume(pool.pool, cleanup, `${target}.qcow2`, size);
    const modelPath = path.join(modelDir, `${target}.raw`);
    fs.writeFileSync(modelPath, '');
    fs.truncateSync(modelPath, size);
    disks.push({ target, path: await volume.getPath(), size, modelPath });
  }
  const name = uniqueName(options.label ?? 'vm');
  const xml = buildDomainXml({
    name,
    virt,
    disks: disks.map((d) => ({ path: d.path, target: d.target })),
  });
  let domain = await conn.defineDomain(xml);
  cleanup.domain(domain, virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
  if (options.start !== false) await domain.create();
  return {
    name,
    get domain() {
      return domain;
    },
    pool,
    virt,
    xml,
    disks,
    async write(target, pattern, offset, length) {
      const disk = disks.find((d) => d.target === target)!;
      await writeDiskPattern(domain, target, pattern, offset, length);
      writePattern(disk.modelPath, pattern, offset, length);
    },
    async diskMatches(target, modelPath) {
      const disk = disks.find((d) => d.target === target)!;
      if (await domain.isActive()) await flushDisk(domain, target);
      return sameContent({ path: disk.path, format: 'qcow2' }, modelPath);
    },
    async reattach(newConn) {
      domain = await newConn.lookupDomainByName(name);
    },
    snapshotModel(target, label) {
      const disk = disks.find((d) => d.target === target)!;
      const copy = path.join(modelDir, `${target}.${label}.raw`);
      fs.copyFileSync(disk.modelPath, copy);
      return copy;
    },
  };
}

/** True when a backup image (chain included) has exactly the content of a model file. */
export function sameContent(image: ImageRef, modelPath: string): Promise<boolean> {
  return imagesEqual(image, { path: modelPath, format: 'raw' });
}

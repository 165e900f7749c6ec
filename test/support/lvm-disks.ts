// What the LVM test-host suites share: a domain disk as qcow2 inside an LV, and a volume's guest
// bytes read back through its pool's driver (libvirt's downloads and volback's qcow2 reader).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import {
  virDomainUndefineFlagsValues,
  type Connection,
  type Domain,
  type StoragePool,
} from '../../src/libvirt';
import type { OpenPool } from '../../src/pool/pool-layer';
import { buildDomainXml } from '../../src/xml/scratch-domains';
import type { Cleanup } from './cleanup';
import { chooseVirtType } from './domain-xml';
import { uniqueName } from './names';
import { startPausedOnTestHost, testHost } from './testhost';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/**
 * Refreshes a pool's volume list; libvirt refuses while a volume build runs in it (another suite
 * on the same VG), and its list already holds what this host's libvirtd made and removed.
 */
export async function refreshQuietly(pool: StoragePool): Promise<void> {
  await pool.refresh().catch(() => undefined);
}

/** The first `length` guest bytes of volume `name` of `pool`, read through its driver. */
export async function readThroughDriver(pool: OpenPool, name: string, length: number): Promise<Buffer> {
  await refreshQuietly(pool.pool);
  const volume = await pool.pool.lookupVolumeByName(name);
  const reader = await pool.driver.openReader(pool, volume);
  try {
    const parts: Buffer[] = [];
    await reader.read(0, length, (chunk) => parts.push(Buffer.from(chunk)));
    return Buffer.concat(parts);
  } finally {
    await reader.close();
    volume.free();
  }
}

/**
 * An LV `name` of `vg` holding an empty qcow2 image of `size` bytes (a domain disk on LVM), removed
 * by `cleanup`. Returns its device path.
 */
export async function qcow2Lv(
  vg: StoragePool,
  cleanup: Cleanup,
  name: string,
  size: number,
): Promise<string> {
  const volume = await vg.createVolume(
    `<volume><name>${name}</name><capacity unit='bytes'>${size + 4 * MiB}</capacity><target><format type='raw'/></target></volume>`,
  );
  cleanup.add(`LV ${name}`, async () => {
    await volume.delete();
    volume.free();
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-lvm-disk-'));
  try {
    const file = path.join(dir, 'disk.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compat=1.1', file, String(size)]);
    const header = fs.readFileSync(file);
    await pipeline(Readable.from([header]), volume.upload({ offset: 0, length: header.length }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return volume.getPath();
}

/**
 * Writes `pattern` over the first `extents` extents of every free area of volume group `vg` on the
 * test host, straight onto its physical volumes: old bytes where the next LVs go, whichever free
 * area LVM picks (it starts an LV at the beginning of an area, and which area depends on how
 * earlier suites left the VG). Free extents belong to no LV, so nothing else is touched; suites
 * run one at a time (jest --runInBand).
 */
export async function dirtyFreeExtents(vg: string, extents: number, pattern: number): Promise<void> {
  const rows = await testHost(
    'ssh',
    `pvs --segments --noheadings --nosuffix --units b --separator : ` +
      `-o pv_name,pe_start,vg_extent_size,pvseg_start,pvseg_size,lv_name --select vg_name=${vg}`,
  );
  const writes = [];
  for (const row of rows.split('\n')) {
    const [pv, peStart, extentSize, start, size, lv] = row.trim().split(':');
    if (!pv || lv) continue; // an LV's extents
    const offset = Number(peStart) + Number(start) * Number(extentSize);
    const length = Math.min(Number(size), extents) * Number(extentSize);
    writes.push(`qemu-io -f raw -c 'write -P ${pattern} ${offset} ${length}' ${pv}`);
  }
  if (writes.length === 0) throw new Error(`volume group ${vg} on the test host has no free extents`);
  await testHost('ssh', writes.join(' && '));
}

/** A clean-up step removing from `pool` every volume whose name holds `name` (a test domain's backups, staging LVs, restores). */
export function removeVolumesNamedAfter(pool: StoragePool, name: string): () => Promise<void> {
  return async () => {
    await refreshQuietly(pool);
    for (const volume of await pool.listAllVolumes()) {
      if ((await volume.getName()).includes(name)) await volume.delete().catch(() => undefined);
      volume.free();
    }
  };
}

/**
 * Defines and starts (paused, startPausedOnTestHost) domain `name` on `conn`'s host with one disk per target of `size` bytes, each
 * a qcow2 image inside an LV of `vg`; undefined (with its checkpoints' metadata) by `cleanup`.
 */
export async function startDomainOnLvs(
  conn: Connection,
  cleanup: Cleanup,
  vg: StoragePool,
  name: string,
  targets: readonly string[],
  size: number,
): Promise<Domain> {
  const disks = [];
  for (const target of targets)
    disks.push({
      target,
      path: await qcow2Lv(vg, cleanup, uniqueName(`disk-${target}`), size),
      type: 'block' as const,
    });
  const domain = cleanup.domain(
    await conn.defineDomain(buildDomainXml({ name, virt: await chooseVirtType(conn), disks })),
    virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
  );
  await startPausedOnTestHost(domain);
  return domain;
}

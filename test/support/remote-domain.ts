// A two-disk domain on the LVM test host (started paused: startPausedOnTestHost), on qcow2 files of its dir pool, with a model of
// what its disks hold; and a fresh dir pool there for backups. What the remote system tests share.
import { writeDiskPattern } from '../../src/host/scratch-domain';
import {
  virDomainUndefineFlagsValues,
  type Connection,
  type Domain,
  type StoragePool,
} from '../../src/libvirt';
import { buildDomainXml } from '../../src/xml/scratch-domains';
import type { Cleanup } from './cleanup';
import { chooseVirtType } from './domain-xml';
import { createVolume } from './libvirt';
import { uniqueName } from './names';
import { TESTHOST_DIR_POOL, startPausedOnTestHost } from './testhost';

export interface RemoteDomain {
  name: string;
  domain: Domain;
  /** Each disk's path on the test host. */
  disks: Record<string, string>;
  /** What each disk holds now, as the writes made it. */
  model: Record<string, Buffer>;
  /** Writes `length` bytes of `pattern` at `offset` through QEMU, and into the model. */
  write(target: string, pattern: number, offset: number, length: number): Promise<void>;
}

/** Starts (paused) a domain with `targets` disks of `diskSize` bytes on the test host; removed by `cleanup`. */
export async function createRemoteDomain(
  conn: Connection,
  cleanup: Cleanup,
  label: string,
  diskSize: number,
  targets: readonly string[] = ['vda', 'vdb'],
): Promise<RemoteDomain> {
  const dir = await conn.lookupStoragePoolByName(TESTHOST_DIR_POOL);
  cleanup.add(`pool handle ${TESTHOST_DIR_POOL}`, async () => dir.free());
  const disks = [];
  for (const target of targets) {
    const volume = await createVolume(dir, cleanup, `${uniqueName(target)}.qcow2`, diskSize);
    disks.push({ target, path: await volume.getPath() });
  }
  const name = uniqueName(label);
  const domain = cleanup.domain(
    await conn.defineDomain(buildDomainXml({ name, virt: await chooseVirtType(conn), disks })),
    virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
  );
  await startPausedOnTestHost(domain);
  const model = Object.fromEntries(targets.map((t) => [t, Buffer.alloc(diskSize)]));
  return {
    name,
    domain,
    disks: Object.fromEntries(disks.map((d) => [d.target, d.path])),
    model,
    async write(target, pattern, offset, length) {
      await writeDiskPattern(domain, target, pattern, offset, length);
      model[target].fill(pattern, offset, offset + length);
    },
  };
}

/** A new, started dir pool `name` under /var/lib/libvirt on the test host; removed with its volumes. */
export async function createRemoteDirPool(
  conn: Connection,
  cleanup: Cleanup,
  name: string,
): Promise<StoragePool> {
  const pool = await conn.defineStoragePool(
    `<pool type='dir'><name>${name}</name><target><path>/var/lib/libvirt/${name}</path></target></pool>`,
  );
  cleanup.pool(pool, { deleteVolumes: true, deleteStorage: true });
  await pool.build();
  await pool.create();
  return pool;
}

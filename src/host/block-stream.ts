// Changing a qcow2 volume's backing file on a host volback cannot reach with files (a remote host),
// through libvirt alone: a transient, paused helper domain opens the volume with its chain, and
// QEMU's block-stream copies into it what it reads from the layers above the new base, then points
// its header at that base. The volume's content is the same at every moment of the job, so an
// interrupted run changes nothing a guest could see, and running it again finishes it.
import { ErrorCodes, VolbackError } from '../errors';
import { virDomainCreateFlags, type Connection } from '../libvirt';
import { logger } from '../log';
import { buildDomainXml } from '../xml/scratch-domains';
import { chooseVirtType } from './virt-type';

const log = logger('block-stream');

/** How often the job's state is asked while it runs. */
const POLL_MS = 200;

interface BlockNode {
  'node-name': string;
  drv: string;
  file: string;
}

/** How the helper domain opens the volume. */
export interface StreamOptions {
  /** `file` (default) for an image file, `block` for a block device (qcow2 inside an LV). */
  diskType?: 'file' | 'block';
}

/**
 * Makes the qcow2 volume at `path` (on `conn`'s host, with the backing chain its header names) stand
 * on `base` (a file of that chain) or, without `base`, on nothing, keeping its content: QEMU copies
 * in what the layers between them provide. Returns when the header names the new base.
 */
export async function streamIntoVolume(
  conn: Connection,
  path: string,
  base?: string,
  options: StreamOptions = {},
): Promise<void> {
  const virt = await chooseVirtType(conn);
  const name = `volback-stream-${process.pid}-${Date.now().toString(36)}`;
  const disk = { path, format: 'qcow2' as const, type: options.diskType ?? 'file' };
  // Autodestroy: if volback dies, libvirt ends the helper with this connection, so no stream keeps
  // running into the volume (and holding it open) behind the next run's back.
  const domain = await conn.createDomain(
    buildDomainXml({ name, virt, memoryMiB: 64, disks: [disk] }),
    virDomainCreateFlags.VIR_DOMAIN_START_PAUSED | virDomainCreateFlags.VIR_DOMAIN_START_AUTODESTROY,
  );
  try {
    const blocks = await domain.qmp<Array<{ inserted?: { 'node-name': string } }>>('query-block');
    const top = blocks.find((b) => b.inserted)?.inserted?.['node-name'];
    if (!top) throw new Error(`the helper domain has no disk on ${path}`);
    const nodes = await domain.qmp<BlockNode[]>('query-named-block-nodes', { flat: true });
    const baseNode =
      base && nodes.find((n) => n.file === base && n.drv !== 'file' && n.drv !== 'host_device');
    if (base && !baseNode)
      throw new VolbackError(ErrorCodes.CHAIN_BROKEN, `${base} is not in the backing chain of ${path}`);
    const job = `${name}-job`;
    await domain.qmp('block-stream', {
      'job-id': job,
      device: top,
      'auto-dismiss': false,
      ...(baseNode ? { 'base-node': baseNode['node-name'], 'backing-file': base } : {}),
    });
    log.debug(`streaming into ${path} down to ${base ?? 'nothing'}`);
    for (;;) {
      const jobs = await domain.qmp<Array<{ id: string; status: string; error?: string }>>('query-jobs');
      const mine = jobs.find((j) => j.id === job);
      if (!mine) throw new Error(`block-stream job on ${path} vanished`);
      if (mine.status === 'concluded') {
        await domain.qmp('job-dismiss', { id: job });
        if (mine.error) throw new Error(`block-stream into ${path} failed: ${mine.error}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    await domain.destroy().catch(() => undefined);
    domain.free();
  }
}

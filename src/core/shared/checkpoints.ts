// Checkpoint drift: decides whether an incremental's base checkpoint can be trusted, re-registering
// lost checkpoint metadata from what the backups stored, and removes checkpoints without losing data.
import {
  isLibvirtError,
  isLibvirtNotFound,
  virDomainCheckpointCreateFlags,
  virDomainCheckpointDeleteFlags,
  virDomainCheckpointListFlags,
  virDomainCheckpointXMLFlags,
  type Domain,
} from '../../libvirt';
import { logger } from '../../log';
import type { BackupSet } from '../../model';
import type { BaseState } from './disk-selection';

const log = logger('checkpoints');

async function hasCheckpoint(domain: Domain, name: string): Promise<boolean> {
  try {
    (await domain.lookupCheckpointByName(name)).free();
    return true;
  } catch (err) {
    if (isLibvirtNotFound(err)) return false;
    throw err;
  }
}

/**
 * Judges the base of an incremental. `ancestry` is the base set's chain, full first, base last.
 * Missing checkpoints are re-registered from their stored XML (REDEFINE, validated against the
 * disks' bitmaps); one that cannot be makes the base unusable, with the reason, so the caller takes
 * a full instead. The bitmaps themselves are checked by libvirt when the job starts
 * (VIR_ERR_CHECKPOINT_INCONSISTENT), which the coordinator also answers with a full.
 */
export async function assessBase(domain: Domain, ancestry: readonly BackupSet[]): Promise<BaseState> {
  const base = ancestry[ancestry.length - 1];
  if (!base) return undefined;
  if (!base.checkpoint)
    return { set: base, usable: false, reason: `backup ${base.id} recorded no checkpoint` };
  for (const set of ancestry) {
    if (!set.checkpoint || (await hasCheckpoint(domain, set.checkpoint.name))) continue;
    log.info(
      `re-registering checkpoint ${set.checkpoint.name} from backup ${set.id} (the domain lost its metadata)`,
    );
    try {
      const flags =
        virDomainCheckpointCreateFlags.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE |
        virDomainCheckpointCreateFlags.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE;
      (await domain.createCheckpoint(set.checkpoint.xml, flags)).free();
    } catch (err) {
      const message = (err as Error).message;
      return {
        set: base,
        usable: false,
        // Metadata and bitmap both gone: the disks were restored over or replaced, or bitmaps removed.
        reason: isLibvirtError(err, 'VIR_ERR_CHECKPOINT_INCONSISTENT')
          ? `checkpoint ${set.checkpoint.name} is gone from the domain and its bitmap from the disks (restored over, replaced, or bitmaps removed), so what changed since backup ${set.id} is unknown (libvirt: ${message})`
          : `checkpoint ${set.checkpoint.name} was lost and could not be re-registered: ${message}`,
      };
    }
  }
  return { set: base, usable: true };
}

/**
 * Deletes a checkpoint. A normal delete merges its bitmap into its parent's, so the next
 * incremental still sees every change; when the bitmap itself is gone, only the metadata is removed.
 */
export async function removeCheckpoint(domain: Domain, name: string): Promise<void> {
  let checkpoint;
  try {
    checkpoint = await domain.lookupCheckpointByName(name);
  } catch (err) {
    if (isLibvirtNotFound(err)) return;
    throw err;
  }
  try {
    await checkpoint.delete();
  } catch (err) {
    log.warn(
      `checkpoint ${name} could not be deleted with its bitmap (${(err as Error).message}); removing its metadata only`,
    );
    await checkpoint.delete(virDomainCheckpointDeleteFlags.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY);
  } finally {
    checkpoint.free();
  }
}

/** Names of volback's checkpoints on the domain, newest (leaves) first. */
export async function volbackCheckpoints(domain: Domain): Promise<string[]> {
  // Topological: parents before children; reversed below so leaves are removed first.
  const checkpoints = await domain.listAllCheckpoints(
    virDomainCheckpointListFlags.VIR_DOMAIN_CHECKPOINT_LIST_TOPOLOGICAL,
  );
  try {
    const names = await Promise.all(checkpoints.map((c) => c.getName()));
    return names.filter((n) => n.startsWith('volback-')).reverse();
  } finally {
    for (const c of checkpoints) c.free();
  }
}

/**
 * The checkpoint libvirt would make the parent of a new one: the newest leaf. A checkpoint that
 * volback registers itself (REDEFINE after a QMP job) takes it as parent, so the domain's checkpoint
 * tree looks as if libvirt's own job had made it.
 */
export async function newestLeafCheckpoint(domain: Domain): Promise<string | undefined> {
  const leaves = await domain.listAllCheckpoints(
    virDomainCheckpointListFlags.VIR_DOMAIN_CHECKPOINT_LIST_LEAVES,
  );
  try {
    let newest: { name: string; created: number } | undefined;
    for (const leaf of leaves) {
      const xml = await leaf.getXMLDesc(virDomainCheckpointXMLFlags.VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN);
      const created = Number(/<creationTime>(\d+)<\/creationTime>/.exec(xml)?.[1] ?? 0);
      if (!newest || created >= newest.created) newest = { name: await leaf.getName(), created };
    }
    return newest?.name;
  } finally {
    for (const leaf of leaves) leaf.free();
  }
}

/** Removes every volback checkpoint of the domain (after drift, before a new full chain). */
export async function dropVolbackCheckpoints(domain: Domain): Promise<void> {
  for (const name of await volbackCheckpoints(domain)) await removeCheckpoint(domain, name);
}

/** The stored form of a new checkpoint: its XML without the domain (the set stores that once). */
export async function checkpointRecord(
  domain: Domain,
  name: string,
): Promise<{ name: string; parent?: string; xml: string }> {
  const checkpoint = await domain.lookupCheckpointByName(name);
  try {
    const xml = await checkpoint.getXMLDesc(virDomainCheckpointXMLFlags.VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN);
    const parent = /<parent>\s*<name>([^<]+)<\/name>/.exec(xml)?.[1];
    return { name, parent, xml };
  } finally {
    checkpoint.free();
  }
}

/**
 * Bytes each disk changed since checkpoint `name`, as libvirt reports them now
 * (`VIR_DOMAIN_CHECKPOINT_XML_SIZE`: the dirty bitmap's granules); empty when libvirt cannot say.
 */
export async function changedSince(domain: Domain, name: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  try {
    const checkpoint = await domain.lookupCheckpointByName(name);
    try {
      const xml = await checkpoint.getXMLDesc(virDomainCheckpointXMLFlags.VIR_DOMAIN_CHECKPOINT_XML_SIZE);
      for (const [disk] of xml.matchAll(/<disk\b[^>]*>/g)) {
        const target = /\bname=['"]([^'"]+)['"]/.exec(disk)?.[1];
        const size = /\bsize=['"](\d+)['"]/.exec(disk)?.[1];
        if (target && size) sizes.set(target, Number(size));
      }
    } finally {
      checkpoint.free();
    }
  } catch (err) {
    log.debug(`no change sizes since checkpoint ${name}: ${String(err)}`);
  }
  return sizes;
}

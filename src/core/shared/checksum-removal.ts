// What a removal does to checksum documents (docs/architecture.md, "Checksums"): the documents of
// removed disk backups go with their volumes, and a disk that absorbs a merged parent gets a merged
// document. Kept apart from the removal journal, which calls these steps. Only names derived from a
// data volume the removal proved its own are ever deleted or written: a metadata document that
// names some other volume as its checksums gets nothing of it touched.
import { logger } from '../../log';
import type { BackupSet, ChecksumRef, DiskBackup } from '../../model';
import { checksumDocumentName, checksumDocumentVolume, mergeChecksumDocuments } from '../../pool/checksums';
import type { PoolCache } from '../../pool/pool-layer';

const log = logger('checksums');

/** The parts of a removal step these steps read (see RemovalStep in removal/journal.ts). */
interface Step {
  merges: ReadonlyArray<{ from: string; into: string; intoSet: string }>;
}

/** New checksum refs of the disks that absorbed a merge, and the documents they replaced. */
export interface MergedChecksums {
  /** The set with each absorbing disk's new ref (or none, when the merge could not keep them). Pure. */
  apply(set: BackupSet): BackupSet;
  /** Documents no longer named once the rewritten metadata is written. */
  replaced: Array<{ pool: string; name: string }>;
}

/**
 * Merges the checksum documents of every merge of `step` (`from` of `original` into its child
 * in `children`). Run after the rebases and before the children's metadata is rewritten; the removal
 * has proved each absorbing disk's data volume its own, and a document is only used under a name
 * derived from that volume.
 */
export async function mergedChecksums(
  pools: PoolCache,
  original: BackupSet,
  children: readonly BackupSet[],
  step: Step,
): Promise<MergedChecksums> {
  const refs = new Map<string, ChecksumRef | undefined>();
  const replaced: Array<{ pool: string; name: string }> = [];
  for (const merge of step.merges) {
    const from = original.disks.find((d) => d.id === merge.from);
    const child = children.find((c) => c.id === merge.intoSet);
    const into = child?.disks.find((d) => d.id === merge.into);
    if (!from || !child || !into?.checksums || !into.volume) continue;
    if (checksumDocumentVolume(into.checksums.document) !== into.volume.name) {
      log.warn(
        `disk backup ${into.id} names checksums ${into.checksums.document}, not its own: left as they are`,
      );
      refs.set(into.id, undefined);
      continue;
    }
    const ref = await mergeChecksumDocuments(
      (name) => pools.get(name),
      { setId: original.id, disk: from },
      { setId: child.id, disk: into },
    );
    if (!ref)
      log.warn(
        `disk backup ${into.id} keeps no checksums: those of ${from.id}, merged into it, are not usable`,
      );
    refs.set(into.id, ref);
    if (ref?.document !== into.checksums.document)
      replaced.push({ pool: into.volume.pool, name: into.checksums.document });
  }
  return {
    apply(set) {
      if (!set.disks.some((d) => refs.has(d.id))) return set;
      return {
        ...set,
        disks: set.disks.map((d): DiskBackup => {
          if (!refs.has(d.id)) return d;
          const { checksums: _old, ...rest } = d;
          const ref = refs.get(d.id);
          return ref ? { ...rest, checksums: ref } : rest;
        }),
      };
    },
    replaced,
  };
}

/**
 * Checksum documents a removal deletes: those of the data volumes it deletes (both names; it proved
 * those volumes its own), and those merges replaced. Pure.
 */
export function removedChecksumDocuments(
  deletedVolumes: ReadonlyArray<{ pool: string; name: string }>,
  merged: MergedChecksums,
): Array<{ pool: string; name: string }> {
  return [
    ...deletedVolumes.flatMap((v) =>
      ([0, 1] as const).map((g) => ({ pool: v.pool, name: checksumDocumentName(v.name, g) })),
    ),
    ...merged.replaced,
  ];
}

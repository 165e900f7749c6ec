// Which copy engine runs a backup: QEMU's blockdev-backup (the QMP engine) or libvirt's push job.
// Pure: the coordinator gathers the facts. Why two engines, and why one setting, is in
// docs/architecture.md ("Two copy engines").

/**
 * The `backup_engine` setting. `auto`: fulls through QMP, incrementals through libvirt's job, and
 * everything through QMP when a target pool is one libvirt's job cannot write. `qmp`: every backup
 * through QMP. `libvirt`: every backup through libvirt's job (a pool it cannot write is refused).
 */
export type BackupEngine = 'auto' | 'qmp' | 'libvirt';

/** The former full-backup-only setting (`full_backup_engine`): `qmp` is today's `auto`. */
export type FullBackupEngine = 'qmp' | 'libvirt';

/** The effective setting from the API's options: `backupEngine` wins over the older `fullBackupEngine`. */
export const engineSetting = (options: {
  backupEngine?: BackupEngine;
  fullBackupEngine?: FullBackupEngine;
}): BackupEngine => options.backupEngine ?? (options.fullBackupEngine === 'libvirt' ? 'libvirt' : 'auto');

export interface EngineFacts {
  setting: BackupEngine;
  /** Some disk of the plan is an incremental. */
  incremental: boolean;
  /** Target pools of the plan whose driver says libvirt's push job cannot write them. */
  unwritable: readonly string[];
  domain: string;
  /** Security models confining the running QEMU (AppArmor, SELinux): its profile refuses volback's fds. */
  confinedBy: readonly string[];
  /** The connection can hand QEMU descriptors (a local socket: docs/remote-hosts.md). */
  fdPassing: boolean;
  /** Target pools of the plan whose volumes the QMP engine hands QEMU as descriptors. */
  fdTargets: readonly string[];
  /** The plan writes compressed clusters, which libvirt 9.0's push job cannot (docs/compression.md). */
  compressed?: boolean;
  /** The plan writes encrypted volumes: QEMU opens them with a key volback hands it over QMP (docs/encryption.md). */
  encrypted?: boolean;
}

/** Why the QMP engine cannot copy this plan at all, as "<domain> is …" and "it is …"; undefined: it can. */
function qmpBlocked(facts: EngineFacts): { why: string; it: string } | undefined {
  const { domain, confinedBy, fdPassing, fdTargets } = facts;
  if (confinedBy.length) {
    const what = `confined by ${confinedBy.join(', ')}`;
    return { why: `${domain} is ${what}`, it: `it is ${what}` };
  }
  if (!fdPassing && fdTargets.length) {
    const what = `on a remote connection, which cannot pass QEMU the descriptors of ${poolList(fdTargets)}`;
    return { why: `${domain} is ${what}`, it: `it is ${what}` };
  }
  return undefined;
}

const poolList = (pools: readonly string[]): string =>
  pools.length > 1 ? `pools ${pools.join(', ')}` : `pool ${pools[0]}`;

const COMPRESSED_NEEDS_QMP = 'a compressed backup needs the QMP engine';

const ENCRYPTED_NEEDS_QMP = 'an encrypted backup needs the QMP engine';

export type EngineDecision =
  /** `required`: no other engine can write the targets, so a domain QMP cannot copy is refused. */
  | { engine: 'qmp'; required: boolean; why: string }
  | { engine: 'libvirt'; why: string }
  | { refused: string };

/**
 * The engine for a plan, decided before anything is created. The QMP engine still has to find a
 * plain graph for every disk (`sourceNodes`); when it cannot, `qmpUnavailable` says what follows.
 */
export function decideEngine(facts: EngineFacts): EngineDecision {
  const { setting, incremental, unwritable, domain } = facts;
  const blocked = qmpBlocked(facts);
  if (unwritable.length) {
    const pools = poolList(unwritable);
    if (setting === 'libvirt')
      return {
        refused: `libvirt's push job cannot write ${pools}, and backup_engine is libvirt`,
      };
    if (blocked)
      return {
        refused: `${pools} can only be written by the QMP engine, which cannot copy ${domain}: ${blocked.it}`,
      };
    return { engine: 'qmp', required: true, why: `libvirt's push job cannot write ${pools}` };
  }
  if (facts.compressed) {
    if (setting === 'libvirt')
      return {
        refused: `${COMPRESSED_NEEDS_QMP} (libvirt's push job cannot compress), and backup_engine is libvirt`,
      };
    if (blocked) return { refused: `${COMPRESSED_NEEDS_QMP}, which cannot copy ${domain}: ${blocked.it}` };
    return { engine: 'qmp', required: true, why: "compressed backup: libvirt's push job cannot compress" };
  }
  if (facts.encrypted) {
    if (setting === 'libvirt')
      return {
        refused: `${ENCRYPTED_NEEDS_QMP} (volback hands QEMU the key over QMP), and backup_engine is libvirt`,
      };
    if (blocked) return { refused: `${ENCRYPTED_NEEDS_QMP}, which cannot copy ${domain}: ${blocked.it}` };
    return { engine: 'qmp', required: true, why: 'encrypted backup: QEMU opens the volumes with their key' };
  }
  if (setting === 'libvirt') return { engine: 'libvirt', why: 'backup_engine is libvirt' };
  if (blocked) return { engine: 'libvirt', why: blocked.why };
  if (setting === 'qmp') return { engine: 'qmp', required: false, why: 'backup_engine is qmp' };
  return incremental
    ? { engine: 'libvirt', why: 'incremental' }
    : { engine: 'qmp', required: false, why: 'full backup' };
}

/** What follows when the QMP engine cannot copy a disk (`reason`): libvirt's job, or a refusal. */
export function qmpUnavailable(
  decision: { required: boolean },
  facts: Pick<EngineFacts, 'unwritable' | 'domain' | 'compressed' | 'encrypted'>,
  reason: string,
): Exclude<EngineDecision, { engine: 'qmp' }> {
  if (!decision.required) return { engine: 'libvirt', why: reason };
  if (!facts.unwritable.length && facts.encrypted)
    return { refused: `${ENCRYPTED_NEEDS_QMP}, which cannot copy ${facts.domain}: ${reason}` };
  if (!facts.unwritable.length && facts.compressed)
    return { refused: `${COMPRESSED_NEEDS_QMP}, which cannot copy ${facts.domain}: ${reason}` };
  return {
    refused: `pool ${facts.unwritable.join(', ')} can only be written by the QMP engine, which cannot copy ${facts.domain}: ${reason}`,
  };
}

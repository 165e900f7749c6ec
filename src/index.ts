// volback's library API: typed, promise-based; the `volback` CLI is a thin layer over exactly this.
//
// Long operations report progress through `onProgress` callbacks and stop through an AbortSignal
// (`signal`); every error is a VolbackError with a stable `code` (see ErrorCodes) and a `fault`.
import { Connection } from './libvirt';
import type { ResolvedConfig } from './config';
import type { BackupDefaults } from './core/backup/coordinator';

export { Connection, LibvirtError, isLibvirtError, isLibvirtNotFound } from './libvirt';
export {
  ErrorCodes,
  VolbackError,
  XmlValidationError,
  isCancelled,
  isNotFound,
  isVolbackError,
  type ErrorCode,
  type Fault,
} from './errors';
export {
  DEFAULT_CONFIG_PATH,
  loadConfig,
  type ConfigSource,
  type LoadConfigOptions,
  type ResolvedConfig,
  type VolbackConfig,
} from './config';
export { addLogFile, logger, setLogLevel, type LogLevel } from './log';
export type * from './model';
export { parseBackupDefinition, formatBackupDefinition } from './xml';
export {
  createBackup,
  type BackupDefaults,
  type BackupPhase,
  type BackupProgress,
  type BackupResult,
  type CreateBackupOptions,
} from './core/backup/coordinator';
export {
  backupMany,
  checkSelector,
  selectDomains,
  MAX_PARALLEL,
  type BackupManyOptions,
  type DomainFacts,
  type DomainOutcome,
  type DomainSelector,
} from './core/backup/many';
export { LABELS_NAMESPACE } from './xml/domain-labels';
export {
  deleteBackup,
  recoverInterrupted,
  type DeleteOptions,
  type DeleteResult,
  type DependentsMode,
  type DiskMerge,
  type RecoveryReport,
  type RemovalStep,
} from './core/removal/delete';
export {
  repair,
  type RepairItem,
  type RepairKind,
  type RepairOptions,
  type RepairResult,
} from './core/removal/repair';
export { restoreDomain } from './core/restore/domain';
export {
  finishLiveRestores,
  liveRestoreStatus,
  type FinishOptions,
  type LiveDiskState,
  type LiveRestoreState,
} from './core/restore/live';
export {
  restoreBackup,
  type RestoreDomainOptions,
  type RestoreDomainResult,
  type RestoredVolume,
  type RestoreOptions,
  type RestoreChecks,
  type RestoreProgress,
  type RestoreResult,
} from './core/restore/restore';
export {
  pruneBackups,
  type ExecutedRemoval,
  type PruneBackupsOptions,
  type PruneResult,
} from './core/removal/prune';
export type { PrunePlan, PruneKeep, PruneRemoval, PruneUntouched } from './core/removal/retention';
export {
  beginExternalBackup,
  endExternalBackup,
  inspectExternalBackup,
  type BeginExternalOptions,
  type EndExternalOptions,
  type EndExternalResult,
  type ExternalDiskExport,
  type ExternalSession,
} from './core/external/session-lifecycle';
export {
  findBackupSet,
  listBackups,
  type BackupListing,
  type CatalogScan,
  type ListBackupsOptions,
  type ListedSet,
  type StoredSet,
} from './core/catalog/scan';
export { initPool, listPools, type PoolSummary } from './pool/pool-summary';
export { discoverDomainPools, type DiscoveredPool } from './pool/discover';
export {
  migrateRootPool,
  type MigrateOptions,
  type MigrateReport,
  type MigratedSet,
} from './core/migration/pool-migrate';
export { volumeImage } from './pool/pool-layer';
export type { ChainProblem, ChainProblemKind } from './core/catalog/chains';
export {
  DEFAULT_SAMPLE,
  verifyBackup,
  type DiskChecksums,
  type VerifyOptions,
  type VerifyResult,
  type VerifyVerdict,
  type DiskVerification,
} from './core/catalog/verify';
export { describeFinding, type DamageFinding } from './core/shared/checksums';
export { hostCapabilities, describeVirt, type HostCapabilities } from './host/capabilities';
export {
  chooseVirtType,
  type CpuMode,
  type VirtChoice,
  type VirtPreference,
  type VirtType,
} from './host/virt-type';
export { VOLBACK_VERSION } from './version';

/**
 * Opens a libvirt connection (`qemu:///system`, `qemu+ssh://host/system`, …). The caller closes it
 * with `conn.close()` once every call on it has settled.
 */
export function openConnection(uri: string): Promise<Connection> {
  return Connection.open(uri);
}

/** The backup location createBackup uses for disks without a target, from the configuration. */
export function backupDefaults(config: ResolvedConfig): BackupDefaults {
  return {
    pool: config.defaultPool,
    path: config.defaultPoolPath,
    layout: config.defaultPoolLayout,
    format: config.backupFormat,
    compression: config.backupCompression,
    ...(config.backupEncryptionSecret ? { encryptionSecret: config.backupEncryptionSecret } : {}),
    quiesce: {
      mode: config.quiesce,
      timeoutSeconds: config.quiesceTimeout,
      maxFreezeSeconds: config.quiesceMaxFreeze,
    },
  };
}

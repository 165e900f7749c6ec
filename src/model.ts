// The typed shapes every layer shares: backup definitions (input) and backup metadata (stored in pools).
// Pure data, no behaviour: src/xml turns these into and out of XML, src/core acts on them.

export type BackupKind = 'full' | 'incremental';
/** `auto`: incremental when a valid chain exists, else full. */
export type RequestedKind = BackupKind | 'auto';
export type BackupMode = 'push' | 'pull';
export type VolumeFormat = 'qcow2' | 'raw';
/** How a backup's qcow2 clusters are stored: `zstd` compressed clusters, or `none` (docs/compression.md). */
export type Compression = 'zstd' | 'none';

/** libvirt's `<domain type=…>`: `kvm` (hardware virtualisation) or `qemu` (TCG, software emulation). */
export type VirtType = 'kvm' | 'qemu';

/** The guest CPU: the host's own (`host-passthrough`) or the model libvirt picks when none is given. */
export type CpuMode = 'host-passthrough' | 'default';

/**
 * A libvirt secret as a definition names it, libvirt style: by UUID, or by usage — the usage id of a
 * `volume`-usage secret (`<usage type='volume'><volume>ID</volume></usage>`).
 */
export type SecretRef = { uuid: string } | { usage: string };

/**
 * A backup's requested encryption (docs/encryption.md): LUKS-encrypted qcow2 volumes whose passphrase
 * is a libvirt secret's value, or `none` (overrides the config's `backup_encryption_secret`).
 */
export type EncryptionRequest = { format: 'luks'; secret: SecretRef } | { format: 'none' };

/** What a set's metadata records of its encryption: which secret (never its value) and the format. */
export interface BackupEncryption {
  format: 'luks';
  secretUuid: string;
  /** The secret's usage id, when it has one: how another host may have named the same secret. */
  secretUsage?: string;
}

/** Where backups go when a disk names no target pool. */
export interface BackupLocation {
  pool: string;
  /** Directory for the dir pool created on first use; ignored when the pool exists. */
  path?: string;
}

/** The `<source>` of a domain `<disk>` on a volume, for a restored domain. */
export type DiskSource =
  | { type: 'file'; file: string; format: VolumeFormat }
  | { type: 'block'; dev: string; format: VolumeFormat }
  | {
      type: 'network';
      format: VolumeFormat;
      protocol: string;
      name: string;
      hosts: Array<{ name: string; port?: number }>;
      auth?: { username: string; secretType: string; secretUuid: string };
    };

/** Per-disk target of a backup; every field optional (the pool layer fills the rest). */
export interface DiskTarget {
  pool?: string;
  volume?: string;
  format?: VolumeFormat;
}

export interface DiskSelection {
  /** Disk target name in the domain, e.g. `vda`. */
  name: string;
  backup: boolean;
  target?: DiskTarget;
  /** Pull mode only: pool for the copy-before-write scratch volume. */
  scratchPool?: string;
}

export type NbdServer =
  { transport: 'tcp'; name: string; port?: number; tls?: boolean } | { transport: 'unix'; socket: string };

/** The NBD server of one pull-mode session (a TCP port is always chosen before the job starts). */
export type ResolvedServer =
  { transport: 'tcp'; name: string; port: number; tls: boolean } | { transport: 'unix'; socket: string };

/**
 * Whether a backup freezes the guest's filesystems through the QEMU guest agent while its copy
 * starts (docs/consistency.md): `try` falls back to crash-consistent when the agent does not
 * answer, `require` fails instead, `off` never asks the agent.
 */
export type QuiesceMode = 'try' | 'require' | 'off';

/** A definition's `<quiesce>`: the mode, and the guest mountpoints to freeze (none listed: all). */
export interface QuiesceRequest {
  mode: QuiesceMode;
  mountpoints: string[];
}

/**
 * How consistent a set's point in time is: `application` when the guest's filesystems were frozen
 * while the copy started, `crash` otherwise (as after a power cut), with the reason.
 */
export interface Consistency {
  kind: 'application' | 'crash';
  reason?: string;
  /** Application: milliseconds from the freeze call to the thaw's return. */
  freezeMs?: number;
  /** Application: how many filesystems the agent froze. */
  filesystems?: number;
  /** Application: the mountpoints asked for; absent: all. */
  mountpoints?: string[];
}

/** A parsed `<volbackup>` document. Disks not listed are backed up with defaults. */
export interface BackupDefinition {
  mode: BackupMode;
  kind: RequestedKind;
  /** Backup set id to build on, or `latest`; only with kind incremental/auto. */
  incrementalFrom?: string;
  description?: string;
  location?: BackupLocation;
  server?: NbdServer;
  /** Push mode: freeze the guest's filesystems; absent: the config's `quiesce` (docs/consistency.md). */
  quiesce?: QuiesceRequest;
  /** Push mode: compress the backup's volumes; absent: the config's `backup_compression`. */
  compression?: Compression;
  disks: DiskSelection[];
  /** Push mode: encrypt the backup's volumes; absent: the config's `backup_encryption_secret`. */
  encryption?: EncryptionRequest;
}

/** Lifecycle of a stored backup set. Only `complete` (and `external`) sets are restorable. */
export type BackupState = 'complete' | 'external' | 'merging' | 'deleting';

/**
 * Where the checksums of one disk backup's volume are: a document in the volume's pool, its sha256
 * (so a changed or swapped document is found), and the extent size they were taken at.
 */
export interface ChecksumRef {
  document: string;
  /** sha256 (hex) of the document's text. */
  sha256: string;
  extentSize: number;
  algorithm: 'sha256';
}

/** One backed-up disk inside a set. */
export interface DiskBackup {
  /** Unique id of this disk's backup (UUID). */
  id: string;
  /** Disk target in the domain, e.g. `vda`. */
  target: string;
  sourcePath: string;
  sourceFormat: string;
  /** Where the data lives; absent for external (pull-mode) backups whose data is elsewhere. */
  volume?: { pool: string; name: string; format: VolumeFormat };
  kind: BackupKind;
  /** Id of the parent disk backup (same disk, previous point in the chain); absent for a full. */
  parentId?: string;
  /** Dirty-bitmap name in the disk image (equals the checkpoint name). */
  bitmap?: string;
  virtualSize: number;
  bytesCopied: number;
  /** Checksums of what the volume stores; absent for sets from before volback recorded them, and external ones. */
  checksums?: ChecksumRef;
}

/** The metadata document of one backup run over one or more disks of one domain. */
export interface BackupSet {
  /** Backup set id (UUID); shared by every disk of the run. */
  id: string;
  volbackVersion: string;
  mode: BackupMode;
  kind: BackupKind;
  state: BackupState;
  /** UTC, millisecond precision. */
  createdAt: Date;
  completedAt?: Date;
  /** Parent backup set id; absent for a full. */
  parentId?: string;
  domain: { name: string; uuid: string };
  /** libvirt checkpoint created with this backup (next incremental starts from it). */
  checkpoint?: { name: string; parent?: string; xml: string };
  /** Why a full was taken when an incremental was asked for (checkpoint drift, restore, ...). */
  fallbackReason?: string;
  /** Application- or crash-consistent; absent for sets from before volback recorded it. */
  consistency?: Consistency;
  description?: string;
  /** Set when the run wrote its volumes as zstd-compressed qcow2 clusters; absent: uncompressed. */
  compression?: 'zstd';
  disks: DiskBackup[];
  /**
   * Set when every volume of the set is LUKS-encrypted qcow2 with this secret's passphrase (an
   * incremental's chain is encrypted throughout with its full's secret); absent: not encrypted.
   */
  encryption?: BackupEncryption;
  /** The domain's inactive XML at backup time: enough to rebuild a deleted VM. */
  domainXml: string;
}

/** A retention policy in the manner of restic / Proxmox. Counts of 0 or absent options are off. */
export interface RetentionPolicy {
  /** Keep the N newest backups. */
  keepLast?: number;
  /** Keep the newest backup of each of the N newest hours (UTC) that have backups. */
  keepHourly?: number;
  keepDaily?: number;
  /** Weeks are ISO 8601 weeks (Monday to Sunday, UTC). */
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** Keep every backup created within this duration before `now`: `12h`, `2d`, `1w3d`, `1y6mo`. */
  keepWithin?: string;
}

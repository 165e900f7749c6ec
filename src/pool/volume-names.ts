// Names of backup data volumes and backup-set metadata volumes: readable in `virsh vol-list`, safe in every pool type.
//
// Data volume:      <domain>.<disk>.<YYYYMMDDTHHMMSSZ>-<set8>.<qcow2|raw>   vm1.vda.20261126T001500Z-1a2b3c4d.qcow2
// Metadata volume:  <domain>.<YYYYMMDDTHHMMSSZ>-<set8>.volback.xml          vm1.20261126T001500Z-1a2b3c4d.volback.xml
//
// `<domain>` is the domain name when it is already safe, else a sanitised form ending in `--<8 hex of
// sha256(name)>`; `<set8>` is the first 8 hex digits of the backup set id. See docs/naming.md for why.
import { createHash } from 'node:crypto';
import { ErrorCodes, VolbackError } from '../errors';
import type { VolumeFormat } from '../model';
// The name rules of every pool type (LVM's are the strictest) are defined once, beside the schemas.
import {
  LVM_RESERVED_PREFIXES,
  LVM_RESERVED_SUBSTRINGS,
  MAX_VOLUME_NAME_LENGTH,
  newVolumeNameProblem,
} from '../xml/names';

/** Longest volume name volback creates (LVM allows 127 characters for an LV name). */
export { MAX_VOLUME_NAME_LENGTH };
/**
 * Longest `<domain>` part. Fixed (not per name) so that a domain's data and metadata volumes carry the
 * same domain part: 72 + `.` + 16 (disk) + `.` + 16 (time) + `-` + 8 + `.qcow2` = 121 ≤ 127.
 */
export const MAX_DOMAIN_PART_LENGTH = 72;
/** Longest disk target accepted in a volume name (libvirt targets are like `vda`, `sdb`, `nvme0n1`). */
export const MAX_DISK_LENGTH = 16;
/** Ending that marks a metadata volume; no data volume can end this way. */
export const METADATA_VOLUME_SUFFIX = '.volback.xml';
/** A data volume's checksum document: `<data volume>` + one of these (a merge alternates them). */
export const CHECKSUM_VOLUME_SUFFIXES = ['.sums', '.msums'] as const;
/** A set's damage record: its metadata volume's name with this instead of METADATA_VOLUME_SUFFIX. */
export const DAMAGE_VOLUME_SUFFIX = '.volback-damage.json';

const HASH_MARK = '--';
const HASH_LENGTH = 8;
const SET_PREFIX_LENGTH = 8;
const HASHED_TAIL = /--[0-9a-f]{8}$/;

// LVM's reserved LV name parts (lib/metadata/lv_manip.c, apply_lvname_restrictions).
// Case-insensitive on purpose: over-approximating LVM's case-sensitive check costs nothing.
const LVM_RESERVED_RE = new RegExp(`_(${LVM_RESERVED_SUBSTRINGS.map((s) => s.slice(1)).join('|')})`, 'i');
const LVM_RESERVED_GLOBAL_RE = new RegExp(LVM_RESERVED_RE.source, 'gi');
const LVM_PREFIX_RE = new RegExp(`^(${LVM_RESERVED_PREFIXES.join('|')})`, 'i');

const DOMAIN_PART_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
const DISK_RE = /^[A-Za-z][A-Za-z0-9]*$/;
const STAMP_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const STAMP_SRC = '\\d{8}T\\d{6}Z';
const BACKUP_NAME_RE = new RegExp(
  `^([A-Za-z0-9_][A-Za-z0-9_-]*)\\.([A-Za-z][A-Za-z0-9]*)\\.(${STAMP_SRC})-([0-9a-f]{8})\\.(qcow2|raw)$`,
);
const METADATA_NAME_RE = new RegExp(
  `^([A-Za-z0-9_][A-Za-z0-9_-]*)\\.(${STAMP_SRC})-([0-9a-f]{8})\\.volback\\.xml$`,
);

/** What `parseMetadataVolumeName` recovers; the domain part is not reversible to the domain name. */
export interface ParsedMetadataVolumeName {
  domainPart: string;
  /** Creation time truncated to the second. */
  createdAt: Date;
  /** First 8 hex digits of the set id, lower case. */
  setIdPrefix: string;
}

export interface ParsedBackupVolumeName extends ParsedMetadataVolumeName {
  disk: string;
  format: VolumeFormat;
}

export interface BackupVolumeNameInput {
  /** Domain name as libvirt reports it (any characters but `/`). */
  domain: string;
  /** Disk target, e.g. `vda`. */
  disk: string;
  createdAt: Date;
  /** Backup set id (UUID); its first 8 hex digits make names unique within a second. */
  setId: string;
  format: VolumeFormat;
}

export interface MetadataVolumeNameInput {
  domain: string;
  createdAt: Date;
  setId: string;
}

function invalid(message: string, hint?: string): VolbackError {
  return new VolbackError(ErrorCodes.INVALID_INPUT, message, { fault: 'user', hint });
}

/** `YYYYMMDDTHHMMSSZ` in UTC; milliseconds are dropped. Throws ERR_INVALID_INPUT for invalid dates or years outside 0–9999. */
export function formatUtcStamp(date: Date): string {
  const t = date.getTime();
  if (Number.isNaN(t)) throw invalid('cannot format an invalid date as a volume time stamp');
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw invalid(`year ${year} does not fit a volume time stamp`);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    `${p(year, 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `T${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`
  );
}

/** Inverse of `formatUtcStamp`; undefined unless the stamp is well formed and names a real instant. */
export function parseUtcStamp(stamp: string): Date | undefined {
  const m = STAMP_RE.exec(stamp);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year); // Date.UTC maps years 0–99 to 1900–1999
  // Rejects 20260231T…, 25:00:00 and the like: they would not round-trip.
  return formatUtcStamp(date) === stamp ? date : undefined;
}

function shortHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, HASH_LENGTH);
}

function hasLvmRestriction(name: string): boolean {
  return LVM_RESERVED_RE.test(name) || LVM_PREFIX_RE.test(name);
}

/** True for strings that may stand as the `<domain>` part of a volume name (as built or as parsed). */
export function isValidDomainPart(part: string): boolean {
  return part.length <= MAX_DOMAIN_PART_LENGTH && DOMAIN_PART_RE.test(part) && !hasLvmRestriction(part);
}

/**
 * The `<domain>` part of volume names for a domain name. A name that is already safe stays as it is;
 * any other gets sanitised (accents stripped, runs of other characters turned into `_`, LVM-reserved
 * words defused, truncated) and ends in `--` + 8 hex digits of sha256(name). A kept name never ends in
 * that pattern, so a kept name and a sanitised one never collide; two sanitised ones collide only if
 * their hashes do. Deterministic: the same domain name always gives the same part.
 */
export function domainVolumePart(domainName: string): string {
  if (domainName.length === 0) throw invalid('a domain name is required to name backup volumes');
  if (isValidDomainPart(domainName) && !HASHED_TAIL.test(domainName)) return domainName;
  let s = domainName
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    // `_tmeta` → `-tmeta`: drops the underscore LVM keys on, adds none.
    .replace(LVM_RESERVED_GLOBAL_RE, '-$1');
  // The `vm-` prefix has no underscore, so it cannot form a reserved substring with what follows.
  if (s === '' || s.startsWith('-') || LVM_PREFIX_RE.test(s)) s = `vm-${s}`;
  s = s.slice(0, MAX_DOMAIN_PART_LENGTH - HASH_MARK.length - HASH_LENGTH);
  return `${s}${HASH_MARK}${shortHash(domainName)}`;
}

/** First 8 hex digits of a set id (UUID, any case, hyphens ignored). Throws ERR_INVALID_INPUT otherwise. */
export function setIdPrefix(setId: string): string {
  const hex = setId.replace(/-/g, '').toLowerCase();
  const prefix = hex.slice(0, SET_PREFIX_LENGTH);
  if (!/^[0-9a-f]{8}$/.test(prefix)) {
    throw invalid(`backup set id "${setId}" does not start with 8 hex digits`, 'set ids are UUIDs');
  }
  return prefix;
}

function checkDisk(disk: string): void {
  if (disk.length > MAX_DISK_LENGTH || !DISK_RE.test(disk)) {
    throw invalid(
      `disk target "${disk}" cannot be part of a volume name`,
      `disk targets must be a letter then letters or digits, at most ${MAX_DISK_LENGTH} characters (e.g. vda)`,
    );
  }
}

/**
 * Name of the data volume of one disk of one backup set: `<domain>.<disk>.<time>-<set8>.<format>`.
 * Safe (`isSafeVolumeName`), at most 121 characters, and parsed back by `parseBackupVolumeName`.
 * Throws ERR_INVALID_INPUT for an unusable disk target, set id or date.
 */
export function backupVolumeName(input: BackupVolumeNameInput): string {
  checkDisk(input.disk);
  if (input.format !== 'qcow2' && input.format !== 'raw')
    throw invalid(`unknown volume format "${input.format}"`);
  const stamp = formatUtcStamp(input.createdAt);
  return `${domainVolumePart(input.domain)}.${input.disk}.${stamp}-${setIdPrefix(input.setId)}.${input.format}`;
}

/**
 * Name of the metadata volume of one backup set: `<domain>.<time>-<set8>.volback.xml`. It sorts with the
 * domain's data volumes (before them: its second field is a digit, theirs a letter), in time order.
 */
export function metadataVolumeName(input: MetadataVolumeNameInput): string {
  const stamp = formatUtcStamp(input.createdAt);
  return `${domainVolumePart(input.domain)}.${stamp}-${setIdPrefix(input.setId)}${METADATA_VOLUME_SUFFIX}`;
}

export interface RestoredVolumeNameInput {
  domain: string;
  disk: string;
  /** When the restore ran (UTC, to the second). */
  restoredAt: Date;
  format: VolumeFormat;
  /** 2, 3, ... when the plain name is taken (two restores of one disk in one second). */
  sequence?: number;
}

/**
 * Name of a volume a restore creates: `<domain>.<disk>.restored-<time>[-<n>].<format>`, at most 124
 * characters. Neither parser accepts it, so a restored volume is never taken for a backup or a stray.
 */
export function restoredVolumeName(input: RestoredVolumeNameInput): string {
  checkDisk(input.disk);
  if (input.format !== 'qcow2' && input.format !== 'raw')
    throw invalid(`unknown volume format "${input.format}"`);
  const seq = input.sequence;
  if (seq !== undefined && (!Number.isInteger(seq) || seq < 2 || seq > 99))
    throw invalid(`restored volume sequence ${seq} is not between 2 and 99`);
  const stamp = formatUtcStamp(input.restoredAt);
  return `${domainVolumePart(input.domain)}.${input.disk}.restored-${stamp}${seq ? `-${seq}` : ''}.${input.format}`;
}

/** What a merge staging volume's name ends in (`<data volume without .qcow2>` + this). */
export const MERGE_STAGING_SUFFIX = '.merge.qcow2';

/**
 * The staging volume a merge into the qcow2 data volume `name` builds the merged layer in, where the
 * volume cannot grow in place (an LV): `<name without .qcow2>.merge.qcow2`, at most 127 characters
 * for volback's own names, derived from `name` alone so that a rerun finds it. Neither parser accepts
 * it, so the catalog never takes it for a backup; `reservedNameReason` keeps it from users. Pure.
 */
export function mergeStagingVolumeName(name: string): string {
  if (!name.endsWith('.qcow2'))
    throw invalid(`volume ${name} is no qcow2 data volume: nothing merges into it`);
  return `${name.slice(0, -'.qcow2'.length)}${MERGE_STAGING_SUFFIX}`;
}

/** Picks a metadata volume out of a pool listing; undefined for any other name (including data volumes). */
export function parseMetadataVolumeName(name: string): ParsedMetadataVolumeName | undefined {
  const m = METADATA_NAME_RE.exec(name);
  if (!m || name.length > MAX_VOLUME_NAME_LENGTH) return undefined;
  const [, domainPart, stamp, prefix] = m;
  const createdAt = parseUtcStamp(stamp);
  if (!createdAt || !isValidDomainPart(domainPart)) return undefined;
  return { domainPart, createdAt, setIdPrefix: prefix };
}

/** Recognises a data volume volback created; undefined for any other name (including metadata volumes). */
export function parseBackupVolumeName(name: string): ParsedBackupVolumeName | undefined {
  const m = BACKUP_NAME_RE.exec(name);
  if (!m || name.length > MAX_VOLUME_NAME_LENGTH) return undefined;
  const [, domainPart, disk, stamp, prefix, format] = m;
  const createdAt = parseUtcStamp(stamp);
  if (!createdAt || !isValidDomainPart(domainPart) || disk.length > MAX_DISK_LENGTH) return undefined;
  return { domainPart, disk, createdAt, setIdPrefix: prefix, format: format as VolumeFormat };
}

/**
 * True when `name` is valid as a dir-pool file name, a Ceph RBD image name and an LVM LV name:
 * the one rule for names volback creates (`newVolumeNameProblem`, schemas/common.rng newVolumeName).
 */
export function isSafeVolumeName(name: string): boolean {
  return newVolumeNameProblem(name) === undefined;
}

/**
 * Why a name a user chose for a volume (`<target volume>`, `--volume-name`) is one volback keeps for
 * itself, or undefined when it is free: volback's clean-up acts on these names (metadata documents,
 * removal intents, the catalog index and generation markers, restore markers, live restore records,
 * pull-mode scratch, and
 * the data volumes of backups, which an interrupted run's clean-up removes by set id). Pure.
 */
export function reservedNameReason(name: string): string | undefined {
  if (name.endsWith(METADATA_VOLUME_SUFFIX)) return `'${METADATA_VOLUME_SUFFIX}' names backup metadata`;
  if (name.endsWith('.volback-intent.json')) return "'.volback-intent.json' names removal intents";
  if (name.startsWith('volback-catalog.'))
    return "'volback-catalog.' names the catalog index and its generation markers";
  if (name.startsWith('volback-restoring-'))
    return "'volback-restoring-' names the markers of restores in progress";
  if (name.startsWith('volback-live-')) return "'volback-live-' names the records of live restores";
  if (name.endsWith('.scratch')) return "'.scratch' names pull-mode scratch volumes";
  if (name.endsWith(MERGE_STAGING_SUFFIX)) return `'${MERGE_STAGING_SUFFIX}' names merge staging volumes`;
  const sums = CHECKSUM_VOLUME_SUFFIXES.find((suffix) => name.endsWith(suffix));
  if (sums) return `'${sums}' names checksum documents`;
  if (name.endsWith(DAMAGE_VOLUME_SUFFIX)) return `'${DAMAGE_VOLUME_SUFFIX}' names damage records`;
  if (parseBackupVolumeName(name))
    return "it has the form of a backup's data volume (<domain>.<disk>.<time>-<set>.<format>)";
  return undefined;
}

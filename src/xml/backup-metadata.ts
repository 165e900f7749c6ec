// The backup-set metadata document <volbackupset version='1'>: validate + parse into BackupSet, and format.
import type {
  BackupKind,
  BackupMode,
  BackupSet,
  BackupState,
  Consistency,
  DiskBackup,
  VolumeFormat,
} from '../model';
import os from 'node:os';
import { backupEncryptionTree, readBackupEncryption } from './encryption';
import { XmlValidationError } from '../errors';
import {
  byteCountProblem,
  canonicalUuidProblem,
  checkpointNameProblem,
  diskNameProblem,
  formatTimestamp,
  poolNameProblem,
  timestampProblem,
  volumeNameProblem,
} from './names';
import {
  documentError,
  parseTree,
  readDocument,
  renderXml,
  TreeReader,
  type OutElement,
  type XmlElement,
} from './tree';
import {
  validateMany,
  validateXml,
  type BatchOptions,
  type ValidationResult,
  type ValidatorOptions,
} from './validate';

/** The metadata format version this code reads and writes. */
export const BACKUP_SET_FORMAT_VERSION = '1';

const MODES = ['push', 'pull'] as const;
const KINDS = ['full', 'incremental'] as const;
const STATES = ['complete', 'external', 'merging', 'deleting'] as const;
const FORMATS = ['qcow2', 'raw'] as const;

function readTimestamp(r: TreeReader, el: XmlElement | undefined): Date | undefined {
  if (!el) return undefined;
  const value = r.text(el);
  const problem = timestampProblem(value);
  if (problem) {
    r.problem(el, `<${el.name}> '${value}' ${problem}`);
    return undefined;
  }
  return new Date(value);
}

function readByteCount(r: TreeReader, el: XmlElement | undefined): number {
  if (!el) return 0;
  const value = r.text(el);
  const problem = byteCountProblem(value);
  if (problem) r.problem(el, `<${el.name}> '${value}' ${problem}`);
  return Number(value);
}

/** `<consistency kind=… freezeMs=… filesystems=…>` with its `<reason>` and `<mountpoint>`s. */
function readConsistency(r: TreeReader, el: XmlElement): Consistency | undefined {
  r.allowOnly(el, ['kind', 'freezeMs', 'filesystems'], ['reason', 'mountpoint']);
  const kind = r.enumAttr(el, 'kind', ['application', 'crash'] as const);
  if (!kind) return undefined;
  const consistency: Consistency = { kind };
  for (const name of ['freezeMs', 'filesystems'] as const) {
    const value = el.attrs[name];
    if (value === undefined) continue;
    const problem = byteCountProblem(value);
    if (problem) r.problem(el, `${name} '${value}' ${problem}`);
    else consistency[name] = Number(value);
  }
  const reason = r.optional(el, 'reason');
  if (reason) consistency.reason = r.text(reason);
  const mountpoints = r.all(el, 'mountpoint').map((m) => r.text(m));
  if (mountpoints.length) consistency.mountpoints = mountpoints;
  return consistency;
}

function consistencyTree(c: Consistency): OutElement {
  return {
    name: 'consistency',
    attrs: [
      ['kind', c.kind],
      ['freezeMs', c.freezeMs === undefined ? undefined : String(c.freezeMs)],
      ['filesystems', c.filesystems === undefined ? undefined : String(c.filesystems)],
    ],
    children: [
      c.reason === undefined ? undefined : { name: 'reason', text: c.reason },
      ...(c.mountpoints ?? []).map((m) => ({ name: 'mountpoint', text: m })),
    ],
  };
}

/** kind + <parent id>: a full has no parent, an incremental must name one. */
function readKindAndParent(
  r: TreeReader,
  el: XmlElement,
  what: string,
): { kind?: BackupKind; parentId?: string } {
  const kind = r.enumAttr<BackupKind>(el, 'kind', KINDS);
  const parent = r.optional(el, 'parent');
  let parentId: string | undefined;
  if (parent) {
    r.allowOnly(parent, ['id'], []);
    parentId = r.requiredAttr(parent, 'id');
    r.check(parent, parentId, 'id', canonicalUuidProblem);
  }
  if (kind === 'incremental' && !parent) r.problem(el, `incremental ${what} requires a <parent id='...'/>`);
  if (kind === 'full' && parent) r.problem(parent, `full ${what} cannot have a <parent>`);
  return { kind, parentId };
}

function readDisk(r: TreeReader, el: XmlElement): DiskBackup {
  r.allowOnly(
    el,
    ['id', 'target', 'kind'],
    ['parent', 'source', 'volume', 'bitmap', 'virtualSize', 'bytesCopied', 'checksums'],
  );
  const id = r.requiredAttr(el, 'id');
  r.check(el, id, 'id', canonicalUuidProblem);
  const target = r.requiredAttr(el, 'target');
  r.check(el, target, 'target', diskNameProblem);
  const { kind, parentId } = readKindAndParent(r, el, `disk backup '${target ?? '?'}'`);

  const source = r.required(el, 'source');
  let sourcePath = '';
  let sourceFormat = '';
  if (source) {
    r.allowOnly(source, ['path', 'format'], []);
    sourcePath = r.requiredAttr(source, 'path') ?? '';
    if (sourcePath === '' && source.attrs.path !== undefined)
      r.problem(source, 'source path must not be empty');
    sourceFormat = r.requiredAttr(source, 'format') ?? '';
  }

  const disk: DiskBackup = {
    id: id ?? '',
    target: target ?? '',
    sourcePath,
    sourceFormat,
    kind: kind ?? 'full',
    virtualSize: 0,
    bytesCopied: 0,
  };
  if (parentId !== undefined) disk.parentId = parentId;

  const volume = r.optional(el, 'volume');
  if (volume) {
    r.allowOnly(volume, ['pool', 'name', 'format'], []);
    const pool = r.requiredAttr(volume, 'pool');
    r.check(volume, pool, 'pool', poolNameProblem);
    const name = r.requiredAttr(volume, 'name');
    r.check(volume, name, 'volume name', volumeNameProblem);
    const format = r.enumAttr<VolumeFormat>(volume, 'format', FORMATS);
    disk.volume = { pool: pool ?? '', name: name ?? '', format: format ?? 'qcow2' };
  }
  const bitmap = r.optional(el, 'bitmap');
  if (bitmap) {
    r.allowOnly(bitmap, ['name'], []);
    const name = r.requiredAttr(bitmap, 'name');
    r.check(bitmap, name, 'bitmap', checkpointNameProblem);
    if (name !== undefined) disk.bitmap = name;
  }
  disk.virtualSize = readByteCount(r, r.required(el, 'virtualSize'));
  disk.bytesCopied = readByteCount(r, r.required(el, 'bytesCopied'));
  const sums = r.optional(el, 'checksums');
  if (sums) {
    r.allowOnly(sums, ['algorithm', 'extentSize', 'document', 'sha256'], []);
    r.enumAttr(sums, 'algorithm', ['sha256'] as const);
    const document = r.requiredAttr(sums, 'document');
    r.check(sums, document, 'checksum document', volumeNameProblem);
    const sha256 = r.requiredAttr(sums, 'sha256') ?? '';
    if (!/^[0-9a-f]{64}$/.test(sha256)) r.problem(sums, `sha256 '${sha256}' is not 64 lower-case hex digits`);
    const size = r.requiredAttr(sums, 'extentSize') ?? '';
    const sizeProblem = byteCountProblem(size);
    const extentSize = Number(size);
    if (sizeProblem) r.problem(sums, `extentSize '${size}' ${sizeProblem}`);
    else if (extentSize < 4096 || (extentSize & (extentSize - 1)) !== 0)
      r.problem(sums, `extentSize ${size} is not a power of two of at least 4096`);
    disk.checksums = { document: document ?? '', sha256, extentSize, algorithm: 'sha256' };
  }
  return disk;
}

function readNonEmptyText(r: TreeReader, el: XmlElement | undefined): string {
  if (!el) return '';
  const text = r.text(el);
  if (text === '') r.problem(el, `<${el.name}> must not be empty`);
  return text;
}

/** Converts a tree to a backup set, recording every rule it breaks in `r.problems`. */
function readBackupSet(r: TreeReader, root: XmlElement): BackupSet | undefined {
  if (root.name !== 'volbackupset') {
    r.problem(root, `unknown root element <${root.name}>, expected <volbackupset>`);
    return undefined;
  }
  r.allowOnly(
    root,
    ['version', 'id', 'mode', 'kind', 'state'],
    [
      'volbackVersion',
      'description',
      'createdAt',
      'completedAt',
      'parent',
      'fallbackReason',
      'consistency',
      'domain',
      'checkpoint',
      'encryption',
      'compression',
      'disks',
      'domainXml',
    ],
  );
  const version = r.requiredAttr(root, 'version');
  if (version !== undefined && version !== BACKUP_SET_FORMAT_VERSION) {
    r.problem(
      root,
      `metadata version '${version}' is not supported (this volback reads version ${BACKUP_SET_FORMAT_VERSION})`,
    );
  }
  const id = r.requiredAttr(root, 'id');
  r.check(root, id, 'id', canonicalUuidProblem);
  const mode = r.enumAttr<BackupMode>(root, 'mode', MODES);
  const state = r.enumAttr<BackupState>(root, 'state', STATES);
  const { kind, parentId } = readKindAndParent(r, root, 'backup set');

  const versionEl = r.required(root, 'volbackVersion');
  const createdAt = readTimestamp(r, r.required(root, 'createdAt'));
  const completedAt = readTimestamp(r, r.optional(root, 'completedAt'));

  const domainEl = r.required(root, 'domain');
  const domain = { name: '', uuid: '' };
  if (domainEl) {
    r.allowOnly(domainEl, ['uuid'], ['name']);
    domain.uuid = r.requiredAttr(domainEl, 'uuid') ?? '';
    r.check(domainEl, domainEl.attrs.uuid, 'uuid', canonicalUuidProblem);
    domain.name = readNonEmptyText(r, r.required(domainEl, 'name'));
  }

  const set: BackupSet = {
    id: id ?? '',
    volbackVersion: versionEl ? r.text(versionEl) : '',
    mode: mode ?? 'push',
    kind: kind ?? 'full',
    state: state ?? 'complete',
    createdAt: createdAt ?? new Date(0),
    domain,
    disks: [],
    domainXml: '',
  };
  if (completedAt) set.completedAt = completedAt;
  if (parentId !== undefined) set.parentId = parentId;

  const checkpoint = r.optional(root, 'checkpoint');
  if (checkpoint) {
    r.allowOnly(checkpoint, ['name'], ['parent', 'xml']);
    const name = r.requiredAttr(checkpoint, 'name');
    r.check(checkpoint, name, 'checkpoint', checkpointNameProblem);
    const cp: NonNullable<BackupSet['checkpoint']> = {
      name: name ?? '',
      xml: readNonEmptyText(r, r.required(checkpoint, 'xml')),
    };
    const parent = r.optional(checkpoint, 'parent');
    if (parent) {
      r.allowOnly(parent, ['name'], []);
      const parentName = r.requiredAttr(parent, 'name');
      r.check(parent, parentName, 'parent', checkpointNameProblem);
      if (parentName !== undefined) cp.parent = parentName;
    }
    set.checkpoint = cp;
  }
  const fallback = r.optional(root, 'fallbackReason');
  if (fallback) set.fallbackReason = r.text(fallback);
  const consistency = r.optional(root, 'consistency');
  if (consistency) set.consistency = readConsistency(r, consistency);
  const compression = r.optional(root, 'compression');
  if (compression) {
    const value = r.text(compression);
    if (value === 'zstd') set.compression = value;
    else r.problem(compression, `<compression> '${value}' must be 'zstd'`);
  }
  const description = r.optional(root, 'description');
  if (description) set.description = r.text(description);
  const encryption = r.optional(root, 'encryption');
  if (encryption) set.encryption = readBackupEncryption(r, encryption);

  const disksEl = r.required(root, 'disks');
  if (disksEl) {
    r.allowOnly(disksEl, [], ['disk']);
    const diskEls = r.all(disksEl, 'disk');
    if (diskEls.length === 0) r.problem(disksEl, '<disks> must hold at least one <disk>');
    const ids = new Map<string, XmlElement>();
    const targets = new Map<string, XmlElement>();
    for (const el of diskEls) {
      const disk = readDisk(r, el);
      const sameId = ids.get(disk.id);
      if (sameId)
        r.problem(el, `duplicate disk backup id '${disk.id}' (first at line ${sameId.line ?? '?'})`);
      ids.set(disk.id, sameId ?? el);
      const sameTarget = targets.get(disk.target);
      if (sameTarget)
        r.problem(el, `duplicate disk '${disk.target}' (first at line ${sameTarget.line ?? '?'})`);
      targets.set(disk.target, sameTarget ?? el);
      if (set.kind === 'full' && disk.kind !== 'full') {
        r.problem(el, `disk '${disk.target}' is incremental inside a full backup set`);
      }
      set.disks.push(disk);
    }
  }
  set.domainXml = readNonEmptyText(r, r.required(root, 'domainXml'));
  return set;
}

/**
 * Validates a `<volbackupset>` document against schemas/backup-metadata.rng, then parses it and
 * applies the rules the schema cannot state (unique disk ids and targets, real calendar dates,
 * no incremental disk inside a full set).
 * @param source file path or volume name, used in error messages.
 * @throws XmlValidationError naming the source, line and element of the first problem.
 */
export async function parseBackupSet(
  xml: string,
  source: string,
  options: ValidatorOptions = {},
): Promise<BackupSet> {
  const validation = await validateXml(xml, 'backup-metadata', source, options);
  return readValidated(xml, source, validation.ok ? undefined : validation.error);
}

async function readValidated(
  xml: string,
  source: string,
  schemaError?: XmlValidationError,
): Promise<BackupSet> {
  return readDocument(xml, source, schemaError, readBackupSet);
}

/** Outcome of reading one document of a batch. */
export type BackupSetResult = { ok: true; set: BackupSet } | { ok: false; error: XmlValidationError };

// Documents per validator worker hop in parseBackupSets: small enough that this thread starts
// reading soon, large enough that the hop costs nothing next to the validation.
const READ_SLICE = 250;

/**
 * parseBackupSet for many documents (a catalog scan), and one bad document does not stop the
 * others. Each document is validated once (libxml2, on worker threads) and read once (xml2js, on
 * this thread); the two overlap: while this thread reads one slice, the next slices are being
 * validated. Results are in input order.
 */
export async function parseBackupSets(
  docs: ReadonlyArray<{ xml: string; source: string }>,
  options: BatchOptions = {},
): Promise<BackupSetResult[]> {
  const results: BackupSetResult[] = new Array(docs.length);
  const window = Math.max(1, options.concurrency ?? os.availableParallelism());
  const inFlight: Array<Promise<ValidationResult[]>> = [];
  let launched = 0;
  const launch = (): void => {
    const slice = docs.slice(launched, launched + READ_SLICE);
    launched += slice.length;
    const validation = validateMany(slice, 'backup-metadata', { ...options, concurrency: 1 });
    validation.catch(() => undefined); // awaited below in order; an early failure must not go unhandled
    inFlight.push(validation);
  };
  while (launched < docs.length && inFlight.length < window) launch();
  for (let start = 0; start < docs.length; start += READ_SLICE) {
    const validations = await (inFlight.shift() as Promise<ValidationResult[]>);
    if (launched < docs.length) launch();
    for (const [k, validation] of validations.entries()) {
      const doc = docs[start + k] as { xml: string; source: string };
      try {
        const set = await readValidated(doc.xml, doc.source, validation.ok ? undefined : validation.error);
        results[start + k] = { ok: true, set };
      } catch (err) {
        if (err instanceof XmlValidationError) results[start + k] = { ok: false, error: err };
        else throw err;
      }
    }
  }
  return results;
}

function diskTree(d: DiskBackup): OutElement {
  return {
    name: 'disk',
    attrs: [
      ['id', d.id],
      ['target', d.target],
      ['kind', d.kind],
    ],
    children: [
      d.parentId === undefined ? undefined : { name: 'parent', attrs: [['id', d.parentId]] },
      {
        name: 'source',
        attrs: [
          ['path', d.sourcePath],
          ['format', d.sourceFormat],
        ],
      },
      d.volume && {
        name: 'volume',
        attrs: [
          ['pool', d.volume.pool],
          ['name', d.volume.name],
          ['format', d.volume.format],
        ],
      },
      d.bitmap === undefined ? undefined : { name: 'bitmap', attrs: [['name', d.bitmap]] },
      { name: 'virtualSize', text: String(d.virtualSize) },
      { name: 'bytesCopied', text: String(d.bytesCopied) },
      d.checksums && {
        name: 'checksums',
        attrs: [
          ['algorithm', d.checksums.algorithm],
          ['extentSize', String(d.checksums.extentSize)],
          ['document', d.checksums.document],
          ['sha256', d.checksums.sha256],
        ],
      },
    ],
  };
}

function backupSetTree(set: BackupSet): OutElement {
  return {
    name: 'volbackupset',
    attrs: [
      ['version', BACKUP_SET_FORMAT_VERSION],
      ['id', set.id],
      ['mode', set.mode],
      ['kind', set.kind],
      ['state', set.state],
    ],
    children: [
      { name: 'volbackVersion', text: set.volbackVersion },
      set.description === undefined ? undefined : { name: 'description', text: set.description },
      { name: 'createdAt', text: formatTimestamp(set.createdAt) },
      set.completedAt && { name: 'completedAt', text: formatTimestamp(set.completedAt) },
      set.parentId === undefined ? undefined : { name: 'parent', attrs: [['id', set.parentId]] },
      set.fallbackReason === undefined ? undefined : { name: 'fallbackReason', text: set.fallbackReason },
      set.consistency && consistencyTree(set.consistency),
      {
        name: 'domain',
        attrs: [['uuid', set.domain.uuid]],
        children: [{ name: 'name', text: set.domain.name }],
      },
      set.encryption && backupEncryptionTree(set.encryption),
      set.checkpoint && {
        name: 'checkpoint',
        attrs: [['name', set.checkpoint.name]],
        children: [
          set.checkpoint.parent === undefined
            ? undefined
            : { name: 'parent', attrs: [['name', set.checkpoint.parent]] },
          { name: 'xml', text: set.checkpoint.xml },
        ],
      },
      set.compression === undefined ? undefined : { name: 'compression', text: set.compression },
      { name: 'disks', children: set.disks.map(diskTree) },
      { name: 'domainXml', text: set.domainXml },
    ],
  };
}

/**
 * Formats a backup set as `<volbackupset version='1'>`. The output is validated against the schema
 * and re-read with every code-level rule before it is returned: a bug can never produce a document
 * that a later parseBackupSet would refuse. Failures are XmlValidationError with fault 'system'
 * (or VolbackError INVALID_INPUT for text XML cannot carry, such as control characters).
 */
/** The document of `set`, unchecked (formatBackupSet checks it; a batch re-check uses parseBackupSets). Pure. */
export function renderBackupSet(set: BackupSet): string {
  return renderXml(backupSetTree(set));
}

export async function formatBackupSet(set: BackupSet, options: ValidatorOptions = {}): Promise<string> {
  const xml = renderBackupSet(set);
  const source = `<formatted backup set ${set.id}>`;
  const validation = await validateXml(xml, 'backup-metadata', source, options);
  const r = new TreeReader();
  readBackupSet(r, await parseTree(xml, source));
  if (r.problems.length > 0 || !validation.ok) {
    throw documentError(source, r.problems, validation.ok ? undefined : validation.error, {
      fault: 'system',
    });
  }
  return xml;
}

// The backup definition document <volbackup>: validate + parse into BackupDefinition, and format back.
import type {
  BackupDefinition,
  BackupMode,
  Compression,
  DiskSelection,
  DiskTarget,
  NbdServer,
  QuiesceMode,
  QuiesceRequest,
  RequestedKind,
  VolumeFormat,
} from '../model';
import {
  absFilePathProblem,
  absNormalizedPathProblem,
  canonicalUuid,
  diskNameProblem,
  hostNameProblem,
  isUuid,
  poolNameProblem,
  portProblem,
  newVolumeNameProblem,
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
import { validateXml, type ValidatorOptions } from './validate';
import { encryptionRequestTree, readEncryptionRequest } from './encryption';

const MODES = ['push', 'pull'] as const;
const KINDS = ['auto', 'full', 'incremental'] as const;
const FORMATS = ['qcow2', 'raw'] as const;
const YES_NO = ['yes', 'no'] as const;
const COMPRESSIONS = ['zstd', 'none'] as const;
const QUIESCE_MODES = ['try', 'require', 'off'] as const;

/** `<quiesce mode=…>` with its `<mountpoint>` children (guest paths, each once). */
function readQuiesce(r: TreeReader, el: XmlElement): QuiesceRequest | undefined {
  r.allowOnly(el, ['mode'], ['mountpoint']);
  const mode = r.enumAttr<QuiesceMode>(el, 'mode', QUIESCE_MODES);
  const mountpoints: string[] = [];
  for (const m of r.all(el, 'mountpoint')) {
    r.allowOnly(m, [], []);
    const path = r.text(m);
    if (!path.startsWith('/') || [...path].some((c) => c < ' '))
      r.problem(m, `<mountpoint> '${path}' must be an absolute guest path`);
    else if (mountpoints.includes(path)) r.problem(m, `duplicate <mountpoint> '${path}'`);
    else mountpoints.push(path);
  }
  if (mode === 'off' && mountpoints.length) r.problem(el, "<quiesce mode='off'> takes no <mountpoint>");
  return mode ? { mode, mountpoints } : undefined;
}

function readTarget(r: TreeReader, el: XmlElement): DiskTarget {
  r.allowOnly(el, ['pool', 'volume', 'format'], []);
  r.check(el, el.attrs.pool, 'pool', poolNameProblem);
  r.check(el, el.attrs.volume, 'volume', newVolumeNameProblem);
  const format = r.enumAttr<VolumeFormat>(el, 'format', FORMATS, 'optional');
  const target: DiskTarget = {};
  if (el.attrs.pool !== undefined) target.pool = el.attrs.pool;
  if (el.attrs.volume !== undefined) target.volume = el.attrs.volume;
  if (format) target.format = format;
  return target;
}

function readServer(r: TreeReader, el: XmlElement): NbdServer | undefined {
  const transport = r.enumAttr(el, 'transport', ['tcp', 'unix'] as const, 'tcp');
  if (transport === 'unix') {
    r.allowOnly(el, ['transport', 'socket'], []);
    const socket = r.requiredAttr(el, 'socket');
    r.check(el, socket, 'socket', absFilePathProblem);
    return socket === undefined ? undefined : { transport, socket };
  }
  r.allowOnly(el, ['transport', 'name', 'port', 'tls'], []);
  const name = r.requiredAttr(el, 'name');
  r.check(el, name, 'name', hostNameProblem);
  r.check(el, el.attrs.port, 'port', portProblem);
  const tls = r.enumAttr(el, 'tls', YES_NO, 'optional');
  if (name === undefined) return undefined;
  const server: NbdServer = { transport: 'tcp', name };
  if (el.attrs.port !== undefined) server.port = Number(el.attrs.port);
  if (tls !== undefined) server.tls = tls === 'yes';
  return server;
}

function readDisks(r: TreeReader, el: XmlElement, mode: BackupMode | undefined): DiskSelection[] {
  r.allowOnly(el, [], ['disk']);
  const disks: DiskSelection[] = [];
  const firstSeen = new Map<string, XmlElement>();
  const list = r.all(el, 'disk');
  if (list.length === 0) r.problem(el, '<disks> must list at least one <disk>');
  for (const d of list) {
    r.allowOnly(d, ['name', 'backup'], ['target', 'scratch']);
    const name = r.requiredAttr(d, 'name');
    r.check(d, name, 'name', diskNameProblem);
    if (name !== undefined) {
      const first = firstSeen.get(name);
      if (first) r.problem(d, `duplicate disk '${name}' (first listed at line ${first.line ?? '?'})`);
      else firstSeen.set(name, d);
    }
    const backup = r.enumAttr(d, 'backup', YES_NO, 'yes');
    const targetEl = r.optional(d, 'target');
    const scratchEl = r.optional(d, 'scratch');
    if (backup === 'no' && (targetEl || scratchEl)) {
      r.problem(
        targetEl ?? scratchEl,
        `disk '${name}' has backup='no' and cannot carry <target> or <scratch>`,
      );
    }
    if (scratchEl && mode === 'push') r.problem(scratchEl, "<scratch> is only allowed with mode='pull'");
    const disk: DiskSelection = { name: name ?? '', backup: backup !== 'no' };
    if (targetEl) disk.target = readTarget(r, targetEl);
    if (scratchEl) {
      r.allowOnly(scratchEl, ['pool'], []);
      const pool = r.requiredAttr(scratchEl, 'pool');
      r.check(scratchEl, pool, 'pool', poolNameProblem);
      if (pool !== undefined) disk.scratchPool = pool;
    }
    disks.push(disk);
  }
  return disks;
}

/** Converts a tree to a definition, recording every rule it breaks in `r.problems`. */
function readDefinition(r: TreeReader, root: XmlElement): BackupDefinition {
  if (root.name !== 'volbackup') {
    r.problem(root, `unknown root element <${root.name}>, expected <volbackup>`);
    return { mode: 'push', kind: 'auto', disks: [] };
  }
  r.allowOnly(
    root,
    ['mode'],
    [
      'description',
      'type',
      'incremental',
      'location',
      'server',
      'compression',
      'quiesce',
      'encryption',
      'disks',
    ],
  );
  const mode = r.enumAttr<BackupMode>(root, 'mode', MODES, 'push');
  const def: BackupDefinition = { mode: mode ?? 'push', kind: 'auto', disks: [] };

  const description = r.optional(root, 'description');
  if (description) def.description = r.text(description);

  const typeEl = r.optional(root, 'type');
  if (typeEl) {
    const kind = r.text(typeEl);
    if ((KINDS as readonly string[]).includes(kind)) def.kind = kind as RequestedKind;
    else r.problem(typeEl, `<type> '${kind}' must be one of 'auto', 'full', 'incremental'`);
  }

  const incremental = r.optional(root, 'incremental');
  if (incremental) {
    const from = r.text(incremental);
    if (from !== 'latest' && !isUuid(from)) {
      r.problem(incremental, `<incremental> '${from}' must be 'latest' or a backup set UUID`);
    } else {
      def.incrementalFrom = from === 'latest' ? from : canonicalUuid(from);
    }
    if (def.kind === 'full') r.problem(incremental, '<incremental> is not allowed with <type>full</type>');
  }

  const location = r.optional(root, 'location');
  if (location) {
    r.allowOnly(location, ['pool', 'path'], []);
    const pool = r.requiredAttr(location, 'pool');
    r.check(location, pool, 'pool', poolNameProblem);
    r.check(location, location.attrs.path, 'path', absNormalizedPathProblem);
    def.location = { pool: pool ?? '' };
    if (location.attrs.path !== undefined) def.location.path = location.attrs.path;
  }

  const server = r.optional(root, 'server');
  if (server) {
    if (mode !== 'pull') r.problem(server, "<server> is only allowed with mode='pull'");
    const parsed = readServer(r, server);
    if (parsed) def.server = parsed;
  }

  const compression = r.optional(root, 'compression');
  if (compression) {
    const value = r.text(compression);
    if (mode === 'pull') r.problem(compression, "<compression> is only allowed with mode='push'");
    else if ((COMPRESSIONS as readonly string[]).includes(value)) def.compression = value as Compression;
    else r.problem(compression, `<compression> '${value}' must be one of 'zstd', 'none'`);
  }

  const quiesce = r.optional(root, 'quiesce');
  if (quiesce) {
    if (mode === 'pull') r.problem(quiesce, "<quiesce> is only allowed with mode='push'");
    const parsed = readQuiesce(r, quiesce);
    if (parsed) def.quiesce = parsed;
  }

  const encryption = r.optional(root, 'encryption');
  if (encryption) {
    if (mode === 'pull') r.problem(encryption, "<encryption> is only allowed with mode='push'");
    const parsed = readEncryptionRequest(r, encryption);
    if (parsed) def.encryption = parsed;
  }

  const disks = r.optional(root, 'disks');
  if (disks) def.disks = readDisks(r, disks, mode);
  return def;
}

/**
 * Validates a `<volbackup>` document against schemas/backup-definition.rng, then parses it and
 * applies the rules the schema cannot state (duplicate disks). Defaults are filled in: mode push,
 * type auto, backup yes. An `<incremental>` UUID is returned in canonical lowercase form.
 * @param source file path or volume name, used in error messages.
 * @throws XmlValidationError naming the source, line and element of the first problem.
 */
export async function parseBackupDefinition(
  xml: string,
  source: string,
  options: ValidatorOptions = {},
): Promise<BackupDefinition> {
  const validation = await validateXml(xml, 'backup-definition', source, options);
  return readDocument(xml, source, validation.ok ? undefined : validation.error, readDefinition);
}

function definitionTree(def: BackupDefinition): OutElement {
  const server = def.server;
  return {
    name: 'volbackup',
    attrs: [['mode', def.mode]],
    children: [
      def.description === undefined ? undefined : { name: 'description', text: def.description },
      { name: 'type', text: def.kind },
      def.incrementalFrom === undefined ? undefined : { name: 'incremental', text: def.incrementalFrom },
      def.location && {
        name: 'location',
        attrs: [
          ['pool', def.location.pool],
          ['path', def.location.path],
        ],
      },
      def.compression === undefined ? undefined : { name: 'compression', text: def.compression },
      def.quiesce && {
        name: 'quiesce',
        attrs: [['mode', def.quiesce.mode]],
        children: def.quiesce.mountpoints.map((m) => ({ name: 'mountpoint', text: m })),
      },
      server && {
        name: 'server',
        attrs:
          server.transport === 'unix'
            ? [
                ['transport', 'unix'],
                ['socket', server.socket],
              ]
            : [
                ['transport', 'tcp'],
                ['name', server.name],
                ['port', server.port === undefined ? undefined : String(server.port)],
                ['tls', server.tls === undefined ? undefined : server.tls ? 'yes' : 'no'],
              ],
      },
      def.encryption && encryptionRequestTree(def.encryption),
      def.disks.length === 0
        ? undefined
        : {
            name: 'disks',
            children: def.disks.map((d) => ({
              name: 'disk',
              attrs: [
                ['name', d.name],
                ['backup', d.backup ? 'yes' : 'no'],
              ],
              children: [
                d.target && {
                  name: 'target',
                  attrs: [
                    ['pool', d.target.pool],
                    ['volume', d.target.volume],
                    ['format', d.target.format],
                  ],
                },
                d.scratchPool === undefined
                  ? undefined
                  : { name: 'scratch', attrs: [['pool', d.scratchPool]] },
              ],
            })),
          },
    ],
  };
}

/**
 * Formats a definition with every default written out (mode, type, backup), libvirt style.
 * The output is validated and re-read before it is returned, so an invalid definition is refused
 * here rather than written.
 */
export async function formatBackupDefinition(
  def: BackupDefinition,
  options: ValidatorOptions = {},
): Promise<string> {
  const xml = renderXml(definitionTree(def));
  const source = '<formatted backup definition>';
  const validation = await validateXml(xml, 'backup-definition', source, options);
  const r = new TreeReader();
  readDefinition(r, await parseTree(xml, source));
  if (r.problems.length > 0 || !validation.ok) {
    throw documentError(source, r.problems, validation.ok ? undefined : validation.error);
  }
  return xml;
}

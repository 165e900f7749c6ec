// `volback backup create|list|show|verify`: thin layers over the library API.
import {
  backupDefaults,
  createBackup,
  findBackupSet,
  listBackups,
  parseBackupDefinition,
  verifyBackup,
  type BackupDefinition,
  type BackupListing,
  type BackupProgress,
  type ListedSet,
  DEFAULT_SAMPLE,
  describeFinding,
  type DiskVerification,
  type VerifyResult,
} from '../../index';
import type { BackupKind, Compression, Consistency, QuiesceMode } from '../../model';
import { ExitCode, UsageError } from '../exit-codes';
import { formatBytes, formatUtc, keyValues, printable, shortId, table } from '../format';
import { flagList, flagString, type CommandSpec, type Flags } from '../framework';
import { readInputFile } from '../input';
import type { ProgressSink } from '../progress';
import { damageJson, listingJson, setJson } from '../json';
import { runBackupMany, selectorFrom } from './backup-many';
import { describeEncryption, withEncryptFlag } from '../encryption-flag';

const DURATION_RE = /^(\d+)([smhdw])$/;
const UNIT_MS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };
// The documented forms only: a date, or a date and time with an optional Z or ±HH:MM offset.
const TIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?$/;

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * `2026-11-26`, `2026-11-26T10:00[:00[.000]]` (UTC unless `Z` or an offset `+02:00` is given), or a
 * relative `30m`, `12h`, `7d`, `2w` ago. Impossible dates (`2026-02-30`, `T24:00`) and anything else
 * Date.parse would guess at (`1`, `March 7`, a space instead of `T`) are refused. Pure.
 * @throws UsageError naming the flag and the value.
 */
export function parseTime(value: string, flag: string, now = new Date()): Date {
  const refuse = (why: string): never => {
    throw new UsageError(
      `--${flag} '${value}' ${why}`,
      'use an ISO 8601 time (2026-11-26, 2026-11-26T10:00:00Z, 2026-11-26T10:00:00+02:00; UTC unless an offset is given) or an age (30m, 12h, 7d, 2w)',
    );
  };
  const rel = DURATION_RE.exec(value);
  if (rel) {
    const t = now.getTime() - Number(rel[1]) * (UNIT_MS[rel[2] as string] as number);
    if (!Number.isFinite(t) || Number.isNaN(new Date(t).getTime())) refuse('is too long an age');
    return new Date(t);
  }
  const m = TIME_RE.exec(value);
  if (!m) return refuse('is not a time');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v ?? 0)) as number[];
  const millis = Number(((m[7] ?? '') + '000').slice(0, 3));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) refuse('is not a real date');
  if (hour > 23 || minute > 59 || second > 59) refuse('is not a real time of day');
  let offsetMinutes = 0;
  const offset = m[8];
  if (offset && offset !== 'Z') {
    const [oh, om] = offset.slice(1).split(':').map(Number) as [number, number];
    if (oh > 23 || om > 59) refuse('has an impossible UTC offset');
    offsetMinutes = (offset.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60e3);
}

function parseKind(value: string | undefined): BackupKind | undefined {
  if (value === undefined) return undefined;
  if (value !== 'full' && value !== 'incremental')
    throw new UsageError(`--kind must be full or incremental, got '${value}'`);
  return value;
}

const sum = (ns: number[]): number => ns.reduce((a, b) => a + b, 0);

function statusOf(s: ListedSet): string {
  // A set a live restore reads cannot be removed yet: the listing says so beside its state.
  const live = s.liveRestores?.length ? '+live' : '';
  if (s.restorable) return `ok${live}`;
  return s.problems
    .map((p) => p.kind)
    .filter((k, i, all) => all.indexOf(k) === i)
    .join(',')
    .concat(live);
}

/** Shows a backup's progress with one bar per disk once QEMU reports each disk's part. */
export const showBackupProgress =
  (progress: ProgressSink) =>
  (p: BackupProgress): void =>
    progress.update({
      ...p,
      items: p.disks?.map((d) => ({ name: d.target, bytesDone: d.bytesDone, bytesTotal: d.bytesTotal })),
    });

/** Sets as trees (parent → children), one tree per domain, oldest first. Pure. */
export function renderTree(listing: BackupListing): string {
  if (
    listing.sets.length === 0 &&
    listing.problems.length === 0 &&
    !listing.invalidMetadata.length &&
    !listing.strayVolumes.length &&
    !listing.unreadablePools.length &&
    !listing.undefinedDomainPools?.length
  ) {
    return `no backups in pools: ${printable(listing.pools.join(', ')) || '(no active pools)'}`;
  }
  const byId = new Map(listing.sets.map((s) => [s.set.id, s]));
  const domains = new Map<string, ListedSet[]>();
  for (const s of [...listing.sets].sort((a, b) => a.set.createdAt.getTime() - b.set.createdAt.getTime())) {
    const list = domains.get(s.set.domain.uuid) ?? [];
    list.push(s);
    domains.set(s.set.domain.uuid, list);
  }
  const out: string[] = [];
  for (const sets of domains.values()) {
    const newest = sets[sets.length - 1].set.domain;
    out.push(`domain ${printable(newest.name)} (${printable(newest.uuid)})`);
    const rows: string[][] = [];
    const visit = (s: ListedSet, prefix: string, last: boolean, root: boolean): void => {
      const branch = root ? '' : last ? '└─ ' : '├─ ';
      const parentNote =
        root && s.parentId === undefined && s.set.parentId
          ? ` (parent ${shortId(s.set.parentId)} missing)`
          : root && s.parentId
            ? ` (parent ${shortId(s.parentId)} not shown)`
            : '';
      rows.push([
        `${prefix}${branch}${shortId(s.set.id)}${parentNote}`,
        formatUtc(s.set.createdAt),
        s.set.kind,
        s.set.disks.map((d) => d.target).join(','),
        formatBytes(sum(s.set.disks.map((d) => d.bytesCopied))),
        formatBytes(sum(s.set.disks.map((d) => d.virtualSize))),
        statusOf(s),
      ]);
      const children = s.childIds.map((id) => byId.get(id)).filter((c): c is ListedSet => c !== undefined);
      const childPrefix = root ? prefix : prefix + (last ? '   ' : '│  ');
      children.forEach((c, i) => visit(c, childPrefix, i === children.length - 1, false));
    };
    for (const s of sets) if (s.parentId === undefined || !byId.has(s.parentId)) visit(s, '', true, true);
    out.push(
      table(['SET', 'CREATED (UTC)', 'KIND', 'DISKS', 'ON DISK', 'VIRTUAL', 'STATUS'], rows).replace(
        /^/gm,
        '  ',
      ),
    );
    out.push('');
  }
  const problems: string[] = [
    ...listing.problems.map((p) => `  ${p.kind}: ${printable(p.message)}`),
    ...listing.invalidMetadata.map(
      (i) =>
        `  invalid metadata: volume ${printable(i.volume)} in pool ${printable(i.pool)}: ${printable(i.error)}`,
    ),
    ...listing.strayVolumes.map(
      (v) =>
        `  stray volume: ${printable(v.volume)} in pool ${printable(v.pool)} (no valid metadata names it)`,
    ),
    ...listing.unreadablePools.map(
      (u) => `  unreadable pool: ${printable(u.pool)}: ${printable(u.error)} (its backups are not listed)`,
    ),
    ...(listing.undefinedDomainPools ?? []).map(
      (d) =>
        `  domain pool not defined here: ${printable(d.pool)} (its backups are not listed; run \`volback pool discover\`)`,
    ),
  ];
  if (problems.length) out.push('Problems:', ...problems);
  return out.join('\n').trimEnd();
}

/** `application (froze 2 filesystems for 412 ms)` or `crash (the guest agent is not connected …)`. Pure. */
export function describeConsistency(c: Consistency | undefined): string | undefined {
  if (!c) return undefined;
  if (c.kind === 'crash') return c.reason ? `crash (${c.reason})` : 'crash';
  const what = c.mountpoints?.length ? c.mountpoints.join(', ') : `${c.filesystems ?? '?'} filesystem(s)`;
  return `application (froze ${what} for ${c.freezeMs ?? '?'} ms)`;
}

/** One set in detail (`backup show`). Pure. */
export function renderSet(s: ListedSet): string {
  const { set } = s;
  const head = keyValues([
    ['set', set.id],
    ['domain', `${set.domain.name} (${set.domain.uuid})`],
    ['kind', set.kind],
    ['mode', set.mode],
    ['state', set.state],
    ['created', formatUtc(set.createdAt)],
    ['completed', set.completedAt && formatUtc(set.completedAt)],
    ['parent', set.parentId],
    ['children', s.childIds.length ? s.childIds.join(', ') : undefined],
    ['checkpoint', set.checkpoint?.name],
    ['fallback reason', set.fallbackReason],
    ['consistency', describeConsistency(set.consistency)],
    ['description', set.description],
    ['compression', set.compression],
    ['encryption', describeEncryption(set.encryption)],
    ['restorable', s.restorable ? 'yes' : 'no'],
    ['metadata', s.metadata.map((m) => `${m.pool}/${m.volume}`).join(', ')],
    [
      'live restores',
      s.liveRestores?.length
        ? s.liveRestores
            .map((r) => `${r.domain} on ${r.host} (${r.disks.join(', ')}), record ${r.id}`)
            .join('; ')
        : undefined,
    ],
  ]);
  const disks = table(
    ['DISK', 'KIND', 'POOL', 'VOLUME', 'ON DISK', 'VIRTUAL', 'SOURCE'],
    set.disks.map((d) => [
      d.target,
      d.kind,
      d.volume?.pool ?? '-',
      d.volume?.name ?? '-',
      formatBytes(d.bytesCopied),
      formatBytes(d.virtualSize),
      d.sourcePath,
    ]),
  );
  const problems = s.problems.length
    ? ['', 'Problems:', ...s.problems.map((p) => `  ${p.kind}: ${printable(p.message)}`)]
    : [];
  return [head, '', disks, ...problems].join('\n');
}

/** `--compress zstd|none`, else undefined (the definition's, then the config's). Pure. */
export function parseCompress(value: string | undefined): Compression | undefined {
  if (value === undefined) return undefined;
  if (value !== 'zstd' && value !== 'none')
    throw new UsageError(`--compress must be zstd or none, got '${value}'`);
  return value;
}

/** The definition of --definition FILE, with --full/--incremental/--description/--compress applied. */
export async function definitionFrom(
  flags: Flags,
  mode: 'push' | 'pull' = 'push',
): Promise<BackupDefinition | undefined> {
  const file = flagString(flags.definition);
  let definition: BackupDefinition | undefined;
  if (file) definition = await parseBackupDefinition(await readInputFile(file, 'definition'), file);
  if (flags.full && flags.incremental) throw new UsageError('--full and --incremental exclude each other');
  const kind = flags.full ? 'full' : flags.incremental ? 'incremental' : undefined;
  const description = flagString(flags.description);
  const compression = parseCompress(flagString(flags.compress));
  if (!kind && !description && !compression) return definition;
  const base: BackupDefinition = definition ?? { mode, kind: 'auto', disks: [] };
  return {
    ...base,
    kind: kind ?? base.kind,
    description: description ?? base.description,
    ...(compression ? { compression } : {}),
  };
}

/**
 * The definition with `--quiesce MODE` and `--quiesce-mountpoint PATH...` applied; mountpoints
 * without a mode keep the definition's mode, else the config's. Pure.
 */
export function withQuiesceFlags(
  definition: BackupDefinition | undefined,
  flags: Flags,
  configMode: QuiesceMode,
): BackupDefinition | undefined {
  const mode = flagString(flags.quiesce);
  const mountpoints = flagList(flags['quiesce-mountpoint']) ?? [];
  if (mode === undefined && !mountpoints.length) return definition;
  if (mode !== undefined && mode !== 'try' && mode !== 'require' && mode !== 'off')
    throw new UsageError(`--quiesce must be try, require or off, got '${mode}'`);
  for (const m of mountpoints)
    if (!m.startsWith('/')) throw new UsageError(`--quiesce-mountpoint '${m}' is not an absolute guest path`);
  if (mode === 'off' && mountpoints.length)
    throw new UsageError('--quiesce off takes no --quiesce-mountpoint');
  const base: BackupDefinition = definition ?? { mode: 'push', kind: 'auto', disks: [] };
  return {
    ...base,
    quiesce: {
      mode: mode ?? base.quiesce?.mode ?? configMode,
      mountpoints: mountpoints.length ? mountpoints : (base.quiesce?.mountpoints ?? []),
    },
  };
}

const backupCreate: CommandSpec = {
  path: ['backup', 'create'],
  args: ['[domain]'],
  summary: 'back up a domain (incremental when a valid chain exists, else full)',
  description:
    'All disks by default, one consistent point in time, into the default backup pool from the config\n' +
    '(created as a dir pool on first use). A shut-off domain is started paused for the job.\n' +
    "Progress: one bar per disk (each disk's part of the libvirt backup job).\n" +
    'Many domains: --all, --match PATTERN or --label LABEL instead of a name; N at a time (--parallel,\n' +
    'config backup_parallel); one summary at the end; exit 3 when some failed, 1 when all did.',
  flags: {
    definition: {
      type: 'string',
      short: 'd',
      value: 'FILE',
      description:
        'a <volbackup> definition (disks, targets, kind, location); - reads stdin; at most 1 MiB, UTF-8',
    },
    full: { type: 'boolean', description: 'take a full backup' },
    incremental: {
      type: 'boolean',
      description:
        'take an incremental; refused when the domain has no backup to build on, a full (with the reason recorded) when its bitmaps cannot be trusted',
    },
    pool: {
      type: 'string',
      short: 'p',
      value: 'POOL',
      description: 'pool for disks without a target (default: config default_pool)',
    },
    description: { type: 'string', value: 'TEXT', description: 'free text stored with the backup' },
    compress: {
      type: 'string',
      value: 'zstd|none',
      description:
        'zstd: volumes of zstd-compressed qcow2 clusters, copied by QEMU (dir pools; docs/compression.md); none: uncompressed (default: the definition, then config backup_compression)',
    },
    quiesce: {
      type: 'string',
      value: 'try|require|off',
      description:
        "freeze the guest's filesystems through the QEMU guest agent while the copy starts: try falls back to crash-consistent (recorded), require fails instead (default: the definition, then config quiesce, try; docs/consistency.md)",
    },
    'quiesce-mountpoint': {
      type: 'string',
      multiple: true,
      value: 'PATH',
      description: 'freeze only this guest mountpoint (repeatable; default: every mounted filesystem)',
    },
    encrypt: {
      type: 'string',
      value: 'SECRET|none',
      description:
        "encrypt fulls as LUKS qcow2 with the passphrase of this libvirt secret (UUID or volume usage id; dir pools, docs/encryption.md); incrementals keep their chain's secret; none: plain (default: the definition, then config backup_encryption_secret)",
    },
    all: { type: 'boolean', description: 'every persistent domain of the host' },
    match: {
      type: 'string',
      value: 'PATTERN',
      description: "the persistent domains whose name matches a glob (* and ?): --match 'web-*'",
    },
    label: {
      type: 'string',
      value: 'LABEL',
      description: 'the persistent domains labelled so in their <metadata> (docs/cli.md, "Many domains")',
    },
    parallel: {
      type: 'string',
      value: 'N',
      description: 'with --all/--match/--label: backups at once (default: config backup_parallel, 2)',
    },
  },
  examples: [
    'volback backup create vm1',
    "volback backup create --match 'web-*' --parallel 4",
    'volback backup create --label nightly --json',
    'volback backup create vm1 --full --pool backups2',
    'volback backup create vm1 --compress zstd',
    'volback backup create vm1 --full --encrypt 5a1d0c3e-0000-4000-8000-00000000e0c1',
    'volback backup create vm1 --quiesce require --quiesce-mountpoint /var/lib/db',
    'volback backup create vm1 --definition vm1-backup.xml --json',
  ],
  async run(ctx, [domain], flags) {
    const selector = selectorFrom(flags, domain);
    let definition = withQuiesceFlags(await definitionFrom(flags), flags, ctx.config.quiesce);
    definition = withEncryptFlag(definition, flags);
    const defaults = backupDefaults(ctx.config);
    const conn = await ctx.connect();
    // --pool names an existing pool for the disks without a target; the resolver (core) checks it.
    const pool = flagString(flags.pool);
    if (pool && pool !== ctx.config.defaultPool) {
      definition = { ...(definition ?? { mode: 'push', kind: 'auto', disks: [] }), location: { pool } };
    }
    if (selector) return runBackupMany(ctx, selector, flags, definition);
    const progress = ctx.progress(`backup ${domain}`);
    try {
      const result = await createBackup(conn, domain, {
        definition,
        defaults,
        backupEngine: ctx.config.backupEngine,
        signal: ctx.signal,
        onProgress: (p) =>
          progress.update({
            ...p,
            items: p.disks?.map((d) => ({
              name: d.target,
              bytesDone: d.bytesDone,
              bytesTotal: d.bytesTotal,
            })),
          }),
      });
      progress.done();
      const listed: ListedSet = {
        set: result.set,
        childIds: [],
        restorable: true,
        problems: [],
        metadata: result.metadata,
        parentId: result.set.parentId,
      };
      return {
        data: { set: setJson(listed), notes: result.plan.notes, skipped: result.plan.skipped },
        human: () =>
          [
            printable(
              `${result.set.kind} backup ${result.set.id} of ${domain} complete` +
                (result.set.fallbackReason ? ` (full because: ${result.set.fallbackReason})` : ''),
            ),
            '',
            table(
              ['DISK', 'KIND', 'POOL', 'VOLUME', 'ON DISK', 'VIRTUAL'],
              result.set.disks.map((d) => [
                d.target,
                d.kind,
                d.volume?.pool ?? '-',
                d.volume?.name ?? '-',
                formatBytes(d.bytesCopied),
                formatBytes(d.virtualSize),
              ]),
            ),
            ...result.plan.skipped.map((s) => printable(`skipped ${s.target}: ${s.reason}`)),
          ].join('\n'),
      };
    } finally {
      progress.done();
    }
  },
};

const backupList: CommandSpec = {
  path: ['backup', 'list'],
  summary: 'list backup sets as chains (parent → children), then any problems',
  description:
    'Reads only the pools: every backup a pool holds is listed, also of domains that no longer exist.',
  flags: {
    domain: { type: 'string', value: 'NAME|UUID', description: 'only this domain' },
    pool: {
      type: 'string',
      short: 'p',
      multiple: true,
      value: 'POOL',
      description: 'scan only this pool (repeatable; default: every active pool)',
    },
    since: {
      type: 'string',
      value: 'TIME',
      description: 'created at or after (ISO 8601 UTC, or an age: 30m, 12h, 7d, 2w)',
    },
    until: { type: 'string', value: 'TIME', description: 'created at or before' },
    kind: { type: 'string', value: 'KIND', description: 'full or incremental' },
  },
  examples: [
    'volback backup list',
    'volback backup list --domain vm1 --since 7d',
    'volback backup list --json | jq ".sets[].id"',
  ],
  async run(ctx, _args, flags) {
    const options = {
      pools: flagList(flags.pool),
      root: ctx.config.defaultPool,
      domain: flagString(flags.domain),
      since: flags.since ? parseTime(flagString(flags.since)!, 'since') : undefined,
      until: flags.until ? parseTime(flagString(flags.until)!, 'until') : undefined,
      kind: parseKind(flagString(flags.kind)),
    };
    const conn = await ctx.connect();
    const listing = await listBackups(conn, options);
    return { data: listingJson(listing), human: () => renderTree(listing) };
  },
};

const backupShow: CommandSpec = {
  path: ['backup', 'show'],
  args: ['<set-id>'],
  summary: 'show one backup set (id or a unique prefix of it)',
  async run(ctx, [id]) {
    const listed = await findBackupSet(await ctx.connect(), id);
    return { data: setJson(listed), human: () => renderSet(listed) };
  },
};

/** What one disk's checksums allowed, for people: `sample: 32 of 1024 extents`, `all 1024 extents`, .... Pure. */
export function checksumsCell(d: DiskVerification): string {
  const c = d.checksums;
  if (!d.volume) return 'external: no data stored';
  if (!c) return '-';
  if (c.state === 'none') return 'no checksums (taken before volback recorded them)';
  const partial = c.state === 'partial' ? `, ${c.extents - c.checkable} unchecked (older layers)` : '';
  return c.sample
    ? `sample: ${c.checked} of ${c.checkable} extents${partial}`
    : `all ${c.checked} extents${partial}`;
}

const VERDICT_TEXT: Record<VerifyResult['verdict'], string> = {
  ok: 'ok',
  damaged: 'DAMAGED',
  problems: 'PROBLEMS',
  'no-checksums': 'no checksums (taken before volback recorded them)',
};

/** `backup verify`'s report. Pure. */
export function renderVerify(result: VerifyResult): string {
  const how = result.deep ? ' (deep)' : result.seed !== undefined ? ` (sample seed ${result.seed})` : '';
  return [
    printable(`set ${result.setId} (${result.domain}): ${VERDICT_TEXT[result.verdict]}${how}`),
    ...result.problems.map((p) => `  ${printable(p)}`),
    ...result.damage.map((f) => `  damaged: ${printable(describeFinding(f))}`),
    ...result.recordedDamage.map((m) => `  recorded earlier: ${printable(m)}`),
    ...(result.records.written.length
      ? [
          `  damage recorded in the pools for set${result.records.written.length > 1 ? 's' : ''} ${result.records.written.join(', ')}`,
        ]
      : []),
    ...(result.records.cleared
      ? ['  the damage recorded earlier for this set is cleared: every extent matches']
      : []),
    ...result.records.failed.map((f) => `  ${printable(f)}`),
    ...(result.verdict === 'damaged' && !result.deep && !result.damage.length
      ? ['  the sample met none of it: run with --deep to check every extent']
      : []),
    '',
    table(
      ['DISK', 'VOLUME', 'CHAIN', 'CHECKSUMS', 'RESULT'],
      result.disks.map((d) => [
        d.target,
        d.volume ? `${d.volume.pool}/${d.volume.name}` : '-',
        String(d.chain.length),
        checksumsCell(d),
        d.ok ? 'ok' : d.problems.join('; '),
      ]),
    ),
  ].join('\n');
}

/** A whole number flag value, or a usage error. Pure. */
function wholeNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new UsageError(`--${flag} must be a whole number, got '${value}'`);
  return Number(value);
}

const backupVerify: CommandSpec = {
  path: ['backup', 'verify'],
  args: ['<set-id>'],
  summary:
    "check that a set is intact: volumes, layers and chain, and its data against the backup's checksums",
  description:
    `Checks every volume exists, qcow2 checks pass and backing chains match the metadata, then reads a\n` +
    `random sample of extents (${DEFAULT_SAMPLE} per disk, --sample N) of what a restore of the set reads and\n` +
    'compares each with the checksum recorded at backup time; --deep compares every extent (as long as a\n' +
    'restore). Damage found is recorded in the pools: `backup list` shows the set damaged, and the sets\n' +
    'that depend on it, on every host, until a --deep verify finds it whole. Sets taken before volback\n' +
    'recorded checksums say so.\n' +
    'Exit code: 0 ok (or no checksums to check), 1 damage found or recorded, or problems (no disk ok, or a\n' +
    'set-level problem), 3 some disks ok and some not (no damage).',
  flags: {
    deep: { type: 'boolean', description: 'compare every extent, not a sample' },
    sample: {
      type: 'string',
      value: 'N',
      description: `extents per disk to compare without --deep (default ${DEFAULT_SAMPLE})`,
    },
    seed: { type: 'string', value: 'N', description: 'seed of the random sample (to repeat a run)' },
  },
  examples: ['volback backup verify 1a2b3c4d', 'volback backup verify 1a2b3c4d --deep --json'],
  async run(ctx, [id], flags) {
    const sample = wholeNumber(flagString(flags.sample), 'sample');
    const seed = wholeNumber(flagString(flags.seed), 'seed');
    const conn = await ctx.connect();
    const { set } = await findBackupSet(conn, id);
    const progress = ctx.progress(`verify ${shortId(set.id)}`);
    const result = await verifyBackup(conn, {
      setId: set.id,
      deep: Boolean(flags.deep),
      sample,
      seed,
      signal: ctx.signal,
      onProgress: (p) =>
        progress.update({
          phase: `${p.step} ${p.disk} (${p.index + 1}/${p.count})`,
          bytesDone: p.bytesDone,
          bytesTotal: p.bytesTotal,
        }),
    }).finally(() => progress.done());
    const good = result.disks.filter((d) => d.ok).length;
    const exitCode = result.ok
      ? ExitCode.OK
      : result.verdict !== 'damaged' && good > 0 && result.problems.length === 0
        ? ExitCode.PARTIAL
        : ExitCode.FAILURE;
    return {
      data: {
        ...result,
        damage: result.damage.map(damageJson),
        disks: result.disks.map((d) => ({ ...d, damage: d.damage.map(damageJson) })),
      },
      exitCode,
      human: () => renderVerify(result),
    };
  },
};

export const backupCommands: CommandSpec[] = [backupCreate, backupList, backupShow, backupVerify];

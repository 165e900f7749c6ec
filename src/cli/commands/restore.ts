// `volback backup restore`: a set's disks into new volumes (or over the shut-off original), or the whole VM.
import {
  describeFinding,
  finishLiveRestores,
  liveRestoreStatus,
  type LiveRestoreState,
  findBackupSet,
  restoreBackup,
  restoreDomain,
  type RestoreChecks,
  type RestoreDomainResult,
  type RestoredVolume,
} from '../../index';
import { RESTORE_ALLOWANCES, type RestoreAllowance } from '../../xml/restore-policy';

import { damageJson } from '../json';
import { encryptTargetFlag } from '../encryption-flag';
import type { VolumeFormat } from '../../model';
import { ExitCode, UsageError } from '../exit-codes';
import { printable, shortId, table } from '../format';
import { flagList, flagString, type CommandContext, type CommandSpec } from '../framework';
import type { ItemProgress, ProgressSink } from '../progress';

/** `vda=name.qcow2` pairs into a map; a disk named twice is refused (the last one would win silently). */
export function parseVolumeNames(values: string[] | undefined): Record<string, string> | undefined {
  if (!values) return undefined;
  const out = new Map<string, string>(); // a Map: a disk called __proto__ must not touch a prototype
  for (const v of values) {
    const m = /^([A-Za-z0-9_]+)=(.+)$/.exec(v);
    if (!m) throw new UsageError(`--volume-name must be DISK=NAME, got '${v}'`);
    const [, disk, name] = m as unknown as [string, string, string];
    if (out.has(disk)) {
      throw new UsageError(
        `--volume-name names disk ${disk} more than once ('${disk}=${out.get(disk)}' and '${v}')`,
        'give one --volume-name per disk',
      );
    }
    out.set(disk, name);
  }
  return Object.fromEntries(out);
}

/** One progress display per disk (the core reports each disk's copy on its own). */
function perDiskProgress(ctx: CommandContext): {
  update: (p: { target: string; bytesDone: number; bytesTotal: number }) => void;
  done: () => void;
} {
  let current: { target: string; sink: ProgressSink } | undefined;
  return {
    update(p) {
      if (current?.target !== p.target) {
        current?.sink.done();
        current = { target: p.target, sink: ctx.progress(`restore ${p.target}`) };
      }
      current.sink.update({ phase: 'copying', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal });
    },
    done: () => current?.sink.done(),
  };
}

const volumesJson = (vs: RestoredVolume[]) =>
  vs.map((v) => ({
    target: v.target,
    pool: v.pool,
    volume: v.volume,
    path: v.path,
    format: v.format,
    ...(v.encryption ? { encryption: v.encryption } : {}),
  }));
const volumesTable = (vs: RestoredVolume[]): string =>
  table(
    ['DISK', 'POOL', 'VOLUME', 'FORMAT', 'PATH'],
    vs.map((v) => [v.target, v.pool || '-', v.volume || '-', v.format, v.path]),
  );

const checksJson = (checks: RestoreChecks) => ({
  damage: checks.damage.map(damageJson),
  notes: checks.notes,
});

/** What the checksum checks found: the damaged ranges restored anyway (--ignore-damage), and notes. */
function checksReport(checks: RestoreChecks): string {
  return [
    checks.damage.length
      ? [
          '\nRestored from DAMAGED data (--ignore-damage):',
          ...checks.damage.map((f) => printable(`  ${describeFinding(f)}`)),
        ].join('\n')
      : '',
    checks.notes.length ? ['\nChecksums:', ...checks.notes.map((n) => printable(`  ${n}`))].join('\n') : '',
  ]
    .filter((part) => part !== '')
    .join('\n');
}

/** `--allow` values: the policy's allowance kinds, or `all`; anything else is a usage error. */
export function parseAllowances(values: string[] | undefined): RestoreAllowance[] | undefined {
  if (!values) return undefined;
  const out = new Set<RestoreAllowance>();
  for (const v of values) {
    if (v === 'all') RESTORE_ALLOWANCES.forEach((a) => out.add(a));
    else if ((RESTORE_ALLOWANCES as readonly string[]).includes(v)) out.add(v as RestoreAllowance);
    else throw new UsageError(`--allow takes ${RESTORE_ALLOWANCES.join(', ')} or all, got '${v}'`);
  }
  return [...out];
}

/** What the restore policy did to the stored XML, for people: changed, dropped, kept, and the notes. */
function policyReport(policy: RestoreDomainResult['policy']): string {
  const section = (
    title: string,
    items: ReadonlyArray<{ element: string; detail: string; reason: string }>,
  ) =>
    items.length
      ? [`\n${title}:`, ...items.map((f) => printable(`  ${f.element} ${f.detail}: ${f.reason}`))].join('\n')
      : '';
  return [
    section('Changed from the stored XML', policy.changed),
    section('Left out of the stored XML', policy.dropped),
    section('Kept as stored because of --allow', policy.kept),
    policy.notes.length ? ['\nNotes:', ...policy.notes.map((n) => printable(`  ${n}`))].join('\n') : '',
  ]
    .filter((part) => part !== '')
    .join('\n');
}

/** Live restores, one line per disk. */
function liveTable(states: readonly LiveRestoreState[]): string {
  if (!states.length) return 'no live restore is recorded in the pools';
  return table(
    ['RESTORE', 'DOMAIN', 'HOST', 'BACKUP', 'DISK', 'STATE', 'VOLUME'],
    states.flatMap((r) =>
      r.disks.map((d) => [
        r.id,
        printable(r.domain),
        printable(r.host),
        shortId(r.setId),
        d.target,
        d.state === 'copying' && d.bytesTotal
          ? `copying ${Math.floor((100 * (d.bytesDone ?? 0)) / d.bytesTotal)}%`
          : d.state + (d.reason ? ` (${printable(d.reason)})` : ''),
        `${printable(d.pool)}/${printable(d.volume)}`,
      ]),
    ),
  );
}

/** One bar per disk of a live restore: a done disk full, a waiting one empty, a copying one as far as it is. */
function liveItems(state: LiveRestoreState): ItemProgress[] {
  return state.disks.map((d) => {
    const total = d.bytesTotal || 1;
    const done =
      d.state === 'done' || d.state === 'gone' ? total : d.state === 'copying' ? (d.bytesDone ?? 0) : 0;
    return { name: d.target, bytesDone: done, bytesTotal: total };
  });
}

/** Bytes per second from `--bandwidth MiB` (MiB/s, a positive number). */
function parseBandwidth(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const bytes = Math.round(Number(value) * 1024 * 1024);
  // 0 would mean no limit to libvirt: a limit that small is refused rather than lifted.
  if (!Number.isFinite(bytes) || bytes < 1)
    throw new UsageError(`--bandwidth takes MiB/s (a positive number, at least one byte/s), got '${value}'`);
  return bytes;
}

const backupRestore: CommandSpec = {
  path: ['backup', 'restore'],
  args: ['[<set-id>]'],
  summary:
    "restore a set's disks into new volumes, over the shut-off original (--overwrite), or as a VM (--define)",
  description:
    'Default: every disk of the set, flattened into new volumes in the pool of its backup (or --pool).\n' +
    "--overwrite writes over the domain's current disks (it must be shut off; its volback checkpoints go,\n" +
    'so its next backup is a full). --define also defines the domain from the XML stored with the backup\n' +
    '(--name, --new-uuid for a clone beside the original, --replace an existing shut-off domain, --start);\n' +
    'the stored XML is untrusted: what reaches this host (files, devices, programs, network, labels) is\n' +
    'refused unless --allow KIND or --drop-refused, and what it changed is printed (docs/restore.md).\n' +
    '--overwrite and --replace change existing things: they ask first, and take --dry-run and --yes.\n' +
    '--define --live starts the domain at once on copy-on-write layers over the backup and copies the\n' +
    'rest while it runs (libvirt block pulls; --bandwidth limits them); it waits for the copy unless\n' +
    '--detach. --status (no set id) shows every live restore; `volback repair` resumes one that stopped\n' +
    '(docs/live-restore.md). Progress: one bar per disk.',
  destructive: true,
  flags: {
    disk: { type: 'string', multiple: true, value: 'TARGET', description: 'only this disk (repeatable)' },
    pool: { type: 'string', short: 'p', value: 'POOL', description: 'pool for the new volumes' },
    format: { type: 'string', value: 'FORMAT', description: 'qcow2 (default) or raw' },
    'volume-name': {
      type: 'string',
      multiple: true,
      value: 'DISK=NAME',
      description: 'name of the new volume of a disk (repeatable)',
    },
    'encrypt-target': {
      type: 'string',
      value: 'SECRET',
      description:
        'make the new volumes LUKS-encrypted qcow2 with the passphrase of this libvirt secret (UUID or volume usage id; dir pools on this host; with --define the disks name it); not with --overwrite or --live',
    },
    'target-connect': {
      type: 'string',
      value: 'URI',
      description:
        'restore onto another host: new volumes (and with --define the domain) go there, streamed from --connect (raw volumes)',
    },
    overwrite: { type: 'boolean', description: "write over the domain's current disk volumes" },
    define: {
      type: 'boolean',
      description: 'define the domain from the stored XML, with the restored disks',
    },
    name: {
      type: 'string',
      value: 'NAME',
      description: 'with --define: domain name (default: the backed-up name)',
    },
    'new-uuid': { type: 'boolean', description: 'with --define: new UUID and MACs (a clone)' },
    replace: {
      type: 'boolean',
      description: 'with --define: replace an existing shut-off domain of that name/UUID',
    },
    start: { type: 'boolean', description: 'with --define: start the domain' },
    allow: {
      type: 'string',
      multiple: true,
      value: 'KIND',
      description: `with --define: let the stored XML keep what reaches this host (repeatable): ${RESTORE_ALLOWANCES.join(', ')}, or all`,
    },
    'drop-refused': {
      type: 'boolean',
      description: 'with --define: leave out what would need --allow instead of refusing',
    },
    live: {
      type: 'boolean',
      description:
        'with --define: start the domain on layers over the backup, then copy the disks while it runs',
    },
    bandwidth: { type: 'string', value: 'MIB', description: 'with --live: MiB/s each disk may copy' },
    detach: {
      type: 'boolean',
      description: 'with --live: return once the domain runs; the copy goes on in libvirt',
    },
    status: { type: 'boolean', description: 'show every live restore and how far its copy is (no set id)' },
    'ignore-damage': {
      type: 'boolean',
      description:
        "finish even where the backup's data does not match its checksums; the damaged ranges are listed",
    },
  },
  examples: [
    'volback backup restore 1a2b3c4d',
    'volback backup restore 1a2b3c4d --define --name vm1-copy --new-uuid --start',
    'volback backup restore 1a2b3c4d --overwrite --yes',
    'volback backup restore 1a2b3c4d --define --live --bandwidth 200',
    'volback backup restore 1a2b3c4d --define --start --encrypt-target 5a1d0c3e-0000-4000-8000-00000000e0c1',
    'volback backup restore --status',
    'volback backup restore 1a2b3c4d --define --target-connect qemu+ssh://root@host2/system --pool default',
  ],
  async run(ctx, [id], flags) {
    if (flags.status) {
      if (id !== undefined) throw new UsageError('--status shows every live restore: it takes no set id');
      const others = Object.keys(backupRestore.flags!).filter(
        (f) => f !== 'status' && flags[f] !== undefined,
      );
      if (others.length)
        throw new UsageError(
          `--status only shows: it takes none of ${others.map((f) => `--${f}`).join(', ')}`,
        );
      const states = await liveRestoreStatus(await ctx.connect());
      return { data: { liveRestores: states }, human: () => liveTable(states) };
    }
    if (id === undefined)
      throw new UsageError('missing argument <set-id>', 'usage: volback backup restore <set-id> [flags]');
    const live = Boolean(flags.live);
    if (!live && (flags.bandwidth !== undefined || flags.detach))
      throw new UsageError('--bandwidth and --detach go with --live');
    if (live && (!flags.define || flags.overwrite))
      throw new UsageError('--live goes with --define: a live restore runs the restored domain');
    const bandwidth = parseBandwidth(flagString(flags.bandwidth));
    const volumeNames = parseVolumeNames(flagList(flags['volume-name']));
    const format = flagString(flags.format) as VolumeFormat | undefined;
    if (format && format !== 'qcow2' && format !== 'raw')
      throw new UsageError(`--format must be qcow2 or raw, got '${format}'`);
    const define = Boolean(flags.define);
    if (live && flags['target-connect'])
      throw new UsageError('--live runs the domain on the host of its backups: it takes no --target-connect');
    if (
      !define &&
      (flags.name ||
        flags['new-uuid'] ||
        flags.replace ||
        flags.start ||
        flags.allow ||
        flags['drop-refused'])
    ) {
      throw new UsageError(
        '--name, --new-uuid, --replace, --start, --allow and --drop-refused go with --define',
      );
    }
    const allow = parseAllowances(flagList(flags.allow));
    if (define && flags.overwrite)
      throw new UsageError('--overwrite and --define exclude each other (use --define --replace)');
    const encryptTarget = encryptTargetFlag(flags);
    if (encryptTarget && (flags.overwrite || live))
      throw new UsageError(
        '--encrypt-target makes new encrypted volumes: it goes with neither --overwrite nor --live',
      );
    const targetUri = flagString(flags['target-connect']);
    if (targetUri && flags.overwrite)
      throw new UsageError(
        "--overwrite writes over the disks on the backups' own host: it takes no --target-connect",
      );
    const conn = await ctx.connect();
    const { set } = await findBackupSet(conn, id);
    const targetConnection = targetUri ? await ctx.connectTo(targetUri) : undefined;
    const disks = flagList(flags.disk);
    const destructive = Boolean(flags.overwrite || flags.replace);
    const what = flags.overwrite
      ? `overwrite disks ${(disks ?? set.disks.map((d) => d.target)).join(', ')} of domain ${set.domain.name} with backup ${shortId(set.id)}`
      : define
        ? `${flags.replace ? 'replace' : 'define'} domain ${flagString(flags.name) ?? set.domain.name} from backup ${shortId(set.id)}`
        : `restore disks ${(disks ?? set.disks.map((d) => d.target)).join(', ')} of backup ${shortId(set.id)} into new volumes`;
    if (flags['dry-run']) {
      return {
        data: { dryRun: true, setId: set.id, action: what, domain: null, volumes: [] },
        human: () => printable(`would ${what}`),
      };
    }
    if (destructive && !(await ctx.confirm(`${printable(what)}?`, flags))) {
      ctx.note('nothing restored');
      return {
        data: { dryRun: false, declined: true, setId: set.id, action: what, domain: null, volumes: [] },
        exitCode: ExitCode.FAILURE,
      };
    }
    const progress = perDiskProgress(ctx);
    const common = {
      setId: set.id,
      disks,
      pool: flagString(flags.pool),
      targetConnection,
      format,
      volumeNames,
      encryptTarget,
      ignoreDamage: Boolean(flags['ignore-damage']),
      signal: ctx.signal,
      onProgress: progress.update,
    };
    try {
      if (define) {
        const result = await restoreDomain(conn, {
          ...common,
          name: flagString(flags.name),
          newUuid: Boolean(flags['new-uuid']),
          replace: Boolean(flags.replace),
          start: Boolean(flags.start) || live,
          allow,
          dropRefused: Boolean(flags['drop-refused']),
          live,
          liveBandwidth: bandwidth,
        });
        progress.done();
        let liveState = result.live;
        if (liveState && !flags.detach) {
          // The domain runs; what is left is watching the pulls (an interrupt leaves them running).
          const bars = ctx.progress(`live restore ${result.name}`);
          try {
            const states = await finishLiveRestores(conn, {
              id: liveState.id,
              wait: true,
              signal: ctx.signal,
              onProgress: (state) => bars.update({ phase: 'copying', items: liveItems(state) }),
            });
            liveState = states[0] ?? liveState;
          } finally {
            bars.done();
          }
        }
        return {
          data: {
            dryRun: false,
            setId: result.setId,
            action: what,
            domain: { name: result.name, uuid: result.uuid },
            volumes: volumesJson(result.volumes),
            policy: result.policy,
            ...checksJson(result),
            ...(liveState ? { live: liveState } : {}),
          },
          human: () =>
            [
              printable(`domain ${result.name} (${result.uuid}) defined from backup ${result.setId}`),
              '',
              volumesTable(result.volumes),
              liveState ? `\n${liveTable([liveState])}` : '',
              policyReport(result.policy),
              checksReport(result),
            ]
              .filter((part) => part !== '')
              .join('\n'),
        };
      }
      const result = await restoreBackup(conn, { ...common, overwrite: Boolean(flags.overwrite) });
      progress.done();
      return {
        data: {
          dryRun: false,
          setId: result.setId,
          action: what,
          domain: null,
          volumes: volumesJson(result.volumes),
          ...checksJson(result),
        },
        human: () =>
          [`restored backup ${result.setId}`, '', volumesTable(result.volumes), checksReport(result)]
            .filter((part) => part !== '')
            .join('\n'),
      };
    } finally {
      progress.done();
    }
  },
};

export const restoreCommands: CommandSpec[] = [backupRestore];

// `volback backup create --all | --match PATTERN | --label LABEL`: many domains, N at a time, one
// summary at the end (per domain: the set or the error), exit 3 when some failed.
import {
  backupDefaults,
  backupMany,
  checkSelector,
  MAX_PARALLEL,
  selectDomains,
  type DomainOutcome,
  type DomainSelector,
  type ListedSet,
} from '../../index';
import { ErrorCodes, VolbackError, isCancelled } from '../../errors';
import { ExitCode, UsageError, exitCodeFor } from '../exit-codes';
import { formatBytes, printable, shortId, table } from '../format';
import { flagString, type CommandContext, type CommandResult, type Flags } from '../framework';
import { setJson } from '../json';
import type { BackupDefinition } from '../../model';

/** The selector the flags give, or undefined when none is given (a single named domain). Pure. */
export function selectorFrom(flags: Flags, domainArg: string | undefined): DomainSelector | undefined {
  const match = flagString(flags.match);
  const label = flagString(flags.label);
  const given = [
    flags.all ? '--all' : '',
    match !== undefined ? '--match' : '',
    label !== undefined ? '--label' : '',
  ].filter(Boolean);
  if (given.length > 1) throw new UsageError(`${given.join(' and ')} exclude each other`);
  if (given.length === 1 && domainArg !== undefined)
    throw new UsageError(`a domain name and ${given[0]} exclude each other`);
  if (given.length === 0) {
    if (flags.parallel !== undefined) throw new UsageError('--parallel needs --all, --match or --label');
    if (domainArg === undefined)
      throw new UsageError('missing argument <domain> (or --all, --match, --label)');
    return undefined;
  }
  const selector: DomainSelector = flags.all
    ? { all: true }
    : match !== undefined
      ? { match }
      : { label: label! };
  checkSelector(selector);
  return selector;
}

/** --parallel N, else the config's backup_parallel. Pure. */
export function parallelFrom(flags: Flags, configured: number): number {
  const value = flagString(flags.parallel);
  if (value === undefined) return configured;
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > MAX_PARALLEL)
    throw new UsageError(`--parallel must be a whole number from 1 to ${MAX_PARALLEL}, got '${value}'`);
  return Number(value);
}

/** 0 all succeeded (or none selected by --all), 3 some failed, 1 all failed, 130 cancelled. Pure. */
export function manyExitCode(outcomes: readonly DomainOutcome[]): number {
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.some((o) => !o.ok && isCancelled(o.error))) return ExitCode.INTERRUPTED;
  if (failed.length === 0) return ExitCode.OK;
  return failed.length < outcomes.length ? ExitCode.PARTIAL : ExitCode.FAILURE;
}

const errorJson = (err: Error) => ({
  code: err instanceof VolbackError ? err.code : null,
  message: err.message,
  hint: err instanceof VolbackError ? (err.hint ?? null) : null,
  exitCode: exitCodeFor(err),
});

/** The summary as JSON (docs/cli.md, "JSON output"). Pure. */
export function manyJson(outcomes: readonly DomainOutcome[]) {
  return {
    domains: outcomes.map((o) => {
      const listed: ListedSet | undefined = o.ok
        ? {
            set: o.result.set,
            childIds: [],
            restorable: true,
            problems: [],
            metadata: o.result.metadata,
            parentId: o.result.set.parentId,
          }
        : undefined;
      return {
        domain: { name: o.domain.name, uuid: o.domain.uuid },
        ok: o.ok,
        set: listed ? setJson(listed) : null,
        error: o.ok ? null : errorJson(o.error),
      };
    }),
    succeeded: outcomes.filter((o) => o.ok).length,
    failed: outcomes.filter((o) => !o.ok).length,
  };
}

/** The summary for people: one row per domain, then each error in full. Pure. */
export function renderMany(outcomes: readonly DomainOutcome[]): string {
  if (outcomes.length === 0) return 'no domains selected';
  const rows = outcomes.map((o) =>
    o.ok
      ? [
          o.domain.name,
          'ok',
          shortId(o.result.set.id),
          o.result.set.kind,
          formatBytes(o.result.set.disks.reduce((a, d) => a + d.bytesCopied, 0)),
        ]
      : [o.domain.name, 'FAILED', '-', '-', '-'],
  );
  const failed = outcomes.filter((o): o is Extract<DomainOutcome, { ok: false }> => !o.ok);
  return [
    table(
      ['DOMAIN', 'RESULT', 'SET', 'KIND', 'ON DISK'],
      rows.map((r) => r.map(printable)),
    ),
    '',
    `${outcomes.length - failed.length} of ${outcomes.length} domains backed up`,
    ...failed.map((o) => printable(`${o.domain.name}: ${o.error.message}`)),
  ].join('\n');
}

/** Runs `backup create` over the selected domains. */
export async function runBackupMany(
  ctx: CommandContext,
  selector: DomainSelector,
  flags: Flags,
  definition: BackupDefinition | undefined,
): Promise<CommandResult> {
  const parallel = parallelFrom(flags, ctx.config.backupParallel);
  const conn = await ctx.connect();
  const domains = await selectDomains(conn, selector);
  if (domains.length === 0 && !('all' in selector)) {
    throw new VolbackError(
      ErrorCodes.NOT_FOUND,
      'match' in selector
        ? `no persistent domain's name matches '${selector.match}'`
        : `no persistent domain carries the label '${selector.label}'`,
      {
        fault: 'user',
        hint: 'list the domains with `virsh list --all`; labels: docs/cli.md, "Many domains"',
      },
    );
  }
  ctx.note(`backing up ${domains.length} domain(s), ${parallel} at a time`);
  const outcomes = await backupMany(conn, domains, {
    definition,
    defaults: backupDefaults(ctx.config),
    backupEngine: ctx.config.backupEngine,
    signal: ctx.signal,
    parallel,
    onDomain: (e) =>
      ctx.note(
        'phase' in e
          ? printable(`backup ${e.domain.name}: started`)
          : printable(
              `backup ${e.domain.name}: ${e.ok ? `${e.result.set.kind} ${shortId(e.result.set.id)} complete` : `failed: ${e.error.message}`}`,
            ),
      ),
  });
  return { data: manyJson(outcomes), exitCode: manyExitCode(outcomes), human: () => renderMany(outcomes) };
}

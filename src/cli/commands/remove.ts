// `volback backup delete|prune`: destructive, so each shows its plan, honours --dry-run and asks first.
import {
  deleteBackup,
  pruneBackups,
  type DependentsMode,
  type RemovalStep,
  type RetentionPolicy,
} from '../../index';
import { ExitCode, UsageError } from '../exit-codes';
import { formatUtc, printable, shortId, table } from '../format';
import { flagList, flagString, type CommandSpec, type FlagSpec } from '../framework';

/** Where delete and prune look for sets (every active pool by default). */
const POOL_FLAG: FlagSpec = {
  type: 'string',
  short: 'p',
  multiple: true,
  value: 'POOL',
  description: 'look only in this pool (repeatable)',
};

const stepJson = (s: RemovalStep) => ({
  setId: s.setId,
  wholeSet: s.wholeSet,
  removeDisks: s.removeDisks,
  merges: s.merges.map((m) => ({
    from: m.from,
    into: m.into,
    intoSet: m.intoSet,
    newParent: m.newParent ?? null,
  })),
  reparent: s.reparent,
  volumes: s.volumes ?? [],
  kept: s.kept ?? [],
});

const describeStep = (s: RemovalStep): string =>
  [
    `${s.wholeSet ? 'delete set' : `delete ${s.removeDisks.length} disk backup(s) of set`} ${s.setId}` +
      (s.merges.length ? `, merging into ${s.merges.map((m) => shortId(m.into)).join(', ')}` : '') +
      (s.reparent.length ? `; ${s.reparent.map(shortId).join(', ')} stand on its parent` : ''),
    ...(s.volumes ?? []).map((v) => printable(`  removes volume ${v.name} in pool ${v.pool}`)),
    ...(s.kept ?? []).map((v) => printable(`  keeps volume ${v.name} in pool ${v.pool}: ${v.reason}`)),
  ].join('\n');

const backupDelete: CommandSpec = {
  path: ['backup', 'delete'],
  args: ['<set-id>'],
  summary: 'delete a backup set (or some of its disks); refuses when other backups depend on it',
  description:
    'Dependents (backups that need this one): --dependents refuse (default) fails naming them;\n' +
    'merge folds the data into the only child; cascade deletes them too. Removals are journalled:\n' +
    'an interrupted delete is finished by the next delete or prune.',
  destructive: true,
  flags: {
    disk: { type: 'string', multiple: true, value: 'TARGET', description: 'only this disk (repeatable)' },
    dependents: { type: 'string', value: 'MODE', description: 'refuse (default), merge or cascade' },
    pool: POOL_FLAG,
  },
  examples: [
    'volback backup delete 1a2b3c4d --dry-run',
    'volback backup delete 1a2b3c4d --dependents cascade --yes',
  ],
  async run(ctx, [id], flags) {
    const mode = (flagString(flags.dependents) ?? 'refuse') as DependentsMode;
    if (!['refuse', 'merge', 'cascade'].includes(mode))
      throw new UsageError(`--dependents must be refuse, merge or cascade, got '${mode}'`);
    const conn = await ctx.connect();
    const options = { setId: id, disks: flagList(flags.disk), dependents: mode, pools: flagList(flags.pool) };
    const planned = await deleteBackup(conn, { ...options, dryRun: true });
    const planText = planned.plan.map(describeStep).join('\n');
    if (flags['dry-run']) {
      return {
        data: { dryRun: true, plan: planned.plan.map(stepJson), removed: [], merged: [] },
        human: () => `would:\n${planText.replace(/^/gm, '  ')}`,
      };
    }
    if (!ctx.json) ctx.note(`about to:\n${planText.replace(/^/gm, '  ')}`);
    if (!(await ctx.confirm(`delete ${planned.plan.length} backup set part(s)?`, flags))) {
      ctx.note('nothing deleted');
      return {
        data: { dryRun: false, declined: true, plan: planned.plan.map(stepJson), removed: [], merged: [] },
        exitCode: ExitCode.FAILURE,
      };
    }
    const result = await deleteBackup(conn, options);
    return {
      data: {
        dryRun: false,
        plan: result.plan.map(stepJson),
        removed: result.removed,
        merged: result.merged.map((m) => ({
          from: m.from,
          into: m.into,
          intoSet: m.intoSet,
          newParent: m.newParent ?? null,
        })),
        recovered: result.recovered ?? null,
      },
      human: () => result.plan.map((s) => `done: ${describeStep(s)}`).join('\n'),
    };
  },
};

const POLICY_FLAGS: Array<[string, keyof RetentionPolicy]> = [
  ['keep-last', 'keepLast'],
  ['keep-hourly', 'keepHourly'],
  ['keep-daily', 'keepDaily'],
  ['keep-weekly', 'keepWeekly'],
  ['keep-monthly', 'keepMonthly'],
  ['keep-yearly', 'keepYearly'],
];

const backupPrune: CommandSpec = {
  path: ['backup', 'prune'],
  args: ['<domain>'],
  summary: "apply a retention policy to a domain's backups (policy from flags, else the config's keep_*)",
  description:
    'Kept sets stay restorable: a removed set that a kept one needs is merged into its child (or kept with\n' +
    '--no-merge). See docs/retention.md. A plan that removes every backup is refused.',
  destructive: true,
  flags: {
    ...Object.fromEntries(
      POLICY_FLAGS.map(([flag]) => [
        flag,
        { type: 'string' as const, value: 'N', description: `${flag.replace('-', ' ')} backups` },
      ]),
    ),
    'keep-within': {
      type: 'string',
      value: 'DURATION',
      description: 'keep everything newer than this (12h, 2d, 1w3d, 1y6mo)',
    },
    'no-merge': { type: 'boolean', description: 'keep sets that kept ones need instead of merging them' },
    pool: POOL_FLAG,
  },
  examples: [
    'volback backup prune vm1 --keep-last 3 --keep-daily 7 --dry-run',
    'volback backup prune vm1 --yes',
  ],
  async run(ctx, [domain], flags) {
    const policy: RetentionPolicy = {};
    for (const [flag, key] of POLICY_FLAGS) {
      const v = flagString(flags[flag]);
      if (v === undefined) continue;
      if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} must be a non-negative integer, got '${v}'`);
      (policy as Record<string, unknown>)[key] = Number(v);
    }
    if (flagString(flags['keep-within'])) policy.keepWithin = flagString(flags['keep-within']);
    const effective: RetentionPolicy = Object.keys(policy).length ? policy : { ...ctx.config.retention };
    if (!Object.values(effective).some((v) => v !== undefined && v !== 0)) {
      throw new UsageError('no retention policy: give --keep-* flags or set keep_* in the config file');
    }
    const conn = await ctx.connect();
    const options = { domain, policy: effective, merge: !flags['no-merge'], pools: flagList(flags.pool) };
    const { plan } = await pruneBackups(conn, { ...options, dryRun: true });
    const planData = {
      domain: plan.domain ?? null,
      policy: effective,
      keep: plan.keep.map((k) => ({
        setId: k.set.id,
        createdAt: k.set.createdAt.toISOString(),
        kind: k.set.kind,
        reasons: k.reasons,
      })),
      remove: plan.remove.map((r) => ({
        setId: r.set.id,
        createdAt: r.set.createdAt.toISOString(),
        kind: r.set.kind,
        action: r.action,
        reason: r.reason,
        into: r.into ?? null,
      })),
      untouched: plan.untouched.map((u) => ({
        setId: u.set.id,
        createdAt: u.set.createdAt.toISOString(),
        reason: u.reason,
      })),
    };
    const planText = (): string =>
      table(
        ['SET', 'CREATED (UTC)', 'KIND', 'ACTION', 'WHY'],
        [
          ...plan.keep.map((k) => [
            shortId(k.set.id),
            formatUtc(k.set.createdAt),
            k.set.kind,
            'keep',
            k.reasons.join(', '),
          ]),
          ...plan.remove.map((r) => [
            shortId(r.set.id),
            formatUtc(r.set.createdAt),
            r.set.kind,
            r.action === 'delete' ? 'remove' : `merge into ${shortId(r.into ?? '')}`,
            r.reason,
          ]),
          ...plan.untouched.map((u) => [
            shortId(u.set.id),
            formatUtc(u.set.createdAt),
            u.set.kind,
            'untouched',
            u.reason,
          ]),
        ],
      );
    if (flags['dry-run'] || plan.remove.length === 0) {
      return { data: { dryRun: Boolean(flags['dry-run']), ...planData, executed: [] }, human: planText };
    }
    if (!ctx.json) ctx.note(planText());
    if (!(await ctx.confirm(printable(`remove ${plan.remove.length} backup set(s) of ${domain}?`), flags))) {
      ctx.note('nothing removed');
      return {
        data: { dryRun: false, declined: true, ...planData, executed: [] },
        exitCode: ExitCode.FAILURE,
      };
    }
    const result = await pruneBackups(conn, options);
    return {
      data: {
        dryRun: false,
        ...planData,
        executed: result.executed.map((e) => ({
          setId: e.setId,
          action: e.action,
          merged: e.merged.map((m) => ({ from: m.from, into: m.into })),
        })),
        recovered: result.recovered ?? null,
      },
      human: () => `${planText()}\n\nremoved ${result.executed.length} backup set(s)`,
    };
  },
};

export const removeCommands: CommandSpec[] = [backupDelete, backupPrune];

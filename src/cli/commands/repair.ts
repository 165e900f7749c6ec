// `volback repair`: what crashed runs left behind, removed (or, with --dry-run, listed).
import { repair, type RepairItem } from '../../index';
import { ExitCode } from '../exit-codes';
import { table } from '../format';
import { flagList, flagString, type CommandSpec } from '../framework';

const rows = (items: readonly RepairItem[]): string[][] =>
  items.map((i) => [i.kind, i.domain ?? '-', i.pool ?? '-', i.name, i.reason]);

const repairCommand: CommandSpec = {
  path: ['repair'],
  summary: "remove what crashed volback runs left behind (only volback's own leftovers)",
  description:
    'Per domain of this host, under its job lock: a crashed pull-mode session, QEMU jobs and nodes of an\n' +
    'interrupted backup, data volumes no metadata names (strays), volback checkpoints no backup records.\n' +
    'Per pool: unfinished removals (finished or rolled back from their intents) and half-written volumes\n' +
    'of interrupted restores. What volback cannot prove is its own is listed and left.',
  destructive: true,
  flags: {
    domain: { type: 'string', value: 'NAME', description: 'only this domain (and volumes named after it)' },
    pool: {
      type: 'string',
      short: 'p',
      multiple: true,
      value: 'POOL',
      description: 'look only in this pool (repeatable)',
    },
  },
  examples: ['volback repair --dry-run', 'volback repair --domain vm1 --yes'],
  async run(ctx, _args, flags) {
    const conn = await ctx.connect();
    const options = {
      domain: flagString(flags.domain),
      pools: flagList(flags.pool),
      lockDir: undefined,
      qemu: ctx.config.backupEngine !== 'libvirt',
    };
    const found = await repair(conn, { ...options, dryRun: true });
    const render = (r: typeof found, verb: string) => () =>
      [
        r.removed.length
          ? `${verb}:\n${table(['KIND', 'DOMAIN', 'POOL', 'NAME', 'WHY'], rows(r.removed))}`
          : `nothing to ${verb.toLowerCase()}`,
        r.left.length
          ? `\nleft alone:\n${table(['KIND', 'DOMAIN', 'POOL', 'NAME', 'WHY'], rows(r.left))}`
          : '',
      ]
        .filter(Boolean)
        .join('\n');
    if (flags['dry-run'] || found.removed.length === 0) {
      return { data: found, human: render(found, 'Would remove') };
    }
    if (!(await ctx.confirm(`remove ${found.removed.length} leftover(s) of crashed volback runs?`, flags))) {
      ctx.note('nothing removed');
      return { data: { ...found, declined: true }, exitCode: ExitCode.FAILURE };
    }
    const done = await repair(conn, { ...options, dryRun: false });
    return { data: done, human: render(done, 'Removed') };
  },
};

export const repairCommands: CommandSpec[] = [repairCommand];

// `volback backup begin-external|end-external`: pull-mode backups read by another program over NBD.
import { backupDefaults, beginExternalBackup, endExternalBackup, type ExternalSession } from '../../index';
import { UsageError } from '../exit-codes';
import { formatBytes, keyValues, printable, table } from '../format';
import { flagString, type CommandSpec } from '../framework';
import { setJson } from '../json';
import { definitionFrom, parseTime } from './backup';

const sessionJson = (s: ExternalSession) => ({
  setId: s.setId,
  domain: s.domain,
  kind: s.kind,
  parentSetId: s.parentSetId ?? null,
  baseCheckpoint: s.baseCheckpoint ?? null,
  checkpoint: s.checkpoint ?? null,
  fallbackReason: s.fallbackReason ?? null,
  server: s.server,
  createdAt: s.createdAt.toISOString(),
  disks: s.disks.map((d) => ({
    target: d.target,
    kind: d.kind,
    exportName: d.exportName,
    uri: d.uri,
    dirtyBitmapContext: d.dirtyBitmapContext ?? null,
    virtualSize: d.virtualSize,
    scratch: d.scratch,
  })),
  skipped: s.skipped,
});

const beginExternal: CommandSpec = {
  path: ['backup', 'begin-external'],
  args: ['<domain>'],
  summary: 'start a pull-mode backup: export the disks over NBD for another program to read',
  description:
    'Prints the NBD URI of every disk (and the dirty-bitmap context of incrementals). The session holds\n' +
    'the domain until `volback backup end-external` (or until --owner-pid exits / --expires passes).',
  flags: {
    definition: {
      type: 'string',
      short: 'd',
      value: 'FILE',
      description: "a <volbackup mode='pull'> definition (server, disks, scratch pools); - reads stdin",
    },
    full: { type: 'boolean', description: 'export everything' },
    incremental: {
      type: 'boolean',
      description: 'export the changes since the latest backup (a full when there is no valid chain)',
    },
    'owner-pid': {
      type: 'string',
      value: 'PID',
      description: 'the reading process: the session counts as crashed once it is gone',
    },
    expires: {
      type: 'string',
      value: 'TIME',
      description: 'the session counts as crashed after this time (ISO 8601 UTC)',
    },
  },
  examples: ['volback backup begin-external vm1 --json', 'volback backup end-external vm1 --success'],
  async run(ctx, [domain], flags) {
    const definition = await definitionFrom(flags, 'pull');
    if (definition && definition.mode !== 'pull') {
      throw new UsageError("the definition is for a push backup (mode='push'); use `volback backup create`");
    }
    const ownerPid = typeof flags['owner-pid'] === 'string' ? Number(flags['owner-pid']) : undefined;
    if (ownerPid !== undefined && !(Number.isInteger(ownerPid) && ownerPid > 0))
      throw new UsageError(`--owner-pid must be a process id, got '${String(flags['owner-pid'])}'`);
    const expires = flagString(flags.expires);
    const expiresAt = expires !== undefined ? parseTime(expires, 'expires') : undefined;
    const session = await beginExternalBackup(await ctx.connect(), domain, {
      definition,
      defaults: backupDefaults(ctx.config),
      ownerPid,
      expiresAt,
    });
    return {
      data: { session: sessionJson(session) },
      human: () =>
        [
          keyValues([
            ['set', session.setId],
            ['domain', `${session.domain.name} (${session.domain.uuid})`],
            [
              'kind',
              session.kind + (session.fallbackReason ? ` (full because: ${session.fallbackReason})` : ''),
            ],
            ['since', session.baseCheckpoint],
          ]),
          '',
          table(
            ['DISK', 'KIND', 'SIZE', 'NBD URI', 'DIRTY BITMAP CONTEXT'],
            session.disks.map((d) => [
              d.target,
              d.kind,
              formatBytes(d.virtualSize),
              d.uri,
              d.dirtyBitmapContext ?? '-',
            ]),
          ),
          '',
          printable(`when done: volback backup end-external ${session.domain.name} --success (or --failure)`),
        ].join('\n'),
    };
  },
};

const endExternal: CommandSpec = {
  path: ['backup', 'end-external'],
  args: ['<domain>'],
  summary: 'end a pull-mode backup: record it (--success) or discard it (--failure)',
  flags: {
    success: {
      type: 'boolean',
      description: 'the reader copied everything: record the set, keep its checkpoint',
    },
    failure: {
      type: 'boolean',
      description: 'discard: record nothing; the next incremental covers these changes',
    },
  },
  async run(ctx, [domain], flags) {
    if (Boolean(flags.success) === Boolean(flags.failure))
      throw new UsageError('give exactly one of --success and --failure');
    const result = await endExternalBackup(await ctx.connect(), domain, { success: Boolean(flags.success) });
    return {
      data: {
        recorded: result.set !== undefined,
        set: result.set
          ? setJson({
              set: result.set,
              childIds: [],
              restorable: true,
              problems: [],
              metadata: result.metadata ? [result.metadata] : [],
              parentId: result.set.parentId,
            })
          : null,
        removedCheckpoint: result.removedCheckpoint ?? null,
      },
      human: () =>
        printable(
          result.set
            ? `external backup ${result.set.id} of ${domain} recorded (${result.metadata ? `${result.metadata.pool}/${result.metadata.volume}` : 'no metadata'})`
            : `external backup of ${domain} discarded${result.removedCheckpoint ? ` (checkpoint ${result.removedCheckpoint} removed)` : ''}`,
        ),
    };
  },
};

export const externalCommands: CommandSpec[] = [beginExternal, endExternal];

// `volback pool list|init|discover|migrate`: the storage pools volback can keep backups in.
import { discoverDomainPools, initPool, listPools, migrateRootPool } from '../../index';
import { domainOfPool } from '../../pool/default-layout';
import { absNormalizedPathProblem } from '../../xml/names';
import { UsageError } from '../exit-codes';
import { formatBytes, keyValues, table } from '../format';
import { flagString, type CommandSpec } from '../framework';
import { poolJson } from '../json';

const poolList: CommandSpec = {
  path: ['pool', 'list'],
  summary: 'list libvirt storage pools and whether volback can keep backups in them',
  async run(ctx) {
    const pools = await listPools(await ctx.connect());
    return {
      data: { pools: pools.map(poolJson) },
      human: () =>
        pools.length === 0
          ? 'no storage pools'
          : table(
              ['NAME', 'TYPE', 'STATE', 'AUTOSTART', 'SIZE', 'FREE', 'BACKUPS', 'PATH'],
              pools.map((p) => [
                p.name +
                  (p.name === ctx.config.defaultPool
                    ? ' (default)'
                    : domainOfPool(ctx.config.defaultPool, p.name)
                      ? ' (domain)'
                      : ''),
                p.type,
                p.active ? 'active' : 'inactive',
                p.autostart ? 'yes' : 'no',
                p.active ? formatBytes(p.capacity) : '-',
                p.active ? formatBytes(p.available) : '-',
                p.supported ? 'supported' : 'unsupported type',
                p.path ?? '-',
              ]),
            ),
    };
  },
};

const poolInit: CommandSpec = {
  path: ['pool', 'init'],
  args: ['[name]'],
  summary: 'create (or start) a dir backup pool; the default pool from the config when no name is given',
  description: 'Idempotent: an existing active pool is left alone, an inactive one is started.',
  flags: {
    path: {
      type: 'string',
      value: 'DIR',
      description: 'directory of a new pool (default: config default_pool_path for the default pool)',
    },
  },
  examples: ['volback pool init', 'volback pool init backups2 --path /srv/backups2'],
  async run(ctx, [name], flags) {
    const poolName = name ?? ctx.config.defaultPool;
    let dir = flagString(flags.path);
    if (!dir && poolName === ctx.config.defaultPool) dir = ctx.config.defaultPoolPath;
    if (!dir) {
      const existing = (await listPools(await ctx.connect())).find((p) => p.name === poolName);
      dir = existing?.path;
    }
    if (!dir) {
      throw new UsageError(
        `pool '${poolName}' does not exist and no --path was given`,
        `volback pool init ${poolName} --path DIR`,
      );
    }
    const pathProblem = absNormalizedPathProblem(dir);
    if (pathProblem) {
      throw new UsageError(`--path '${dir}' ${pathProblem}`);
    }
    const pool = await initPool(await ctx.connect(), { name: poolName, path: dir });
    return {
      data: { pool: poolJson(pool) },
      human: () =>
        keyValues([
          ['pool', pool.name],
          ['type', pool.type],
          ['state', pool.active ? 'active' : 'inactive'],
          ['path', pool.path],
          ['free', formatBytes(pool.available)],
        ]),
    };
  },
};

const poolDiscover: CommandSpec = {
  path: ['pool', 'discover'],
  summary: "define the default location's per-domain pools found in its directory (a fresh host)",
  description:
    'Reads the root pool (config default_pool, created at default_pool_path when missing) and makes\n' +
    'every domain directory in it the dir pool <default_pool>-<domain uuid>: defined, started,\n' +
    'autostarted. Pools already active are left alone. See docs/scale.md.',
  flags: {
    'dry-run': { type: 'boolean', description: 'only say which pools would be defined or started' },
  },
  examples: ['volback pool discover --dry-run', 'volback pool discover'],
  async run(ctx, _args, flags) {
    const dryRun = flags['dry-run'] === true;
    const found = await discoverDomainPools(
      await ctx.connect(),
      { pool: ctx.config.defaultPool, path: ctx.config.defaultPoolPath },
      { dryRun },
    );
    return {
      data: { dryRun, pools: found },
      human: () =>
        found.length === 0
          ? `no domain directories in pool ${ctx.config.defaultPool}`
          : table(
              ['POOL', 'ACTION', 'PATH'],
              found.map((f) => [
                f.pool,
                f.action === 'active' ? 'already active' : dryRun ? `would be ${f.action}` : f.action,
                f.path,
              ]),
            ),
    };
  },
};

const poolMigrate: CommandSpec = {
  path: ['pool', 'migrate'],
  summary: "move a single-pool installation's sets from the root pool into the per-domain pools",
  description:
    'Per chain: copies every layer and its checksums into <default_pool>-<domain uuid> (created as a\n' +
    'backup creates it), compares each copied point with the original, writes the new metadata, and\n' +
    'only then deletes the root copies of those sets (never another volume of the root). A chain that\n' +
    'cannot move whole stays in the root, with the reason. A rerun finishes an interrupted one.\n' +
    'See docs/scale.md.',
  flags: {
    'dry-run': { type: 'boolean', description: 'only say which sets would be moved' },
    domain: { type: 'string', value: 'NAME', description: "only this domain's sets (its name or uuid)" },
  },
  examples: ['volback pool migrate --dry-run', 'volback pool migrate --domain vm1'],
  async run(ctx, _args, flags) {
    const dryRun = flags['dry-run'] === true;
    const report = await migrateRootPool(await ctx.connect(), {
      root: { pool: ctx.config.defaultPool, path: ctx.config.defaultPoolPath },
      dryRun,
      domain: flagString(flags.domain),
    });
    return {
      data: {
        dryRun,
        sets: report.sets.map((s) => ({ ...s, createdAt: s.createdAt.toISOString() })),
        keptVolumes: report.keptVolumes,
      },
      human: () =>
        report.sets.length === 0
          ? `no backup sets to migrate in pool ${ctx.config.defaultPool}`
          : table(
              ['SET', 'DOMAIN', 'KIND', 'CREATED', 'ACTION', 'POOL'],
              report.sets.map((s) => [
                s.setId.slice(0, 8),
                s.domain.name,
                s.kind,
                s.createdAt.toISOString(),
                s.reason ? `kept: ${s.reason}` : s.action.replace('would-', 'would '),
                s.pool,
              ]),
            ) + report.keptVolumes.map((k) => `\nleft in pool ${k.pool}: ${k.name} (${k.reason})`).join(''),
    };
  },
};

export const poolCommands: CommandSpec[] = [poolList, poolInit, poolDiscover, poolMigrate];

// `volback demo` (what `npm start` runs): a small OS-less domain, known writes, a full and an
// incremental backup, the chain listed, and the backup checked byte for byte. Re-runnable.
import { createHash } from 'node:crypto';
import {
  backupDefaults,
  createBackup,
  deleteBackup,
  restoreDomain,
  hostCapabilities,
  initPool,
  listBackups,
  verifyBackup,
  volumeImage,
  type BackupResult,
  type Connection,
} from '../../index';
import { buildDomainXml, writeDiskPattern } from '../../host/scratch-domain';
import { describeVirt } from '../../host/capabilities';
import { virtTypeSource } from '../../config';
import { isLibvirtNotFound, virDomainUndefineFlagsValues } from '../../libvirt';
import { imagesEqual } from '../../tools/qemu-img';
import { volumeXml } from '../../xml/libvirt-storage';
import { formatBytes, keyValues, shortId, table } from '../format';
import { flagString, type CommandContext, type CommandSpec } from '../framework';
import { listingJson, setJson } from '../json';
import { renderTree, showBackupProgress } from './backup';

const MiB = 1024 * 1024;
const DISK_SIZE = 64 * MiB;

/** The known data the demo writes: [disk, pattern, offset, length], before the full and before the incremental. */
const WRITES_BEFORE_FULL: Array<[string, number, number, number]> = [
  ['vda', 0x11, 0, 4 * MiB],
  ['vdb', 0x22, 8 * MiB, 2 * MiB],
];
const WRITES_BEFORE_INCREMENTAL: Array<[string, number, number, number]> = [
  ['vda', 0x33, 2 * MiB, 1 * MiB],
  ['vdb', 0x44, 32 * MiB, 3 * MiB],
];

/** A stable UUID per demo domain name, so re-runs keep one chain history per name. Pure. */
export function demoUuid(name: string): string {
  const h = createHash('sha1').update(`volback-demo:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const demoVolumeXml = (name: string): string =>
  volumeXml({ name, capacity: DISK_SIZE, allocation: 0, format: 'qcow2', compat: '1.1' });

/** Removes the demo domain of a previous run (running or not, with its checkpoint metadata). */
async function removeDomain(conn: Connection, name: string): Promise<boolean> {
  let domain;
  try {
    domain = await conn.lookupDomainByName(name);
  } catch (err) {
    if (isLibvirtNotFound(err)) return false;
    throw err;
  }
  try {
    if (await domain.isActive()) await domain.destroy();
    if (await domain.isPersistent()) {
      await domain.undefine(
        virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
          virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
      );
    }
  } finally {
    domain.free();
  }
  return true;
}

const demo: CommandSpec = {
  path: ['demo'],
  summary: 'run the demo (npm start): demo domain, full + incremental backup, listing, byte-for-byte check',
  description:
    'Creates the default backup pool, a dir pool for the demo domain, and a small OS-less domain with two\n' +
    'qcow2 disks; writes known data through QEMU (HMP qemu-io), takes a full and an incremental backup,\n' +
    'lists them, checks the backup, restores the VM under a new name and UUID and compares its disks\n' +
    'byte for byte with the source disks at backup time. A second run replaces the previous\n' +
    "demo's domain, disks and backups.",
  flags: {
    domain: { type: 'string', value: 'NAME', description: 'demo domain name (default volback-demo)' },
    'demo-pool': {
      type: 'string',
      value: 'POOL',
      description: 'pool for the demo disks (default volback-demo)',
    },
    'demo-path': {
      type: 'string',
      value: 'DIR',
      description: 'directory of the demo pool (default /var/lib/volback-demo)',
    },
  },
  async run(ctx: CommandContext, _args, flags) {
    const name = flagString(flags.domain) ?? 'volback-demo';
    const demoPool = flagString(flags['demo-pool']) ?? 'volback-demo';
    const demoPath = flagString(flags['demo-path']) ?? '/var/lib/volback-demo';
    const step = (text: string): void => ctx.note(`demo: ${text}`);
    const conn = await ctx.connect();

    const host = await hostCapabilities(conn, ctx.config.virtType, virtTypeSource(ctx.config));
    step(
      `host ${host.hostname}: libvirt ${host.libvirtVersion}, QEMU ${host.hypervisorVersion}, ${describeVirt(host.virt)}`,
    );

    const backupPool = await initPool(conn, {
      name: ctx.config.defaultPool,
      path: ctx.config.defaultPoolPath,
    });
    step(`backup pool ${backupPool.name} (${backupPool.type}) at ${backupPool.path}`);

    const restoredName = `${name}-restored`;
    for (const old of [name, restoredName]) {
      if (await removeDomain(conn, old)) step(`removed the previous demo domain ${old}`);
    }
    const previous = await listBackups(conn, { domain: demoUuid(name) });
    for (const root of previous.sets.filter((s) => s.parentId === undefined)) {
      await deleteBackup(conn, { setId: root.set.id, dependents: 'cascade' });
    }
    if (previous.sets.length) step(`deleted ${previous.sets.length} backup set(s) of the previous demo`);
    const pool = await initPool(conn, { name: demoPool, path: demoPath });
    step(`demo disk pool ${pool.name} at ${pool.path}`);
    const libvirtPool = await conn.lookupStoragePoolByName(demoPool);
    const disks: Array<{ target: string; path: string }> = [];
    try {
      await libvirtPool.refresh();
      // The pool is the demo's own: disks and restored volumes of an earlier run go.
      for (const vol of await libvirtPool.listAllVolumes()) await vol.delete().finally(() => vol.free());
      for (const target of ['vda', 'vdb']) {
        const volName = `${name}-${target}.qcow2`;
        const vol = await libvirtPool.createVolume(demoVolumeXml(volName));
        disks.push({ target, path: await vol.getPath() });
        vol.free();
      }
    } finally {
      libvirtPool.free();
    }

    const xml = buildDomainXml({ name, uuid: demoUuid(name), virt: host.virt, disks });
    const domain = await conn.defineDomain(xml);
    const results: BackupResult[] = [];
    try {
      await domain.create();
      step(
        `started ${name} (${host.virt.virtType === 'kvm' ? 'KVM' : 'TCG'}) with disks ${disks.map((d) => `${d.target} ${formatBytes(DISK_SIZE)}`).join(', ')}`,
      );

      const backup = async (
        kind: 'full' | 'incremental',
        writes: typeof WRITES_BEFORE_FULL,
      ): Promise<BackupResult> => {
        for (const [target, pattern, offset, length] of writes) {
          await writeDiskPattern(domain, target, pattern, offset, length);
        }
        step(
          `wrote ${writes.map(([t, p, o, l]) => `0x${p.toString(16)} × ${formatBytes(l)} at ${formatBytes(o)} of ${t}`).join(', ')}`,
        );
        const progress = ctx.progress(`${kind} backup of ${name}`);
        const result = await createBackup(conn, name, {
          definition: { mode: 'push', kind, disks: [], description: `volback demo ${kind}` },
          defaults: backupDefaults(ctx.config),
          backupEngine: ctx.config.backupEngine,
          signal: ctx.signal,
          onProgress: showBackupProgress(progress),
        }).finally(() => progress.done());
        step(
          `${result.set.kind} backup ${shortId(result.set.id)}: ` +
            result.set.disks.map((d) => `${d.target} ${formatBytes(d.bytesCopied)} copied`).join(', '),
        );
        return result;
      };
      results.push(await backup('full', WRITES_BEFORE_FULL));
      results.push(await backup('incremental', WRITES_BEFORE_INCREMENTAL));
    } finally {
      // Stopping QEMU flushes the disks: the source files then hold exactly the incremental's point in time.
      if (await domain.isActive().catch(() => false)) await domain.destroy().catch(() => undefined);
      domain.free();
    }

    const listing = await listBackups(conn, { domain: name });
    const latest = results[results.length - 1].set;
    const verification = await verifyBackup(conn, { setId: latest.id, deep: true, signal: ctx.signal });
    step(
      `verify ${shortId(latest.id)} (deep): ${verification.ok ? 'ok' : verification.disks.flatMap((d) => d.problems).join('; ')}`,
    );

    // Byte for byte: each disk's backup chain (incremental over full) against the source disk.
    const comparisons: Array<{ target: string; backupVolume: string; source: string; identical: boolean }> =
      [];
    for (const disk of latest.disks) {
      const source = disks.find((d) => d.target === disk.target)!;
      const identical = await imagesEqual(await volumeImage(conn, disk.volume!.pool, disk.volume!.name), {
        path: source.path,
        format: 'qcow2',
      });
      comparisons.push({
        target: disk.target,
        backupVolume: disk.volume!.name,
        source: source.path,
        identical,
      });
    }
    step(
      `backup vs source: ${comparisons.map((c) => `${c.target} ${c.identical ? 'identical' : 'DIFFERENT'}`).join(', ')}`,
    );
    const restoreProgress = ctx.progress(`restore of ${shortId(latest.id)}`);
    const restored = await restoreDomain(conn, {
      setId: latest.id,
      name: restoredName,
      newUuid: true,
      replace: true,
      pool: demoPool,
      signal: ctx.signal,
      onProgress: (p) =>
        restoreProgress.update({
          phase: `copying ${p.target}`,
          bytesDone: p.bytesDone,
          bytesTotal: p.bytesTotal,
        }),
    }).finally(() => restoreProgress.done());
    const restoredDisks: Array<{ target: string; volume: string; path: string; identical: boolean }> = [];
    for (const v of restored.volumes) {
      const source = disks.find((d) => d.target === v.target)!;
      const identical = await imagesEqual(
        { path: v.path, format: v.format },
        { path: source.path, format: 'qcow2' },
      );
      restoredDisks.push({ target: v.target, volume: v.volume, path: v.path, identical });
    }
    step(
      `restored as ${restored.name} (${restored.uuid}): ` +
        restoredDisks
          .map((d) => `${d.target} ${d.identical ? 'identical to source' : 'DIFFERENT'}`)
          .join(', '),
    );

    const ok =
      verification.ok && comparisons.every((c) => c.identical) && restoredDisks.every((d) => d.identical);
    return {
      exitCode: ok ? 0 : 1,
      data: {
        ok,
        host,
        backupPool: backupPool.name,
        demoPool: pool.name,
        domain: { name, uuid: demoUuid(name), virtType: host.virt.virtType, cpu: host.virt.cpu },
        backups: results.map((r) =>
          setJson({
            set: r.set,
            childIds: [],
            restorable: true,
            problems: [],
            metadata: r.metadata,
            parentId: r.set.parentId,
          }),
        ),
        listing: listingJson(listing),
        verification,
        comparisons,
        restore: {
          domain: { name: restored.name, uuid: restored.uuid },
          setId: restored.setId,
          disks: restoredDisks,
        },
      },
      human: () =>
        [
          keyValues([
            ['host', `${host.hostname} (${host.uri})`],
            ['libvirt', host.libvirtVersion],
            ['QEMU', host.hypervisorVersion],
            ['virtualisation', describeVirt(host.virt)],
            [
              'backup pool',
              // With the per-domain layout (docs/scale.md) the sets lie in the domain's own pool under the root.
              `${backupPool.name} at ${backupPool.path}; the demo's sets in pool ${[
                ...new Set(results.flatMap((r) => r.set.disks.map((d) => d.volume?.pool ?? '?'))),
              ].join(', ')}`,
            ],
            ['demo domain', `${name} (disks in pool ${pool.name} at ${pool.path})`],
            ['backups', results.map((r) => `${r.set.kind} ${r.set.id}`).join(', ')],
            ['verify (deep)', verification.ok ? 'ok' : 'PROBLEMS'],
            [
              'byte-for-byte',
              comparisons
                .map((c) => `${c.target} ${c.identical ? 'identical to source' : 'DIFFERENT'}`)
                .join(', '),
            ],
          ]),
          '',
          `Backups of ${name} (volback backup list --domain ${name}):`,
          renderTree(listing),
          '',
          `Restored ${restored.name} (${restored.uuid}, defined, shut off) from ${restored.setId}:`,
          table(
            ['DISK', 'VOLUME', 'BYTE FOR BYTE VS SOURCE'],
            restoredDisks.map((d) => [
              d.target,
              `${demoPool}/${d.volume}`,
              d.identical ? 'identical' : 'DIFFERENT',
            ]),
          ),
        ].join('\n'),
    };
  },
};

export const demoCommands: CommandSpec[] = [demo];

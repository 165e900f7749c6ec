// restoreDomain: rebuilds a domain from a backup set, its disks restored into new volumes and its
// definition taken from the XML stored with the backup. See docs/restore.md.
import { virDomainUndefineFlagsValues, virDomainXMLFlags, type Connection, type Domain } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { PoolCache } from '../../pool/pool-layer';
import { parseDomainXml, rewriteDomainXml } from '../../xml/libvirt-domain';
import { applyRestorePolicy } from '../../xml/restore-policy';
import { chooseVirtType } from '../../host/virt-type';
import { crashPoint } from '../../crash-point';
import { UndoStack } from '../shared/undo';
import {
  chooseRestore,
  findDomain,
  throwIfAborted,
  type RestoreDomainOptions,
  type RestoreDomainResult,
} from './common';
import { restoreToNewVolumes } from './new-volumes';
import { keepReplacedDomain } from './replaced-domains';
import { disksToDrop, domainStateName } from './plan';
import { finishLiveRestores } from './live';
import { beginLiveRestore, checkLiveOptions, type LiveStart } from './live-start';

const log = logger('restore');

/**
 * Rebuilds a domain from a backup set: restores its disks into new volumes (as `restoreBackup`),
 * then defines the domain from the XML stored with the backup, its disks pointing at the restored
 * volumes; hard disks that were not restored are dropped from it (with a warning), every other device
 * stays. With `newUuid` the domain gets a new UUID and its interfaces new MAC addresses (a clone).
 * An existing domain with the same name, or the same UUID when it is kept, is ERR_CONFLICT unless
 * `replace` (then it must be shut off; it is undefined, its disks kept). `start` starts it after.
 *
 * On failure every volume created is deleted and a replaced domain is defined again (without its
 * checkpoint metadata). If only the start fails, the domain stays defined and the error says so.
 */
export async function restoreDomain(
  conn: Connection,
  options: RestoreDomainOptions,
): Promise<RestoreDomainResult> {
  throwIfAborted(options.signal);
  const chosen = await chooseRestore(conn, options);
  const { set, items, damage } = chosen;
  const stored = await parseDomainXml(set.domainXml);
  const name = options.name ?? set.domain.name;
  // Everything is checked before anything is copied: the name, and what the stored XML may keep.
  if (name.trim() === '' || name.includes('/') || /[\u0000-\u001f\u007f]/.test(name) || name.length > 200) {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, `${JSON.stringify(name)} is not a usable domain name`, {
      fault: 'user',
      hint: "1-200 characters, no '/' and no control characters",
    });
  }
  checkLiveOptions(options);
  if (options.live && options.encryptTarget)
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      'a live restore runs the domain on layers over the backup, which are not encrypted: restore into encrypted volumes without live',
      { fault: 'user' },
    );
  // The host the domain is defined on: where its disks are restored.
  const host = options.targetConnection ?? conn;
  const policy = await applyRestorePolicy(set.domainXml, {
    restoredDisks: items.map((i) => i.disk.target),
    allow: options.allow,
    dropRefused: options.dropRefused,
    // What the host starts, found by starting one (once per process): the backup may come from another.
    host: await chooseVirtType(host),
  });
  if (policy.needsFlag.length) {
    const kinds = [...new Set(policy.needsFlag.map((f) => f.allowance).filter((a) => a !== undefined))];
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `the domain XML stored with backup ${set.id} reaches this host in ways a restore keeps only when allowed:\n` +
        policy.needsFlag.map((f) => `  ${f.element} ${f.detail}: ${f.reason}`).join('\n'),
      {
        fault: 'user',
        hint: `allow them (${kinds.map((k) => `--allow ${k}`).join(' ')}) or leave them out (--drop-refused)`,
      },
    );
  }

  // Domains in the way: same name, and (keeping the UUID) same UUID.
  const clashes: Domain[] = [];
  const pools = new PoolCache(conn);
  const targets = options.targetConnection ? new PoolCache(host) : pools;
  const undo = new UndoStack();
  let defined: Domain | undefined;
  let live: LiveStart | undefined;
  try {
    const byName = await findDomain(() => host.lookupDomainByName(name));
    if (byName) clashes.push(byName);
    const byUuid = options.newUuid
      ? undefined
      : await findDomain(() => host.lookupDomainByUUID(set.domain.uuid));
    if (byUuid) {
      if (byName && (await byName.getUUIDString()) === (await byUuid.getUUIDString())) byUuid.free();
      else clashes.push(byUuid);
    }
    for (const other of clashes) {
      const otherName = await other.getName();
      const otherUuid = await other.getUUIDString();
      const { state } = await other.getState();
      if (!options.replace) {
        throw new VolbackError(
          ErrorCodes.CONFLICT,
          `domain ${otherName} (${otherUuid}, ${domainStateName(state)}) is in the way of restoring ${name}${options.newUuid ? '' : ` with UUID ${set.domain.uuid}`}`,
          {
            fault: 'user',
            hint: 'restore as a clone (a new name and newUuid), or replace it (replace: true, only when shut off)',
          },
        );
      }
      if (await other.isActive()) {
        throw new VolbackError(
          ErrorCodes.CONFLICT,
          `domain ${otherName} is ${domainStateName(state)}: only a shut-off domain can be replaced`,
          {
            fault: 'user',
            hint: `shut it down first (virsh shutdown ${otherName})`,
          },
        );
      }
    }

    // A live restore guards the backups it will read before the first layer over them exists.
    live = options.live ? await beginLiveRestore(conn, pools, chosen, name, options, undo) : undefined;
    const restored = await restoreToNewVolumes(pools, targets, set, items, options, undo, damage);
    if (live) await live.layersMade(restored);
    crashPoint('restore-copied');
    const volumes = restored.map(({ source: _source, ...volume }) => volume);
    const restoredTargets = volumes.map((v) => v.target);
    const dropDisks = disksToDrop(stored.disks, restoredTargets);
    if (dropDisks.length)
      log.warn(`${name}: disks ${dropDisks.join(', ')} were not restored and are left out of the domain`);
    const disks = Object.fromEntries(restored.map((v) => [v.target, v.source]));
    // An encrypted volume's disk names its secret: QEMU opens the volume with the passphrase libvirt gives it.
    const encryptedDisks = Object.fromEntries(
      restored.flatMap((v) => (v.encryption ? [[v.target, v.encryption.secretUuid]] : [])),
    );
    const xml = await rewriteDomainXml(policy.xml, {
      name,
      newUuid: options.newUuid,
      disks,
      encryptedDisks,
      dropDisks,
      dropMacs: options.newUuid,
    });

    for (const other of clashes) {
      const otherName = await other.getName();
      const oldXml = await other.getXMLDesc(
        virDomainXMLFlags.VIR_DOMAIN_XML_INACTIVE | virDomainXMLFlags.VIR_DOMAIN_XML_SECURE,
      );
      log.info(`replacing domain ${otherName}: undefining it (its disks are kept)`);
      // Kept on this host until the restored domain is defined: `repair` defines it again otherwise.
      const forget = keepReplacedDomain(otherName, await other.getUUIDString(), oldXml);
      undo.afterCommit(`the kept definition of ${otherName}`, forget);
      await other.undefine(
        virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
          virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
          virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM |
          virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
      );
      undo.push(`undefinition of ${otherName}`, async () => {
        (await host.defineDomain(oldXml)).free();
        await forget();
      });
    }
    if (clashes.length) crashPoint('restore-replaced');
    throwIfAborted(options.signal);
    defined = await host.defineDomain(xml);
    crashPoint('restore-defined');
    const uuid = await defined.getUUIDString();
    await undo.commit();
    crashPoint('restore-committed');
    log.info(`restored domain ${name} (${uuid}) from backup ${set.id}`);
    if (options.start || live) {
      try {
        await defined.create();
      } catch (err) {
        throw new VolbackError(
          ErrorCodes.JOB_FAILED,
          `domain ${name} was restored and defined, but it could not be started${live ? '; its disks still read the backup, which `volback repair` copies into them' : ''}`,
          { cause: err },
        );
      }
    }
    // The domain runs from here on; the pulls copy the rest while it does. A failure to start them
    // leaves a correct running domain and its record: the next run (repair, a finish) starts them.
    const started = live;
    const liveState = started
      ? await finishLiveRestores(conn, { id: started.id, startOnly: true }).then(
          (states) => states[0],
          (err: unknown) => {
            log.warn(
              `${name} runs on its backup; its copy did not start (volback repair starts it): ${String(err)}`,
            );
            return started.notStarted((err as Error).message);
          },
        )
      : undefined;
    const { xml: _xml, needsFlag: _none, ...report } = policy;
    for (const note of report.notes) log.warn(`${name}: ${note}`);
    return {
      name,
      uuid,
      setId: set.id,
      volumes,
      policy: report,
      damage: damage.damage,
      notes: damage.notes,
      live: liveState,
    };
  } catch (err) {
    const failed = await undo.revert();
    if (failed.length) log.warn(`restore of domain ${name}: cleanup left behind: ${failed.join(', ')}`);
    throw err;
  } finally {
    live?.release();
    defined?.free();
    for (const d of clashes) d.free();
    pools.close();
    targets.close();
  }
}

// Shared setup of the restore system tests: cleaning up the domains a restore defines, live clones.
import { virDomainUndefineFlagsValues, type Connection, type Domain } from '../../src/libvirt';
import { restoreDomain } from '../../src/core/restore/domain';
import type { RestoreDomainResult } from '../../src/core/restore/common';
import { uniqueName, type Cleanup } from '../support';

export const MiB = 1024 * 1024;

/** Registers the removal of a domain by name (destroyed, undefined with its checkpoint metadata). */
export function cleanupDomainByName(conn: Connection, cleanup: Cleanup, name: string): void {
  cleanup.add(`domain ${name}`, async () => {
    const dom = await conn.lookupDomainByName(name);
    try {
      if (await dom.isActive()) await dom.destroy();
      await dom.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
    } finally {
      dom.free();
    }
  });
}

/**
 * A live restore of `setId` from `pool` as a clone named after `label`, its domain removed by
 * `cleanup`; resolves with the result and the running domain's handle.
 */
export async function liveRestoreClone(
  conn: Connection,
  cleanup: Cleanup,
  options: { setId: string; pool: string; label: string; lockDir: string; bandwidth?: number },
): Promise<{ result: RestoreDomainResult; domain: Domain; name: string }> {
  const name = uniqueName(options.label);
  cleanupDomainByName(conn, cleanup, name);
  const result = await restoreDomain(conn, {
    setId: options.setId,
    scanPools: [options.pool],
    name,
    newUuid: true,
    live: true,
    liveBandwidth: options.bandwidth,
    lockDir: options.lockDir,
  });
  const domain = await conn.lookupDomainByName(name);
  cleanup.add(`handle of ${name}`, async () => domain.free());
  return { result, domain, name };
}

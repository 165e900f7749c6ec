// Shared setup of the restore system tests: cleaning up the domains a restore defines.
import { virDomainUndefineFlagsValues, type Connection } from '../../src/libvirt';
import type { Cleanup } from '../support';

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

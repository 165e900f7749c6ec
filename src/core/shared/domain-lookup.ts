// Looking up the domain a user named, with an error that says so when it does not exist.
import { isLibvirtNotFound, type Connection, type Domain } from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';

/** The named domain; ERR_NOT_FOUND (a user error) when libvirt knows no such domain. The caller frees it. */
export async function lookupDomain(conn: Connection, domainName: string): Promise<Domain> {
  try {
    return await conn.lookupDomainByName(domainName);
  } catch (err) {
    if (isLibvirtNotFound(err)) {
      throw new VolbackError(ErrorCodes.NOT_FOUND, `domain '${domainName}' does not exist`, {
        fault: 'user',
        cause: err,
      });
    }
    throw err;
  }
}

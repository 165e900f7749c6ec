// A restore that replaces a domain must undefine it before it can define the restored one (libvirt
// refuses a second domain of one name). A process stopped in between would leave neither, so the
// replaced domain's definition is first kept in a root-only file on this host, and `repair` defines
// it again when the restore never got to define its own. Kept here, not in a pool: the definition
// may hold secrets (graphics passwords), as libvirt's own /etc/libvirt/qemu/*.xml do.
import fs from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { isLibvirtNotFound, type Connection } from '../../libvirt';
import { logger } from '../../log';
import { STATE_DIR } from '../../host/host-key';
import { processAlive } from '../shared/domain-lock';

const log = logger('restore');

const DIR = path.join(STATE_DIR, 'replaced-domains');

interface ReplacedRecord {
  name: string;
  uuid: string;
  /** The replaced domain's inactive XML, secrets included. */
  xml: string;
  /** The restore that replaces it. */
  pid: number;
  host: string;
  savedAt: string;
}

/**
 * Keeps the definition of a domain a restore is about to undefine. The returned function forgets
 * it (once the restored domain is defined, or the replaced one defined again).
 */
export function keepReplacedDomain(name: string, uuid: string, xml: string): () => Promise<void> {
  fs.mkdirSync(DIR, { recursive: true, mode: 0o700 });
  const file = path.join(DIR, `${uuid}.json`);
  const record: ReplacedRecord = {
    name,
    uuid,
    xml,
    pid: process.pid,
    host: hostname(),
    savedAt: new Date().toISOString(),
  };
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(record), { mode: 0o600, flag: 'wx' });
  fs.renameSync(tmp, file);
  return async () => fs.rmSync(file, { force: true });
}

export interface ReplacedRepair {
  /** Domains defined again: their restore was stopped after it undefined them. */
  redefined: string[];
  /** Records dropped: the restored domain (or the replaced one) is defined. */
  dropped: string[];
}

async function defined(conn: Connection, record: ReplacedRecord): Promise<boolean> {
  for (const lookup of [
    () => conn.lookupDomainByName(record.name),
    () => conn.lookupDomainByUUID(record.uuid),
  ]) {
    try {
      (await lookup()).free();
      return true;
    } catch (err) {
      if (!isLibvirtNotFound(err)) throw err;
    }
  }
  return false;
}

/**
 * Finishes what stopped restores left of the domains they replaced: a record whose restore is not
 * running any more is dropped when a domain of its name or UUID exists (the restore defined its
 * own), and otherwise its domain is defined again from it. `dryRun` only says what it would do.
 */
export async function repairReplacedDomains(conn: Connection, dryRun = false): Promise<ReplacedRepair> {
  const result: ReplacedRepair = { redefined: [], dropped: [] };
  const files = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((f) => f.endsWith('.json')) : [];
  for (const file of files) {
    const full = path.join(DIR, file);
    let record: ReplacedRecord;
    try {
      record = JSON.parse(fs.readFileSync(full, 'utf8')) as ReplacedRecord;
    } catch (err) {
      log.warn(`leaving ${full}: it does not read as a replaced domain's record (${(err as Error).message})`);
      continue;
    }
    if (record.host === hostname() && processAlive(record.pid)) continue;
    if (await defined(conn, record)) {
      result.dropped.push(record.name);
      if (!dryRun) fs.rmSync(full, { force: true });
      continue;
    }
    result.redefined.push(record.name);
    if (dryRun) continue;
    log.warn(
      `defining domain ${record.name} (${record.uuid}) again: the restore replacing it stopped before it defined its own`,
    );
    (await conn.defineDomain(record.xml)).free();
    fs.rmSync(full, { force: true });
  }
  return result;
}

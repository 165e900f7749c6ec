// Backs up many domains in one run: which domains (all, a name pattern, a metadata label), N at a
// time, and one outcome per domain. Each backup is createBackup's, with its own lock and clean-up: a
// failed domain leaves nothing behind and does not stop the others.
import {
  virConnectListAllDomainsFlags,
  virDomainXMLFlags,
  type Connection,
  type Domain,
} from '../../libvirt';
import { ErrorCodes, VolbackError } from '../../errors';
import { logger } from '../../log';
import { domainLabels, LABEL_RE } from '../../xml/domain-labels';
import { createBackup, type BackupResult, type CreateBackupOptions } from './coordinator';

const log = logger('backup-many');

/** Which domains: every persistent one, those whose name matches a glob, or those carrying a label. */
export type DomainSelector = { all: true } | { match: string } | { label: string };

/** A domain as the selector sees it. */
export interface DomainFacts {
  name: string;
  uuid: string;
  /** Its volback labels (domain-labels.ts); read only when a selector needs them. */
  labels?: string[];
}

/** Most domains one run backs up at once; beyond it the host's disks, not volback, are the limit. */
export const MAX_PARALLEL = 64;

/** `*` any run of characters, `?` one, everything else literal; the whole name must match. Pure. */
export function globToRegExp(pattern: string): RegExp {
  const body = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's');
}

/** Refuses a selector that cannot select anything sensible, before anything connects. Pure. */
export function checkSelector(selector: DomainSelector): void {
  const refuse = (message: string, hint: string): never => {
    throw new VolbackError(ErrorCodes.INVALID_INPUT, message, { fault: 'user', hint });
  };
  if ('match' in selector && (selector.match === '' || /[\0\n]/.test(selector.match)))
    refuse('--match needs a non-empty name pattern', "quote the pattern: --match 'web-*'");
  if ('label' in selector && !LABEL_RE.test(selector.label))
    refuse(
      `label '${selector.label}' is not a plain word`,
      'labels are letters, digits, _ . - (at most 64), starting with a letter or digit',
    );
}

/** The domains a selector picks, sorted by name (so runs and summaries are in a stable order). Pure. */
export function chooseDomains(domains: readonly DomainFacts[], selector: DomainSelector): DomainFacts[] {
  const picked =
    'all' in selector
      ? domains
      : 'match' in selector
        ? domains.filter((d) => globToRegExp(selector.match).test(d.name))
        : domains.filter((d) => d.labels?.includes(selector.label));
  return [...picked].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function factsOf(domain: Domain, withLabels: boolean): Promise<DomainFacts> {
  const [name, uuid] = await Promise.all([domain.getName(), domain.getUUIDString()]);
  if (!withLabels) return { name, uuid };
  // The persistent definition: labels are configuration (`virsh metadata … --config`).
  return {
    name,
    uuid,
    labels: await domainLabels(await domain.getXMLDesc(virDomainXMLFlags.VIR_DOMAIN_XML_INACTIVE)),
  };
}

/** The persistent domains of the host that `selector` picks. Throws ERR_INVALID_INPUT (selector). */
export async function selectDomains(conn: Connection, selector: DomainSelector): Promise<DomainFacts[]> {
  checkSelector(selector);
  const domains = await conn.listAllDomains(
    virConnectListAllDomainsFlags.VIR_CONNECT_LIST_DOMAINS_PERSISTENT,
  );
  try {
    const facts = await Promise.all(domains.map((d) => factsOf(d, 'label' in selector)));
    return chooseDomains(facts, selector);
  } finally {
    for (const d of domains) d.free();
  }
}

/** How one domain's backup ended. */
export type DomainOutcome =
  { domain: DomainFacts; ok: true; result: BackupResult } | { domain: DomainFacts; ok: false; error: Error };

export interface BackupManyOptions extends Omit<CreateBackupOptions, 'onProgress'> {
  /** Backups running at once (1..MAX_PARALLEL). */
  parallel: number;
  /** Called as each domain starts and ends (for progress lines). */
  onDomain?: (event: { domain: DomainFacts; phase: 'start' } | DomainOutcome) => void;
}

/**
 * Backs up each domain with createBackup, `parallel` at a time, and returns one outcome per domain in
 * the order given. A failure is that domain's outcome (its backup undid itself); a cancel (signal)
 * stops starting new ones and cancels those running, whose outcomes are then ERR_CANCELLED.
 * Throws ERR_INVALID_INPUT for a bad `parallel`, before anything starts.
 */
export async function backupMany(
  conn: Connection,
  domains: readonly DomainFacts[],
  options: BackupManyOptions,
): Promise<DomainOutcome[]> {
  const { parallel, onDomain, ...backup } = options;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > MAX_PARALLEL) {
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `parallel must be a whole number from 1 to ${MAX_PARALLEL}, got ${parallel}`,
      { fault: 'user' },
    );
  }
  const outcomes: DomainOutcome[] = new Array(domains.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < domains.length; i = next++) {
      const domain = domains[i];
      if (backup.signal?.aborted) {
        outcomes[i] = {
          domain,
          ok: false,
          error: new VolbackError(ErrorCodes.CANCELLED, 'cancelled before it started'),
        };
        continue;
      }
      onDomain?.({ domain, phase: 'start' });
      try {
        const result = await createBackup(conn, domain.name, backup);
        // Renamed and redefined under the old name meanwhile: the backup is of another domain.
        if (result.set.domain.uuid !== domain.uuid)
          log.warn(`${domain.name} was redefined during the run (uuid ${result.set.domain.uuid})`);
        outcomes[i] = { domain, ok: true, result };
      } catch (err) {
        log.warn(`backup of ${domain.name} failed: ${(err as Error).message}`);
        outcomes[i] = { domain, ok: false, error: err as Error };
      }
      onDomain?.(outcomes[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, domains.length) }, worker));
  return outcomes;
}

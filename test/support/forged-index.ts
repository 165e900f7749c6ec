// A catalog index as another writer of the pool would make it: right format, generation and
// checksum, but signed with a key that is not this host's.
import { createHmac, randomBytes } from 'node:crypto';
import type { BackupSet } from '../../src/model';
import { encodeIndex } from '../../src/pool/catalog-index';

export function forgeIndex(generation: readonly string[], sets: ReadonlyMap<string, BackupSet>): string {
  const text = encodeIndex(generation, sets);
  const newline = text.indexOf('\n');
  const header = JSON.parse(text.slice(0, newline)) as { mac: string };
  const signed = JSON.stringify(Object.values({ ...header, mac: undefined }).slice(0, 4));
  header.mac = createHmac('sha256', randomBytes(32)).update(signed).digest('hex');
  return `${JSON.stringify(header)}${text.slice(newline)}`;
}

// Real libvirt secrets for the encryption suites: defined through virsh on this host's libvirtd,
// the passphrase set from a 0600 file (never argv), and the test's check that ciphertext holds no
// written pattern.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../src/tools/exec';
import type { Cleanup } from './cleanup';

/** `virsh -q -c URI ARGS`. */
const virshOn = (uri: string, ...args: string[]): Promise<unknown> =>
  run(['virsh', '-q', '-c', uri, ...args]);

/** `virsh -q -c qemu:///system ARGS`. */
export const virshSystem = (...args: string[]): Promise<unknown> => virshOn('qemu:///system', ...args);

/**
 * Sets secret `uuid`'s value to `passphrase` from a 0600 file, then removes the file; on the libvirt
 * host of `uri` (default this machine's).
 */
export async function setSecretValue(
  uuid: string,
  passphrase: Buffer,
  uri = 'qemu:///system',
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-secret-test-'));
  const file = path.join(dir, 'value');
  try {
    fs.writeFileSync(file, passphrase, { mode: 0o600 });
    await virshOn(uri, 'secret-set-value', uuid, '--file', file, '--plain');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Defines a non-private `volume` secret `uuid` with usage id `usage` (and `passphrase`, when given),
 * on the libvirt host of `options.uri` (default this machine's). With `cleanup`, undefines it at the
 * end (a test that undefines it itself leaves nothing to do).
 */
export async function defineVolumeSecret(
  uuid: string,
  usage: string,
  options: { passphrase?: Buffer; cleanup?: Cleanup; uri?: string } = {},
): Promise<void> {
  const uri = options.uri ?? 'qemu:///system';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-secret-test-'));
  try {
    const xml = path.join(dir, 'secret.xml');
    fs.writeFileSync(
      xml,
      `<secret ephemeral='no' private='no'><uuid>${uuid}</uuid><usage type='volume'><volume>${usage}</volume></usage></secret>`,
    );
    await virshOn(uri, 'secret-define', xml);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  options.cleanup?.add(`secret ${uuid}`, () =>
    virshOn(uri, 'secret-undefine', uuid).then(
      () => undefined,
      () => undefined,
    ),
  );
  if (options.passphrase) await setSecretValue(uuid, options.passphrase, uri);
}

/** True when `bytes` holds a run of 512 bytes of `pattern` (what a written cluster shows in plain text). */
export const holdsPattern = (bytes: Buffer, pattern: number): boolean =>
  bytes.includes(Buffer.alloc(512, pattern));

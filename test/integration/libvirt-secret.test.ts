// Secrets through the binding, against the real cephx secret scripts/ceph defined: lookups by UUID
// and by usage, the value (the key file's base64 text, decoded: libvirt stores the raw key), not-found and freed-handle errors, a private
// secret's error, and a debug log that names the call but never the value.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  LibvirtError,
  isFreedHandle,
  isLibvirtError,
  isLibvirtNotFound,
  type Connection,
  type SecretUsageType,
} from '../../src/libvirt';
import { addLogFile } from '../../src/log';
import { Cleanup, openSystemConnection, uniqueName } from '../support';
import { cephEnv } from '../support/ceph';

const run = promisify(execFile);

jest.setTimeout(60_000);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('libvirt secrets (the Ceph test cluster’s secret)', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let uuid: string;
  let usage: string;
  /** The key file's base64 text, as `ceph auth get-key` printed it. */
  let keyText: string;
  /** What libvirt holds: `secret-set-value --file` stored the decoded bytes of that text. */
  let key: Buffer;

  beforeAll(async () => {
    const env = await cephEnv();
    uuid = env.VOLBACK_CEPH_SECRET_UUID;
    usage = env.VOLBACK_CEPH_SECRET_USAGE;
    keyText = fs.readFileSync(env.VOLBACK_CEPH_KEY_FILE, 'utf8').trim();
    key = Buffer.from(keyText, 'base64');
    expect(key.length).toBeGreaterThanOrEqual(16);
    expect(key.toString('base64')).toBe(keyText);
    conn = cleanup.connection(await openSystemConnection());
  });

  afterAll(() => cleanup.run());

  it('looks a secret up by UUID and reads its XML and value', async () => {
    const secret = await conn.lookupSecretByUUID(uuid);
    try {
      expect(await secret.getUUIDString()).toBe(uuid);
      const xml = await secret.getXMLDesc();
      expect(xml).toContain("<usage type='ceph'>");
      expect(xml).toContain(`<name>${usage}</name>`);
      expect(xml).not.toContain(keyText);
      const value = await secret.getValue();
      expect(Buffer.isBuffer(value)).toBe(true);
      expect(value.equals(key)).toBe(true);
    } finally {
      secret.free();
    }
  });

  it('looks the same secret up by its ceph usage', async () => {
    const secret = await conn.lookupSecretByUsage('ceph', usage);
    try {
      expect(await secret.getUUIDString()).toBe(uuid);
      expect((await secret.getValue()).equals(key)).toBe(true);
    } finally {
      secret.free();
    }
  });

  it('rejects an unknown UUID or usage with a not-found LibvirtError', async () => {
    for (const err of [
      await rejection(conn.lookupSecretByUUID(randomUUID())),
      await rejection(conn.lookupSecretByUsage('ceph', uniqueName('no-such-usage'))),
    ]) {
      expect(err).toBeInstanceOf(LibvirtError);
      expect(isLibvirtError(err, 'VIR_ERR_NO_SECRET')).toBe(true);
      expect(isLibvirtNotFound(err)).toBe(true);
      expect((err as LibvirtError).fault).toBe('user');
    }
  });

  it('refuses an unknown usage type before calling libvirt', async () => {
    await expect(conn.lookupSecretByUsage('cephx' as SecretUsageType, usage)).rejects.toThrow(TypeError);
  });

  it('rejects calls on a freed handle', async () => {
    const secret = await conn.lookupSecretByUUID(uuid);
    secret.free();
    secret.free(); // idempotent
    const err = await rejection(secret.getValue());
    expect(isFreedHandle(err)).toBe(true);
    expect((err as Error).message).toContain('secret handle has already been freed');
  });

  it('says how to fix a private secret, which no client can read', async () => {
    const privateUuid = randomUUID();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vbt-secret-'));
    cleanup.add(`secret ${privateUuid}`, async () => {
      fs.rmSync(dir, { recursive: true, force: true });
      await run('virsh', ['-q', '-c', 'qemu:///system', 'secret-undefine', privateUuid]).catch(
        () => undefined,
      );
    });
    const xml = path.join(dir, 'secret.xml');
    fs.writeFileSync(
      xml,
      `<secret ephemeral='no' private='yes'><uuid>${privateUuid}</uuid>` +
        `<usage type='ceph'><name>${uniqueName('private')}</name></usage></secret>`,
    );
    fs.writeFileSync(path.join(dir, 'value'), Buffer.from('not a real key').toString('base64'));
    await run('virsh', ['-q', '-c', 'qemu:///system', 'secret-define', xml]);
    await run('virsh', [
      '-q',
      '-c',
      'qemu:///system',
      'secret-set-value',
      privateUuid,
      '--file',
      path.join(dir, 'value'),
    ]);
    const secret = await conn.lookupSecretByUUID(privateUuid);
    try {
      const err = await rejection(secret.getValue());
      expect(isLibvirtError(err, 'VIR_ERR_INVALID_SECRET')).toBe(true);
      expect(isFreedHandle(err)).toBe(true); // libvirt's code is the same: the hint tells them apart
      expect((err as LibvirtError).hint).toContain("private='no'");
      expect((err as Error).message).toContain(privateUuid);
    } finally {
      secret.free();
    }
  });

  it('debug-logs the secret calls without the value', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vbt-secret-log-'));
    const file = path.join(dir, 'debug.log');
    const detach = addLogFile(file, 'debug');
    try {
      const secret = await conn.lookupSecretByUsage('ceph', usage);
      const value = await secret.getValue();
      secret.free();
      expect(value.equals(key)).toBe(true);
    } finally {
      detach();
    }
    await new Promise((r) => setTimeout(r, 200)); // the file transport writes asynchronously
    const log = fs.readFileSync(file, 'utf8');
    fs.rmSync(dir, { recursive: true, force: true });
    expect(log).toContain('virSecretLookupByUsage');
    expect(log).toContain('virSecretGetValue');
    expect(log).not.toContain(keyText);
    expect(log).not.toContain(key.toString('hex'));
    expect(log).not.toContain(JSON.stringify([...key]).slice(1, -1));
  });
});

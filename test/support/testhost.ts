// The LVM test host (scripts/testhost): its URIs, pool names, and a connection that fails with the fix.
import { execFile, spawn } from 'child_process';
import net from 'net';
import path from 'path';
import { promisify } from 'util';
import fs from 'fs';
import { Connection, virDomainCreateFlags, type Domain, type StoragePool } from '../../src/libvirt';
import type { Cleanup } from './cleanup';
import { assertLane } from './lanes';
import { REPO_ROOT } from './ts-child';

const run = promisify(execFile);

/** The logical pool inside the test host, named like its volume group. */
export const TESTHOST_VG = process.env.VOLBACK_TESTHOST_VG ?? 'testvg';

/** The dir pool inside the test host. */
export const TESTHOST_DIR_POOL = process.env.VOLBACK_TESTHOST_DIR_POOL ?? 'testdir';

/** What a test says when the test host is not there. */
export const TESTHOST_FIX =
  'Run `scripts/testhost start` as root (it builds the image first when none is cached, about 2 minutes) ' +
  'and re-run the tests.';

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'testhost');

/** Runs `scripts/testhost ARGS` (same VOLBACK_TESTHOST_* environment) and returns its stdout, trimmed. */
export async function testHost(...args: string[]): Promise<string> {
  assertLane('testhost', 'this suite uses the LVM test host');
  const { stdout } = await run('bash', [SCRIPT, ...args]);
  return stdout.trim();
}

/** qemu+tcp://127.0.0.1:PORT/system, as the script computes it. */
export const testHostUri = (): Promise<string> => testHost('uri');

/** qemu+ssh://root@127.0.0.1:SSHPORT/system?keyfile=…, verified against the image's host key. */
export const testHostSshUri = (): Promise<string> => testHost('ssh-uri');

/**
 * Opens a connection to the test host (its tcp URI unless `uri` is given). If it does not
 * answer, throws an Error that names `scripts/testhost start`: tests fail with the fix, never skip.
 */
export async function openTestHost(uri?: string): Promise<Connection> {
  assertLane('testhost', 'this suite uses the LVM test host');
  const target = uri ?? (await testHostUri());
  try {
    return await Connection.open(target);
  } catch (err) {
    throw new Error(
      `the LVM test host does not answer at ${target} (${err instanceof Error ? err.message : String(err)}). ` +
        TESTHOST_FIX,
      { cause: err },
    );
  }
}

/**
 * Forwards a free local port to `port` on the test host's loopback through its sshd (as an admin
 * reaches a loopback-bound NBD export on a remote host), until `close`.
 */
export async function testHostTunnel(port: number): Promise<{ localPort: number; close(): void }> {
  const uri = new URL(await testHostSshUri());
  const wrapper = uri.searchParams.get('command')!;
  const keyfile = uri.searchParams.get('keyfile')!;
  const localPort = await new Promise<number>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address() as net.AddressInfo;
      probe.close(() => resolve(address.port));
    });
  });
  const child = spawn(
    wrapper,
    [
      '-i',
      keyfile,
      '-p',
      uri.port,
      '-N',
      '-o',
      'ExitOnForwardFailure=yes',
      '-L',
      `${localPort}:127.0.0.1:${port}`,
      `root@${uri.hostname}`,
    ],
    { stdio: 'ignore' },
  );
  const close = (): void => void child.kill();
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(localPort, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return { localPort, close };
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  close();
  throw new Error(`no ssh tunnel to port ${port} of the test host`);
}

/**
 * A local dir pool as another host sees it: a dir pool of the same name on the test host (through
 * `remote`), at the same path, holding a copy of the directory's files (an incremental names its
 * parent by path). Removed with its files by `cleanup`. Returns the pool, refreshed and checked.
 */
export async function mirrorPoolOnTestHost(
  remote: Connection,
  cleanup: Cleanup,
  name: string,
  poolPath: string,
): Promise<StoragePool> {
  const pool = await remote.defineStoragePool(
    `<pool type='dir'><name>${name}</name><target><path>${poolPath}</path></target></pool>`,
  );
  cleanup.pool(pool, { deleteVolumes: true, deleteStorage: true });
  await pool.build();
  await pool.create();
  await run('bash', ['-c', `tar -C '${poolPath}' -cf - . | '${SCRIPT}' ssh "tar -C '${poolPath}' -xf -"`]);
  await pool.refresh();
  const copied = (await pool.listVolumeNames()).sort();
  const local = fs.readdirSync(poolPath).sort();
  if (copied.join('\n') !== local.join('\n'))
    throw new Error(`the test host's pool ${name} lists [${copied.join(', ')}], not [${local.join(', ')}]`);
  return pool;
}

/**
 * Starts a defined test domain on the test host, paused. An OS-less guest that runs there idles in
 * SeaBIOS under nested TCG, which costs the test host (one vCPU, emulated) 14–23 % of a host CPU per
 * domain, measured; paused it costs under 1 %. Everything the tests do to it goes through QEMU's
 * block layer (backups, checkpoints, HMP qemu-io writes, NBD exports), which works the same paused.
 */
export async function startPausedOnTestHost(domain: Domain): Promise<void> {
  await domain.create(virDomainCreateFlags.VIR_DOMAIN_START_PAUSED);
}

// The second libvirt host (scripts/secondhost): its URI, a connection that fails with the fix, and
// volback's CLI run "as host 2" — in host 2's mount namespace, with host 2's own local state.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '../../src/libvirt';
import { REPO_ROOT } from './ts-child';

const run = promisify(execFile);

/** What a test says when the second host is not there. */
export const SECONDHOST_FIX =
  'Run `scripts/ceph start` and then `scripts/secondhost start` (as root; `scripts/setup --for-tests` runs both) ' +
  'and re-run the tests.';

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'secondhost');
const BIN = path.join(REPO_ROOT, 'dist/src/cli/main.js');

/** `scripts/secondhost env`: where host 2 lives and what volback keeps locally as host 2. */
export interface SecondHostEnv {
  /** The project-owned directory of everything host 2 has. */
  dir: string;
  /** `qemu:///system?socket=DIR/run/libvirt-sock`. */
  uri: string;
  socket: string;
  /** host_uuid of host 2's libvirtd.conf (host 1 has another). */
  hostUuid: string;
  /** volback's VOLBACK_STATE_DIR as host 2 (host key, replaced-domain records). */
  stateDir: string;
  /** Parent of volback's lock and NBD socket directories, and of its temporary files, as host 2. */
  runDir: string;
  /** volback's config file as host 2: empty, so volback runs on its defaults there. */
  configFile: string;
}

/** Runs `scripts/secondhost ARGS` and returns its stdout, trimmed; a failure carries its output and the fix. */
export async function secondHost(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('bash', [SCRIPT, ...args], { timeout: 240_000 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `the second libvirt host is not usable: \`scripts/secondhost ${args.join(' ')}\` failed:\n` +
        `${e.stdout ?? ''}${e.stderr ?? e.message}\n${SECONDHOST_FIX}`,
      { cause: err },
    );
  }
}

/** `KEY=value` lines as a record. Pure. */
export function parseEnvLines(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/** Host 2's settings, from `scripts/secondhost env`. */
export async function secondHostEnv(): Promise<SecondHostEnv> {
  const e = parseEnvLines(await secondHost('env'));
  const get = (key: string): string => {
    const v = e[key];
    if (!v) throw new Error(`scripts/secondhost env prints no ${key}. ${SECONDHOST_FIX}`);
    return v;
  };
  return {
    dir: get('VOLBACK_SECONDHOST_DIR'),
    uri: get('VOLBACK_SECONDHOST_URI'),
    socket: get('VOLBACK_SECONDHOST_SOCKET'),
    hostUuid: get('VOLBACK_SECONDHOST_UUID'),
    stateDir: get('VOLBACK_SECONDHOST_STATE_DIR'),
    runDir: get('VOLBACK_SECONDHOST_RUN_DIR'),
    configFile: get('VOLBACK_SECONDHOST_CONFIG'),
  };
}

/** Host 2's URI, as the script computes it. */
export const secondHostUri = (): Promise<string> => secondHost('uri');

/**
 * Opens a connection to host 2. If it does not answer, throws an Error naming `scripts/secondhost
 * start`: tests fail with the fix, never skip. The caller closes it.
 */
export async function openSecondHost(uri?: string): Promise<Connection> {
  const target = uri ?? (await secondHostUri());
  try {
    return await Connection.open(target);
  } catch (err) {
    throw new Error(
      `the second libvirt host does not answer at ${target} (${err instanceof Error ? err.message : String(err)}). ` +
        SECONDHOST_FIX,
      { cause: err },
    );
  }
}

/** The pid of host 2's libvirtd: its mount namespace is host 2's file system view. */
function secondHostLibvirtdPid(env: SecondHostEnv): number {
  const file = path.join(env.dir, 'libvirtd.pid');
  const pid = Number(fs.readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'libvirtd')
    throw new Error(`${file} names no running libvirtd. ${SECONDHOST_FIX}`);
  return pid;
}

/**
 * The environment of a volback process on host 2: everything volback keeps on the local machine goes
 * to host 2's directories (host key and replaced-domain records, job locks, NBD sockets, temporary
 * files), its config file is host 2's (empty: defaults), and its default URI is host 2's. Pure.
 */
export function host2Environment(
  env: SecondHostEnv,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return {
    ...base,
    VOLBACK_STATE_DIR: env.stateDir,
    VOLBACK_LOCK_DIR: path.join(env.runDir, 'locks'),
    VOLBACK_NBD_DIR: path.join(env.runDir, 'nbd'),
    VOLBACK_CONFIG: env.configFile,
    LIBVIRT_DEFAULT_URI: env.uri,
    TMPDIR: path.join(env.runDir, 'tmp'),
    VOLBACK_LOG_LEVEL: undefined,
  };
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` (argv) as a program on host 2 would run: inside host 2's mount namespace (nsenter),
 * so a path it reads itself — a dir pool's file under /var/lib/libvirt, /etc/libvirt/qemu.conf — is
 * host 2's, not host 1's, and with host 2's local state (host2Environment). Killed after `timeoutMs`
 * (exit code null).
 */
export async function runAsHost2(
  command: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  const env = await secondHostEnv();
  const pid = secondHostLibvirtdPid(env);
  const childEnv = { ...host2Environment(env), ...opts.env };
  fs.mkdirSync(childEnv.TMPDIR as string, { recursive: true, mode: 0o700 });
  return new Promise((resolve, reject) => {
    // --wd: entering a mount namespace moves a process to its root; keep the repository as cwd
    const child = spawn('nsenter', ['-t', String(pid), '-m', `--wd=${REPO_ROOT}`, '--', ...command], {
      cwd: REPO_ROOT,
      env: childEnv,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  });
}

/**
 * Runs the built `volback` CLI as host 2 (runAsHost2) with `--connect <host 2's URI>`. `dist/` must
 * be built (`npm run build:ts`).
 */
export async function volbackAsHost2(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: build with \`npm run build:ts\``);
  return runAsHost2([process.execPath, BIN, ...args, '--connect', await secondHostUri()], opts);
}

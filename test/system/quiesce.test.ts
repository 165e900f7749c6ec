// Application-consistent backups against a real guest OS running qemu-guest-agent (one boot for the
// whole file): files written and not synced are in the backup, with either engine; the guest is
// thawed after a copy failure, a cancel and a SIGKILL of volback (the watchdog's bound, measured);
// a run whose watchdog died too is thawed by the next one; with the agent stopped, `try` records a
// crash-consistent set with the reason and `require` fails with nothing created.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBackup, type BackupDefaults } from '../../src/core/backup/coordinator';
import { freezeRecordPath } from '../../src/core/backup/quiesce';
import { repair } from '../../src/core/removal/repair';
import { ErrorCodes } from '../../src/errors';
import type { Connection } from '../../src/libvirt';
import type { BackupDefinition, BackupSet, QuiesceRequest } from '../../src/model';
import {
  Cleanup,
  REPO_ROOT,
  backupLocation,
  openSystemConnection,
  poolVolumeNames,
  tsChildArgs,
} from '../support';
import { freezeStatus, guestExec, startAgentGuest, type AgentGuest } from '../support/agent-guest';

jest.setTimeout(900_000);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Only the data disk: the root disk's backing image is the cached base, not what is tested here. */
const definition = (kind: 'full' | 'incremental', quiesce: QuiesceRequest): BackupDefinition => ({
  mode: 'push',
  kind,
  disks: [{ name: 'vda', backup: false }],
  quiesce,
});

/** A file the guest writes and never syncs: it is in the guest's page cache only. */
async function writeUnsynced(guest: AgentGuest, name: string, text: string): Promise<void> {
  const r = await guestExec(guest.domain, ['/bin/sh', '-c', `printf '%s' '${text}' > /data/${name}`]);
  expect(r.exitcode).toBe(0);
}

/** The file `name` of the ext4 in a backup's vdb chain, read with debugfs from a raw copy. */
function readFromBackup(conn: Connection, volumePath: string, name: string): string {
  const raw = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'volback-quiesce-')), 'vdb.raw');
  try {
    execFileSync('qemu-img', ['convert', '-q', '-O', 'raw', volumePath, raw]);
    return execFileSync('debugfs', ['-R', `cat /${name}`, raw], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } finally {
    fs.rmSync(path.dirname(raw), { recursive: true, force: true });
  }
}

async function volumePath(conn: Connection, set: BackupSet): Promise<string> {
  const vol = set.disks.find((d) => d.target === 'vdb')!.volume!;
  const pool = await conn.lookupStoragePoolByName(vol.pool);
  try {
    await pool.refresh();
    const v = await pool.lookupVolumeByName(vol.name);
    try {
      return await v.getPath();
    } finally {
      v.free();
    }
  } finally {
    pool.free();
  }
}

/** Polls the agent until the guest is thawed (`tolerant`: through agent errors); the ms it took, or throws after `limitMs`. */
async function msUntilThawed(name: string, limitMs: number, tolerant = false): Promise<number> {
  const t0 = Date.now();
  const status = (): string => {
    try {
      return freezeStatus(name);
    } catch (err) {
      if (!tolerant) throw err;
      return 'no answer';
    }
  };
  while (status() !== 'thawed') {
    if (Date.now() - t0 > limitMs) throw new Error(`${name} still frozen after ${limitMs} ms`);
    await sleep(50);
  }
  return Date.now() - t0;
}

/** Waits (while a run holds the guest frozen, VOLBACK_TEST_HOLD_FROZEN_MS) until the agent says frozen. */
async function untilFrozen(name: string): Promise<void> {
  const t0 = Date.now();
  while (freezeStatus(name) !== 'frozen') {
    if (Date.now() - t0 > 60_000) throw new Error(`${name} never frozen`);
    await sleep(50);
  }
}

// A backup in a child process (so it can die without clean-up): args uri, domain, pool, path, lockDir,
// and optionally the JSON of its QuiesceSettings.
const CHILD = `
const [uri, domain, pool, dir, lockDir, quiesce] = process.argv.slice(1);
(async () => {
  const { Connection } = require('./src/libvirt');
  const { createBackup } = require('./src/core/backup/coordinator');
  const conn = await Connection.open(uri);
  await createBackup(conn, domain, {
    defaults: { pool, path: dir, format: 'qcow2', ...(quiesce ? { quiesce: JSON.parse(quiesce) } : {}) }, lockDir,
    definition: { mode: 'push', kind: 'full', disks: [{ name: 'vda', backup: false }], quiesce: { mode: 'require', mountpoints: [] } },
  });
  process.stdout.write('finished\\n');
})().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\\n'); process.exit(1); });
`;

describe('application-consistent backups through the guest agent', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let guest: AgentGuest;
  let defaults: BackupDefaults;
  let lockDir: string;
  const holdEnv = process.env.VOLBACK_TEST_HOLD_FROZEN_MS;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    guest = await startAgentGuest(conn, cleanup);
    console.log(
      `agent guest ${guest.name}: ${guest.virtType}, agent and /data up after ${guest.bootSeconds} s`,
    );
    ({ defaults, lockDir } = backupLocation(conn, cleanup));
  });
  // Each case starts from a thawed guest, so that "frozen" is always this case's freeze.
  beforeEach(() => expect(freezeStatus(guest.name)).toBe('thawed'));
  afterEach(() => {
    delete process.env.VOLBACK_TEST_STALL_BEFORE_FREEZE_MS;
    if (holdEnv === undefined) delete process.env.VOLBACK_TEST_HOLD_FROZEN_MS;
    else process.env.VOLBACK_TEST_HOLD_FROZEN_MS = holdEnv;
  });
  afterAll(() => cleanup.run());

  const backup = (kind: 'full' | 'incremental', quiesce: QuiesceRequest, extra: object = {}) =>
    createBackup(conn, guest.name, { defaults, lockDir, definition: definition(kind, quiesce), ...extra });

  test('unsynced files are in a full (QMP engine) and an incremental (libvirt job); freeze window recorded', async () => {
    await writeUnsynced(guest, 'full-1', 'written before the full, never synced');
    const full = await backup('full', { mode: 'require', mountpoints: [] });
    expect(full.set.consistency).toMatchObject({ kind: 'application' });
    expect(full.set.consistency!.filesystems).toBeGreaterThanOrEqual(2);
    expect(freezeStatus(guest.name)).toBe('thawed');
    expect(readFromBackup(conn, await volumePath(conn, full.set), 'full-1')).toBe(
      'written before the full, never synced',
    );

    await writeUnsynced(guest, 'incr-1', 'written before the incremental, never synced');
    const incr = await backup(
      'incremental',
      { mode: 'try', mountpoints: ['/data'] },
      { backupEngine: 'libvirt' },
    );
    expect(incr.set.kind).toBe('incremental');
    expect(incr.set.consistency).toMatchObject({
      kind: 'application',
      filesystems: 1,
      mountpoints: ['/data'],
    });
    expect(freezeStatus(guest.name)).toBe('thawed');
    const top = await volumePath(conn, incr.set);
    expect(readFromBackup(conn, top, 'incr-1')).toBe('written before the incremental, never synced');
    expect(readFromBackup(conn, top, 'full-1')).toBe('written before the full, never synced');
    console.log(
      `freeze → copy started → thaw: full (QMP) ${full.set.consistency!.freezeMs} ms, incremental (libvirt) ${incr.set.consistency!.freezeMs} ms`,
    );
    expect(fs.existsSync(freezeRecordPath(await guest.domain.getUUIDString(), lockDir))).toBe(false);
  });

  test('a copy that fails to start leaves the guest thawed and nothing in the pool', async () => {
    const before = await poolVolumeNames(conn, defaults.pool);
    process.env.VOLBACK_TEST_HOLD_FROZEN_MS = '3000';
    const run = backup('full', { mode: 'require', mountpoints: [] }, { backupEngine: 'qmp' });
    const failed = run.then(
      () => undefined,
      (e: Error) => e,
    );
    try {
      await untilFrozen(guest.name);
      // While frozen, before the transaction: the run's target node goes, so the copy cannot start.
      const nodes = await guest.domain.qmp<Array<{ 'node-name': string }>>('query-named-block-nodes', {
        flat: true,
      });
      const target = nodes.find(
        (n) => n['node-name'].startsWith('volback-') && n['node-name'].endsWith('-vdb'),
      );
      expect(target).toBeDefined();
      await guest.domain.qmp('blockdev-del', { 'node-name': target!['node-name'] });
    } finally {
      await failed;
    }
    const err = await failed;
    expect(err).toBeInstanceOf(Error);
    expect(freezeStatus(guest.name)).toBe('thawed');
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);
  });

  test('a cancel while frozen thaws, creates nothing, and says cancelled', async () => {
    const before = await poolVolumeNames(conn, defaults.pool);
    process.env.VOLBACK_TEST_HOLD_FROZEN_MS = '3000';
    const abort = new AbortController();
    const failed = backup('full', { mode: 'require', mountpoints: [] }, { signal: abort.signal }).then(
      () => undefined,
      (e: { code?: string }) => e,
    );
    await untilFrozen(guest.name);
    abort.abort();
    expect((await failed)?.code).toBe(ErrorCodes.CANCELLED);
    expect(freezeStatus(guest.name)).toBe('thawed');
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);
  });

  /** CHILD's backup of the guest, with `env` added (test hooks) and `quiesce` settings when given. */
  const spawnBackupChildOf = (env: Record<string, string>, quiesce?: object): ChildProcess =>
    spawn(
      process.execPath,
      tsChildArgs(CHILD, [
        'qemu:///system',
        guest.name,
        defaults.pool,
        defaults.path,
        lockDir,
        ...(quiesce ? [JSON.stringify(quiesce)] : []),
      ]),
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
    );

  /** Runs CHILD's backup until it ends: the signal that ended it, and its stderr when no signal did. */
  async function crashedBackupChild(
    env: Record<string, string>,
    quiesce?: object,
  ): Promise<{ signal: string | null; stderr: string }> {
    const child = spawnBackupChildOf(env, quiesce);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const signal = await new Promise<string | null>((resolve) =>
      child.on('exit', (_code, sig) => resolve(sig)),
    );
    return { signal, stderr: signal ? '' : stderr };
  }

  test('volback SIGKILLed while the guest is frozen: its watchdog thaws at once (measured)', async () => {
    expect(await crashedBackupChild({ VOLBACK_TEST_CRASH_AT: 'backup-frozen' })).toEqual({
      signal: 'SIGKILL',
      stderr: '',
    });
    // The crash point fires right after the freeze returned: the guest was frozen when volback died.
    const ms = await msUntilThawed(guest.name, 60_000);
    console.log(
      `SIGKILL of volback with the guest frozen: thawed by the watchdog ${ms} ms after volback died`,
    );
    expect(ms).toBeLessThan(15_000);
    // The watchdog removed the freeze record after it thawed; the next run goes ahead as usual.
    const uuid = await guest.domain.getUUIDString();
    for (let i = 0; i < 50 && fs.existsSync(freezeRecordPath(uuid, lockDir)); i++) await sleep(100);
    expect(fs.existsSync(freezeRecordPath(uuid, lockDir))).toBe(false);
  });

  test("the watchdog's deadline passes before the freeze call (volback stalled): the late freeze is undone, and thawed after volback's death too", async () => {
    // 20 s bound, 3 s agent calls: the freeze is asked for with the bound checked, then volback stalls
    // 23 s (VOLBACK_TEST_STALL_BEFORE_FREEZE_MS) so the watchdog's deadline passes before the call.
    const settings = { mode: 'require' as const, timeoutSeconds: 3, maxFreezeSeconds: 20 };
    const stall = '23000';
    const before = await poolVolumeNames(conn, defaults.pool);
    process.env.VOLBACK_TEST_STALL_BEFORE_FREEZE_MS = stall;
    const err = await backup(
      'full',
      { mode: 'require', mountpoints: [] },
      { defaults: { ...defaults, quiesce: settings } },
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    delete process.env.VOLBACK_TEST_STALL_BEFORE_FREEZE_MS;
    // volback lives: the freeze came after the bound, so it is thawed and `require` fails.
    expect(err?.message).toMatch(
      /quiesce require\): the freeze returned \d+ s after it began, past the 20 s bound/,
    );
    expect(freezeStatus(guest.name)).toBe('thawed');
    // Nothing new (a leftover of the previous case's killed run may have been swept by this one).
    const after = await poolVolumeNames(conn, defaults.pool);
    expect(after.filter((v) => !before.includes(v))).toEqual([]);

    // volback dies right after the late freeze: the watchdog, which thawed at its deadline, is still
    // there (it waits for the freeze call to return) and thaws once more.
    const crashed = await crashedBackupChild(
      { VOLBACK_TEST_STALL_BEFORE_FREEZE_MS: stall, VOLBACK_TEST_CRASH_AT: 'backup-frozen' },
      settings,
    );
    expect(crashed).toEqual({ signal: 'SIGKILL', stderr: '' });
    const ms = await msUntilThawed(guest.name, 60_000);
    console.log(
      `freeze past the watchdog's deadline, volback SIGKILLed after it: thawed ${ms} ms after volback died`,
    );
    expect(ms).toBeLessThan(15_000);
    const uuid = await guest.domain.getUUIDString();
    for (let i = 0; i < 50 && fs.existsSync(freezeRecordPath(uuid, lockDir)); i++) await sleep(100);
    expect(fs.existsSync(freezeRecordPath(uuid, lockDir))).toBe(false);
  });

  /** A backup in a child, held frozen; then it and its watchdog SIGKILLed: the guest stays frozen. */
  async function killBothWhileFrozen(uuid: string): Promise<void> {
    const child = spawnBackupChildOf({ VOLBACK_TEST_HOLD_FROZEN_MS: '60000' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    await untilFrozen(guest.name);
    const record = JSON.parse(fs.readFileSync(freezeRecordPath(uuid, lockDir), 'utf8')) as {
      watchdogPid: number;
      pid: number;
    };
    expect(record.pid).toBe(child.pid);
    process.kill(record.watchdogPid, 'SIGKILL');
    child.kill('SIGKILL');
    await exited;
    await sleep(2000);
    expect(freezeStatus(guest.name)).toBe('frozen');
  }

  test('volback and its watchdog both killed: repair, or else the next backup, thaws from the freeze record', async () => {
    const uuid = await guest.domain.getUUIDString();
    await killBothWhileFrozen(uuid);
    const result = await repair(conn, { domain: guest.name, lockDir, pools: [defaults.pool] });
    expect(result.removed).toContainEqual(
      expect.objectContaining({ kind: 'frozen-guest', domain: guest.name }),
    );
    expect(freezeStatus(guest.name)).toBe('thawed');
    expect(fs.existsSync(freezeRecordPath(uuid, lockDir))).toBe(false);

    // No repair this time: the next backup of the domain thaws first, then takes its own frozen instant.
    await killBothWhileFrozen(uuid);
    const next = await backup('full', { mode: 'require', mountpoints: [] });
    expect(next.set.consistency?.kind).toBe('application');
    expect(freezeStatus(guest.name)).toBe('thawed');
    expect(fs.existsSync(freezeRecordPath(uuid, lockDir))).toBe(false);
  });

  test('Ctrl-C of `volback backup create --quiesce require` while frozen: exit 130, thawed, nothing created', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-quiesce-cli-'));
    try {
      const config = path.join(dir, 'volback.conf');
      fs.writeFileSync(
        config,
        `default_pool = "${defaults.pool}"\ndefault_pool_path = "${defaults.path}"\ndefault_pool_layout = "single"\n`,
      );
      const def = path.join(dir, 'def.xml');
      fs.writeFileSync(def, "<volbackup><disks><disk name='vda' backup='no'/></disks></volbackup>");
      const before = await poolVolumeNames(conn, defaults.pool);
      const cli = `require('./src/cli/main').main(process.argv.slice(1)).then((code) => process.exit(code));`;
      const child = spawn(
        process.execPath,
        tsChildArgs(cli, [
          'backup',
          'create',
          guest.name,
          '--definition',
          def,
          '--quiesce',
          'require',
          '--full',
        ]),
        {
          cwd: REPO_ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...process.env,
            VOLBACK_CONFIG: config,
            VOLBACK_LOCK_DIR: lockDir,
            VOLBACK_TEST_HOLD_FROZEN_MS: '5000',
          },
        },
      );
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await untilFrozen(guest.name);
      child.kill('SIGINT');
      expect({ code: await exited, stderr }).toEqual({
        code: 130,
        stderr: expect.stringContaining('interrupted'),
      });
      expect(freezeStatus(guest.name)).toBe('thawed');
      expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an agent that stops answering: try falls back after quiesce_timeout, and the late freeze is thawed', async () => {
    // The agent stops itself for 20 s (its channel stays connected): the freeze is not answered in time,
    // and the agent carries it out once it runs again; the watchdog's retries thaw it then.
    // Only started, not waited for: asking a stopped agent for the command's status would take 10 s
    // of the 20 (under load, the backup then reached its freeze after the agent ran again).
    const t0 = Date.now();
    await guest.domain.agentCommand(
      'guest-exec',
      { path: '/bin/sh', arg: ['-c', '(sleep 20; kill -CONT $PPID) >/dev/null 2>&1 & kill -STOP $PPID'] },
      10,
    );
    const tried = await backup(
      'full',
      { mode: 'try', mountpoints: [] },
      { defaults: { ...defaults, quiesce: { mode: 'try', timeoutSeconds: 3, maxFreezeSeconds: 60 } } },
    );
    expect(tried.set.consistency?.kind).toBe('crash');
    expect(tried.set.consistency?.reason).toMatch(/^the guest agent did not freeze: /);
    console.log(
      `agent not answering: fell back after ${Date.now() - t0} ms: ${tried.set.consistency?.reason}`,
    );
    // Past the agent's stop and the watchdog's retries, the guest is thawed, and stays so.
    await sleep(Math.max(0, 30_000 - (Date.now() - t0)));
    const ms = await msUntilThawed(guest.name, 60_000, true);
    await sleep(5000);
    expect(freezeStatus(guest.name)).toBe('thawed');
    console.log(
      `agent not answering: thawed, checked ${Math.round((Date.now() - t0) / 1000)} s after the backup began (${ms} ms of polling)`,
    );
  });

  test('agent stopped in the guest: try records crash with the reason, require fails and creates nothing', async () => {
    // The agent runs this and is stopped by it: its answer may never come.
    await guestExec(guest.domain, ['/bin/systemctl', '--no-block', 'stop', 'qemu-guest-agent']).catch(
      () => undefined,
    );
    for (let i = 0; i < 100 && !/state='disconnected'/.test(await guest.domain.getXMLDesc()); i++)
      await sleep(200);
    expect(await guest.domain.getXMLDesc()).toMatch(/org\.qemu\.guest_agent\.0' state='disconnected'/);

    const before = await poolVolumeNames(conn, defaults.pool);
    const err = await backup('full', { mode: 'require', mountpoints: [] }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toContain('not connected');
    expect(await poolVolumeNames(conn, defaults.pool)).toEqual(before);

    const tried = await backup('full', { mode: 'try', mountpoints: [] });
    expect(tried.set.consistency).toEqual({
      kind: 'crash',
      reason: 'the guest agent is not connected (not running in the guest)',
    });
    // The catalog reads the same back from the pool.
    const { findBackupSet } = await import('../../src/index');
    const listed = await findBackupSet(conn, tried.set.id);
    expect(listed.set.consistency).toEqual(tried.set.consistency);
  });
});

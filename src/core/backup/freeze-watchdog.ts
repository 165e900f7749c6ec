// The freeze watchdog: a small detached process, started before volback freezes a guest, that thaws
// the guest as soon as volback is gone (its IPC channel closes: exit, crash, SIGKILL) or once the
// freeze bound has passed, unless volback thawed first. Why a process: nothing in a process that is
// killed runs, so the bound must live outside it (docs/consistency.md, "The freeze bound").
// It never ends while volback's freeze call may still be out: a freeze that lands after a thaw at
// the deadline is thawed once volback says the call returned (or is gone).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, unlinkSync } from 'node:fs';
import { ErrorCodes, VolbackError } from '../../errors';
import { Connection, type Domain } from '../../libvirt';

/** What the watchdog needs, passed as argv (no secrets: a URI, a uuid, times, guest paths). */
export interface WatchdogArgs {
  uri: string;
  uuid: string;
  /** Epoch ms after which it thaws whatever volback does. */
  deadline: number;
  /** Seconds each agent call may take. */
  timeoutSeconds: number;
  /** The freeze record it removes once it thawed (only while the record names it). */
  recordPath: string;
}

/** How long the watchdog keeps retrying a thaw the agent refuses (each try bounded by the timeout). */
const THAW_RETRY_MS = 30_000;
/** How long volback waits for a new watchdog to be connected to libvirt and ready. */
const READY_TIMEOUT_MS = 20_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sources run by tests (ts-jest) are TypeScript: the child then transpiles them as it loads them. */
const TS_HOOK = `
const ts = require('typescript');
const fs = require('fs');
require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(outputText, filename);
};
`;

/** The running watchdog, seen from volback. */
export interface Watchdog {
  pid: number;
  /** volback's freeze call returned (either way): no freeze of this run can land after this. */
  freezeReturned(): void;
  /** volback thawed the guest itself (or never froze it): the watchdog ends without touching it. */
  release(): void;
  /** volback could not thaw: the watchdog thaws now (and retries), volback goes on. */
  abandon(): void;
}

/**
 * Starts the watchdog and resolves once it is connected to libvirt and holds the domain, so that a
 * freeze after this point is always bounded. Rejects (the child killed) when it is not ready in time.
 */
export async function startWatchdog(args: WatchdogArgs): Promise<Watchdog> {
  const script =
    (__filename.endsWith('.ts') ? TS_HOOK : '') +
    `require(${JSON.stringify(__filename)}).watchdogMain(process.argv.slice(1));`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script, JSON.stringify(args)], {
    // Its own session: a Ctrl-C to volback's process group must not end it with volback.
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not ready after ${READY_TIMEOUT_MS / 1000} s`)),
        READY_TIMEOUT_MS,
      );
      child.once('message', (m) => {
        clearTimeout(timer);
        if (m === 'ready') resolve();
        else reject(new Error(String(m)));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exited (${code}) before it was ready`));
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw new VolbackError(
      ErrorCodes.JOB_FAILED,
      `the freeze watchdog did not start: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  child.removeAllListeners();
  const close = (): void => {
    if (child.connected) child.disconnect();
    child.unref();
  };
  // The channel closes only once the message is written: closed first, the watchdog would take the
  // disconnect for volback's death and thaw once more (harmless, but not what was meant).
  const end = (message?: string): void => {
    if (!child.connected) return;
    if (message) child.send(message, close);
    else close();
  };
  return {
    pid: child.pid!,
    freezeReturned: () => {
      if (child.connected) child.send('freeze-returned');
    },
    release: () => end('thawed'),
    abandon: () => end(),
  };
}

/** Thaws, retrying while the agent refuses, for THAW_RETRY_MS at most. True once thawed. */
async function thawWithRetries(domain: Domain, args: WatchdogArgs): Promise<boolean> {
  const until = Date.now() + THAW_RETRY_MS;
  for (;;) {
    try {
      await domain.setAgentResponseTimeout(args.timeoutSeconds);
      await domain.fsThaw(); // all: libvirt thaws no list
      return true;
    } catch {
      if (Date.now() > until) return false;
      await sleep(1000);
    }
  }
}

/** Removes the freeze record if it still names this watchdog (a later run may have written its own). */
function removeOwnRecord(path: string): void {
  try {
    const record = JSON.parse(readFileSync(path, 'utf8')) as { watchdogPid?: number };
    if (record.watchdogPid === process.pid) unlinkSync(path);
  } catch {
    // gone already, or unreadable: the next run looks at it
  }
}

/** The watchdog process's main: `argv[0]` is the JSON of WatchdogArgs. Never returns normally. */
export async function watchdogMain(argv: string[]): Promise<void> {
  const args = JSON.parse(argv[0]) as WatchdogArgs;
  let domain: Domain;
  try {
    const conn = await Connection.open(args.uri);
    domain = await conn.lookupDomainByUUID(args.uuid);
  } catch (err) {
    process.send?.(`cannot reach the domain: ${(err as Error).message}`);
    process.exit(1);
  }
  let settled = false;
  let freezeReturned = false;
  /** 'waiting': thawed at the deadline while volback's freeze call was still out. */
  let phase: 'armed' | 'thawing at the deadline' | 'waiting' = 'armed';
  const thawAndExit = async (): Promise<void> => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    const thawed = await thawWithRetries(domain, args);
    if (thawed) removeOwnRecord(args.recordPath);
    process.exit(thawed ? 0 : 1);
  };
  const atDeadline = async (): Promise<void> => {
    if (freezeReturned) return thawAndExit();
    // The freeze call may still land (volback stalled, libvirt queued it): thaw now, and once more
    // when it has returned, since it may have frozen after this thaw.
    phase = 'thawing at the deadline';
    await thawWithRetries(domain, args);
    phase = 'waiting';
    if (freezeReturned) await thawAndExit();
  };
  const timer = setTimeout(() => void atDeadline(), Math.max(0, args.deadline - Date.now()));
  process.on('message', (m) => {
    if (settled) return;
    if (m === 'freeze-returned') {
      freezeReturned = true;
      if (phase === 'waiting') void thawAndExit();
    } else if (m === 'thawed') {
      settled = true;
      process.exit(0);
    }
  });
  // volback is gone (or let go without thawing): thaw at once.
  process.on('disconnect', () => void thawAndExit());
  process.send?.('ready');
}

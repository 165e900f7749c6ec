// The per-domain job lock under real contention: many processes race for one domain's lock, round
// after round, and each holder logs enter/exit while it holds; some holders are SIGKILLed mid-hold.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT, tsChildArgs } from '../support/ts-child';

jest.setTimeout(180_000);

const CHILDREN = 12;
const ROUNDS = 60;
const KILL_ROUNDS = 8;

/**
 * One racer: on `try|hold ROUND AT HOLD_MS` it waits until AT (epoch ms, the same for every racer),
 * calls lockDomain once, and answers `@@ ROUND got|holding|busy PID|error MSG`. While holding it
 * appends `enter PID ROUND TOOK_OVER_FROM` and (try only) `exit PID ROUND` to the shared log; `hold`
 * never releases: the test kills it.
 */
const RACER = `
const [lockDir, uuid, logFile] = process.argv.slice(1);
const { appendFileSync } = require('fs');
const { lockDomain } = require('./src/core/shared/domain-lock');
const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const say = (s) => process.stdout.write('@@ ' + s + '\\n');
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, round, at, holdMs] = line.split(' ');
  while (Date.now() < Number(at));
  let lock;
  try {
    lock = lockDomain(uuid, 'race ' + round, lockDir);
  } catch (err) {
    const busy = /is busy: .*\\(pid (-?\\d+)/.exec(err.message);
    say(round + (busy ? ' busy ' + busy[1] : ' error ' + JSON.stringify(err.message)));
    return;
  }
  appendFileSync(logFile, 'enter ' + process.pid + ' ' + round + ' ' + (lock.tookOverFrom ? lock.tookOverFrom.pid : '-') + '\\n');
  if (cmd === 'hold') return say(round + ' holding');
  pause(Number(holdMs));
  appendFileSync(logFile, 'exit ' + process.pid + ' ' + round + '\\n');
  lock.release();
  say(round + ' got');
});
say('ready');
`;

interface Racer {
  child: ChildProcess;
  pid: number;
  next(): Promise<string>;
  exited: Promise<unknown>;
}

function startRacer(lockDir: string, uuid: string, logFile: string): Racer {
  const child = spawn(process.execPath, tsChildArgs(RACER, [lockDir, uuid, logFile]), {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('@@ ')) return;
    const waiter = waiting.shift();
    if (waiter) waiter(line.slice(3));
    else lines.push(line.slice(3));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    child,
    pid: child.pid!,
    exited,
    next: () =>
      new Promise<string>((resolve, reject) => {
        const line = lines.shift();
        if (line !== undefined) return resolve(line);
        const timer = setTimeout(
          () => reject(new Error(`racer ${child.pid} did not answer within 20 s; stderr: ${stderr}`)),
          20_000,
        );
        waiting.push((l) => {
          clearTimeout(timer);
          resolve(l);
        });
      }),
  };
}

/** What the shared log says: violations of "one holder at a time", and each enter's take-over source. */
function readLog(logFile: string): {
  overlaps: string[];
  enters: Array<{ pid: number; round: number; tookOverFrom?: number }>;
} {
  const overlaps: string[] = [];
  const enters: Array<{ pid: number; round: number; tookOverFrom?: number }> = [];
  const inside = new Set<number>();
  for (const line of readFileSync(logFile, 'utf8').split('\n').filter(Boolean)) {
    const [event, pidText, roundText, took] = line.split(' ');
    const pid = Number(pidText);
    if (event === 'enter') {
      if (inside.size > 0) overlaps.push(`round ${roundText}: ${pid} entered while ${[...inside]} held`);
      inside.add(pid);
      enters.push({ pid, round: Number(roundText), tookOverFrom: took === '-' ? undefined : Number(took) });
    } else {
      inside.delete(pid); // exit, or killed (written by the test once the holder is gone)
    }
  }
  return { overlaps, enters };
}

describe('domain lock under contention (real processes)', () => {
  const dirs: string[] = [];
  const racers: Racer[] = [];
  afterAll(() => {
    for (const r of racers) r.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const setUp = async (): Promise<{ lockDir: string; logFile: string; uuid: string; pool: Racer[] }> => {
    const lockDir = mkdtempSync(join(tmpdir(), 'volback-lock-race-'));
    dirs.push(lockDir);
    const logFile = join(lockDir, 'holders.log');
    writeFileSync(logFile, '');
    const uuid = 'race-1';
    const pool = Array.from({ length: CHILDREN }, () => startRacer(lockDir, uuid, logFile));
    racers.push(...pool);
    expect(await Promise.all(pool.map((r) => r.next()))).toEqual(pool.map(() => 'ready'));
    return { lockDir, logFile, uuid, pool };
  };

  /** Sends one command to every racer with a common start instant; returns their answers. */
  const round = async (pool: Racer[], cmd: 'try' | 'hold', n: number, holdMs: number): Promise<string[]> => {
    const at = Date.now() + 40;
    for (const r of pool) r.child.stdin!.write(`${cmd} ${n} ${at} ${holdMs}\n`);
    return (await Promise.all(pool.map((r) => r.next()))).map((a) => a.replace(`${n} `, ''));
  };

  it(`lets exactly one of ${CHILDREN} processes in at a time, every round, over ${ROUNDS} rounds`, async () => {
    const { logFile, pool } = await setUp();
    const noHolder: number[] = [];
    const wrongName: string[] = [];
    const errors: string[] = [];
    let contended = 0;
    for (let n = 1; n <= ROUNDS; n++) {
      const answers = await round(pool, 'try', n, n % 3);
      if (!answers.includes('got')) noHolder.push(n);
      if (answers.some((a) => a.startsWith('busy'))) contended++;
      errors.push(...answers.filter((a) => a.startsWith('error')).map((a) => `round ${n}: ${a}`));
      // A refused racer names a holder: one of this round's (nobody else holds the lock).
      const holders = new Set(pool.filter((_, i) => answers[i] === 'got').map((r) => r.pid));
      for (const a of answers.filter((x) => x.startsWith('busy')))
        if (!holders.has(Number(a.split(' ')[1]))) wrongName.push(`round ${n}: ${a}`);
    }
    const { overlaps, enters } = readLog(logFile);
    expect({ overlaps: overlaps.slice(0, 10), overlapCount: overlaps.length }).toEqual({
      overlaps: [],
      overlapCount: 0,
    });
    expect(errors).toEqual([]);
    expect(noHolder).toEqual([]);
    expect(wrongName).toEqual([]);
    expect(enters.filter((e) => e.tookOverFrom !== undefined)).toEqual([]); // every holder released
    // The race was real: in most rounds someone was refused while another held the lock.
    expect(contended).toBeGreaterThan(ROUNDS / 3);
  });

  it(`hands a SIGKILLed holder's lock to exactly one racer, which is told (${KILL_ROUNDS} kills)`, async () => {
    const { lockDir, logFile, uuid, pool } = await setUp();
    const problems: string[] = [];
    for (let k = 1; k <= KILL_ROUNDS; k++) {
      const holdRound = 2 * k - 1;
      const answers = await round(pool, 'hold', holdRound, 0);
      const holding = pool.filter((_, i) => answers[i] === 'holding');
      if (holding.length !== 1) problems.push(`round ${holdRound}: ${holding.length} holders`);
      for (const victim of holding) {
        victim.child.kill('SIGKILL');
        await victim.exited;
        appendFileSync(logFile, `killed ${victim.pid} ${holdRound}\n`);
        pool.splice(pool.indexOf(victim), 1);
      }
      // Replacements keep the race at full strength; they start after the kill.
      while (pool.length < CHILDREN) {
        const fresh = startRacer(lockDir, uuid, logFile);
        racers.push(fresh);
        pool.push(fresh);
        expect(await fresh.next()).toBe('ready');
      }
      const after = await round(pool, 'try', holdRound + 1, 1);
      if (!after.includes('got')) problems.push(`round ${holdRound + 1}: nobody took over`);
      const { enters } = readLog(logFile);
      const next = enters.filter((e) => e.round === holdRound + 1);
      const told = next.filter((e) => e.tookOverFrom !== undefined);
      const victimPid = holding[0]?.pid;
      if (told.length !== 1 || next[0]?.tookOverFrom !== victimPid)
        problems.push(
          `round ${holdRound + 1}: take-over reports ${JSON.stringify(told)}, expected one from ${victimPid} first`,
        );
    }
    const { overlaps } = readLog(logFile);
    expect({ overlaps: overlaps.slice(0, 10), overlapCount: overlaps.length, problems }).toEqual({
      overlaps: [],
      overlapCount: 0,
      problems: [],
    });
  });
});

// Repair of a guest a crashed backup left frozen is decided under the domain's job lock: real flock
// (a holder in another process), real freeze records, test:///default's running domain. Dry runs:
// the test driver cannot set the agent's response timeout; the real thaw is in test/system/quiesce.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freezeRecordPath } from '../../src/core/backup/quiesce';
import { repair } from '../../src/core/removal/repair';
import { Connection } from '../../src/libvirt';
import { REPO_ROOT, tsChildArgs } from '../support/ts-child';

/** A child that takes the domain's lock as a backup does and holds it until killed. */
const HOLDER = `
const [uuid, lockDir] = process.argv.slice(1);
require('./src/core/shared/domain-lock').lockDomain(uuid, 'backup of test', lockDir);
process.stdout.write('held\\n');
setInterval(() => {}, 1000);
`;
async function holdLock(uuid: string, lockDir: string): Promise<{ kill: () => Promise<void> }> {
  const child = spawn(process.execPath, tsChildArgs(HOLDER, [uuid, lockDir]), {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => c.toString().includes('held') && resolve());
    child.on('exit', (code) => reject(new Error(`lock holder exited (${code})`)));
  });
  return { kill: async () => void (child.kill('SIGKILL'), await exited) };
}

describe('repair of a frozen guest, under the domain lock (test:///default)', () => {
  let conn: Connection;
  let uuid: string;
  let lockDir: string;
  const frozen = (items: Array<{ kind: string }>) => items.filter((i) => i.kind === 'frozen-guest');
  const dryRepair = () => repair(conn, { domain: 'test', lockDir, pools: [], dryRun: true });

  beforeAll(async () => {
    conn = await Connection.open('test:///default');
    const domain = await conn.lookupDomainByName('test');
    uuid = await domain.getUUIDString();
    domain.free();
  });
  afterAll(() => conn.close());
  beforeEach(() => {
    lockDir = mkdtempSync(join(tmpdir(), 'volback-freeze-repair-'));
  });

  test('a job holding the lock: its freeze is left, with the reason, even when its record is half-written', async () => {
    const holder = await holdLock(uuid, lockDir);
    try {
      // Cut short (as a crash mid-write would have left it, before records were renamed into place).
      writeFileSync(freezeRecordPath(uuid, lockDir), '{"pid": 12');
      const result = await dryRepair();
      expect(frozen(result.removed)).toEqual([]);
      expect(frozen(result.left)).toEqual([
        expect.objectContaining({
          domain: 'test',
          reason: expect.stringMatching(/a job holds the domain's lock \(domain .* is busy: backup of test/),
        }),
      ]);
      expect(readFileSync(freezeRecordPath(uuid, lockDir), 'utf8')).toBe('{"pid": 12');
    } finally {
      await holder.kill();
    }
  });

  test('lock free: a record naming a live pid (reused by another process) is a dead run’s, to thaw', async () => {
    // pid 1 lives and is no volback run: a pid a crashed run's record names can be reused like this.
    writeFileSync(
      freezeRecordPath(uuid, lockDir),
      JSON.stringify({
        pid: 1,
        watchdogPid: 1,
        uri: 'test:///default',
        domain: 'test',
        uuid,
        mountpoints: [],
        since: '',
      }),
    );
    const result = await dryRepair();
    expect(frozen(result.left)).toEqual([]);
    expect(frozen(result.removed)).toEqual([
      expect.objectContaining({ domain: 'test', reason: 'a run (pid 1) died with the guest frozen' }),
    ]);
    expect(existsSync(freezeRecordPath(uuid, lockDir))).toBe(true); // a dry run changes nothing
  });

  test('lock free: an unparsable record is a crashed run’s, to thaw', async () => {
    writeFileSync(freezeRecordPath(uuid, lockDir), '{"pid": 12');
    const result = await dryRepair();
    expect(frozen(result.removed)).toEqual([
      expect.objectContaining({ reason: 'a run (unreadable freeze record) died with the guest frozen' }),
    ]);
  });
});

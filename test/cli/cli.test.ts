// The built `volback` binary as a subprocess against the real libvirtd: JSON output, exit codes,
// --dry-run, confirmation, SIGINT during a backup, and the demo (what `npm start` runs).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isLibvirtNotFound, virDomainUndefineFlagsValues, type Connection } from '../../src/libvirt';
import {
  Cleanup,
  REPO_ROOT,
  TEST_POOL_ROOT,
  createTestDomain,
  openSystemConnection,
  sameContent,
  uniqueName,
} from '../support';

const BIN = path.join(REPO_ROOT, 'dist/src/cli/main.js');
const MiB = 1024 * 1024;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe('volback CLI (built binary, real libvirt)', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let tmp: string;
  let configFile: string;
  let backupPool: string;
  let env: NodeJS.ProcessEnv;

  /** Runs the binary; `onStderr` sees stderr as it arrives and may signal the child. */
  const cli = (
    args: string[],
    opts: { onStderr?: (text: string, child: ReturnType<typeof spawn>) => void } = {},
  ): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        opts.onStderr?.(stderr, child);
      });
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  const withConfig = (...args: string[]): string[] => [...args, '--config', configFile];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test asserts the fields it reads
  const json = <T = any>(run: Run): T => {
    try {
      return JSON.parse(run.stdout) as T;
    } catch {
      throw new Error(
        `stdout is not one JSON document (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`,
      );
    }
  };

  beforeAll(async () => {
    if (!fs.existsSync(BIN))
      throw new Error(
        `${BIN} is missing: build with \`npx tsc -p tsconfig.json\` (npm test runs scripts/setup, which does)`,
      );
    conn = await openSystemConnection();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-cli-'));
    cleanup.add(`temp ${tmp}`, async () => fs.rmSync(tmp, { recursive: true, force: true }));
    backupPool = uniqueName('cli-backups');
    configFile = path.join(tmp, 'volback.conf');
    fs.writeFileSync(
      configFile,
      `default_pool_layout = "single"\ndefault_pool = "${backupPool}"\ndefault_pool_path = "${path.join(TEST_POOL_ROOT, backupPool)}"\n`,
    );
    env = {
      ...process.env,
      VOLBACK_LOCK_DIR: path.join(tmp, 'locks'),
      VOLBACK_CONFIG: undefined,
      VOLBACK_LOG_LEVEL: undefined,
    };
    // The CLI creates the backup pool on first use; remove it (and everything in it) at the end.
    cleanup.add(`pool ${backupPool}`, async () => {
      let pool;
      try {
        pool = await conn.lookupStoragePoolByName(backupPool);
      } catch (err) {
        if (isLibvirtNotFound(err)) return;
        throw err;
      }
      const c = new Cleanup();
      c.pool(pool, { deleteVolumes: true, deleteStorage: true });
      await c.run();
    });
  });
  afterAll(async () => {
    await cleanup.run();
    await conn?.close();
  });

  test('help, version and usage errors', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('backup create [domain]');
    expect(help.stdout).toContain('130  interrupted');
    const cmdHelp = await cli(['help', 'backup', 'create']);
    expect(cmdHelp.code).toBe(0);
    expect(cmdHelp.stdout).toContain('--incremental');
    expect((await cli(['--version'])).stdout.trim()).toMatch(/^volback \d+\.\d+\.\d+/);
    const unknown = await cli(['backup', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'backup frobnicate'");
    expect(unknown.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug
    expect((await cli(['backup', 'list', '--no-such-flag'])).code).toBe(2);
    expect((await cli(['backup', 'create'])).code).toBe(2);
    expect((await cli(withConfig('backup', 'list', '--since', 'yesterday-ish'))).code).toBe(2);
  });

  test('--version --json prints one JSON document', async () => {
    const run = await cli(['--version', '--json']);
    expect(run.code).toBe(0);
    expect(json(run)).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(json(await cli(['--json', '--version'])).version).toBe(json(run).version);
  });

  test.each([
    ['since', '2026-02-30'],
    ['until', '2026-13-01'],
    ['since', '2026-04-31T10:00:00Z'],
    ['until', '2026-11-26T24:00'],
    ['since', '1'],
  ])('an impossible --%s %s is exit 2 naming the flag and the value', async (flag, value) => {
    const run = await cli(withConfig('backup', 'list', `--${flag}`, value));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--${flag} '${value}'`);
  });

  test.each([
    ['backup', 'delete', 'a', '--yes'],
    ['backup', 'restore', '1a2', '--define'],
    ['backup', 'show', '1a'],
    ['backup', 'verify', '1-2-3'],
  ])('a set-id prefix shorter than 4 hex digits is refused before connecting: %s %s %s', async (...args) => {
    // An unreachable URI: the refusal must come before the connection (which would be exit 1).
    const run = await cli(withConfig(...args, '-c', 'test:///no/such/file.xml'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('at least 4');
    expect(run.stderr).not.toContain('cannot connect');
  });

  test('a repeated --volume-name for one disk and a device as definition are exit 2 before connecting', async () => {
    const unreachable = ['-c', 'test:///no/such/file.xml'];
    const twice = await cli(
      withConfig(
        'backup',
        'restore',
        'ffffffff',
        '--volume-name',
        'vda=a.qcow2',
        '--volume-name',
        'vda=b.qcow2',
        ...unreachable,
      ),
    );
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('disk vda more than once');
    const zero = await cli(withConfig('backup', 'create', 'vm', '-d', '/dev/zero', ...unreachable));
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('/dev/zero is a character device');
  });

  // (`backup restore --pool` names the target of the new volumes: restore.test.ts checks a missing one.)
  test('a pool named on the command line that does not exist is exit 2 (ERR_NOT_FOUND)', async () => {
    const absent = uniqueName('no-pool');
    for (const args of [
      ['backup', 'list', '--pool', absent],
      ['backup', 'delete', 'ffffffff', '--pool', absent, '--yes'],
      ['backup', 'prune', 'vm', '--keep-last', '1', '--pool', absent, '--yes'],
    ]) {
      const run = await cli(withConfig(...args, '--json'));
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(json(run).error.code).toBe('ERR_NOT_FOUND');
      expect(run.stderr).toContain(`storage pool '${absent}' does not exist`);
    }
  });

  test('config show reports each value with its source; a bad config file is exit 2', async () => {
    const shown = json(
      await cli(['config', 'show', '--json', '--config', configFile, '-c', 'qemu:///system']),
    );
    expect(shown.file).toBe(configFile);
    expect(shown.settings.defaultPool).toEqual({ value: backupPool, source: 'file' });
    expect(shown.settings.connectUri).toEqual({ value: 'qemu:///system', source: 'flag' });
    expect(shown.settings.backupFormat.source).toBe('default');
    const bad = path.join(tmp, 'bad.conf');
    fs.writeFileSync(bad, 'no_such_key = "x"\n');
    const run = await cli(['config', 'show', '--config', bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown key');
  });

  test('unknown domain is exit 2 with an error document under --json', async () => {
    const run = await cli(withConfig('backup', 'create', uniqueName('absent'), '--json'));
    expect(run.code).toBe(2);
    expect(json(run).error.code).toBe('ERR_NOT_FOUND');
    expect(run.stderr).toContain('does not exist');
    const show = await cli(withConfig('backup', 'show', 'ffffffff'));
    expect(show.code).toBe(2);
  });

  test('backup create, list (JSON and tree), show, verify; delete: --dry-run, confirmation, --yes', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB, 8 * MiB], label: 'cli-vm' });
    await vm.write('vda', 0x5a, 0, 2 * MiB);
    const full = await cli(withConfig('backup', 'create', vm.name, '--json'));
    expect(full.code).toBe(0);
    const fullSet = json(full).set;
    expect(fullSet).toMatchObject({
      kind: 'full',
      state: 'complete',
      parentId: null,
      domain: { name: vm.name },
    });
    expect(fullSet.disks.map((d: { target: string }) => d.target)).toEqual(['vda', 'vdb']);
    expect(fullSet.disks[0].pool).toBe(backupPool);

    await vm.write('vdb', 0x33, MiB, MiB);
    const incr = await cli(withConfig('backup', 'create', vm.name, '--json'));
    expect(incr.code).toBe(0);
    const incrSet = json(incr).set;
    expect(incrSet).toMatchObject({ kind: 'incremental', parentId: fullSet.id });

    const listed = json(await cli(withConfig('backup', 'list', '--domain', vm.name, '--json')));
    expect(listed.sets.map((s: { id: string }) => s.id)).toEqual([incrSet.id, fullSet.id]);
    expect(listed.sets[1]).toMatchObject({ restorable: true, childIds: [incrSet.id], problems: [] });
    expect(listed.sets[0].bytesCopied).toBeGreaterThanOrEqual(MiB);
    expect(listed.pools).toContain(backupPool);
    expect(Object.keys(listed).sort()).toEqual([
      'invalidMetadata',
      'pools',
      'problems',
      'sets',
      'strayVolumes',
      'undefinedDomainPools',
      'unreadablePools',
    ]);
    const fulls = json(
      await cli(withConfig('backup', 'list', '--domain', vm.name, '--kind', 'full', '--json')),
    );
    expect(fulls.sets.map((s: { id: string }) => s.id)).toEqual([fullSet.id]);

    const tree = await cli(withConfig('backup', 'list', '--domain', vm.name, '--pool', backupPool));
    expect(tree.code).toBe(0);
    expect(tree.stdout).toContain(`domain ${vm.name}`);
    expect(tree.stdout).toMatch(new RegExp(`└─ ${incrSet.id.slice(0, 8)}`));

    const shown = json(await cli(withConfig('backup', 'show', incrSet.id.slice(0, 8), '--json')));
    expect(shown.id).toBe(incrSet.id);
    const verified = await cli(withConfig('backup', 'verify', incrSet.id, '--deep', '--json'));
    expect(verified.code).toBe(0);
    expect(json(verified)).toMatchObject({ ok: true, deep: true });
    expect(json(verified).disks.map((d: { chain: string[] }) => d.chain.length)).toEqual([2, 2]);

    // Restore into new volumes: the content is the disk at the incremental's point in time.
    const modelVda = vm.snapshotModel('vda', 'incr');
    const restored = await cli(
      withConfig('backup', 'restore', incrSet.id.slice(0, 8), '--pool', backupPool, '--json'),
    );
    expect(restored.code).toBe(0);
    const vols = json(restored).volumes as Array<{ target: string; path: string; format: string }>;
    expect(vols.map((v) => v.target)).toEqual(['vda', 'vdb']);
    expect(await sameContent({ path: vols[0].path, format: vols[0].format }, modelVda)).toBe(true);
    // Overwriting the original asks first: refused without a terminal, a no-op with --dry-run.
    expect((await cli(withConfig('backup', 'restore', incrSet.id, '--overwrite'))).code).toBe(2);
    expect((await cli(withConfig('backup', 'restore', incrSet.id, '--overwrite', '--dry-run'))).code).toBe(0);

    // --dry-run changes nothing; without --yes and without a terminal, delete refuses (exit 2).
    // The domain's sets, not the whole document: its pool list shows other sessions' pools coming and going.
    const setsNow = async (): Promise<unknown> =>
      json(await cli(withConfig('backup', 'list', '--domain', vm.name, '--json'))).sets;
    const before = await setsNow();
    const dry = await cli(
      withConfig('backup', 'delete', fullSet.id, '--dependents', 'cascade', '--dry-run', '--json'),
    );
    expect(dry.code).toBe(0);
    expect(
      json(dry)
        .plan.map((s: { setId: string }) => s.setId)
        .sort(),
    ).toEqual([fullSet.id, incrSet.id].sort());
    const refused = await cli(withConfig('backup', 'delete', incrSet.id));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
    expect(await setsNow()).toEqual(before);
    const dependents = await cli(withConfig('backup', 'delete', fullSet.id, '--yes'));
    expect(dependents.code).toBe(1); // ERR_CONFLICT: the incremental depends on it
    expect(dependents.stderr).toContain('ERR_CONFLICT');

    const deleted = await cli(withConfig('backup', 'delete', incrSet.id, '--yes', '--json'));
    expect(deleted.code).toBe(0);
    expect(json(deleted).removed[0].setId).toBe(incrSet.id);
    const after = json(await cli(withConfig('backup', 'list', '--domain', vm.name, '--json')));
    expect(after.sets.map((s: { id: string }) => s.id)).toEqual([fullSet.id]);
  });

  test('verify --deep finds a flipped byte: exit 1, set, disk, volume and range named; list and restore see it', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [16 * MiB], label: 'cli-sums' });
    await vm.write('vda', 0x5a, 2 * MiB, 2 * MiB);
    const fullSet = json(await cli(withConfig('backup', 'create', vm.name, '--json'))).set;
    expect(fullSet.disks[0].checksums).toMatchObject({ extentSize: MiB });
    await vm.write('vda', 0x33, 8 * MiB, MiB);
    const incSet = json(await cli(withConfig('backup', 'create', vm.name, '--json'))).set;
    const sampled = await cli(withConfig('backup', 'verify', incSet.id, '--sample', '2', '--seed', '5'));
    expect(sampled.code).toBe(0);
    expect(sampled.stdout).toContain('sample: 2 of 3 extents');
    expect(sampled.stdout).toContain('(sample seed 5)');

    // One byte inside a data cluster of the full's volume, where qemu-img map says it is.
    const file = path.join(TEST_POOL_ROOT, backupPool, fullSet.disks[0].volume);
    const map = JSON.parse(
      await new Promise<string>((resolve, reject) => {
        const child = spawn('qemu-img', ['map', '--output=json', '-f', 'qcow2', file]);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('error', reject);
        child.on('close', () => resolve(out));
      }),
    ) as Array<{ start: number; length: number; data: boolean; offset?: number }>;
    const guest = 3 * MiB + 7;
    const cluster = map.find(
      (e) => e.data && e.offset !== undefined && e.start <= guest && guest < e.start + e.length,
    )!;
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0xa5]), 0, 1, cluster.offset! + guest - cluster.start);
    fs.closeSync(fd);

    const deep = await cli(withConfig('backup', 'verify', incSet.id, '--deep'));
    expect(deep.code).toBe(1);
    expect(deep.stdout).toContain('DAMAGED (deep)');
    expect(deep.stdout).toContain(
      `damaged: set ${fullSet.id} disk vda volume ${fullSet.disks[0].volume} (pool ${backupPool}) bytes ${3 * MiB}-${4 * MiB - 1}`,
    );
    const deepJson = json(await cli(withConfig('backup', 'verify', incSet.id, '--deep', '--json')));
    expect(deepJson).toMatchObject({ ok: false, verdict: 'damaged', deep: true });
    expect(deepJson.damage).toEqual([
      {
        setId: fullSet.id,
        diskBackupId: fullSet.disks[0].id,
        target: 'vda',
        pool: backupPool,
        volume: fullSet.disks[0].volume,
        range: { start: 3 * MiB, end: 4 * MiB },
        reason: 'its data does not match the checksum recorded at backup time',
      },
    ]);

    const tree = await cli(withConfig('backup', 'list', '--domain', vm.name));
    expect(tree.stdout).toMatch(new RegExp(`${fullSet.id.slice(0, 8)} .* damaged\\n`));
    expect(tree.stdout).toMatch(new RegExp(`└─ ${incSet.id.slice(0, 8)} .* damaged-ancestor`));
    const listed = json(await cli(withConfig('backup', 'list', '--domain', vm.name, '--json')));
    expect(
      listed.sets.map((s: { problems: Array<{ kind: string }> }) => s.problems.map((p) => p.kind)),
    ).toEqual([['damaged-ancestor'], ['damaged']]);

    const refused = await cli(withConfig('backup', 'restore', incSet.id, '--pool', backupPool));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ERR_DAMAGED');
    expect(refused.stderr).toContain('--ignore-damage');
    const forced = await cli(
      withConfig('backup', 'restore', incSet.id, '--pool', backupPool, '--ignore-damage', '--json'),
    );
    expect(forced.code).toBe(0);
    expect(json(forced).damage).toEqual([
      expect.objectContaining({ setId: fullSet.id, range: { start: 3 * MiB, end: 4 * MiB } }),
    ]);
    const human = await cli(
      withConfig('backup', 'restore', incSet.id, '--pool', backupPool, '--ignore-damage'),
    );
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('Restored from DAMAGED data (--ignore-damage):');
  });

  test('repair: --dry-run lists and changes nothing; without --yes off a terminal it is refused', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [8 * MiB], label: 'cli-repair' });
    const full = json(await cli(withConfig('backup', 'create', vm.name, '--json'))).set;
    // A checkpoint no backup records: what a run killed after registering it leaves.
    (
      await vm.domain.createCheckpoint(
        `<domaincheckpoint><name>volback-${randomUUID()}</name><disks><disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>`,
      )
    ).free();
    const names = async () => (await vm.domain.listAllCheckpoints()).length;
    const dry = await cli(withConfig('repair', '--domain', vm.name, '--dry-run', '--json'));
    expect(dry.code).toBe(0);
    const found = json(dry);
    expect(found.dryRun).toBe(true);
    expect(found.removed.map((i: { kind: string }) => i.kind)).toEqual(['checkpoint']);
    expect(await names()).toBe(2);
    expect((await cli(withConfig('repair', '--domain', vm.name))).code).toBe(2);
    const done = await cli(withConfig('repair', '--domain', vm.name, '--yes'));
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/Removed:\n.*checkpoint/s);
    expect(await names()).toBe(1);
    expect((await vm.domain.listAllCheckpoints()).length).toBe(1);
    const listed = json(await cli(withConfig('backup', 'list', '--domain', vm.name, '--json')));
    expect(listed.sets.map((s: { id: string }) => s.id)).toEqual([full.id]);
  });

  test('SIGINT during a backup exits 130 and leaves nothing behind', async () => {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [1024 * MiB], label: 'cli-sigint' });
    for (let offset = 0; offset < 512 * MiB; offset += 64 * MiB)
      await vm.write('vda', 0x77, offset, 64 * MiB);
    let sent = false;
    const run = await cli(withConfig('backup', 'create', vm.name), {
      onStderr: (text, child) => {
        // A progress line with a byte count: the libvirt job is running.
        if (!sent && /progress: .*copying \d+%/.test(text)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('cancel');
    const listed = json(await cli(withConfig('backup', 'list', '--domain', vm.name, '--json')));
    expect(listed.sets).toEqual([]);
    expect(listed.strayVolumes.filter((v: { volume: string }) => v.volume.startsWith(vm.name))).toEqual([]);
    const pool = await conn.lookupStoragePoolByName(backupPool);
    try {
      await pool.refresh();
      const names = await Promise.all(
        (await pool.listAllVolumes()).map(async (v) => v.getName().finally(() => v.free())),
      );
      expect(names.filter((n) => n.startsWith(vm.name))).toEqual([]);
    } finally {
      pool.free();
    }
    expect(await vm.domain.listAllCheckpoints()).toEqual([]);
  });

  test('demo (npm start) runs end to end and again', async () => {
    const name = uniqueName('cli-demo');
    const demoPool = uniqueName('cli-demo-disks');
    cleanup.add(`demo domain ${name}`, async () => {
      for (const n of [name, `${name}-restored`]) {
        try {
          const dom = await conn.lookupDomainByName(n);
          const c = new Cleanup();
          c.domain(dom, virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
          await c.run();
        } catch (err) {
          if (!isLibvirtNotFound(err)) throw err;
        }
      }
      try {
        const c = new Cleanup();
        c.pool(await conn.lookupStoragePoolByName(demoPool), { deleteVolumes: true, deleteStorage: true });
        await c.run();
      } catch (err) {
        if (!isLibvirtNotFound(err)) throw err;
      }
    });
    const args = withConfig(
      'demo',
      '--domain',
      name,
      '--demo-pool',
      demoPool,
      '--demo-path',
      path.join(TEST_POOL_ROOT, demoPool),
      '--json',
    );
    for (const round of [1, 2]) {
      const run = await cli(args);
      if (run.code !== 0) throw new Error(`demo round ${round} exited ${run.code}:\n${run.stderr}`);
      const out = json(run);
      expect(out.ok).toBe(true);
      expect(out.backups.map((s: { kind: string }) => s.kind)).toEqual(['full', 'incremental']);
      expect(out.comparisons.every((c: { identical: boolean }) => c.identical)).toBe(true);
      expect(out.listing.sets).toHaveLength(2); // the previous round's backups were removed
      expect(['kvm', 'qemu']).toContain(out.host.virt.virtType);
      expect(out.restore.domain.name).toBe(`${name}-restored`);
      expect(out.restore.disks.every((d: { identical: boolean }) => d.identical)).toBe(true);
    }
  });
});

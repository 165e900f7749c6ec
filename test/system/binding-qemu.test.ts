// The libvirt binding against the real libvirtd (qemu:///system) and a real QEMU domain:
// pools, volumes, streams, monitor pass-through, checkpoints, push/pull backup jobs, events.
import { execFile } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { promisify } from 'util';
import {
  Connection,
  Domain,
  StoragePool,
  StorageVolume,
  downloadToFile,
  isLibvirtError,
  uploadFromFile,
  virDomainCheckpointCreateFlags,
  virDomainCheckpointDeleteFlags,
  virDomainCreateFlags,
  virDomainGetJobStatsFlags,
  virDomainJobOperation,
  virDomainJobType,
  virDomainState,
  virDomainUndefineFlagsValues,
  virStorageVolType,
  type BlockJobEvent,
  type JobCompletedEvent,
  virDomainBlockJobType,
  type SparseChunk,
} from '../../src/libvirt';
import {
  Cleanup,
  buildDomainXml,
  chooseVirtType,
  createDirPool,
  createVolume,
  openSystemConnection,
  uniqueName,
  volumeXml,
  type TestDirPool,
  type VirtChoice,
} from '../support';

const run = promisify(execFile);
const MiB = 1024 * 1024;

jest.setTimeout(60_000);

describe('libvirt binding on qemu:///system', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let virt: VirtChoice;
  let pool: TestDirPool;
  let disk: StorageVolume;
  let diskPath: string;
  let dom: Domain;
  let domName: string;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    virt = await chooseVirtType(conn);
    pool = await createDirPool(conn, cleanup, 'qemu');
    disk = await createVolume(pool.pool, cleanup, 'disk.qcow2', 64 * MiB);
    diskPath = await disk.getPath();
    domName = uniqueName('dom');
    dom = await conn.defineDomain(buildDomainXml({ name: domName, virt, disks: [{ path: diskPath }] }));
    cleanup.domain(dom, virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
    await dom.create();
  });

  afterAll(() => cleanup.run());

  it('reports hypervisor facts and supports keepalive over the daemon connection', async () => {
    expect(await conn.getType()).toBe('QEMU');
    expect(await conn.getVersion()).toBeGreaterThanOrEqual(7000000);
    expect(await conn.getLibVersion()).toBeGreaterThanOrEqual(9000000);
    expect(await conn.getURI()).toBe('qemu:///system');
    expect(await conn.getDomainCapabilities({ virttype: virt.virtType })).toMatch(/<domainCapabilities>/);
    expect(await conn.getCapabilities()).toMatch(/<host>/);
    expect(await conn.setKeepAlive(5, 3)).toBe(0);
    expect(await conn.isAlive()).toBe(true);
  });

  it('opens remote URIs through the remote driver and maps their failures (qemu+tcp, qemu+ssh)', async () => {
    // Nothing listens on port 1: proves the URI is parsed and the remote driver's error mapped.
    const tcp = await Connection.open('qemu+tcp://127.0.0.1:1/system').catch((e: unknown) => e);
    expect(isLibvirtError(tcp, 'VIR_FROM_RPC')).toBe(true);
    const ssh = await Connection.open('qemu+ssh://nobody@127.0.0.1:1/system?no_tty=1').catch(
      (e: unknown) => e,
    );
    expect(isLibvirtError(ssh)).toBe(true);
    const ro = await Connection.open('qemu:///system', { readOnly: true });
    expect(await ro.isAlive()).toBe(true);
    await ro.close();
  });

  it('runs the domain and reads state, info, XML, block info and job stats', async () => {
    expect(await dom.isActive()).toBe(true);
    expect((await dom.getState()).state).toBe(virDomainState.VIR_DOMAIN_RUNNING);
    expect(await dom.getInfo()).toMatchObject({ maxMemKiB: 128 * 1024, nrVirtCpu: 1 });
    expect(await dom.getXMLDesc()).toContain(`<alias name='virtio-disk0'/>`);
    expect(await dom.getBlockInfo('vda')).toMatchObject({ capacity: 64 * MiB });
    const stats = await dom.getJobStats();
    expect(stats.type).toBe(virDomainJobType.VIR_DOMAIN_JOB_NONE);
    const err = await dom.abortJob().catch((e: unknown) => e);
    expect(isLibvirtError(err, 'VIR_ERR_OPERATION_INVALID')).toBe(true);
  });

  it('starts a transient domain paused (createXML with VIR_DOMAIN_START_PAUSED)', async () => {
    const t = await conn.createDomain(
      buildDomainXml({ name: uniqueName('paused'), virt, memoryMiB: 64 }),
      virDomainCreateFlags.VIR_DOMAIN_START_PAUSED,
    );
    try {
      expect((await t.getState()).state).toBe(virDomainState.VIR_DOMAIN_PAUSED);
      expect(await t.isPersistent()).toBe(false);
    } finally {
      await t.destroy();
      t.free();
    }
  });

  it('passes QMP and HMP through the monitor', async () => {
    expect(await dom.qmp<{ status: string }>('query-status')).toMatchObject({ status: 'running' });
    const hmp = await dom.qemuMonitorCommand('info status', { hmp: true });
    expect(hmp).toMatch(/running/);
    await expect(dom.qmp('no-such-command')).rejects.toMatchObject({
      name: 'QmpError',
      errorClass: 'CommandNotFound',
    });
  });

  it('hands QEMU an open file with a QMP command (add-fd), which QEMU then uses', async () => {
    const file = path.join(pool.dir, 'fd-passed.raw');
    fs.writeFileSync(file, Buffer.alloc(1024 * 1024, 0x5e), { mode: 0o600 }); // root-only: QEMU cannot open it
    const fd = fs.openSync(file, 'r+');
    try {
      const { 'fdset-id': fdset } = await dom.qmp<{ 'fdset-id': number }>(
        'add-fd',
        { opaque: 'binding-test' },
        [fd],
      );
      const sets =
        await dom.qmp<Array<{ 'fdset-id': number; fds: Array<{ opaque?: string }> }>>('query-fdsets');
      expect(sets.find((s) => s['fdset-id'] === fdset)?.fds).toEqual([
        expect.objectContaining({ opaque: 'binding-test' }),
      ]);
      // QEMU runs as its own user: by path it may not open the file, through the fd set it can.
      await expect(
        dom.qmp('blockdev-add', {
          driver: 'raw',
          'node-name': 'binding-test-node',
          file: { driver: 'file', filename: file },
        }),
      ).rejects.toMatchObject({ desc: expect.stringMatching(/Permission denied/) });
      await dom.qmp('blockdev-add', {
        driver: 'raw',
        'node-name': 'binding-test-node',
        file: { driver: 'file', filename: `/dev/fdset/${fdset}` },
      });
      await dom.qmp('blockdev-del', { 'node-name': 'binding-test-node' });
      await dom.qmp('remove-fd', { 'fdset-id': fdset });
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    }
  });

  it('runs a push backup with a checkpoint; the JOB_COMPLETED event arrives and the copy equals the disk', async () => {
    // Dirty the disk with a known pattern through the virtio backend's QOM path.
    // (HMP qemu-io prints its result to QEMU's stderr, not the monitor: the reply is empty; the
    // pattern check on the backup below proves the write.)
    await dom.qemuMonitorCommand(
      'qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0xab 1M 2M"',
      {
        hmp: true,
      },
    );

    const target = path.join(pool.dir, 'backup-full.qcow2');
    const events: JobCompletedEvent[] = [];
    const blockJobs: BlockJobEvent[] = [];
    const offBlock = await conn.onDomainEvent('blockJob', (ev) => blockJobs.push(ev), { domain: dom });
    const done = new Promise<JobCompletedEvent>((resolve) => {
      void conn
        .onDomainEvent('jobCompleted', (ev) => {
          events.push(ev);
          resolve(ev);
        })
        .then((off) => cleanup.add('jobCompleted subscription', off));
    });
    await new Promise((r) => setTimeout(r, 50)); // let the subscription land before the job starts

    await dom.backupBegin(
      `<domainbackup mode='push'><disks>
         <disk name='vda' backup='yes' type='file'><target file='${target}'/><driver type='qcow2'/></disk>
       </disks></domainbackup>`,
      `<domaincheckpoint><name>ck1</name><disks><disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>`,
    );
    const ev = await withTimeout(done, 30_000, 'no JOB_COMPLETED event within 30 s');
    expect(ev.domain.name).toBe(domName);
    expect(ev.stats.operation).toBe(virDomainJobOperation.VIR_DOMAIN_JOB_OPERATION_BACKUP);
    expect(ev.stats.disk_total).toBe(64 * MiB);
    const completed = await dom.getJobStats(virDomainGetJobStatsFlags.VIR_DOMAIN_JOB_STATS_COMPLETED);
    expect(completed.type).toBe(virDomainJobType.VIR_DOMAIN_JOB_COMPLETED);
    expect(completed.stats.operation).toBe(virDomainJobOperation.VIR_DOMAIN_JOB_OPERATION_BACKUP);
    await offBlock();
    // libvirt may also report the backup's per-disk block job (BLOCK_JOB_2, type BACKUP), or not yet.
    for (const job of blockJobs) {
      expect(job).toMatchObject({
        event: 'blockJob',
        disk: 'vda',
        type: virDomainBlockJobType.VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP,
      });
      expect(job.domain.name).toBe(domName);
    }

    // libvirt reports completion before it closes the target (only the close writes the target's
    // qcow2 metadata); virDomainGetBlockJobInfo answers "no job" once that is over. The live disk is
    // flushed so that reading it from outside QEMU shows what the guest sees.
    const deadline = Date.now() + 60_000;
    while ((await dom.getBlockJobInfo('vda')) !== null) {
      if (Date.now() > deadline) throw new Error('libvirt did not close the backup target within 60 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    await dom.qemuMonitorCommand('qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"', {
      hmp: true,
    });

    // Same guest-visible bytes, and the pattern sits where it was written.
    await run('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', diskPath, target]);
    const { stdout } = await run('qemu-io', ['-r', '-U', '-f', 'qcow2', '-c', 'read -P 0xab 1M 2M', target]);
    expect(stdout).not.toMatch(/Pattern verification failed/);
    expect(stdout).toMatch(/read 2097152\/2097152 bytes/);

    const ck1 = await dom.lookupCheckpointByName('ck1');
    expect(await ck1.getXMLDesc()).toMatch(/<disk name='vda' checkpoint='bitmap' bitmap='ck1'/);
    ck1.free();
  });

  it('manages checkpoints on a live domain: parent, metadata-only delete, redefine, delete children', async () => {
    const ck2 = await dom.createCheckpoint(`<domaincheckpoint><name>ck2</name></domaincheckpoint>`);
    const parent = await ck2.getParent();
    expect(await parent?.getName()).toBe('ck1');
    const xml = await ck2.getXMLDesc(); // full XML incl. <domain>, usable for REDEFINE
    await ck2.delete(virDomainCheckpointDeleteFlags.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY);
    expect((await dom.listAllCheckpoints()).length).toBe(1);
    const again = await dom.createCheckpoint(
      xml,
      virDomainCheckpointCreateFlags.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE,
    );
    expect(await again.getName()).toBe('ck2');
    const names = await Promise.all((await dom.listAllCheckpoints()).map((c) => c.getName()));
    expect(names.sort()).toEqual(['ck1', 'ck2']);
    // Deleting ck1 with CHILDREN removes ck2 too (and merges/drops their bitmaps in QEMU).
    await parent!.delete(virDomainCheckpointDeleteFlags.VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN);
    expect(await dom.listAllCheckpoints()).toEqual([]);
    for (const c of [ck2, parent, again]) c?.free();
  });

  it('keeps a pull backup open for backupGetXMLDesc and aborts it with abortJob', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const scratch = path.join(pool.dir, 'scratch.qcow2');
    await dom.backupBegin(
      `<domainbackup mode='pull'>
         <server transport='tcp' name='127.0.0.1' port='${port}'/>
         <disks><disk name='vda' backup='yes' type='file'><scratch file='${scratch}'/></disk></disks>
       </domainbackup>`,
    );
    const xml = await dom.backupGetXMLDesc();
    expect(xml).toMatch(/<domainbackup mode='pull'>/);
    expect(xml).toContain(`port='${port}'`);
    expect((await dom.getJobStats()).type).not.toBe(virDomainJobType.VIR_DOMAIN_JOB_NONE);
    await dom.abortJob();
    // The job winds down asynchronously after the abort is accepted.
    const end = Date.now() + 10_000;
    let err: unknown;
    while (!err && Date.now() < end) {
      err = await dom.backupGetXMLDesc().then(
        () => new Promise((r) => setTimeout(r, 50)).then(() => undefined),
        (e: unknown) => e,
      );
    }
    expect(isLibvirtError(err, 'VIR_ERR_NO_DOMAIN_BACKUP')).toBe(true);
  });

  describe('volumes and streams', () => {
    const SIZE = 512 * MiB;
    let raw: StorageVolume;

    beforeAll(async () => {
      raw = await createVolume(pool.pool, cleanup, 'big.raw', SIZE, 'raw');
      // Data at 0 (1 MiB of 0x11) and at 300 MiB (1 MiB of 0x22); everything else is a hole.
      for (const [offset, byte] of [
        [0, 0x11],
        [300 * MiB, 0x22],
      ] as const) {
        const up = raw.upload({ offset, length: MiB });
        await new Promise<void>((resolve, reject) => {
          up.on('error', reject).on('finish', resolve);
          up.end(Buffer.alloc(MiB, byte));
        });
      }
    });

    it('reports volume facts and resizes', async () => {
      expect(await raw.getInfo()).toMatchObject({
        type: virStorageVolType.VIR_STORAGE_VOL_FILE,
        capacity: SIZE,
      });
      expect((await raw.getInfo()).allocation).toBeLessThan(16 * MiB); // still sparse
      const small = await createVolume(pool.pool, cleanup, 'small.raw', MiB, 'raw');
      await small.resize(2 * MiB);
      expect((await small.getInfo()).capacity).toBe(2 * MiB);
      await small.wipe();
    });

    it('downloads 512 MiB off the event loop: a 10 ms timer keeps ticking', async () => {
      let ticks = 0;
      const timer = setInterval(() => (ticks += 1), 10);
      const started = Date.now();
      let bytes = 0;
      let first: Buffer | undefined;
      try {
        for await (const chunk of raw.download()) {
          first ??= chunk as Buffer;
          bytes += (chunk as Buffer).length;
        }
      } finally {
        clearInterval(timer);
      }
      const ms = Date.now() - started;
      expect(bytes).toBe(SIZE);
      expect(first!.subarray(0, 16)).toEqual(Buffer.alloc(16, 0x11));
      // A blocked loop would tick ~once; demand a good share of the ideal count.
      expect(ticks).toBeGreaterThanOrEqual(Math.min(10, Math.floor(ms / 10 / 3)));
      expect(ticks).toBeGreaterThan(Math.floor(ms / 10 / 4));
    });

    it('downloads sparsely: data chunks and holes that add up to the volume', async () => {
      const chunks: SparseChunk[] = [];
      for await (const c of raw.download({ sparse: true })) chunks.push(c as SparseChunk);
      const data = chunks.filter((c) => c.kind === 'data') as Array<{ kind: 'data'; data: Buffer }>;
      const holes = chunks.filter((c) => c.kind === 'hole') as Array<{ kind: 'hole'; length: number }>;
      const dataBytes = data.reduce((n, c) => n + c.data.length, 0);
      const holeBytes = holes.reduce((n, c) => n + c.length, 0);
      expect(dataBytes + holeBytes).toBe(SIZE);
      expect(dataBytes).toBeLessThan(8 * MiB);
      expect(holes.length).toBeGreaterThanOrEqual(2);
    });

    it('downloads a range with offset and length', async () => {
      const parts: Buffer[] = [];
      for await (const c of raw.download({ offset: 300 * MiB - 4, length: 8 })) parts.push(c as Buffer);
      expect(Buffer.concat(parts)).toEqual(Buffer.from([0, 0, 0, 0, 0x22, 0x22, 0x22, 0x22]));
    });

    it('round-trips through files keeping holes (downloadToFile / uploadFromFile)', async () => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vbt-stream-'));
      cleanup.add('tmp dir', async () => fs.rmSync(tmp, { recursive: true, force: true }));
      const file = path.join(tmp, 'big.raw');
      const got = await downloadToFile(raw, file);
      expect(got.bytes).toBe(SIZE);
      expect(got.holeBytes).toBeGreaterThan(400 * MiB);
      const st = fs.statSync(file);
      expect(st.size).toBe(SIZE);
      expect(st.blocks * 512).toBeLessThan(16 * MiB); // holes stayed holes

      const copy = await createVolume(pool.pool, cleanup, 'copy.raw', SIZE, 'raw');
      const sent = await uploadFromFile(copy, file);
      expect(sent.dataBytes).toBe(2 * MiB);
      expect((await copy.getInfo()).allocation).toBeLessThan(16 * MiB);
      await run('qemu-img', [
        'compare',
        '-U',
        '-f',
        'raw',
        '-F',
        'raw',
        await raw.getPath(),
        await copy.getPath(),
      ]);
    });

    it('aborts an upload on destroy and leaves the stream handle unusable', async () => {
      const up = raw.upload({ offset: 0, length: MiB });
      await new Promise<void>((resolve) => up.write(Buffer.alloc(4096, 0x11), () => resolve()));
      up.destroy();
      await new Promise((r) => up.on('close', r));
      // The volume is still there and readable.
      expect((await raw.getInfo()).capacity).toBe(SIZE);
    });

    it('clones a volume across pools (createXMLFrom) and finds it by path and key', async () => {
      const other = await createDirPool(conn, cleanup, 'other');
      const clone = await other.pool.createVolumeFrom(volumeXml('clone.raw', SIZE, 'raw'), raw);
      cleanup.volume(clone);
      const p = await clone.getPath();
      expect(p.startsWith(other.dir)).toBe(true);
      const byPath = await conn.lookupVolumeByPath(p);
      const byKey = await conn.lookupVolumeByKey(await clone.getKey());
      expect(await byPath.getName()).toBe('clone.raw');
      expect(await byKey.getName()).toBe('clone.raw');
      byPath.free();
      byKey.free();
      await run('qemu-img', ['compare', '-U', '-f', 'raw', '-F', 'raw', await raw.getPath(), p]);
    });
  });

  it('lists pools and domains with the test objects in them', async () => {
    const pools: StoragePool[] = await conn.listAllStoragePools();
    expect(await Promise.all(pools.map((p) => p.getName()))).toContain(pool.name);
    pools.forEach((p) => p.free());
    const doms = await conn.listAllDomains();
    expect(await Promise.all(doms.map((d) => d.getName()))).toContain(domName);
    doms.forEach((d) => d.free());
  });
});

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

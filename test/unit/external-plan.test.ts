// The external (pull-mode) planner, libvirt pull XML, NBD URIs, the loopback rule and the session verdict.
import type { BackupDefinition, BackupSet } from '../../src/model';
import {
  assertRemoteServer,
  assertSafeServer,
  isLoopbackName,
  nbdUri,
  planExternalBackup,
  scratchVolumeName,
  type ExternalPlanInput,
} from '../../src/core/external/plan';
import { judgeSession, type SessionRecord } from '../../src/core/external/session';
import { chooseBase } from '../../src/core/shared/base';
import { parseLivePullJob, pullBackupXml } from '../../src/xml/libvirt-backup';
import { parseBackupVolumeName, parseMetadataVolumeName } from '../../src/pool/volume-names';
import { isVolbackError } from '../../src/errors';
import type { DomainDisk } from '../../src/xml/libvirt-domain';

const MiB = 1024 * 1024;
const createdAt = new Date(Date.UTC(2026, 10, 26, 0, 15, 0, 123));
const SET = '1a2b3c4d-0000-4000-8000-000000000001';
const disk = (target: string, over: Partial<DomainDisk> = {}): DomainDisk => ({
  target,
  device: 'disk',
  type: 'file',
  sourcePath: `/img/${target}.qcow2`,
  format: 'qcow2',
  readonly: false,
  ...over,
});
const pull = (over: Partial<BackupDefinition> = {}): BackupDefinition => ({
  mode: 'pull',
  kind: 'auto',
  disks: [],
  ...over,
});

function set(over: Partial<BackupSet> = {}): BackupSet {
  return {
    id: 'b0000000-0000-4000-8000-000000000000',
    volbackVersion: '0.1.0',
    mode: 'pull',
    kind: 'full',
    state: 'external',
    createdAt: new Date(createdAt.getTime() - 3600_000),
    domain: { name: 'vm1', uuid: 'u-1' },
    checkpoint: { name: 'volback-b0', xml: '<domaincheckpoint/>' },
    disks: [
      {
        id: 'd-vda',
        target: 'vda',
        sourcePath: '/img/vda.qcow2',
        sourceFormat: 'qcow2',
        kind: 'full',
        bitmap: 'volback-b0',
        virtualSize: 64 * MiB,
        bytesCopied: 0,
      },
    ],
    domainXml: '<domain/>',
    ...over,
  };
}

function input(over: Partial<ExternalPlanInput> = {}): ExternalPlanInput {
  return {
    domain: {
      name: 'vm1',
      uuid: 'u-1',
      disks: [disk('vda'), disk('vdb'), disk('hdc', { device: 'cdrom', sourcePath: undefined })],
    },
    definition: pull(),
    facts: {
      vda: { virtualSize: 64 * MiB, allocation: MiB, compat: '1.1' },
      vdb: { virtualSize: 32 * MiB, allocation: MiB, compat: '1.1' },
    },
    base: undefined,
    defaultPool: 'volback',
    setId: SET,
    createdAt,
    ...over,
  };
}

describe('planExternalBackup', () => {
  it('exports every disk in full with scratch volumes in the default pool when there is no base', () => {
    const plan = planExternalBackup(input());
    expect(plan.kind).toBe('full');
    expect(plan.checkpointName).toBe(`volback-${SET}`);
    expect(plan.metadataPool).toBe('volback');
    expect(plan.disks.map((d) => [d.target, d.kind, d.scratchPool, d.scratchVolume])).toEqual([
      ['vda', 'full', 'volback', 'vm1.vda.20261126T001500Z-1a2b3c4d.scratch'],
      ['vdb', 'full', 'volback', 'vm1.vdb.20261126T001500Z-1a2b3c4d.scratch'],
    ]);
    expect(plan.skipped.map((s) => s.target)).toEqual(['hdc']);
  });

  it('is incremental per disk from an external base; a disk without a bitmap in the base is full', () => {
    const plan = planExternalBackup(input({ base: { set: set(), usable: true } }));
    expect(plan.kind).toBe('incremental');
    expect(plan.parent?.id).toBe(set().id);
    expect(plan.disks.map((d) => [d.target, d.kind, d.parent?.id])).toEqual([
      ['vda', 'incremental', 'd-vda'],
      ['vdb', 'full', undefined],
    ]);
  });

  it('takes scratch pools and the metadata pool from the definition, and falls back to full with the reason', () => {
    const plan = planExternalBackup(
      input({
        definition: pull({
          location: { pool: 'meta' },
          disks: [{ name: 'vdb', backup: true, scratchPool: 'fast' }],
        }),
        base: { set: set(), usable: false, reason: 'bitmap gone' },
      }),
    );
    expect(plan.kind).toBe('full');
    expect(plan.fallbackReason).toBe('bitmap gone');
    expect(plan.metadataPool).toBe('meta');
    expect(plan.disks.map((d) => d.scratchPool)).toEqual(['meta', 'fast']);
  });

  it('refuses an incremental without a base', () => {
    expect(() => planExternalBackup(input({ definition: pull({ kind: 'incremental' }) }))).toThrow(
      /no earlier backup/,
    );
  });
});

describe('chooseBase for a pull backup', () => {
  const push = set({ id: 'p', mode: 'push', state: 'complete', createdAt: new Date(1000) });
  const ext = set({ id: 'e', createdAt: new Date(2000) });
  const merging = set({ id: 'm', state: 'merging', createdAt: new Date(3000) });
  const sets = [push, ext, merging].map((s) => ({ set: s, restorable: true }));
  it('picks the newest push or external set with a checkpoint for latest', () => {
    expect(chooseBase(sets, 'u-1', pull(), 'checkpoint')?.id).toBe('e');
    expect(chooseBase(sets.slice(0, 1), 'u-1', pull({ incrementalFrom: 'latest' }), 'checkpoint')?.id).toBe(
      'p',
    );
    expect(chooseBase(sets, 'u-1', pull({ kind: 'full' }), 'checkpoint')).toBeUndefined();
  });
  it('refuses a named set of another domain or without a checkpoint', () => {
    expect(() => chooseBase(sets, 'u-2', pull({ incrementalFrom: 'p' }), 'checkpoint')).toThrow(/not found/);
    const bare = [{ set: set({ id: 'x', checkpoint: undefined }), restorable: true }];
    expect(() => chooseBase(bare, 'u-1', pull({ incrementalFrom: 'x' }), 'checkpoint')).toThrow(
      /no checkpoint/,
    );
  });
});

describe('pull XML and exports', () => {
  it('builds libvirt pull XML with incremental modes, scratch files and backup=no for other disks', () => {
    const plan = planExternalBackup(input({ base: { set: set(), usable: true } }));
    const xml = pullBackupXml(
      plan,
      ['vda', 'vdb', 'hdc'],
      { transport: 'tcp', name: '127.0.0.1', port: 10809, tls: false },
      {
        vda: { type: 'file', path: '/p/a.scratch', format: 'qcow2' },
        vdb: { type: 'file', path: '/p/b.scratch', format: 'qcow2' },
      },
    );
    expect(xml).toBe(
      "<domainbackup mode='pull'><incremental>volback-b0</incremental><server transport='tcp' name='127.0.0.1' port='10809'/><disks>" +
        "<disk name='vda' backup='yes' type='file' backupmode='incremental' incremental='volback-b0' exportname='vda'><scratch file='/p/a.scratch'/><driver type='qcow2'/></disk>" +
        "<disk name='vdb' backup='yes' type='file' backupmode='full' exportname='vdb'><scratch file='/p/b.scratch'/><driver type='qcow2'/></disk>" +
        "<disk name='hdc' backup='no'/></disks></domainbackup>",
    );
  });

  it('reads export names and bitmaps back from the running job', async () => {
    const live = await parseLivePullJob(
      `<domainbackup mode='pull'><incremental>ck</incremental><server transport='tcp' name='127.0.0.1' port='4000'/><disks>
        <disk name='vda' backup='yes' type='file' backupmode='incremental' incremental='ck' exportname='vda' exportbitmap='backup-vda' index='3'><scratch file='/s/a'/></disk>
        <disk name='vdb' backup='no'/></disks></domainbackup>`,
    );
    expect(live.server).toEqual({
      transport: 'tcp',
      name: '127.0.0.1',
      port: 4000,
      socket: undefined,
      tls: false,
    });
    expect(live.exports).toEqual([
      { target: 'vda', exportName: 'vda', exportBitmap: 'backup-vda', scratchFile: '/s/a' },
    ]);
  });

  it('formats NBD URIs for TCP, TLS, IPv6 and unix sockets', () => {
    expect(nbdUri({ transport: 'tcp', name: '127.0.0.1', port: 10809, tls: false }, 'vda')).toBe(
      'nbd://127.0.0.1:10809/vda',
    );
    expect(nbdUri({ transport: 'tcp', name: 'backup.example', port: 10809, tls: true }, 'vda')).toBe(
      'nbds://backup.example:10809/vda',
    );
    expect(nbdUri({ transport: 'tcp', name: '::1', port: 5, tls: false }, 'vda')).toBe('nbd://[::1]:5/vda');
    expect(nbdUri({ transport: 'unix', socket: '/run/volback/nbd/u/nbd.sock' }, 'vda')).toBe(
      'nbd+unix:///vda?socket=/run/volback/nbd/u/nbd.sock',
    );
  });

  it('names scratch volumes so that the catalog never takes them for backups', () => {
    const name = scratchVolumeName({ domain: 'vm1', disk: 'vda', createdAt, setId: SET });
    expect(parseBackupVolumeName(name)).toBeUndefined();
    expect(parseMetadataVolumeName(name)).toBeUndefined();
    expect(
      scratchVolumeName({ domain: 'x'.repeat(200), disk: 'nvme0n1', createdAt, setId: SET }).length,
    ).toBeLessThanOrEqual(127);
  });
});

describe('loopback rule', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['10.0.0.5', false],
    ['::', false],
    ['backup.example', false],
  ])('%s is loopback: %s', (name, loopback) => expect(isLoopbackName(name)).toBe(loopback));

  it('refuses a non-loopback TCP export without TLS, allows it with TLS and allows unix sockets', () => {
    const err = (() => {
      try {
        assertSafeServer({ transport: 'tcp', name: '0.0.0.0' });
      } catch (e) {
        return e;
      }
    })();
    expect(isVolbackError(err, 'ERR_INVALID_INPUT')).toBe(true);
    expect(() => assertSafeServer({ transport: 'tcp', name: '10.0.0.5', tls: true })).not.toThrow();
    expect(() => assertSafeServer({ transport: 'unix', socket: '/run/x.sock' })).not.toThrow();
  });

  it('on a remote host refuses unix sockets and TCP without a port, and takes TCP with one', () => {
    expect(() => assertRemoteServer({ transport: 'unix', socket: '/run/x.sock' })).toThrow(
      /a unix socket \(\/run\/x.sock\) would be on the remote host/,
    );
    expect(() => assertRemoteServer({ transport: 'tcp', name: '127.0.0.1' })).toThrow(
      /needs a port: volback cannot see which ports are free there/,
    );
    expect(() => assertRemoteServer({ transport: 'tcp', name: '127.0.0.1', port: 10809 })).not.toThrow();
    expect(() =>
      assertRemoteServer({ transport: 'tcp', name: 'host.example', port: 10809, tls: true }),
    ).not.toThrow();
  });
});

describe('judgeSession', () => {
  const session = (over: Partial<SessionRecord> = {}): SessionRecord => ({
    version: 1,
    state: 'running',
    setId: SET,
    domain: { name: 'vm1', uuid: 'u-1' },
    createdAt: createdAt.toISOString(),
    kind: 'full',
    metadataPool: 'volback',
    startedBy: { user: 'root', host: 'h', pid: 42 },
    disks: [],
    domainXml: '<domain/>',
    ...over,
  });
  const now = new Date(createdAt.getTime() + 60_000);
  it('is live while running, with its job, its owner alive and not expired', () => {
    expect(
      judgeSession(session({ ownerPid: 7, expiresAt: new Date(now.getTime() + 1).toISOString() }), {
        jobRunning: true,
        ownerAlive: true,
        now,
      }),
    ).toEqual({ live: true });
  });
  it.each([
    ['a begin that never finished', session({ state: 'starting' }), true, true, /never finished/],
    ['a job libvirt no longer runs', session(), false, true, /no longer runs/],
    ['a dead owner', session({ ownerPid: 7 }), true, false, /owner process 7 is gone/],
    ['an expired session', session({ expiresAt: createdAt.toISOString() }), true, true, /expired/],
  ])('is stale for %s', (_what, record, jobRunning, ownerAlive, reason) => {
    const verdict = judgeSession(record, { jobRunning, ownerAlive, now });
    expect(verdict.live).toBe(false);
    expect((verdict as { reason: string }).reason).toMatch(reason);
  });
});

// Compressed backups before anything runs: the planner's refusals and formats, the engine choice,
// the config key, the CLI flag and the qemu-img command line that formats a zstd volume.
import { ErrorCodes, isVolbackError } from '../../src/errors';
import type { BackupSet } from '../../src/model';
import { planBackup, type PlanInput } from '../../src/core/backup/plan';
import { decideEngine, qmpUnavailable, type EngineFacts } from '../../src/core/backup/engine';
import type { PoolDriverCapabilities } from '../../src/pool/driver';
import { mergeConfig, parseConfigText } from '../../src/config';
import { definitionFrom, parseCompress } from '../../src/cli/commands/backup';
import { createZstdQcow2Argv } from '../../src/tools/qemu-img';

const MiB = 1024 * 1024;
const DIR: PoolDriverCapabilities = {
  fullFormats: ['qcow2', 'raw'],
  incremental: { kind: 'overlay', format: 'qcow2' },
  libvirtPushTarget: true,
  qmpTarget: 'fd',
  hostCopySource: true,
  compressedClusters: true,
};
const RBD: PoolDriverCapabilities = {
  fullFormats: ['raw'],
  incremental: { kind: 'clone' },
  libvirtPushTarget: false,
  qmpTarget: 'node',
  hostCopySource: false,
  compressedClusters: false,
};
const SET = '1a2b3c4d-0000-4000-8000-000000000001';

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    domain: {
      name: 'vm1',
      uuid: 'u-1',
      disks: [
        {
          target: 'vda',
          device: 'disk',
          type: 'file',
          sourcePath: '/img/vda.qcow2',
          format: 'qcow2',
          readonly: false,
        },
      ],
    },
    definition: { mode: 'push', kind: 'auto', disks: [] },
    facts: { vda: { virtualSize: 64 * MiB, allocation: 10 * MiB, compat: '1.1' } },
    base: undefined,
    defaults: { pool: 'volback', format: 'qcow2' },
    capabilities: (pool) => (pool === 'ceph' ? RBD : DIR),
    setId: SET,
    createdAt: new Date(Date.UTC(2026, 10, 26, 0, 15)),
    ...over,
  };
}

const parent: BackupSet = {
  id: 'b0000000-0000-4000-8000-000000000000',
  volbackVersion: '0.1.0',
  mode: 'push',
  kind: 'full',
  state: 'complete',
  createdAt: new Date(Date.UTC(2026, 10, 25)),
  domain: { name: 'vm1', uuid: 'u-1' },
  checkpoint: { name: 'volback-b0000000-0000-4000-8000-000000000000', xml: '<domaincheckpoint/>' },
  disks: [
    {
      id: 'd-vda',
      target: 'vda',
      sourcePath: '/img/vda.qcow2',
      sourceFormat: 'qcow2',
      volume: { pool: 'volback', name: 'vm1.vda.old.qcow2', format: 'qcow2' },
      kind: 'full',
      bitmap: 'volback-b0000000-0000-4000-8000-000000000000',
      virtualSize: 64 * MiB,
      bytesCopied: MiB,
    },
  ],
  domainXml: '<domain/>',
};

const refusal = (run: () => unknown): Error => {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal');
};

describe('planning a compressed backup', () => {
  it('is uncompressed unless the definition or the configured default says zstd', () => {
    expect(planBackup(input()).compression).toBeUndefined();
    expect(
      planBackup(input({ defaults: { pool: 'volback', format: 'qcow2', compression: 'zstd' } })).compression,
    ).toBe('zstd');
    const none = input({
      definition: { mode: 'push', kind: 'auto', disks: [], compression: 'none' },
      defaults: { pool: 'volback', format: 'qcow2', compression: 'zstd' },
    });
    expect(planBackup(none).compression).toBeUndefined();
  });

  it('makes a compressed full qcow2 even where the configured format is raw', () => {
    const plan = planBackup(
      input({
        definition: { mode: 'push', kind: 'full', disks: [], compression: 'zstd' },
        defaults: { pool: 'volback', format: 'raw' },
      }),
    );
    expect(plan.disks.map((d) => [d.format, d.kind])).toEqual([['qcow2', 'full']]);
  });

  it('continues a chain with a compressed incremental', () => {
    const plan = planBackup(
      input({
        definition: { mode: 'push', kind: 'auto', disks: [], compression: 'zstd' },
        base: { set: parent, usable: true },
      }),
    );
    expect(plan.compression).toBe('zstd');
    expect(plan.disks.map((d) => [d.format, d.kind, d.pool])).toEqual([['qcow2', 'incremental', 'volback']]);
  });

  it('refuses a pool that cannot hold compressed clusters, naming the disk and the pool', () => {
    const err = refusal(() =>
      planBackup(
        input({
          definition: { mode: 'push', kind: 'auto', disks: [], compression: 'zstd' },
          defaults: { pool: 'ceph', format: 'raw' },
        }),
      ),
    );
    expect(isVolbackError(err, ErrorCodes.POOL_UNSUPPORTED)).toBe(true);
    expect(err.message).toBe(
      'cannot compress the backup of disk vda: pool ceph cannot hold compressed qcow2 clusters',
    );
  });

  it('refuses a disk whose definition asks for a raw volume', () => {
    const err = refusal(() =>
      planBackup(
        input({
          definition: {
            mode: 'push',
            kind: 'auto',
            compression: 'zstd',
            disks: [{ name: 'vda', backup: true, target: { format: 'raw' } }],
          },
        }),
      ),
    );
    expect(err.message).toContain('only qcow2 holds compressed clusters');
  });
});

describe('the engine of a compressed backup', () => {
  const facts = (over: Partial<EngineFacts> = {}): EngineFacts => ({
    setting: 'auto',
    incremental: true,
    unwritable: [],
    domain: 'vm1',
    confinedBy: [],
    fdPassing: true,
    fdTargets: ['volback'],
    compressed: true,
    ...over,
  });

  it('is the QMP engine, required, for fulls and incrementals alike', () => {
    for (const incremental of [false, true])
      expect(decideEngine(facts({ incremental }))).toEqual({
        engine: 'qmp',
        required: true,
        why: "compressed backup: libvirt's push job cannot compress",
      });
  });

  it('is refused with backup_engine libvirt, a confined QEMU or a remote connection', () => {
    expect(decideEngine(facts({ setting: 'libvirt' }))).toEqual({
      refused:
        "a compressed backup needs the QMP engine (libvirt's push job cannot compress), and backup_engine is libvirt",
    });
    expect(decideEngine(facts({ confinedBy: ['apparmor'] }))).toEqual({
      refused: 'a compressed backup needs the QMP engine, which cannot copy vm1: it is confined by apparmor',
    });
    expect(decideEngine(facts({ fdPassing: false }))).toMatchObject({
      refused: expect.stringContaining('a compressed backup needs the QMP engine, which cannot copy vm1'),
    });
  });

  it('is refused, not handed to libvirt, when QEMU shows no plain graph', () => {
    expect(qmpUnavailable({ required: true }, facts(), 'disk vda: a filter node')).toEqual({
      refused: 'a compressed backup needs the QMP engine, which cannot copy vm1: disk vda: a filter node',
    });
  });
});

describe('configuration and command line', () => {
  it('reads backup_compression from the config file, default none', () => {
    expect(mergeConfig([]).backupCompression).toBe('none');
    const file = parseConfigText('backup_compression = "zstd"\n', 'f.conf');
    expect(mergeConfig([['file', file]]).backupCompression).toBe('zstd');
    expect(() => parseConfigText('backup_compression = "lz4"\n', 'f.conf')).toThrow(
      'f.conf:1: backup_compression must be one of none, zstd, got "lz4"',
    );
  });

  it('takes --compress zstd|none over the definition, and refuses anything else', async () => {
    expect(parseCompress(undefined)).toBeUndefined();
    expect(parseCompress('none')).toBe('none');
    expect(() => parseCompress('gzip')).toThrow("--compress must be zstd or none, got 'gzip'");
    expect(await definitionFrom({ compress: 'zstd' })).toEqual({
      mode: 'push',
      kind: 'auto',
      disks: [],
      compression: 'zstd',
    });
    expect(await definitionFrom({})).toBeUndefined();
  });

  it('formats a zstd qcow2 over a file, on its parent when it has one', () => {
    expect(createZstdQcow2Argv('/p/v.qcow2', 1024)).toEqual([
      'qemu-img',
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      'compat=1.1,compression_type=zstd',
      '/p/v.qcow2',
      '1024',
    ]);
    expect(createZstdQcow2Argv('/p/i.qcow2', 1024, { path: '/p/a,b.qcow2', format: 'qcow2' })).toEqual([
      'qemu-img',
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      'compat=1.1,compression_type=zstd',
      '-b',
      '/p/a,b.qcow2',
      '-F',
      'qcow2',
      '/p/i.qcow2',
      '1024',
    ]);
  });
});

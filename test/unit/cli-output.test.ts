// The CLI's pure pieces: the chain tree of `backup list`, sizes and times, and the exit-code mapping.
import { checksumsCell, renderSet, renderTree, renderVerify } from '../../src/cli/commands/backup';
import { ExitCode, UsageError, describeError, exitCodeFor } from '../../src/cli/exit-codes';
import { formatBytes, formatDuration, formatUtc } from '../../src/cli/format';
import { progressSink } from '../../src/cli/progress';
import { ErrorCodes, VolbackError } from '../../src/errors';
import type { BackupListing, DiskVerification, ListedSet, VerifyResult } from '../../src/index';
import type { BackupSet } from '../../src/model';

const MiB = 1024 * 1024;

function listed(id: string, at: number, parent?: string, childIds: string[] = []): ListedSet {
  const set: BackupSet = {
    id,
    volbackVersion: '0.1.0',
    mode: 'push',
    kind: parent ? 'incremental' : 'full',
    state: 'complete',
    createdAt: new Date(Date.UTC(2026, 10, 26, at, 0, 0)),
    parentId: parent,
    domain: { name: 'vm1', uuid: 'u-1' },
    disks: [
      {
        id: `${id}-a`,
        target: 'vda',
        sourcePath: '/a',
        sourceFormat: 'qcow2',
        kind: parent ? 'incremental' : 'full',
        virtualSize: 64 * MiB,
        bytesCopied: 2 * MiB,
      },
    ],
    domainXml: '<domain/>',
  };
  return { set, parentId: parent, childIds, restorable: true, problems: [], metadata: [] };
}

const empty: Omit<BackupListing, 'sets'> = {
  pools: ['volback'],
  problems: [],
  invalidMetadata: [],
  strayVolumes: [],
  unreadablePools: [],
};

describe('backup list tree', () => {
  it('draws children under their parent with time, kind and sizes', () => {
    const tree = renderTree({
      ...empty,
      sets: [
        listed('cccccccc-3', 2, 'aaaaaaaa-1'),
        listed('bbbbbbbb-2', 1, 'aaaaaaaa-1'),
        listed('aaaaaaaa-1', 0, undefined, ['bbbbbbbb-2', 'cccccccc-3']),
      ],
    });
    expect(tree.split('\n')).toEqual([
      'domain vm1 (u-1)',
      '  SET          CREATED (UTC)         KIND         DISKS  ON DISK  VIRTUAL  STATUS',
      '  aaaaaaaa     2026-11-26 00:00:00Z  full         vda    2.0 MiB  64 MiB   ok',
      '  ├─ bbbbbbbb  2026-11-26 01:00:00Z  incremental  vda    2.0 MiB  64 MiB   ok',
      '  └─ cccccccc  2026-11-26 02:00:00Z  incremental  vda    2.0 MiB  64 MiB   ok',
    ]);
  });

  it('lists problems after the trees, and says when there is nothing', () => {
    expect(renderTree({ ...empty, sets: [] })).toBe('no backups in pools: volback');
    const tree = renderTree({
      ...empty,
      sets: [],
      strayVolumes: [{ pool: 'volback', volume: 'vm1.vda.20261126T001500Z-1a2b3c4d.qcow2' }],
      unreadablePools: [{ pool: 'gone', error: 'storage pool is not active' }],
    });
    expect(tree).toContain('stray volume: vm1.vda.20261126T001500Z-1a2b3c4d.qcow2 in pool volback');
    expect(tree).toContain('unreadable pool: gone: storage pool is not active');
  });
});

describe('formatting', () => {
  it.each([
    [512, '512 B'],
    [1536, '1.5 KiB'],
    [64 * MiB, '64 MiB'],
    [5 * 1024 * MiB, '5.0 GiB'],
  ])('formatBytes(%d) = %s', (bytes, text) => expect(formatBytes(bytes)).toBe(text));

  it('prints UTC times to the second and durations as clocks', () => {
    expect(formatUtc(new Date(Date.UTC(2026, 10, 26, 0, 15, 0, 123)))).toBe('2026-11-26 00:15:00Z');
    expect([formatDuration(75), formatDuration(3725)]).toEqual(['1:15', '1:02:05']);
  });
});

describe('exit codes', () => {
  it.each([
    [new VolbackError(ErrorCodes.CANCELLED, 'x'), ExitCode.INTERRUPTED],
    [new UsageError('unknown flag --frob'), ExitCode.USAGE],
    [new VolbackError(ErrorCodes.NOT_FOUND, 'no domain', { fault: 'user' }), ExitCode.USAGE],
    [new VolbackError(ErrorCodes.XML_INVALID, 'bad xml', { fault: 'user' }), ExitCode.USAGE],
    [new VolbackError(ErrorCodes.CONFLICT, 'busy', { fault: 'user' }), ExitCode.FAILURE],
    [new VolbackError(ErrorCodes.INVALID_INPUT, 'our own bug', { fault: 'system' }), ExitCode.FAILURE],
    [new Error('plain'), ExitCode.FAILURE],
  ])('%s → %d', (err, code) => expect(exitCodeFor(err)).toBe(code));
});

describe('progress display', () => {
  const capture = (tty: boolean) => {
    let text = '';
    const stream = {
      isTTY: tty,
      columns: 100,
      write: (s: string) => ((text += s), true),
    } as unknown as NodeJS.WriteStream;
    return { sink: progressSink('backup vm1', { stream, tty, intervalMs: 0 }), text: () => text };
  };

  it('writes one line per disk when not on a terminal', () => {
    const { sink, text } = capture(false);
    sink.update({ phase: 'preparing' });
    sink.update({
      phase: 'copying',
      bytesDone: 3 * MiB,
      bytesTotal: 8 * MiB,
      items: [
        { name: 'vda', bytesDone: 2 * MiB, bytesTotal: 4 * MiB },
        { name: 'vdb', bytesDone: MiB, bytesTotal: 4 * MiB },
      ],
    });
    expect(text().split('\n')).toEqual([
      'progress: backup vm1: preparing',
      'progress: backup vm1 vda: copying 50% 2.0 MiB/4.0 MiB',
      'progress: backup vm1 vdb: copying 25% 1.0 MiB/4.0 MiB',
      '',
    ]);
  });

  it('redraws every disk bar in place on a terminal and clears them when done', () => {
    const { sink, text } = capture(true);
    const items = (done: number) => [
      { name: 'vda', bytesDone: done, bytesTotal: 4 * MiB },
      { name: 'vdb', bytesDone: done, bytesTotal: 4 * MiB },
    ];
    sink.update({ phase: 'copying', items: items(MiB) });
    sink.update({ phase: 'copying', items: items(2 * MiB) });
    sink.done();
    const out = text();
    expect(out.match(/backup vm1 vda \[#+-+\] copying 25%/g)).toHaveLength(1);
    expect(out.match(/backup vm1 vdb \[#+-+\] copying 50%/g)).toHaveLength(1);
    expect(out).toContain('\x1b[2A'); // back up over both bars to redraw them, and to clear them
    expect(out.endsWith('\x1b[2A\r\x1b[J')).toBe(true);
  });
});

describe('values read from pools are shown with their control characters escaped', () => {
  // A domain name (free text in metadata any host can write) that fakes a row and clears the screen.
  const evil =
    'vm1\n  ffffffff     2026-11-26 00:00:00Z  full  vda  2.0 MiB  64 MiB   ok\x1b[2J\x1b]0;pwned\x07';
  const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
  const hostile = (): ListedSet => {
    const s = listed('aaaaaaaa-1', 0);
    s.set.domain.name = evil;
    s.set.description = 'nightly\r\nrestorable: yes';
    s.set.disks[0]!.sourcePath = '/img/\u202egpj.exe';
    s.set.disks[0]!.volume = { pool: 'volback', name: 'vm1.vda\x1b[8m', format: 'qcow2' };
    return s;
  };

  it('in the backup list tree: one row per set, no raw control characters', () => {
    const tree = renderTree({
      ...empty,
      sets: [hostile()],
      strayVolumes: [{ pool: 'volback', volume: 'x\ny' }],
      invalidMetadata: [{ pool: 'volback', volume: 'm\x1b[1A.volback.xml', error: 'bad\rworse' }],
    });
    expect(tree).not.toMatch(CONTROL);
    const lines = tree.split('\n');
    expect(lines[0]).toBe(
      'domain vm1\\n  ffffffff     2026-11-26 00:00:00Z  full  vda  2.0 MiB  64 MiB   ok\\x1b[2J\\x1b]0;pwned\\x07 (u-1)',
    );
    expect(lines.filter((l) => /^\s+[0-9a-f]{8}\s/.test(l))).toHaveLength(1); // the one real set row
    expect(tree).toContain('stray volume: x\\ny in pool volback');
    expect(tree).toContain('invalid metadata: volume m\\x1b[1A.volback.xml in pool volback: bad\\rworse');
  });

  it('in backup show', () => {
    const out = renderSet(hostile());
    expect(out).not.toMatch(CONTROL);
    expect(out).toMatch(/^description: +nightly\\r\\nrestorable: yes$/m);
    expect(out).toContain('vm1.vda\\x1b[8m');
    expect(out).toContain('/img/\\u202egpj.exe');
    expect(out.split('\n').filter((l) => l.startsWith('restorable:'))).toHaveLength(1);
  });

  it('in error messages on stderr', () => {
    const err = new VolbackError(ErrorCodes.CHAIN_BROKEN, `backup set of ${evil} cannot be restored`, {
      hint: 'see\x1b[2K',
    });
    const text = describeError(err, false);
    expect(text).not.toMatch(CONTROL);
    expect(text.split('\n')).toHaveLength(2); // the error line and the hint line
  });

  it('keeps ordinary text, including non-ASCII names, as it is', () => {
    const s = listed('aaaaaaaa-1', 0);
    s.set.domain.name = 'café-vm ✓';
    expect(renderTree({ ...empty, sets: [s] }).split('\n')[0]).toBe('domain café-vm ✓ (u-1)');
  });
});

describe('backup verify report', () => {
  const disk = (
    target: string,
    checksums?: DiskVerification['checksums'],
    volume = true,
  ): DiskVerification => ({
    target,
    volume: volume ? { pool: 'p', name: `${target}.qcow2` } : undefined,
    chain: [`${target}.qcow2`],
    ok: true,
    problems: [],
    damage: [],
    checksums,
  });
  const base: VerifyResult = {
    setId: 's1',
    domain: 'vm1',
    deep: true,
    ok: true,
    verdict: 'ok',
    problems: [],
    disks: [],
    damage: [],
    recordedDamage: [],
    records: { written: [], cleared: false, failed: [] },
  };

  it('states what the checksums allowed for each disk', () => {
    const c = { extents: 1024, checkable: 1024, checked: 32, sample: true, state: 'complete' as const };
    expect(checksumsCell(disk('vda', c))).toBe('sample: 32 of 1024 extents');
    expect(checksumsCell(disk('vda', { ...c, checked: 1024, sample: false }))).toBe('all 1024 extents');
    expect(
      checksumsCell(disk('vda', { ...c, state: 'partial', checkable: 1000, checked: 1000, sample: false })),
    ).toBe('all 1000 extents, 24 unchecked (older layers)');
    expect(checksumsCell(disk('vda', { ...c, state: 'none' }))).toBe(
      'no checksums (taken before volback recorded them)',
    );
    expect(checksumsCell(disk('vda', undefined, false))).toBe('external: no data stored');
  });

  it('names the damage and what was recorded', () => {
    const finding = {
      setId: 's0',
      diskBackupId: 'd',
      target: 'vda',
      pool: 'p',
      volume: 'v.qcow2',
      range: { start: MiB, end: 2 * MiB },
      reason: 'its data does not match the checksum recorded at backup time',
    };
    const text = renderVerify({
      ...base,
      ok: false,
      verdict: 'damaged',
      damage: [finding],
      records: { written: ['s0'], cleared: false, failed: [] },
      disks: [disk('vda')],
    });
    expect(text.split('\n').slice(0, 3)).toEqual([
      'set s1 (vm1): DAMAGED (deep)',
      `  damaged: set s0 disk vda volume v.qcow2 (pool p) bytes ${MiB}-${2 * MiB - 1}: its data does not match the checksum recorded at backup time`,
      '  damage recorded in the pools for set s0',
    ]);
    expect(renderVerify({ ...base, verdict: 'no-checksums' })).toContain(
      'set s1 (vm1): no checksums (taken before volback recorded them) (deep)',
    );
  });
});

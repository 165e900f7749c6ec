// The logical driver's pure decisions: an incremental LV's size, its qcow2 header, a layer's format,
// and a merge's staging LV and steps.
import {
  incrementalLvBytes,
  layerFormatOf,
  layerHeaderArgv,
  mergeLvBytes,
  mergeSteps,
  type MergeHeader,
  type MergeStep,
} from '../../pool-drivers/logical/layer';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('logical driver layers', () => {
  it('sizes an incremental LV by the changed bytes, a margin and qcow2 metadata', () => {
    // 1 MiB changed on a 16 MiB disk: + 1 MiB margin + 4 clusters + one L2 table + one refcount block
    expect(incrementalLvBytes(16 * MiB, MiB)).toBe(2 * MiB + 6 * 64 * KiB);
    // 40 MiB changed on a 4 GiB disk: a quarter more, 8 L2 tables
    expect(incrementalLvBytes(4 * GiB, 40 * MiB)).toBe(50 * MiB + (4 + 8 + 1) * 64 * KiB);
    // never more data than the disk holds, and unknown changes take the whole disk
    expect(incrementalLvBytes(16 * MiB, 15 * MiB)).toBe(16 * MiB + 6 * 64 * KiB);
    expect(incrementalLvBytes(16 * MiB)).toBe(16 * MiB + 6 * 64 * KiB);
    // whole clusters
    expect(incrementalLvBytes(16 * MiB, 1000) % (64 * KiB)).toBe(0);
  });

  it('makes the header with qemu-img: qcow2 1.1 on the parent LV, unsafe as the parent is remote', () => {
    expect(layerHeaderArgv('/tmp/h.qcow2', 16 * MiB, '/dev/vg/full.raw', 'raw')).toEqual([
      'qemu-img',
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      'cluster_size=65536,compat=1.1',
      '-u',
      '-b',
      '/dev/vg/full.raw',
      '-F',
      'raw',
      '/tmp/h.qcow2',
      String(16 * MiB),
    ]);
  });

  it("tells a layer's format from volback's name, never from its bytes", () => {
    expect(layerFormatOf('vm.vda.20261202T000000Z-1a2b3c4d.qcow2')).toBe('qcow2');
    expect(layerFormatOf('vm.vda.20261202T000000Z-1a2b3c4d.raw')).toBe('raw');
    expect(layerFormatOf('vm.20261202T000000Z-1a2b3c4d.volback.xml')).toBe('raw');
  });
});

describe('logical driver merges', () => {
  it('sizes the staging LV by the layers it gathers, or the whole disk to stand alone', () => {
    // onto a base: the child's and the skipped layers' bytes, as an incremental of their sum
    expect(mergeLvBytes(16 * MiB, [MiB, 3 * MiB])).toBe(incrementalLvBytes(16 * MiB, 4 * MiB));
    // never more than the whole disk
    expect(mergeLvBytes(16 * MiB, [12 * MiB, 12 * MiB])).toBe(incrementalLvBytes(16 * MiB));
    // alone: the whole disk
    expect(mergeLvBytes(16 * MiB)).toBe(16 * MiB + 6 * 64 * KiB);
  });

  const C = '/dev/vg/vm.vda.20261203T000000Z-0000000c.qcow2';
  const BASE = '/dev/vg/vm.vda.20261201T000000Z-0000000a.raw';
  const OLD = '/dev/vg/vm.vda.20261202T000000Z-0000000b.qcow2';
  const on = (backing: string | undefined): MergeHeader => ({ backing });
  const ALL: MergeStep[] = ['stage', 'delete-child', 'copy', 'delete-staging'];

  // [what happened, base, child C's header, staging T's header, the steps]
  it.each<[string, string | undefined, MergeHeader, MergeHeader, MergeStep[]]>([
    ['nothing yet: the whole merge', BASE, on(OLD), 'missing', ALL],
    ['nothing yet, to stand alone', undefined, on(OLD), 'missing', ALL],
    ['done: C on the base, no T', BASE, on(BASE), 'missing', []],
    ['done: C alone, no T', undefined, on(undefined), 'missing', []],
    ['T made, stream not done: T still on C', BASE, on(OLD), on(C), ['delete-staging', ...ALL]],
    [
      'T made, header not yet written (zeroed by LVM)',
      BASE,
      on(OLD),
      'unreadable',
      ['delete-staging', ...ALL],
    ],
    ['alone: T made, stream not done', undefined, on(OLD), on(C), ['delete-staging', ...ALL]],
    ['T complete, C on the old parent', BASE, on(OLD), on(BASE), ['delete-child', 'copy', 'delete-staging']],
    ['T complete, C deleted', BASE, 'missing', on(BASE), ['copy', 'delete-staging']],
    ['alone: T complete, C deleted', undefined, 'missing', on(undefined), ['copy', 'delete-staging']],
    [
      'T complete, C a copy cut short (its header came first)',
      BASE,
      on(BASE),
      on(BASE),
      ['delete-child', 'copy', 'delete-staging'],
    ],
    [
      'T complete, C a copy cut short before its header',
      BASE,
      'unreadable',
      on(BASE),
      ['delete-child', 'copy', 'delete-staging'],
    ],
  ])('%s', (_what, base, child, staging, steps) => {
    expect(mergeSteps({ childPath: C, base, child, staging })).toEqual(steps);
  });

  it.each<[string, MergeHeader, MergeHeader]>([
    ['C missing, no T', 'missing', 'missing'],
    ['C unreadable, no T', 'unreadable', 'missing'],
    ['C missing, T incomplete', 'missing', on(C)],
    ['C unreadable, T unreadable', 'unreadable', 'unreadable'],
    // T may be the only whole copy, unreadable this once: C (naming the base) may be cut short.
    ['C on the base, T unreadable', on(BASE), 'unreadable'],
    ['C on the base, T still on C (no legal run leaves this)', on(BASE), on(C)],
    // Not a staging LV volback made: nothing is deleted on its word.
    ['C on the old parent, T on another volume', on(OLD), on('/dev/vg/other')],
  ])('refuses what no step can finish: %s', (_what, child, staging) => {
    expect(() => mergeSteps({ childPath: C, base: BASE, child, staging })).toThrow(
      /no complete staging copy/,
    );
  });
});

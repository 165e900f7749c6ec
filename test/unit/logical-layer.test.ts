// The logical driver's pure decisions: an incremental LV's size, its qcow2 header, a layer's format.
import { incrementalLvBytes, layerFormatOf, layerHeaderArgv } from '../../pool-drivers/logical/layer';

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

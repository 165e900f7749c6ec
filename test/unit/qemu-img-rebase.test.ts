// The argv of qemu-img rebase, the data step of a merge (safe mode: never -u).
import { rebaseArgv } from '../../src/tools/qemu-img';

describe('qemu-img rebase argv', () => {
  it('rebases onto a new qcow2 parent in safe mode', () => {
    expect(
      rebaseArgv({ path: '/p/c.qcow2', format: 'qcow2' }, { path: '/p/a.qcow2', format: 'qcow2' }),
    ).toEqual(['qemu-img', 'rebase', '-f', 'qcow2', '-b', '/p/a.qcow2', '-F', 'qcow2', '/p/c.qcow2']);
  });

  it("makes an image stand alone with -b '' and no backing format", () => {
    const argv = rebaseArgv({ path: '/p/c.qcow2', format: 'qcow2' });
    expect(argv).toEqual(['qemu-img', 'rebase', '-f', 'qcow2', '-b', '', '/p/c.qcow2']);
    expect(argv).not.toContain('-u');
  });
});

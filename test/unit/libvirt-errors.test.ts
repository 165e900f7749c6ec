// How libvirt's errors read to a user: a failure of the RPC layer (libvirtd gone) says what to do next.
import { fromNative, LibvirtError } from '../../src/libvirt/errors';

const native = (libvirtDomain: number, message: string) =>
  Object.assign(new Error(message), {
    libvirtCode: 1,
    libvirtDomain,
    libvirtFunction: 'virDomainGetJobStats',
  });

describe('LibvirtError', () => {
  it('hints at repair when the connection to libvirtd was lost (VIR_FROM_RPC)', () => {
    const err = fromNative(native(7, 'internal error: client socket is closed')) as LibvirtError;
    expect(err).toBeInstanceOf(LibvirtError);
    expect(err.domainName).toBe('VIR_FROM_RPC');
    expect(err.message).toBe('virDomainGetJobStats: internal error: client socket is closed');
    expect(err.hint).toMatch(/connection to libvirtd was lost.*volback repair/);
  });

  it('gives no such hint for an error of the operation itself', () => {
    const err = fromNative(native(10, 'Domain not found')) as LibvirtError;
    expect(err.domainName).toBe('VIR_FROM_QEMU');
    expect(err.hint).toBeUndefined();
  });
});

// Local or remote, and private or plain, from a libvirt URI (pure logic).
import { connectionKind, requirePrivateConnection } from '../../src/host/connection-kind';

describe('connection kind', () => {
  it.each([
    ['qemu:///system', { local: true, transport: 'unix', private: true }],
    ['qemu:///session', { local: true, transport: 'unix', private: true }],
    [
      'qemu:///system?socket=/var/lib/volback/secondhost/run/libvirt-sock',
      { local: true, transport: 'unix', private: true },
    ],
    ['qemu+unix:///system', { local: true, transport: 'unix', private: true }],
    ['test:///default', { local: true, transport: 'unix', private: true }],
  ])('%s is local', (uri, want) => {
    expect(connectionKind(uri)).toEqual(want);
  });

  it.each([
    ['qemu+tcp://127.0.0.1:16709/system', { local: false, transport: 'tcp', private: false }],
    ['qemu+tcp://localhost/system', { local: false, transport: 'tcp', private: false }],
    [
      'qemu+ssh://root@127.0.0.1:16722/system?keyfile=/k&no_tty=1',
      { local: false, transport: 'ssh', private: true },
    ],
    ['qemu+libssh2://user@host/system', { local: false, transport: 'libssh2', private: true }],
    ['qemu://kvm1.example.org/system', { local: false, transport: 'tls', private: true }],
    ['qemu+TLS://kvm1/system', { local: false, transport: 'tls', private: true }],
    ['qemu+ext:///system?command=/bin/helper', { local: false, transport: 'ext', private: false }],
    ['qemu+unix://somehost/system', { local: false, transport: 'unix', private: true }],
  ])('%s is remote', (uri, want) => {
    expect(connectionKind(uri)).toEqual(want);
  });

  it.each(['', 'system', '/var/run/libvirt/libvirt-sock', 'qemu:/system'])('refuses %j', (uri) => {
    expect(() => connectionKind(uri)).toThrow(/not a libvirt URI/);
  });

  it('refuses to read a key over a plain transport, naming it and the fix', () => {
    expect(() => requirePrivateConnection('qemu+tcp://10.0.0.2/system', 'the key')).toThrow(
      'will not read the key over qemu+tcp://10.0.0.2/system: the tcp transport would carry it unencrypted',
    );
    for (const uri of ['qemu:///system', 'qemu+ssh://root@h/system', 'qemu://h/system'])
      expect(() => requirePrivateConnection(uri, 'the key')).not.toThrow();
  });
});

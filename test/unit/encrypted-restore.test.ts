// A restore into encrypted volumes, its pure parts (docs/encryption.md): which targets are refused
// before anything is created, the restored domain's disk naming the secret, and `--encrypt-target`.
import { copyWayFor } from '../../src/core/restore/copy';
import { checkEncryptedTarget } from '../../src/core/restore/encrypted-target';
import { encryptTargetFlag } from '../../src/cli/encryption-flag';
import type { OpenPool } from '../../src/pool/pool-layer';
import { rewriteDomainXml } from '../../src/xml/libvirt-domain';
import { createDirDriver } from '../../pool-drivers/dir';
import { createLogicalDriver } from '../../pool-drivers/logical';
import { createRbdDriver } from '../../pool-drivers/rbd';

const UUID = '5a1d0c3e-0000-4000-8000-00000000e0c1';
const pool = (type: string, driver: unknown): OpenPool =>
  ({ name: `p-${type}`, type, driver }) as unknown as OpenPool;
const DIR = pool('dir', createDirDriver());

describe('checkEncryptedTarget', () => {
  it('takes a qcow2 volume that qemu-img here writes into a dir pool', () => {
    expect(() => checkEncryptedTarget({ uuid: UUID }, DIR, 'convert', 'qcow2')).not.toThrow();
  });

  it.each([
    [
      'an rbd pool',
      pool('rbd', createRbdDriver()),
      'convert',
      'qcow2',
      /pool 'p-rbd' \(rbd\) cannot store encrypted volumes/,
    ],
    [
      'a logical pool',
      pool('logical', createLogicalDriver()),
      'convert',
      'qcow2',
      /\(logical\) cannot store encrypted/,
    ],
    ['a live layer', DIR, 'live', 'qcow2', /live restore .* not encrypted/],
    ['a copy by libvirt on a remote host', DIR, 'host', 'qcow2', /not on the host volback runs on/],
    ['a stream to another host', DIR, 'stream', 'qcow2', /not on the host volback runs on/],
    ['a raw volume', DIR, 'convert', 'raw', /would be raw; encrypted volumes are LUKS-encrypted qcow2/],
  ] as const)('refuses %s, naming the secret', (_what, target, way, format, message) => {
    const refused = (() => {
      try {
        checkEncryptedTarget({ usage: 'vm1 restores' }, target, way, format);
      } catch (err) {
        return err as Error & { code?: string };
      }
      return undefined;
    })();
    expect(refused?.message).toMatch(message);
    expect(refused?.message).toContain("libvirt secret with usage 'vm1 restores'");
    expect(refused?.code).toBe('ERR_POOL_UNSUPPORTED');
  });
});

describe('how an encrypted chain is copied', () => {
  const on = (uri: string) => ({ getURI: async () => uri });
  const remote = on('qemu+ssh://root@h/system');
  const local = on('qemu:///system');
  const openPool = (conn: unknown, driver: unknown): OpenPool =>
    ({ name: 'p', type: 'dir', conn, driver }) as unknown as OpenPool;

  it('streams through volback reader on a remote host: libvirt would give only the top layer the key', async () => {
    const there = openPool(remote, createDirDriver());
    expect(await copyWayFor(there, there)).toBe('host');
    expect(await copyWayFor(there, there, true)).toBe('stream');
    const here = openPool(local, createDirDriver());
    expect(await copyWayFor(here, here, true)).toBe('convert');
  });

  it('refuses a remote target that cannot take an upload, before anything is made', async () => {
    const there = openPool(remote, createDirDriver());
    const noUpload = openPool(remote, { ...createDirDriver(), openUpload: undefined });
    await expect(copyWayFor(there, noUpload, true)).rejects.toThrow(/cannot take a restore of pool/);
  });
});

describe('the restored domain', () => {
  const DOMAIN = `<domain type='qemu'><name>vm1</name><devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/old/a.qcow2'/>
      <encryption format='luks'><secret type='passphrase' uuid='00000000-0000-4000-8000-000000000000'/></encryption>
      <target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/old/b.qcow2'/>
      <encryption format='luks'><secret type='passphrase' uuid='00000000-0000-4000-8000-000000000000'/></encryption>
      <target dev='vdb' bus='virtio'/></disk>
  </devices></domain>`;

  it('names the target secret on an encrypted disk; a plain one keeps no old <encryption>', async () => {
    const xml = await rewriteDomainXml(DOMAIN, {
      disks: {
        vda: { type: 'file', file: '/r/a.qcow2', format: 'qcow2' },
        vdb: { type: 'file', file: '/r/b.qcow2', format: 'qcow2' },
      },
      encryptedDisks: { vda: UUID },
    });
    const disks = xml.split('<disk ').slice(1);
    expect(disks[0]).toMatch(
      new RegExp(`<encryption format="luks">\\s*<secret type="passphrase" uuid="${UUID}"/>\\s*</encryption>`),
    );
    expect(disks[1]).not.toContain('<encryption');
    expect(xml).not.toContain('00000000-0000-4000-8000-000000000000');
  });
});

describe('--encrypt-target', () => {
  it('names a secret by UUID or by usage; empty is a usage error', () => {
    expect(encryptTargetFlag({})).toBeUndefined();
    expect(encryptTargetFlag({ 'encrypt-target': UUID.toUpperCase() })).toEqual({ uuid: UUID });
    expect(encryptTargetFlag({ 'encrypt-target': 'vm1 restores' })).toEqual({ usage: 'vm1 restores' });
    expect(() => encryptTargetFlag({ 'encrypt-target': '' })).toThrow('--encrypt-target');
  });
});

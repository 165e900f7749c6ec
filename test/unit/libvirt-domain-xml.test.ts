// Reading and rewriting libvirt domain/pool/volume XML for the coordinator and restore.
import { parseDomainXml, parsePoolXml, parseVolumeXml, rewriteDomainXml } from '../../src/xml/libvirt-domain';

const DOMAIN = `<domain type='qemu'>
  <name>vm1</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <memory unit='KiB'>131072</memory>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/vm1-a.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/vg/vm1-b'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='user'><model type='virtio'/></interface>
  </devices>
</domain>`;

describe('libvirt domain XML', () => {
  it('lists disks with source, format, device and alias', async () => {
    const summary = await parseDomainXml(DOMAIN);
    expect(summary).toMatchObject({
      name: 'vm1',
      uuid: '11111111-2222-3333-4444-555555555555',
      type: 'qemu',
    });
    expect(summary.disks).toEqual([
      {
        target: 'vda',
        device: 'disk',
        type: 'file',
        sourcePath: '/var/lib/libvirt/images/vm1-a.qcow2',
        sourcePool: undefined,
        sourceVolume: undefined,
        format: 'qcow2',
        readonly: false,
        alias: 'virtio-disk0',
      },
      {
        target: 'vdb',
        device: 'disk',
        type: 'block',
        sourcePath: '/dev/vg/vm1-b',
        sourcePool: undefined,
        sourceVolume: undefined,
        format: 'raw',
        readonly: false,
        alias: undefined,
      },
      {
        target: 'sda',
        device: 'cdrom',
        type: 'file',
        sourcePath: undefined,
        sourcePool: undefined,
        sourceVolume: undefined,
        format: undefined,
        readonly: true,
        alias: undefined,
      },
    ]);
  });

  it('names the access-control models that confine the running QEMU', async () => {
    expect((await parseDomainXml(DOMAIN)).confinedBy).toEqual([]);
    const live = (labels: string): string => DOMAIN.replace('</devices>', `</devices>${labels}`);
    const dac = "<seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+64055</label></seclabel>";
    expect((await parseDomainXml(live(dac))).confinedBy).toEqual([]);
    expect((await parseDomainXml(live(dac))).qemuUser).toEqual({ uid: 64055, gid: 64055 });
    expect((await parseDomainXml(DOMAIN)).qemuUser).toBeUndefined();
    const apparmor =
      "<seclabel type='dynamic' model='apparmor' relabel='yes'><label>libvirt-1111</label></seclabel>";
    expect((await parseDomainXml(live(apparmor + dac))).confinedBy).toEqual(['apparmor']);
    expect((await parseDomainXml(live("<seclabel type='none' model='selinux'/>"))).confinedBy).toEqual([]);
    expect(
      (await parseDomainXml(live("<seclabel type='dynamic' model='selinux' relabel='yes'/>"))).confinedBy,
    ).toEqual(['selinux']);
  });

  it('rewrites name, UUID and disk sources for a restore, keeping other devices', async () => {
    const xml = await rewriteDomainXml(DOMAIN, {
      name: 'vm1-restored',
      newUuid: true,
      disks: {
        vda: { path: '/r/vm1.vda.raw', format: 'raw', type: 'file' },
        vdb: { path: '/r/vdb.qcow2', format: 'qcow2', type: 'file' },
      },
      dropDisks: ['sda'],
    });
    const summary = await parseDomainXml(xml);
    expect(summary.name).toBe('vm1-restored');
    expect(summary.uuid).toBe('');
    expect(summary.disks.map((d) => [d.target, d.type, d.sourcePath, d.format])).toEqual([
      ['vda', 'file', '/r/vm1.vda.raw', 'raw'],
      ['vdb', 'file', '/r/vdb.qcow2', 'qcow2'],
    ]);
    expect(xml).toContain('<interface type="user">');
  });

  it("gives a restored disk a bare new source: nothing of the old one's children, secrets or encryption", async () => {
    const stored = `<domain type='kvm'><name>vm1</name><devices>
      <disk type='network' device='disk'>
        <driver name='qemu' type='raw' cache='none'/>
        <source protocol='rbd' name='pool/vm1'><host name='10.0.0.1'/><seclabel model='dac' relabel='no'/></source>
        <auth username='libvirt'><secret type='ceph' uuid='2ec115d7-3a88-3ceb-bc12-0ac909a6fd87'/></auth>
        <encryption format='luks'><secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/></encryption>
        <backingStore/>
        <target dev='vda' bus='virtio'/>
        <serial>abc</serial>
      </disk></devices></domain>`;
    const xml = await rewriteDomainXml(stored, {
      disks: { vda: { path: '/r/vda.qcow2', format: 'qcow2', type: 'file' } },
    });
    expect(xml).toContain('<source file="/r/vda.qcow2"/>');
    for (const gone of ['host', 'seclabel', 'auth', 'secret', 'encryption', 'backingStore', 'rbd'])
      expect({ gone, found: xml.includes(gone) }).toEqual({ gone, found: false });
    expect(xml).toContain('<driver name="qemu" type="qcow2" cache="none"/>');
    expect(xml).toContain('<serial>abc</serial>');
  });

  it('reads pool type and path, and volume path, format, compat and backing store', async () => {
    expect(
      await parsePoolXml("<pool type='dir'><name>volback</name><target><path>/b</path></target></pool>"),
    ).toEqual({
      type: 'dir',
      name: 'volback',
      path: '/b',
    });
    const vol =
      await parseVolumeXml(`<volume type='file'><name>x.qcow2</name><capacity unit='bytes'>1048576</capacity>
      <target><path>/b/x.qcow2</path><format type='qcow2'/><compat>1.1</compat></target>
      <backingStore><path>/b/p.qcow2</path><format type='qcow2'/></backingStore></volume>`);
    expect(vol).toEqual({
      name: 'x.qcow2',
      path: '/b/x.qcow2',
      format: 'qcow2',
      compat: '1.1',
      backingPath: '/b/p.qcow2',
      capacity: 1048576,
    });
  });

  it('names what failed to parse', async () => {
    await expect(parseDomainXml('<domain><name>x</domain>')).rejects.toThrow(/cannot parse domain XML/);
  });
});

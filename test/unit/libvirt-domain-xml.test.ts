// Reading and rewriting libvirt domain/pool/volume XML for the coordinator and restore.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDomainXml, rewriteDomainXml } from '../../src/xml/libvirt-domain';
import { parsePoolIdentity, parsePoolTargetPath, parseVolumeXml } from '../../src/xml/libvirt-storage';

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
        backed: false,
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
        backed: false,
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
        backed: false,
      },
    ]);
  });

  it('tells a live disk that stands on a backing image from one that stands alone', async () => {
    const live = (backing: string) =>
      DOMAIN.replace("<target dev='vda' bus='virtio'/>", `${backing}<target dev='vda' bus='virtio'/>`);
    const chain =
      "<backingStore type='file' index='1'><format type='qcow2'/><source file='/b/full.qcow2'/><backingStore/></backingStore>";
    expect((await parseDomainXml(live(chain))).disks[0].backed).toBe(true);
    expect((await parseDomainXml(live('<backingStore/>'))).disks[0].backed).toBe(false);
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
        vda: { type: 'file', file: '/r/vm1.vda.raw', format: 'raw' },
        vdb: { type: 'file', file: '/r/vdb.qcow2', format: 'qcow2' },
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

  it('points a restored disk at a network image with its auth, and a file disk away from one', async () => {
    const onRbd = DOMAIN.replace(
      "<source dev='/dev/vg/vm1-b'/>",
      "<source protocol='rbd' name='old/img'><host name='10.0.0.9' port='6789'/></source><auth username='old'><secret type='ceph' uuid='00000000-0000-4000-8000-000000000000'/></auth>",
    ).replace("<disk type='block' device='disk'>", "<disk type='network' device='disk'>");
    const xml = await rewriteDomainXml(onRbd, {
      disks: {
        vda: {
          type: 'network',
          format: 'raw',
          protocol: 'rbd',
          name: 'backups/vm1.vda.restored',
          hosts: [{ name: '127.0.0.1', port: 16789 }],
          auth: {
            username: 'volback',
            secretType: 'ceph',
            secretUuid: '6d1e3b14-5800-4a13-a18d-6416993377e2',
          },
        },
        vdb: { type: 'file', file: '/r/vdb.raw', format: 'raw' },
      },
    });
    const file = join(mkdtempSync(join(tmpdir(), 'volback-dom-')), 'd.xml');
    writeFileSync(file, xml);
    const check = spawnSync(
      'xmllint',
      ['--noout', '--relaxng', '/usr/share/libvirt/schemas/domain.rng', file],
      {
        encoding: 'utf8',
      },
    );
    expect(check.stderr).toBe(`${file} validates\n`);
    expect(xml).toContain('<disk type="network" device="disk">');
    expect(xml).toMatch(
      /<source protocol="rbd" name="backups\/vm1.vda.restored">\s*<host name="127.0.0.1" port="16789"\/>\s*<auth username="volback">\s*<secret type="ceph" uuid="6d1e3b14-5800-4a13-a18d-6416993377e2"\/>\s*<\/auth>\s*<\/source>/,
    );
    // The disk that moved from the network to a file keeps neither hosts nor the old credentials.
    expect(xml).not.toContain('10.0.0.9');
    expect(xml).not.toContain('username="old"');
    expect((await parseDomainXml(xml)).disks.find((d) => d.target === 'vdb')).toMatchObject({
      type: 'file',
      sourcePath: '/r/vdb.raw',
      format: 'raw',
    });
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
      disks: { vda: { type: 'file', file: '/r/vda.qcow2', format: 'qcow2' } },
    });
    expect(xml).toContain('<source file="/r/vda.qcow2"/>');
    for (const gone of ['host', 'seclabel', 'auth', 'secret', 'encryption', 'backingStore', 'rbd'])
      expect({ gone, found: xml.includes(gone) }).toEqual({ gone, found: false });
    expect(xml).toContain('<driver name="qemu" type="qcow2" cache="none"/>');
    expect(xml).toContain('<serial>abc</serial>');
  });

  it('reads pool type and path, and volume path, format, compat and backing store', async () => {
    const pool = "<pool type='dir'><name>volback</name><target><path>/b</path></target></pool>";
    expect({ ...(await parsePoolIdentity(pool)), path: await parsePoolTargetPath(pool) }).toEqual({
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
      type: 'file',
      path: '/b/x.qcow2',
      format: 'qcow2',
      compat: '1.1',
      backingPath: '/b/p.qcow2',
      backingFormat: 'qcow2',
      capacity: 1048576,
    });
  });

  it('names what failed to parse', async () => {
    await expect(parseDomainXml('<domain><name>x</domain>')).rejects.toThrow(/cannot parse domain XML/);
  });
});

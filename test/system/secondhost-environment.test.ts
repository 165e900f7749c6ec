// The second libvirt host of scripts/secondhost, seen through volback's binding next to host 1
// (qemu:///system): it answers on its own socket with its own host UUID, sees none of host 1's
// domains, holds only the Ceph pool and its secret, lists the same RBD volumes as host 1, and starts
// a domain whose disk is an rbd network disk with <auth>. A host that is not running fails every
// test with the command that fixes it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { isLibvirtNotFound, virStorageVolType, type Connection, type StoragePool } from '../../src/libvirt';
import { escapeXml } from '../../src/xml/escape';
import {
  Cleanup,
  REPO_ROOT,
  TEST_PREFIX,
  buildDomainXml,
  chooseVirtType,
  openSystemConnection,
  uniqueName,
  volumeXml,
} from '../support';
import {
  SECONDHOST_FIX,
  openSecondHost,
  parseEnvLines,
  runAsHost2,
  secondHost,
  secondHostEnv,
  volbackAsHost2,
  type SecondHostEnv,
} from '../support/second-host';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const KiB = 1024;

// An rbd pool refresh opens every image: tens of seconds while a bench keeps thousands in the pool.
jest.setTimeout(300_000);

/** `<host><uuid>` of a capabilities document. */
const hostUuid = (caps: string): string | undefined => caps.match(/<host>\s*<uuid>([^<]+)<\/uuid>/)?.[1];

/** Attributes and names of a pool or secret XML that must agree between the two hosts. */
function signature(xml: string): string[] {
  return (
    xml.match(
      /<pool type='[a-z]+'|<secret [^>]*>|<usage [^>]*>|<host [^>]*>|<name>[^<]*<\/name>|<auth [^>]*>/g,
    ) ?? []
  );
}

/** Names of a list of handles, freeing them. */
async function names(handles: Array<{ getName(): Promise<string>; free(): void }>): Promise<string[]> {
  return (await Promise.all(handles.map((h) => h.getName().finally(() => h.free())))).sort();
}

/** True when `p` fails with libvirt's "not found". */
const notFound = (p: Promise<unknown>): Promise<boolean> =>
  p.then(
    () => false,
    (err: unknown) => isLibvirtNotFound(err),
  );

/** Names made by other tests (which may run on either host meanwhile) are left out of "exactly". */
const notTestMade = (name: string): boolean => !name.startsWith(`${TEST_PREFIX}-`);

describe('second libvirt host (scripts/secondhost) beside qemu:///system', () => {
  const cleanup = new Cleanup();
  let host2: SecondHostEnv;
  let ceph: Record<string, string>;
  let conn1: Connection;
  let conn2: Connection;
  let pool1: StoragePool;
  let pool2: StoragePool;
  const virsh2 = async (...args: string[]): Promise<string> =>
    (await run('virsh', ['-q', '-c', host2.uri, ...args])).stdout;

  beforeAll(async () => {
    await secondHost('status');
    host2 = await secondHostEnv();
    ceph = parseEnvLines((await run('bash', [path.join(REPO_ROOT, 'scripts/ceph'), 'env'])).stdout);
    conn1 = cleanup.connection(await openSystemConnection());
    conn2 = cleanup.connection(await openSecondHost(host2.uri));
    const lookup = async (conn: Connection, which: string): Promise<StoragePool> => {
      try {
        return await conn.lookupStoragePoolByName(ceph.VOLBACK_CEPH_LIBVIRT_POOL);
      } catch (err) {
        throw new Error(`${which} has no libvirt pool ${ceph.VOLBACK_CEPH_LIBVIRT_POOL}. ${SECONDHOST_FIX}`, {
          cause: err,
        });
      }
    };
    pool1 = await lookup(conn1, 'host 1');
    pool2 = await lookup(conn2, 'host 2');
    cleanup.add('free pool handles', async () => {
      pool1.free();
      pool2.free();
    });
  });

  afterAll(() => cleanup.run());

  it('answers on its own unix socket, not on host 1', async () => {
    expect(host2.uri).toBe(`qemu:///system?socket=${host2.socket}`);
    expect(fs.statSync(host2.socket).isSocket()).toBe(true);
    expect(host2.socket).toBe(path.join(host2.dir, 'run/libvirt-sock'));
    expect(await conn2.getType()).toBe('QEMU');
    expect(await conn2.getLibVersion()).toBeGreaterThanOrEqual(9_000_000);
    // its own run directory: host 1's socket is another file
    expect(fs.statSync(host2.socket).ino).not.toBe(fs.statSync('/run/libvirt/libvirt-sock').ino);
    // its directory is root-only, and it listens on no TCP port (no --listen)
    expect(fs.statSync(host2.dir).mode & 0o777).toBe(0o700);
    const pid = fs.readFileSync(path.join(host2.dir, 'libvirtd.pid'), 'utf8').trim();
    const { stdout } = await run('ss', ['-Hltnp']);
    expect(stdout).not.toContain(`pid=${pid},`);
  });

  it('has its own host UUID, the one scripts/secondhost gave it', async () => {
    const uuid1 = hostUuid(await conn1.getCapabilities());
    const uuid2 = hostUuid(await conn2.getCapabilities());
    expect(uuid2).toBe(host2.hostUuid);
    expect(uuid1).toMatch(/^[0-9a-f-]{36}$/);
    expect(uuid2).not.toBe(uuid1);
  });

  it('sees none of host 1’s domains', async () => {
    const virt = await chooseVirtType(conn1);
    const name = uniqueName('host1-only');
    const dom = cleanup.domain(await conn1.defineDomain(buildDomainXml({ name, virt })));
    const uuid = await dom.getUUIDString();
    expect(await notFound(conn2.lookupDomainByName(name))).toBe(true);
    expect(await notFound(conn2.lookupDomainByUUID(uuid))).toBe(true);
    const on1 = await names(await conn1.listAllDomains());
    const on2 = await names(await conn2.listAllDomains());
    expect(on1).toContain(name);
    expect(on2).not.toContain(name);
    // host 2 holds no domain but what tests start there
    expect(on2.filter(notTestMade)).toEqual([]);
  });

  it('holds exactly the Ceph pool and its secret, defined as on host 1, and nothing else', async () => {
    const pools = await names(await conn2.listAllStoragePools());
    expect(pools.filter(notTestMade)).toEqual([ceph.VOLBACK_CEPH_LIBVIRT_POOL]);
    expect(await pool2.isActive()).toBe(true);
    expect(await pool2.getAutostart()).toBe(true);
    expect(signature(await pool2.getXMLDesc())).toEqual(signature(await pool1.getXMLDesc()));
    expect(await pool2.getXMLDesc()).toContain(`<secret uuid='${ceph.VOLBACK_CEPH_SECRET_UUID}'/>`);

    const secrets = (await virsh2('secret-list')).trim().split('\n');
    expect(secrets.map((line) => line.trim().split(/\s+/)[0])).toEqual([ceph.VOLBACK_CEPH_SECRET_UUID]);
    const secret2 = await virsh2('secret-dumpxml', ceph.VOLBACK_CEPH_SECRET_UUID);
    const secret1 = (
      await run('virsh', ['-q', '-c', 'qemu:///system', 'secret-dumpxml', ceph.VOLBACK_CEPH_SECRET_UUID])
    ).stdout;
    expect(signature(secret2)).toEqual(signature(secret1));
    // its value is the cephx key (compared here, never printed); a private secret cannot be read back
    if (secret1.includes("private='yes'")) {
      await expect(virsh2('secret-get-value', ceph.VOLBACK_CEPH_SECRET_UUID)).rejects.toThrow(/private/);
    } else {
      const value = (await virsh2('secret-get-value', ceph.VOLBACK_CEPH_SECRET_UUID)).trim();
      const key = fs.readFileSync(ceph.VOLBACK_CEPH_KEY_FILE, 'utf8').trim();
      expect(value === key).toBe(true);
    }

    // no virtual networks or filters (host 1 has a `default` network defined; host 2 never got it)
    expect((await virsh2('net-list', '--all', '--name')).trim()).toBe('');
    expect((await virsh2('nwfilter-list')).trim()).toBe('');
  });

  it('lists the RBD volumes host 1 lists, and one host 1 creates and deletes', async () => {
    // Each refresh of an rbd pool opens every image (slow with thousands), so only four. Other
    // tests may add or remove volumes meanwhile, so host 2's list, read between two of host 1's,
    // holds every volume both of those hold and none that neither holds.
    const name = uniqueName('shared');
    const vol1 = cleanup.volume(await pool1.createVolume(volumeXml(name, 8 * MiB, 'raw')));
    await pool1.refresh();
    const before = new Set(await pool1.listVolumeNames());
    await pool2.refresh();
    const seen = await pool2.listVolumeNames();
    await pool1.refresh();
    const after = new Set(await pool1.listVolumeNames());
    expect(seen).toContain(name);
    for (const v of before) if (after.has(v)) expect(seen).toContain(v);
    for (const v of seen) expect(before.has(v) || after.has(v)).toBe(true);

    const vol2 = await pool2.lookupVolumeByName(name);
    try {
      expect(await vol2.getInfo()).toMatchObject({
        type: virStorageVolType.VIR_STORAGE_VOL_NETWORK,
        capacity: 8 * MiB,
      });
      expect(await vol2.getPath()).toBe(await vol1.getPath());
      // deleted through host 1: host 2 finds the image gone (getInfo opens it), and after a refresh
      // no longer lists it
      await vol1.delete();
      await expect(vol2.getInfo()).rejects.toThrow(/No such file or directory|not found/i);
      await pool2.refresh();
      expect(await pool2.listVolumeNames()).not.toContain(name);
    } finally {
      vol2.free();
    }
  });

  it('starts a domain whose disk is an rbd network disk with <auth>, reading and writing the image', async () => {
    const image = uniqueName('rbd-disk');
    const vol = cleanup.volume(await pool2.createVolume(volumeXml(image, 16 * MiB, 'raw')));
    const rbdName = await vol.getPath(); // <ceph pool>/<image>
    const [monHost, monPort] = ceph.VOLBACK_CEPH_MON_HOST.split(':');
    const outside = `rbd:${rbdName}:id=${ceph.VOLBACK_CEPH_USER}:conf=${ceph.CEPH_CONF}:keyring=${ceph.VOLBACK_CEPH_KEYRING}`;
    const qemuIo = async (cmd: string): Promise<string> =>
      (await run('qemu-io', ['-f', 'raw', '-c', cmd, outside])).stdout;
    await qemuIo(`write -P 0xcd 0 ${64 * KiB}`);

    const virt = await chooseVirtType(conn2);
    const name = uniqueName('rbd-vm');
    const xml = `<domain type='${virt.virtType}'>
  <name>${escapeXml(name)}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  ${virt.cpu === 'host-passthrough' ? "<cpu mode='host-passthrough'/>" : ''}
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='rbd' name='${escapeXml(rbdName)}'>
        <host name='${escapeXml(monHost)}' port='${escapeXml(monPort)}'/>
      </source>
      <auth username='${escapeXml(ceph.VOLBACK_CEPH_USER)}'>
        <secret type='ceph' uuid='${escapeXml(ceph.VOLBACK_CEPH_SECRET_UUID)}'/>
      </auth>
      <target dev='vda' bus='virtio'/>
    </disk>
    <memballoon model='none'/>
  </devices>
</domain>`;
    const dom = await conn2.defineDomain(xml);
    let undefined_ = false;
    cleanup.add(`domain ${name} on host 2`, async () => {
      if (undefined_) return dom.free();
      try {
        if (await dom.isActive()) await dom.destroy();
        await dom.undefine();
      } finally {
        dom.free();
      }
    });
    expect(await notFound(conn1.lookupDomainByName(name))).toBe(true);
    await dom.create();
    expect(await dom.isActive()).toBe(true);

    // QEMU was given the key through a secret object, never on its command line
    const qemuPid = fs.readFileSync(path.join(host2.dir, 'run/qemu', `${name}.pid`), 'utf8').trim();
    const argv = fs.readFileSync(`/proc/${qemuPid}/cmdline`, 'utf8');
    const key = fs.readFileSync(ceph.VOLBACK_CEPH_KEY_FILE, 'utf8').trim();
    expect(argv).toContain('"driver":"rbd"');
    expect(argv).not.toContain(key);

    // HMP qemu-io prints on QEMU's stderr, which host 2's virtlogd writes to host 2's log directory
    const log = path.join(host2.dir, 'log/qemu', `${name}.log`);
    const hmp = async (cmd: string): Promise<string> => {
      const from = fs.statSync(log).size;
      await dom.qemuMonitorCommand(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "${cmd}"`, {
        hmp: true,
      });
      for (let i = 0; ; i++) {
        const text = fs.readFileSync(log).subarray(from).toString();
        // qemu-io's last line for a read or write: "64 KiB, 1 ops; 00.01 sec (…)"
        if (/ ops; [\d:.]+ sec/.test(text)) return text;
        if (i > 100) throw new Error(`QEMU logged nothing for HMP qemu-io "${cmd}" in ${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    // the guest's disk is the image: it reads what was written from outside, and its writes land there
    expect(await hmp(`read -P 0xcd 0 ${64 * KiB}`)).not.toMatch(/fail|error/i);
    expect(await hmp(`read -P 0xcd ${64 * KiB} 4k`)).toMatch(/Pattern verification failed/);
    expect(await hmp(`write -P 0xab ${MiB} ${64 * KiB}`)).toMatch(/wrote 65536\/65536 bytes/);
    await dom.qemuMonitorCommand(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`, {
      hmp: true,
    });
    expect(await qemuIo(`read -P 0xab ${MiB} ${64 * KiB}`)).not.toMatch(/fail/i);
    expect(await qemuIo(`read -P 0xcd 0 ${64 * KiB}`)).not.toMatch(/fail/i);

    await dom.destroy();
    await dom.undefine();
    undefined_ = true;
    expect(await notFound(conn2.lookupDomainByName(name))).toBe(true);
    await vol.delete();
    await pool2.refresh();
    expect(await pool2.listVolumeNames()).not.toContain(image);
  });
  it('runs volback as host 2: its pools, its config, its own host key, in its mount namespace', async () => {
    const pools = await volbackAsHost2(['pool', 'list', '--json']);
    expect({ code: pools.code, stderr: pools.stderr }).toEqual({ code: 0, stderr: '' });
    const listed = (JSON.parse(pools.stdout) as { pools: Array<{ name: string; type: string }> }).pools;
    expect(listed.filter((p) => notTestMade(p.name))).toEqual([
      expect.objectContaining({ name: ceph.VOLBACK_CEPH_LIBVIRT_POOL, type: 'rbd' }),
    ]);
    const config = JSON.parse((await volbackAsHost2(['config', 'show', '--json'])).stdout) as {
      file: string;
      settings: Record<string, { value: unknown }>;
    };
    expect(config.file).toBe(host2.configFile);
    expect(config.settings.connectUri.value).toBe(host2.uri);

    // the process sees host 2's /etc/libvirt and /var/lib/libvirt, and makes host 2's own host key
    const probe = await runAsHost2([
      process.execPath,
      '-e',
      "require('./dist/src/host/host-key').signForThisHost('probe');" +
        "const fs = require('fs'); const id = (p) => { const s = fs.statSync(p); return s.dev + ':' + s.ino; };" +
        "console.log(JSON.stringify({ etc: id('/etc/libvirt'), lib: id('/var/lib/libvirt'), state: process.env.VOLBACK_STATE_DIR }))",
    ]);
    expect({ code: probe.code, stderr: probe.stderr }).toEqual({ code: 0, stderr: '' });
    const id = (p: string): string => {
      const st = fs.statSync(p);
      return `${st.dev}:${st.ino}`;
    };
    expect(JSON.parse(probe.stdout)).toEqual({
      etc: id(path.join(host2.dir, 'etc')),
      lib: id(path.join(host2.dir, 'lib')),
      state: host2.stateDir,
    });
    const key2 = fs.readFileSync(path.join(host2.stateDir, 'host.key'));
    expect(key2.length).toBe(32);
    expect(fs.statSync(path.join(host2.stateDir, 'host.key')).mode & 0o777).toBe(0o600);
    const key1 = fs.readFileSync('/var/lib/volback/host.key', { flag: 'r' });
    expect(key2.equals(key1)).toBe(false);
  });
});

// The single-node Ceph test cluster of scripts/ceph, seen through volback's own binding: the libvirt
// rbd pool named by `scripts/ceph env` is active on the cluster, reports real capacity, holds
// volumes, and the key files it names are root-only. A cluster that is not running fails every test
// with the command that fixes it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { virStoragePoolState, virStorageVolType, type Connection, type StoragePool } from '../../src/libvirt';
import { Cleanup, REPO_ROOT, SYSTEM_URI, openSystemConnection, uniqueName, volumeXml } from '../support';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const SCRIPT = path.join(REPO_ROOT, 'scripts/ceph');
const FIX = 'Run `scripts/ceph start` (as root) and re-run the tests.';

jest.setTimeout(60_000);

type CephEnv = Record<string, string>;

/** Runs scripts/ceph; a failure carries what it printed and the fix. */
async function cephScript(command: 'env' | 'status'): Promise<string> {
  try {
    return (await run('bash', [SCRIPT, command], { timeout: 45_000 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `the Ceph test cluster is not usable: \`scripts/ceph ${command}\` failed:\n` +
        `${e.stdout ?? ''}${e.stderr ?? e.message}\n${FIX}`,
      { cause: err },
    );
  }
}

/** `scripts/ceph env` as KEY -> value. */
function parseEnv(text: string): CephEnv {
  const env: CephEnv = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/** Text of a `<tag …>` attribute in the first element matching `tag` (the pool XML is libvirt's). */
function attr(xml: string, tag: string, name: string): string | undefined {
  const el = xml.match(new RegExp(`<${tag}\\b[^>]*>`))?.[0];
  return el?.match(new RegExp(`\\b${name}='([^']*)'`))?.[1];
}

describe('Ceph test cluster (scripts/ceph) through the libvirt binding', () => {
  const cleanup = new Cleanup();
  let envText: string;
  let env: CephEnv;
  let conn: Connection;
  let pool: StoragePool;

  beforeAll(async () => {
    await cephScript('status');
    envText = await cephScript('env');
    env = parseEnv(envText);
    if (env.VOLBACK_CEPH_LIBVIRT_URI !== SYSTEM_URI) {
      throw new Error(
        `scripts/ceph made its pool on ${env.VOLBACK_CEPH_LIBVIRT_URI}, the tests use ${SYSTEM_URI}; ` +
          'set VOLBACK_CEPH_LIBVIRT_URI and VOLBACK_TEST_URI alike',
      );
    }
    conn = cleanup.connection(await openSystemConnection());
    try {
      pool = await conn.lookupStoragePoolByName(env.VOLBACK_CEPH_LIBVIRT_POOL);
    } catch (err) {
      throw new Error(`libvirt pool ${env.VOLBACK_CEPH_LIBVIRT_POOL} is not defined. ${FIX}`, { cause: err });
    }
    cleanup.add('free pool handle', async () => pool.free());
  });

  afterAll(() => cleanup.run());

  it('names every value tests need and no key', async () => {
    for (const key of [
      'CEPH_CONF',
      'VOLBACK_CEPH_MON_HOST',
      'VOLBACK_CEPH_POOL',
      'VOLBACK_CEPH_LIBVIRT_POOL',
      'VOLBACK_CEPH_SECRET_UUID',
      'VOLBACK_CEPH_USER',
      'VOLBACK_CEPH_KEYRING',
      'VOLBACK_CEPH_KEY_FILE',
    ]) {
      expect(env[key]).toMatch(/\S/);
    }
    expect(env.VOLBACK_CEPH_MON_HOST).toMatch(/^127\.0\.0\.1:\d+$/);
    const key = fs.readFileSync(env.VOLBACK_CEPH_KEY_FILE, 'utf8').trim();
    expect(key).toMatch(/^[A-Za-z0-9+/]{38}==$/);
    expect(envText).not.toContain(key);
  });

  it('keeps the cluster directory 0700 and the key files 0600, owned by root', () => {
    const mode = (p: string) => fs.statSync(p).mode & 0o777;
    expect(mode(env.VOLBACK_CEPH_DIR)).toBe(0o700);
    for (const file of [env.VOLBACK_CEPH_KEYRING, env.VOLBACK_CEPH_KEY_FILE]) {
      expect({ file, mode: mode(file), uid: fs.statSync(file).uid }).toEqual({ file, mode: 0o600, uid: 0 });
    }
  });

  it('has an active, autostarted rbd pool on the cluster, authenticated by the libvirt secret', async () => {
    if (!(await pool.isActive()))
      throw new Error(`libvirt pool ${env.VOLBACK_CEPH_LIBVIRT_POOL} is not active. ${FIX}`);
    expect(await pool.getAutostart()).toBe(true);
    const xml = await pool.getXMLDesc();
    const [host, port] = env.VOLBACK_CEPH_MON_HOST.split(':');
    expect(attr(xml, 'pool', 'type')).toBe('rbd');
    expect({ host: attr(xml, 'host', 'name'), port: attr(xml, 'host', 'port') }).toEqual({ host, port });
    expect(xml).toContain(`<name>${env.VOLBACK_CEPH_POOL}</name>`);
    expect(attr(xml, 'auth', 'type')).toBe('ceph');
    expect(attr(xml, 'auth', 'username')).toBe(env.VOLBACK_CEPH_USER);
    expect(attr(xml, 'secret', 'uuid')).toBe(env.VOLBACK_CEPH_SECRET_UUID);
  });

  it('reports real capacity and free room (the mgr runs)', async () => {
    await pool.refresh();
    const info = await pool.getInfo();
    expect(info.state).toBe(virStoragePoolState.VIR_STORAGE_POOL_RUNNING);
    expect(info.capacity).toBeGreaterThan(1024 * MiB);
    expect(info.available).toBeGreaterThan(0);
    expect(info.available).toBeLessThanOrEqual(info.capacity);
  });

  it('creates, lists and deletes a volume, which rbd and qemu-img see with the restricted key', async () => {
    const name = uniqueName('rbd');
    const vol = await pool.createVolume(volumeXml(name, 16 * MiB, 'raw'));
    cleanup.volume(vol);
    expect(await pool.listVolumeNames()).toContain(name);
    expect(await vol.getInfo()).toMatchObject({
      type: virStorageVolType.VIR_STORAGE_VOL_NETWORK,
      capacity: 16 * MiB,
    });
    expect(await vol.getPath()).toBe(`${env.VOLBACK_CEPH_POOL}/${name}`);

    const image = `${env.VOLBACK_CEPH_POOL}/${name}`;
    const cli = ['-c', env.CEPH_CONF, '--id', env.VOLBACK_CEPH_USER, '--keyring', env.VOLBACK_CEPH_KEYRING];
    const rbdInfo = JSON.parse((await run('rbd', [...cli, 'info', '--format', 'json', image])).stdout);
    expect(rbdInfo.size).toBe(16 * MiB);
    const uri = `rbd:${image}:id=${env.VOLBACK_CEPH_USER}:conf=${env.CEPH_CONF}:keyring=${env.VOLBACK_CEPH_KEYRING}`;
    const qemuInfo = JSON.parse((await run('qemu-img', ['info', '--output=json', uri])).stdout);
    expect(qemuInfo['virtual-size']).toBe(16 * MiB);

    await vol.delete();
    expect(await pool.listVolumeNames()).not.toContain(name);
    await expect(run('rbd', [...cli, 'info', image])).rejects.toThrow(/No such file or directory/);
  });
});

// Restarting the host's libvirtd from a test (there is no systemd here: scripts/setup starts it as
// `libvirtd -d`), and removing by name what a test made before the restart: every handle and
// connection opened before it is dead, so the undo steps registered with them cannot run.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { isLibvirtNotFound, virDomainUndefineFlagsValues, type Connection } from '../../src/libvirt';
import { assertLane } from './lanes';
import { openSystemConnection } from './libvirt';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function libvirtdPid(): number | undefined {
  try {
    const pid = Number(fs.readFileSync('/run/libvirtd.pid', 'utf8').trim());
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'libvirtd' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stops libvirtd (SIGTERM, as an admin's restart does) and starts it again; a new connection. */
export async function restartLibvirtd(): Promise<Connection> {
  assertLane('alone', 'this suite restarts libvirtd');
  const pid = libvirtdPid();
  if (pid === undefined) throw new Error('no libvirtd runs (/run/libvirtd.pid): run scripts/setup');
  process.kill(pid, 'SIGTERM');
  for (let i = 0; fs.existsSync(`/proc/${pid}`); i++) {
    if (i > 300) throw new Error(`libvirtd (pid ${pid}) did not exit within 30 s of SIGTERM`);
    await sleep(100);
  }
  const started = spawnSync('libvirtd', ['-d'], { stdio: 'ignore' });
  if (started.status !== 0) throw new Error(`libvirtd -d exited ${started.status}`);
  for (let i = 0; ; i++) {
    try {
      return await openSystemConnection();
    } catch (err) {
      if (i > 120) throw err;
      await sleep(500);
    }
  }
}

/** Destroys and undefines domains, and empties, stops, deletes and undefines pools, by name. */
export async function removeByName(
  conn: Connection,
  what: { domains: readonly string[]; pools: readonly string[] },
): Promise<void> {
  for (const name of what.domains) {
    const dom = await conn.lookupDomainByName(name).catch((err: unknown) => {
      if (isLibvirtNotFound(err)) return undefined;
      throw err;
    });
    if (!dom) continue;
    try {
      if (await dom.isActive()) await dom.destroy();
      await dom.undefine(virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
    } finally {
      dom.free();
    }
  }
  for (const name of what.pools) {
    const pool = await conn.lookupStoragePoolByName(name).catch((err: unknown) => {
      if (isLibvirtNotFound(err)) return undefined;
      throw err;
    });
    if (!pool) continue;
    try {
      if (await pool.isActive()) {
        await pool.refresh();
        for (const vol of await pool.listAllVolumes()) await vol.delete().finally(() => vol.free());
        await pool.destroy();
      }
      await pool.delete();
      await pool.undefine();
    } finally {
      pool.free();
    }
  }
}

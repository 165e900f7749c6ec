// Undo stack for tests: register what you made, run() removes it in reverse, never masking failures.
import fs from 'node:fs';
import path from 'node:path';
import { isLibvirtNotFound } from '../../src/libvirt';
import type { Connection, Domain, StoragePool, StorageVolume } from '../../src/libvirt';
import { logger } from '../../src/log';

const log = logger('test-cleanup');

/**
 * Collects undo steps as a test creates things; `run()` (call it in afterAll/afterEach) undoes
 * them newest first. A step that fails because the object is already gone is fine; any other
 * failure is logged and reported after all steps ran (so one stuck object does not leak the rest).
 */
export class Cleanup {
  private steps: Array<{ what: string; undo: () => Promise<unknown> }> = [];

  /** Registers an arbitrary undo step. */
  add(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  /** Destroys (if running) and undefines (if persistent) the domain, then frees the handle. */
  domain(dom: Domain, undefineFlags = 0): Domain {
    this.add(`domain ${dom.label}`, async () => {
      try {
        if (await dom.isActive()) await dom.destroy();
        if (await dom.isPersistent()) await dom.undefine(undefineFlags);
      } finally {
        dom.free();
      }
    });
    return dom;
  }

  /**
   * A per-domain pool `name` of the default location `root` that a test's run may create: at the
   * end, its volumes, directory and definition go; when the pool is not defined (undefined by the
   * test, or a failed run), its directory under the root's path is removed by hand.
   */
  domainPool(conn: Connection, root: { pool: string; path: string }, name: string): void {
    this.add(`domain pool ${name}`, async () => {
      const pool = await conn.lookupStoragePoolByName(name).catch(() => undefined);
      if (!pool)
        return fs.rmSync(path.join(root.path, name.slice(root.pool.length + 1)), {
          recursive: true,
          force: true,
        });
      const c = new Cleanup();
      c.pool(pool, { deleteVolumes: true, deleteStorage: true });
      await c.run();
    });
  }

  /**
   * Stops the pool and undefines it. `deleteVolumes` first deletes every volume in it (also files
   * libvirt or QEMU made there, e.g. backup targets); `deleteStorage` removes its directory.
   */
  pool(pool: StoragePool, opts: { deleteStorage?: boolean; deleteVolumes?: boolean } = {}): StoragePool {
    this.add(`pool ${pool.label}`, async () => {
      try {
        const persistent = await pool.isPersistent();
        if (opts.deleteVolumes && (await pool.isActive())) {
          await pool.refresh();
          for (const vol of await pool.listAllVolumes()) {
            await vol.delete().finally(() => vol.free());
          }
        }
        if (await pool.isActive()) await pool.destroy();
        if (persistent) {
          if (opts.deleteStorage)
            await pool.delete().catch((err) => log.warn('pool delete failed', { err: String(err) }));
          await pool.undefine();
        }
      } finally {
        pool.free();
      }
    });
    return pool;
  }

  /** Deletes the volume and frees the handle. */
  volume(vol: StorageVolume): StorageVolume {
    this.add(`volume ${vol.label}`, async () => {
      try {
        await vol.delete();
      } finally {
        vol.free();
      }
    });
    return vol;
  }

  /** Closes the connection (after everything registered later has been undone). */
  connection(conn: Connection): Connection {
    this.add(`connection ${conn.uri}`, () => conn.close());
    return conn;
  }

  /** Runs all steps newest first; throws an AggregateError listing real failures, if any. */
  async run(): Promise<void> {
    const failures: Error[] = [];
    for (const step of this.steps.reverse()) {
      try {
        await step.undo();
      } catch (err) {
        if (isLibvirtNotFound(err)) continue;
        log.warn('cleanup step failed', { what: step.what, err: String(err) });
        failures.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    this.steps = [];
    if (failures.length) throw new AggregateError(failures, `cleanup: ${failures.length} step(s) failed`);
  }
}

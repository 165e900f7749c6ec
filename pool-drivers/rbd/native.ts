// Loads the compiled Ceph addon (volback_ceph.node, over librados/librbd) and describes its raw API.
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCodes, VolbackError } from '../../src/errors';

/** A connected cluster (`pool` null) or one pool of it; released by close() or garbage collection. */
export interface CephHandle {
  readonly pool: string | null;
}

type H = CephHandle;
type P<T> = Promise<T>;

/** The raw addon: every call async on libuv's pool; rejections carry `cephErrno` (positive errno). */
export interface CephBinding {
  CephHandle: new () => CephHandle;
  radosVersion: string;
  rbdVersion: string;
  /** Every librados/librbd C function the addon calls. */
  wrappedFunctions(): string[];

  /** monHost: comma-separated; user null: auth none; key: base64 text, copied and wiped natively. */
  connect(monHost: string, user: string | null, key: Buffer | null, timeoutSeconds: number): P<H>;
  close(cluster: H): P<void>;
  poolOpen(cluster: H, name: string): P<H>;

  imageSize(pool: H, image: string): P<number>;
  imageCreate(pool: H, image: string, size: number, order: number): P<void>;
  poolImages(pool: H): P<string[]>;
  imageWrite(pool: H, image: string, offset: number, data: Buffer): P<void>;
  imageRead(pool: H, image: string, offset: number, length: number): P<Buffer>;
  /** Flat: [offset, length, exists, offset, length, exists, ...]. */
  imageLayerExtents(pool: H, image: string): P<Array<number | boolean>>;
  imageParent(pool: H, image: string): P<{ pool: string; image: string; snapshot: string } | null>;
  imageChildren(pool: H, image: string, snapshot: string): P<string[]>;
  imageSnapshots(pool: H, image: string): P<Array<{ name: string; size: number; protected: boolean }>>;
  snapCreate(pool: H, image: string, snapshot: string): P<void>;
  snapProtect(pool: H, image: string, snapshot: string): P<void>;
  snapUnprotect(pool: H, image: string, snapshot: string): P<void>;
  snapRemove(pool: H, image: string, snapshot: string): P<void>;
  /** order 0: the parent's object size. */
  imageClone(pool: H, parent: string, snapshot: string, child: string, order: number): P<void>;
  imageFlatten(pool: H, image: string): P<void>;
  imageRemove(pool: H, image: string): P<void>;
  readMany(
    pool: H,
    images: readonly string[],
    maxBytes: number,
    threads: number,
  ): P<Array<{ image: string; bytes?: Buffer; errno?: number; message?: string }>>;
}

export const CEPH_BUILD_FIX = 'run `npm run build:rbd` (needs librados-dev, librbd-dev, g++, python3)';

/** Where the addon may be: $VOLBACK_CEPH_BINDING if set, else next to this file or in the source tree. */
export function cephBindingCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const rel = path.join('native', 'build', 'Release', 'volback_ceph.node');
  // An explicit override is the only candidate, so a wrong override fails instead of being skipped.
  if (env.VOLBACK_CEPH_BINDING) return [env.VOLBACK_CEPH_BINDING];
  return [path.join(__dirname, rel), path.resolve(__dirname, '..', '..', '..', 'pool-drivers', 'rbd', rel)];
}

let cached: CephBinding | undefined;

/**
 * Loads the addon once per module registry (it starts no thread until a cluster is connected).
 * @throws VolbackError ERR_BINDING_LOAD saying how to build it.
 */
export function loadCephBinding(candidates: readonly string[] = cephBindingCandidates()): CephBinding {
  if (cached) return cached;
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new VolbackError(
      ErrorCodes.BINDING_LOAD,
      `Ceph binding not built (looked in ${candidates.join(', ')}); ${CEPH_BUILD_FIX}`,
      { hint: CEPH_BUILD_FIX },
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(found) as CephBinding;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new VolbackError(
      ErrorCodes.BINDING_LOAD,
      `cannot load Ceph binding ${found}: ${why}; ${CEPH_BUILD_FIX}`,
      {
        cause,
        hint: CEPH_BUILD_FIX,
      },
    );
  }
  return cached;
}

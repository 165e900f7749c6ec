// Loads the compiled addon (volback_os.node: the OS primitives and zstd Node 20 lacks) and describes its raw API.
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCodes, VolbackError } from '../errors';

/** The raw addon. Every call is synchronous and never blocks (see native/src/os.cc). */
export interface OsBinding {
  /** flock(2) on a descriptor; only non-blocking operations. Returns 0 or the errno. */
  flock(fd: number, operation: number): number;
  /** A pipe's read end whose write end holds `bytes` (≤ 4096) and is closed; or -errno. */
  pipeHolding(bytes: Buffer): number;
  /** Fills `output` from the one zstd frame at the start of `input`; throws an Error naming why not. */
  zstdDecompressInto(input: Buffer, output: Buffer): void;
  LOCK_SH: number;
  LOCK_EX: number;
  LOCK_NB: number;
  LOCK_UN: number;
  EWOULDBLOCK: number;
}

export const OS_BUILD_FIX = 'run `npm run build:native` (needs g++, python3, libzstd-dev)';

/** Where the addon may be: next to this file (ts-jest) or in the source tree (dist builds). */
export function osBindingCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const rel = path.join('native', 'build', 'Release', 'volback_os.node');
  const list = [path.join(__dirname, rel), path.resolve(__dirname, '..', '..', '..', 'src', 'os', rel)];
  if (env.VOLBACK_OS_BINDING) list.unshift(env.VOLBACK_OS_BINDING);
  return list;
}

let cached: OsBinding | undefined;

/**
 * Loads the addon once per module registry.
 * @throws VolbackError ERR_BINDING_LOAD saying how to build it.
 */
export function loadOsBinding(candidates: readonly string[] = osBindingCandidates()): OsBinding {
  if (cached) return cached;
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new VolbackError(
      ErrorCodes.BINDING_LOAD,
      `OS primitives binding not built (looked in ${candidates.join(', ')}); ${OS_BUILD_FIX}`,
      { hint: OS_BUILD_FIX },
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(found) as OsBinding;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new VolbackError(
      ErrorCodes.BINDING_LOAD,
      `cannot load OS primitives binding ${found}: ${why}; ${OS_BUILD_FIX}`,
      { cause, hint: OS_BUILD_FIX },
    );
  }
  return cached;
}

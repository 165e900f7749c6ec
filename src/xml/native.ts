// Loads the compiled addon (volback_relaxng.node, libxml2's RelaxNG validator) and describes its raw API.
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCodes, VolbackError } from '../errors';

/** One libxml2 message about a document, as the addon reports it. */
export interface NativeDiagnostic {
  /** 1-based; absent when libxml2 gave none (e.g. "Extra element x in interleave"). */
  line?: number;
  /** The element libxml2 was checking, when the message is about one. */
  element?: string;
  message: string;
  /** parser: not well-formed (or DOCTYPE refused); schema: RelaxNG validity; warning. */
  kind: 'parser' | 'schema' | 'warning';
}

export interface NativeOutcome {
  valid: boolean;
  diagnostics: NativeDiagnostic[];
}

/** An opaque handle for a compiled schema; valid for the life of the process. */
export type NativeSchema = number;

/** The raw addon. Every call runs on a libuv pool thread; none blocks the event loop. */
export interface RelaxngBinding {
  /** Compiles a .rng file (`<include>`s resolve relative to it). Rejects with libxml2's messages. */
  compileSchema(file: string): Promise<NativeSchema>;
  /** Parses (no network, no DTD, DOCTYPE refused) and validates one document. */
  validate(schema: NativeSchema, xml: string, sourceName: string): Promise<NativeOutcome>;
  /** validate for many documents in one worker hop; results in input order. */
  validateMany(schema: NativeSchema, docs: readonly string[]): Promise<NativeOutcome[]>;
  /** libxml2 in use (xmlParserVersion, e.g. "20914") and compiled against (e.g. "2.9.14"). */
  libxmlVersion: string;
  compiledAgainst: string;
}

export const RELAXNG_BUILD_FIX = 'run `npm run build:native` (needs libxml2-dev, g++, python3)';

/** Where the addon may be: next to this file (ts-jest) or in the source tree (dist builds). */
export function relaxngBindingCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const rel = path.join('native', 'build', 'Release', 'volback_relaxng.node');
  const list = [path.join(__dirname, rel), path.resolve(__dirname, '..', '..', '..', 'src', 'xml', rel)];
  if (env.VOLBACK_RELAXNG_BINDING) list.unshift(env.VOLBACK_RELAXNG_BINDING);
  return list;
}

let cached: RelaxngBinding | undefined;

/**
 * Loads the addon once per module registry (libxml2 is initialised on load, on the main thread).
 * @throws VolbackError ERR_BINDING_LOAD saying how to build it.
 */
export function loadRelaxngBinding(
  candidates: readonly string[] = relaxngBindingCandidates(),
): RelaxngBinding {
  if (cached) return cached;
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new VolbackError(
      ErrorCodes.BINDING_LOAD,
      `RelaxNG validator binding not built (looked in ${candidates.join(', ')}); ${RELAXNG_BUILD_FIX}`,
      { hint: RELAXNG_BUILD_FIX },
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(found) as RelaxngBinding;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new VolbackError(
      ErrorCodes.BINDING_LOAD,
      `cannot load RelaxNG validator binding ${found}: ${why}; ${RELAXNG_BUILD_FIX}`,
      { cause, hint: RELAXNG_BUILD_FIX },
    );
  }
  return cached;
}

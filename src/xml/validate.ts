// RelaxNG validation of volback's documents with libxml2's validator, in-process (volback_relaxng addon).
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, VolbackError, XmlValidationError } from '../errors';
import { logger } from '../log';
import { loadRelaxngBinding, type NativeDiagnostic, type NativeOutcome, type NativeSchema } from './native';

const log = logger('xml');

/** The grammars in schemas/, by document. */
export type SchemaName = 'backup-definition' | 'backup-metadata';

export interface ValidatorOptions {
  /** Directory holding the .rng files; default resolveSchemaDir(). */
  schemaDir?: string;
}

/**
 * Finds the repository's `schemas/` directory by walking up from `startDir`, so the same code works
 * from `src/xml` (ts-jest) and from `dist/src/xml` (compiled). `$VOLBACK_SCHEMA_DIR` overrides.
 */
export function resolveSchemaDir(startDir: string = __dirname, env: NodeJS.ProcessEnv = process.env): string {
  if (env.VOLBACK_SCHEMA_DIR) return env.VOLBACK_SCHEMA_DIR;
  for (let dir = path.resolve(startDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'schemas');
    if (existsSync(path.join(candidate, 'common.rng'))) return candidate;
    if (path.dirname(dir) === dir) {
      throw new VolbackError(ErrorCodes.CONFIG, `no schemas/ directory above ${startDir}`, {
        hint: 'set VOLBACK_SCHEMA_DIR to the directory holding backup-definition.rng',
      });
    }
  }
}

export function schemaFile(schema: SchemaName, schemaDir: string = resolveSchemaDir()): string {
  return path.join(schemaDir, `${schema}.rng`);
}

/** One libxml2 message about a document (well-formedness or RelaxNG validity). */
export type XmlDiagnostic = NativeDiagnostic;

/**
 * Gives unlocated messages the location of the next located one. libxml2 reports some RelaxNG
 * failures ("Extra element server in interleave") without a node; the message that follows names
 * the element and line it belongs to. Pure.
 */
export function locateDiagnostics(diagnostics: readonly XmlDiagnostic[]): XmlDiagnostic[] {
  const out: XmlDiagnostic[] = [];
  let pending: XmlDiagnostic[] = [];
  for (const d of diagnostics) {
    if (d.line === undefined) {
      pending.push(d);
      continue;
    }
    for (const p of pending) out.push({ ...p, line: d.line, ...(d.element ? { element: d.element } : {}) });
    pending = [];
    out.push(d);
  }
  return [...out, ...pending];
}

/** The error for one document's messages, under the caller's name for it. */
export function diagnosticsToError(
  diagnostics: readonly XmlDiagnostic[],
  source: string,
): XmlValidationError {
  const located = locateDiagnostics(diagnostics);
  const first = located.find((d) => d.line !== undefined);
  const details = located.map((d) =>
    [
      d.line !== undefined ? `line ${d.line}` : undefined,
      d.element ? `element ${d.element}` : undefined,
      d.message,
    ]
      .filter(Boolean)
      .join(': '),
  );
  // The first message is libxml2's most specific; the location comes from the first located one.
  details[0] = located[0]?.message ?? 'document does not match its schema';
  return new XmlValidationError({ source, line: first?.line, element: first?.element }, details);
}

// Compiled schemas by file: each is compiled once and kept for the process. A failed compile is
// not cached, so a fixed installation works without a restart.
const compiled = new Map<string, Promise<NativeSchema>>();

function compiledSchema(schema: SchemaName, options: ValidatorOptions): Promise<NativeSchema> {
  const file = schemaFile(schema, options.schemaDir);
  let handle = compiled.get(file);
  if (!handle) {
    const binding = loadRelaxngBinding();
    if (!existsSync(file)) {
      return Promise.reject(
        new VolbackError(ErrorCodes.CONFIG, `RelaxNG schema ${file} not found`, {
          hint: 'set VOLBACK_SCHEMA_DIR to the directory holding backup-definition.rng',
        }),
      );
    }
    log.debug('compile schema', { file });
    handle = binding.compileSchema(file).catch((cause: unknown) => {
      compiled.delete(file);
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new VolbackError(ErrorCodes.CONFIG, why, { cause });
    });
    compiled.set(file, handle);
  }
  return handle;
}

/** Outcome of validating one document: ok, or the error that says where and why. */
export type ValidationResult = { ok: true } | { ok: false; error: XmlValidationError };

const OK: ValidationResult = Object.freeze({ ok: true });

function toResult(outcome: NativeOutcome, source: string): ValidationResult {
  return outcome.valid ? OK : { ok: false, error: diagnosticsToError(outcome.diagnostics, source) };
}

/**
 * Validates one document against a schema, off the main thread. The document is parsed without
 * network access or DTD loading; a DOCTYPE is refused. Rejects only when validation could not run
 * (binding not built: ERR_BINDING_LOAD; schema missing or broken: ERR_CONFIG): an invalid document
 * is a result, not an exception.
 */
export async function validateXml(
  xml: string,
  schema: SchemaName,
  source: string,
  options: ValidatorOptions = {},
): Promise<ValidationResult> {
  const handle = await compiledSchema(schema, options);
  return toResult(await loadRelaxngBinding().validate(handle, xml, source), source);
}

/** validateXml, throwing the XmlValidationError when the document is invalid. */
export async function assertValidXml(
  xml: string,
  schema: SchemaName,
  source: string,
  options: ValidatorOptions = {},
) {
  const result = await validateXml(xml, schema, source, options);
  if (!result.ok) throw result.error;
}

export interface BatchOptions extends ValidatorOptions {
  /** Worker threads used at once, each validating one contiguous slice. Default: number of CPUs. */
  concurrency?: number;
}

/**
 * Validates many documents with one worker hop per slice (`concurrency` slices). Results are in
 * input order; one invalid document does not affect the others.
 */
export async function validateMany(
  docs: ReadonlyArray<{ xml: string; source: string }>,
  schema: SchemaName,
  options: BatchOptions = {},
): Promise<ValidationResult[]> {
  if (docs.length === 0) return [];
  const handle = await compiledSchema(schema, options);
  const binding = loadRelaxngBinding();
  const slices = Math.max(1, Math.min(options.concurrency ?? os.availableParallelism(), docs.length));
  const size = Math.ceil(docs.length / slices);
  const parts: Promise<NativeOutcome[]>[] = [];
  for (let start = 0; start < docs.length; start += size) {
    parts.push(
      binding.validateMany(
        handle,
        docs.slice(start, start + size).map((d) => d.xml),
      ),
    );
  }
  const outcomes = (await Promise.all(parts)).flat();
  return outcomes.map((outcome, i) => toResult(outcome, (docs[i] as { source: string }).source));
}

/**
 * Checks up front that validation can run: loads the binding and compiles both schemas.
 * Returns the libxml2 version in use. Fails with ERR_BINDING_LOAD (and how to build) or ERR_CONFIG.
 */
export async function checkValidator(options: ValidatorOptions = {}): Promise<string> {
  const binding = loadRelaxngBinding();
  await Promise.all([
    compiledSchema('backup-definition', options),
    compiledSchema('backup-metadata', options),
  ]);
  return `libxml2 ${binding.compiledAgainst} (runtime ${binding.libxmlVersion})`;
}

// RelaxNG validation of volback's documents with libxml2's xmllint: argv builder, stderr parser, runners.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, VolbackError, XmlValidationError } from '../errors';
import { logger } from '../log';

const log = logger('xml');

/** The grammars in schemas/, by document. */
export type SchemaName = 'backup-definition' | 'backup-metadata';

export interface XmllintOptions {
  /** xmllint binary; default `$VOLBACK_XMLLINT` or `xmllint` on PATH. */
  xmllint?: string;
  /** Directory holding the .rng files; default resolveSchemaDir(). */
  schemaDir?: string;
}

export const XMLLINT_HINT = 'install libxml2-utils or run scripts/setup';

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

/**
 * xmllint's arguments: validate `files` (default `-`, stdin) against `schema`, print nothing but
 * diagnostics, never touch the network (no DTD or entity fetches).
 */
export function xmllintArgv(schema: string, files: readonly string[] = ['-']): string[] {
  return ['--noout', '--nonet', '--relaxng', schema, ...files];
}

/** One diagnostic line of xmllint's stderr. `file` is undefined for libxml2's unlocated lines. */
export interface XmllintDiagnostic {
  file?: string;
  line?: number;
  element?: string;
  message: string;
}

export interface XmllintReport {
  diagnostics: XmllintDiagnostic[];
  validated: Set<string>;
  failed: Set<string>;
  /** Set when the schema itself did not compile (a volback bug or a broken install). */
  schemaError?: string;
}

const LOCATED = /^(.+?):(\d+): (?:element (\S+): )?((?:Relax-NG |namespace )?(?:validity|parser) error|warning) : (.*)$/;
const UNLOCATED = /^(?:Relax-NG validity error|Relax-NG parser error) : (.*)$/;
const VERDICT = /^(.+) (validates|fails to validate|validation generated an internal error)$/;

/**
 * Parses xmllint stderr. Unlocated libxml2 messages ("Extra element x in interleave") belong to the
 * next located one, which names the file. Parser-error context lines (source excerpt, caret) are skipped.
 */
export function parseXmllintStderr(stderr: string): XmllintReport {
  const report: XmllintReport = { diagnostics: [], validated: new Set(), failed: new Set() };
  let pending: XmllintDiagnostic[] = [];
  for (const line of stderr.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = LOCATED.exec(line))) {
      const file = m[1] as string;
      for (const p of pending) report.diagnostics.push({ ...p, file, line: Number(m[2]), element: m[3] });
      pending = [];
      report.diagnostics.push({ file, line: Number(m[2]), element: m[3], message: m[5] as string });
    } else if ((m = UNLOCATED.exec(line))) {
      pending.push({ message: m[1] as string });
    } else if ((m = /^Relax-NG schema (.+) failed to compile$/.exec(line))) {
      report.schemaError = line;
    } else if ((m = VERDICT.exec(line))) {
      const file = m[1] as string;
      for (const p of pending) report.diagnostics.push({ ...p, file });
      pending = [];
      (m[2] === 'validates' ? report.validated : report.failed).add(file);
    }
  }
  report.diagnostics.push(...pending);
  return report;
}

/** The error for one document of a report, under the caller's name for it. */
export function diagnosticsToError(diagnostics: readonly XmllintDiagnostic[], source: string): XmlValidationError {
  const located = diagnostics.find((d) => d.line !== undefined);
  const details = diagnostics.map((d) =>
    [d.line !== undefined ? `line ${d.line}` : undefined, d.element ? `element ${d.element}` : undefined, d.message]
      .filter(Boolean)
      .join(': '),
  );
  // The first message is libxml2's most specific; the location comes from the first located line.
  details[0] = diagnostics[0]?.message ?? 'document does not match its schema';
  return new XmlValidationError({ source, line: located?.line, element: located?.element }, details);
}

interface RunResult {
  code: number | null;
  stderr: string;
}

function xmllintBinary(options: XmllintOptions): string {
  return options.xmllint ?? process.env.VOLBACK_XMLLINT ?? 'xmllint';
}

function runXmllint(binary: string, args: string[], stdin?: string): Promise<RunResult> {
  log.debug('run', { command: [binary, ...args].join(' ') });
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        reject(
          new VolbackError(ErrorCodes.COMMAND_FAILED, `xmllint not found (${binary}): ${XMLLINT_HINT}`, {
            cause: err,
            hint: XMLLINT_HINT,
          }),
        );
      } else {
        reject(new VolbackError(ErrorCodes.COMMAND_FAILED, `cannot run ${binary}: ${err.message}`, { cause: err }));
      }
    });
    child.on('close', (code) => resolve({ code, stderr: Buffer.concat(chunks).toString('utf8') }));
    // xmllint may exit before reading everything (schema missing); its exit status tells the story.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '', 'utf8');
  });
}

function commandFailed(binary: string, args: string[], result: RunResult, what: string): VolbackError {
  return new VolbackError(
    ErrorCodes.COMMAND_FAILED,
    `${binary} ${args.join(' ')}: ${what} (exit ${result.code}): ${result.stderr.trim().split('\n').slice(0, 3).join(' | ')}`,
  );
}

/** Outcome of validating one document: ok, or the error that says where and why. */
export type ValidationResult = { ok: true } | { ok: false; error: XmlValidationError };

/**
 * Validates one document against a schema (one xmllint process, document on stdin).
 * Rejects only when validation could not run (xmllint missing, schema broken): an invalid
 * document is a result, not an exception.
 */
export async function validateXml(
  xml: string,
  schema: SchemaName,
  source: string,
  options: XmllintOptions = {},
): Promise<ValidationResult> {
  const binary = xmllintBinary(options);
  const args = xmllintArgv(schemaFile(schema, options.schemaDir));
  const result = await runXmllint(binary, args, xml);
  const report = parseXmllintStderr(result.stderr);
  if (report.schemaError) throw commandFailed(binary, args, result, 'schema did not compile');
  if (result.code === 0 && report.validated.has('-')) return { ok: true };
  if (report.diagnostics.length === 0) throw commandFailed(binary, args, result, 'no verdict');
  return { ok: false, error: diagnosticsToError(report.diagnostics, source) };
}

/** validateXml, throwing the XmlValidationError when the document is invalid. */
export async function assertValidXml(xml: string, schema: SchemaName, source: string, options: XmllintOptions = {}) {
  const result = await validateXml(xml, schema, source, options);
  if (!result.ok) throw result.error;
}

export interface BatchOptions extends XmllintOptions {
  /** Documents per xmllint process (the schema is compiled once per process). Default 500. */
  batchSize?: number;
  /** xmllint processes run at once. Default: number of CPUs. */
  concurrency?: number;
}

/**
 * Validates many documents with few processes: each batch is written to a private temporary
 * directory and passed to one xmllint. Results are in input order. The directory is always removed.
 */
export async function validateMany(
  docs: ReadonlyArray<{ xml: string; source: string }>,
  schema: SchemaName,
  options: BatchOptions = {},
): Promise<ValidationResult[]> {
  const batchSize = Math.max(1, options.batchSize ?? 500);
  const concurrency = Math.max(1, options.concurrency ?? os.cpus().length);
  const binary = xmllintBinary(options);
  const rng = schemaFile(schema, options.schemaDir);
  const results: ValidationResult[] = new Array(docs.length);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'volback-xml-'));
  try {
    const batches: number[][] = [];
    for (let start = 0; start < docs.length; start += batchSize) {
      batches.push(Array.from({ length: Math.min(batchSize, docs.length - start) }, (_, i) => start + i));
    }
    const runBatch = async (indexes: number[]): Promise<void> => {
      const files = indexes.map((i) => path.join(dir, `${i}.xml`));
      await Promise.all(indexes.map((i, k) => writeFile(files[k] as string, (docs[i] as { xml: string }).xml, 'utf8')));
      const args = xmllintArgv(rng, files);
      const result = await runXmllint(binary, args);
      const report = parseXmllintStderr(result.stderr);
      if (report.schemaError) throw commandFailed(binary, args, result, 'schema did not compile');
      indexes.forEach((i, k) => {
        const file = files[k] as string;
        if (report.validated.has(file)) {
          results[i] = { ok: true };
          return;
        }
        const diagnostics = report.diagnostics.filter((d) => d.file === file);
        if (diagnostics.length === 0) diagnostics.push({ message: 'xmllint gave no verdict for this document' });
        results[i] = { ok: false, error: diagnosticsToError(diagnostics, (docs[i] as { source: string }).source) };
      });
    };
    let next = 0;
    const workers = Array.from({ length: Math.min(concurrency, batches.length) }, async () => {
      while (next < batches.length) await runBatch(batches[next++] as number[]);
    });
    await Promise.all(workers);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

/** Checks that xmllint runs; returns its version line. Fails with the install hint otherwise. */
export async function checkXmllint(options: XmllintOptions = {}): Promise<string> {
  const binary = xmllintBinary(options);
  const result = await runXmllint(binary, ['--version']);
  const version = /libxml version (\d+)/.exec(result.stderr);
  if (!version) throw commandFailed(binary, ['--version'], result, `unexpected output; ${XMLLINT_HINT}`);
  return version[0];
}

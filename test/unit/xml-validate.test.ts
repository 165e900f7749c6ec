// The in-process validator (volback_relaxng): message placement, schema-dir resolution, loader and
// schema failures, libxml2's own messages per -invalid case, parser hardening, the batch path, and
// concurrent workers sharing one compiled schema.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, VolbackError, XmlValidationError } from '../../src/errors';
import {
  checkValidator,
  diagnosticsToError,
  locateDiagnostics,
  resolveSchemaDir,
  schemaFile,
  validateMany,
  validateXml,
  type SchemaName,
} from '../../src/xml/validate';
import { LVM_RESERVED_PREFIXES, LVM_RESERVED_SUBSTRINGS } from '../../src/xml/names';
import { REPO_ROOT } from '../support/ts-child';

const METADATA = readFileSync(path.join(REPO_ROOT, 'test/data/xml/metadata/incremental-push.xml'), 'utf8');

test('unlocated messages take the location of the next located one', () => {
  const diagnostics = locateDiagnostics([
    { message: 'Extra element server in interleave', kind: 'schema' },
    { line: 6, element: 'server', message: 'Element volbackup failed to validate content', kind: 'schema' },
    { message: 'trailing, never located', kind: 'schema' },
  ]);
  expect(diagnostics).toEqual([
    { line: 6, element: 'server', message: 'Extra element server in interleave', kind: 'schema' },
    { line: 6, element: 'server', message: 'Element volbackup failed to validate content', kind: 'schema' },
    { message: 'trailing, never located', kind: 'schema' },
  ]);
  const err = diagnosticsToError(
    [
      { message: 'Extra element server in interleave', kind: 'schema' },
      { line: 6, element: 'server', message: 'Element volbackup failed to validate content', kind: 'schema' },
    ],
    'vm1.xml',
  );
  expect(err.location).toEqual({ source: 'vm1.xml', line: 6, element: 'server' });
  expect(err.message).toBe('vm1.xml:line 6 (element server): Extra element server in interleave');
  expect(err.details[1]).toBe('line 6: element server: Element volbackup failed to validate content');
});

test('schema directory resolves from src/ (ts-jest) and dist/src/ (compiled)', () => {
  expect(resolveSchemaDir(path.join(REPO_ROOT, 'src/xml'), {})).toBe(path.join(REPO_ROOT, 'schemas'));
  expect(resolveSchemaDir(path.join(REPO_ROOT, 'dist/src/xml'), {})).toBe(path.join(REPO_ROOT, 'schemas'));
  expect(resolveSchemaDir('/anywhere', { VOLBACK_SCHEMA_DIR: '/opt/schemas' })).toBe('/opt/schemas');
  expect(() => resolveSchemaDir('/', {})).toThrow(VolbackError);
  expect(schemaFile('backup-metadata', '/s')).toBe('/s/backup-metadata.rng');
});

test('an unbuilt binding says how to build it', () => {
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { loadRelaxngBinding } = require('../../src/xml/native') as typeof import('../../src/xml/native');
    let err: unknown;
    try {
      loadRelaxngBinding(['/nonexistent/volback_relaxng.node']);
    } catch (e) {
      err = e;
    }
    // The isolated registry has its own VolbackError class: match on name and code.
    expect((err as VolbackError).name).toBe('VolbackError');
    expect((err as VolbackError).code).toBe(ErrorCodes.BINDING_LOAD);
    expect((err as VolbackError).message).toContain('npm run build:native');
    expect((err as VolbackError).message).toContain('libxml2-dev, g++, python3');
  });
});

test('the validator reports its libxml2 and compiles both schemas', async () => {
  expect(await checkValidator()).toMatch(/^libxml2 2\.\d+\.\d+ \(runtime \d+\)$/);
});

test('a missing or broken schema is a system error, not an invalid document', async () => {
  const missing = await validateXml('<a/>', 'backup-metadata', 'x', { schemaDir: '/nonexistent' }).catch(
    (e) => e,
  );
  expect(missing).toBeInstanceOf(VolbackError);
  expect(missing).not.toBeInstanceOf(XmlValidationError);
  expect(missing.code).toBe(ErrorCodes.CONFIG);
  // A schema whose <include> cannot be resolved: libxml2's compile messages come back.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'volback-rng-'));
  try {
    writeFileSync(
      path.join(dir, 'backup-metadata.rng'),
      "<grammar xmlns='http://relaxng.org/ns/structure/1.0'><include href='missing.rng'/></grammar>",
    );
    const broken = await validateXml('<a/>', 'backup-metadata', 'x', { schemaDir: dir }).catch((e) => e);
    expect(broken).toBeInstanceOf(VolbackError);
    expect(broken).not.toBeInstanceOf(XmlValidationError);
    expect(broken.code).toBe(ErrorCodes.CONFIG);
    expect(broken.message).toContain('failed to compile');
    expect(broken.message).toContain('missing.rng');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('single-document validation reports source, line and element', async () => {
  expect(await validateXml(METADATA, 'backup-metadata', 'pool/vm1.meta')).toEqual({ ok: true });
  const bad = await validateXml(
    METADATA.replace('<virtualSize>10737418240', '<virtualSize>x'),
    'backup-metadata',
    'pool/vm1.meta',
  );
  expect(bad.ok).toBe(false);
  if (bad.ok) return;
  // libxml2 first complains about the sibling it expected; parseBackupSet's own diagnosis is what
  // names <virtualSize> precisely (see the metadata -invalid cases).
  expect(bad.error.location).toMatchObject({ source: 'pool/vm1.meta', line: expect.any(Number) });
  expect(bad.error.details).toContain(
    "line 23: element virtualSize: Type unsignedLong doesn't allow value 'x'",
  );
  const empty = await validateXml('', 'backup-metadata', 'pool/empty');
  expect(!empty.ok && empty.error.message).toBe('pool/empty:line 1: Document is empty');
});

// libxml2's own verdict on each -invalid case (the parse functions add the code-level diagnosis on
// top): every one fails the schema or the parser, except the rules RelaxNG cannot state, which only
// the code pass catches. Where libxml2's first message is stable it is pinned with its location.
const CODE_ONLY = new Set([
  'definition/duplicate-disk-invalid.xml', // unique disk names
  'metadata/duplicate-disk-id-invalid.xml', // unique disk ids
  'metadata/incremental-disk-in-full-invalid.xml', // a full set holds only full disks
  'metadata/timestamp-not-a-date-invalid.xml', // calendar-valid dates
  'metadata/checksums-extent-size-invalid.xml', // extent sizes are powers of two
  'definition/quiesce-mountpoint-twice-invalid.xml', // unique mountpoints
  'definition/quiesce-off-mountpoint-invalid.xml', // no mountpoints when nothing is frozen
]);
const LIBXML2_FIRST: Record<string, { line: number; element?: string; message: string }> = {
  'definition/comment-only-invalid.xml': { line: 2, message: "Start tag expected, '<' not found" },
  'definition/not-well-formed-invalid.xml': {
    line: 5,
    message: 'Opening and ending tag mismatch: disk line 4 and disks',
  },
  'definition/server-push-invalid.xml': {
    line: 3,
    element: 'server',
    message: 'Extra element server in interleave',
  },
  'definition/port-zero-invalid.xml': {
    line: 3,
    element: 'server',
    message: 'Extra element server in interleave',
  },
  'definition/unknown-root-invalid.xml': {
    line: 2,
    element: 'domainbackup',
    message: 'Expecting element volbackup, got domainbackup',
  },
  'metadata/doctype-invalid.xml': { line: 2, message: 'DOCTYPE declarations are not allowed' },
  'metadata/state-unknown-invalid.xml': {
    line: 2,
    element: 'volbackupset',
    message: 'Element volbackupset failed to validate attributes',
  },
  'metadata/virtualsize-abc-invalid.xml': {
    line: 11,
    element: 'volume',
    message: 'Expecting element virtualSize, got volume',
  },
};

const SCHEMA_OF: Record<string, SchemaName> = {
  definition: 'backup-definition',
  metadata: 'backup-metadata',
};
const invalidCases = ['definition', 'metadata'].flatMap((dir) =>
  readdirSync(path.join(REPO_ROOT, 'test/data/xml', dir))
    .filter((f) => f.endsWith('-invalid.xml'))
    .map((f) => `${dir}/${f}`),
);

test.each(invalidCases)('libxml2 on %s', async (name) => {
  const xml = readFileSync(path.join(REPO_ROOT, 'test/data/xml', name), 'utf8');
  const result = await validateXml(xml, SCHEMA_OF[name.split('/')[0] as string] as SchemaName, name);
  expect(result.ok).toBe(CODE_ONLY.has(name));
  if (result.ok) return;
  expect(result.error.location.source).toBe(name);
  expect(result.error.location.line).toEqual(expect.any(Number));
  const want = LIBXML2_FIRST[name];
  if (want) {
    expect(result.error.details[0]).toBe(want.message);
    expect(result.error.location.line).toBe(want.line);
    expect(result.error.location.element).toBe(want.element);
  }
});

test('no DTD, no entities: a DOCTYPE is refused before any declaration is read', async () => {
  const bomb =
    "<!DOCTYPE volbackupset [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>\n" +
    "<!ENTITY ext SYSTEM 'http://127.0.0.1:9/x'>]>\n<volbackupset>&b;&ext;</volbackupset>";
  const result = await validateXml(bomb, 'backup-metadata', 'bomb');
  expect(!result.ok && result.error.details).toEqual(['DOCTYPE declarations are not allowed']);
  expect(!result.ok && result.error.location.line).toBe(1);
});

test('the schema and the code share one LVM reserved-name list', () => {
  const rng = readFileSync(path.join(REPO_ROOT, 'schemas/common.rng'), 'utf8');
  const substrings = /\.\*_\(([a-z|]+)\)\.\*/
    .exec(rng)?.[1]
    ?.split('|')
    .map((s) => `_${s}`);
  expect(substrings).toEqual([...LVM_RESERVED_SUBSTRINGS]);
  expect(/\((snapshot\|pvmove)\)\.\*/.exec(rng)?.[1]?.split('|')).toEqual([...LVM_RESERVED_PREFIXES]);
});

test('batch validation: results in order, errors under each caller name', async () => {
  const broken = METADATA.replace("state='complete'", "state='done'");
  const malformed = METADATA.replace('</disks>', '</disk>');
  const docs = Array.from({ length: 1000 }, (_, i) => ({
    xml: i === 10 ? broken : i === 20 ? malformed : i === 999 ? '' : METADATA,
    source: `vol-${i}`,
  }));
  for (const concurrency of [1, 3, 8]) {
    const results = await validateMany(docs, 'backup-metadata', { concurrency });
    expect(results).toHaveLength(1000);
    expect(results.filter((r) => r.ok)).toHaveLength(997);
    const [r10, r20, r999] = [results[10], results[20], results[999]];
    expect(r10?.ok === false && r10.error.location).toEqual({
      source: 'vol-10',
      line: 1,
      element: 'volbackupset',
    });
    expect(r20?.ok === false && r20.error.message).toContain(
      'vol-20:line 26: Opening and ending tag mismatch',
    );
    expect(r999?.ok === false && r999.error.location.source).toBe('vol-999');
  }
  expect(await validateMany([], 'backup-metadata')).toEqual([]);
});

test('concurrent workers share the compiled schema without mixing their messages', async () => {
  // Many single and batch calls in flight at once on the libuv pool: each result must be exactly
  // what the same document gives alone.
  const variants = [
    METADATA,
    METADATA.replace("state='complete'", "state='done'"),
    METADATA.replace('</disks>', '</disk>'),
    METADATA.replace('<virtualSize>10737418240', '<virtualSize>x'),
  ];
  const alone = await Promise.all(variants.map((xml, v) => validateXml(xml, 'backup-metadata', `v${v}`)));
  const runs = Array.from({ length: 200 }, (_, i) =>
    i % 2 === 0
      ? validateXml(variants[i % 4] as string, 'backup-metadata', `v${i % 4}`).then((r) => [r])
      : validateMany(
          variants.map((xml, v) => ({ xml, source: `v${v}` })),
          'backup-metadata',
          { concurrency: 2 },
        ),
  );
  for (const [i, results] of (await Promise.all(runs)).entries()) {
    if (i % 2 === 0) expect(results[0]).toEqual(alone[i % 4]);
    else expect(results).toEqual(alone);
  }
});

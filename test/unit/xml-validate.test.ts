// The xmllint layer: argv builder, stderr parser, schema-dir resolver, missing-binary error, batch path
// and a rough throughput figure (printed, not asserted: machines differ).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, VolbackError, XmlValidationError } from '../../src/errors';
import {
  checkXmllint,
  parseXmllintStderr,
  resolveSchemaDir,
  schemaFile,
  validateMany,
  validateXml,
  xmllintArgv,
} from '../../src/xml/validate';
import { LVM_RESERVED_PREFIXES, LVM_RESERVED_SUBSTRINGS } from '../../src/xml/names';

const REPO = path.resolve(__dirname, '../..');
const METADATA = readFileSync(path.join(REPO, 'test/data/xml/metadata/incremental-push.xml'), 'utf8');

test('argv: stdin by default, files for a batch, never the network', () => {
  expect(xmllintArgv('/s/backup-metadata.rng')).toEqual(['--noout', '--nonet', '--relaxng', '/s/backup-metadata.rng', '-']);
  expect(xmllintArgv('/s/x.rng', ['/t/0.xml', '/t/1.xml'])).toEqual([
    '--noout',
    '--nonet',
    '--relaxng',
    '/s/x.rng',
    '/t/0.xml',
    '/t/1.xml',
  ]);
});

test('stderr: located, unlocated and parser errors, verdicts', () => {
  const report = parseXmllintStderr(
    [
      'Relax-NG validity error : Extra element server in interleave',
      '-:6: element server: Relax-NG validity error : Element volbackup failed to validate content',
      '- fails to validate',
      '/t/1.xml:11: parser error : Opening and ending tag mismatch: disk line 8 and disc',
      '    </disc>',
      '           ^',
      '/t/0.xml validates',
      '',
    ].join('\n'),
  );
  expect(report.diagnostics).toEqual([
    { file: '-', line: 6, element: 'server', message: 'Extra element server in interleave' },
    { file: '-', line: 6, element: 'server', message: 'Element volbackup failed to validate content' },
    { file: '/t/1.xml', line: 11, element: undefined, message: 'Opening and ending tag mismatch: disk line 8 and disc' },
  ]);
  expect([...report.failed]).toEqual(['-']);
  expect([...report.validated]).toEqual(['/t/0.xml']);
  expect(parseXmllintStderr('Relax-NG schema /x.rng failed to compile\n').schemaError).toContain('/x.rng');
});

test('schema directory resolves from src/ (ts-jest) and dist/src/ (compiled)', () => {
  expect(resolveSchemaDir(path.join(REPO, 'src/xml'), {})).toBe(path.join(REPO, 'schemas'));
  expect(resolveSchemaDir(path.join(REPO, 'dist/src/xml'), {})).toBe(path.join(REPO, 'schemas'));
  expect(resolveSchemaDir('/anywhere', { VOLBACK_SCHEMA_DIR: '/opt/schemas' })).toBe('/opt/schemas');
  expect(() => resolveSchemaDir('/', {})).toThrow(VolbackError);
  expect(schemaFile('backup-metadata', '/s')).toBe('/s/backup-metadata.rng');
});

test('a missing xmllint says how to get it', async () => {
  const err = await validateXml('<a/>', 'backup-metadata', 'x', { xmllint: '/nonexistent/xmllint' }).catch((e) => e);
  expect(err).toBeInstanceOf(VolbackError);
  expect(err.code).toBe(ErrorCodes.COMMAND_FAILED);
  expect(err.message).toContain('install libxml2-utils or run scripts/setup');
  await expect(checkXmllint({ xmllint: '/nonexistent/xmllint' })).rejects.toThrow('libxml2-utils');
  expect(await checkXmllint()).toMatch(/libxml version \d+/);
});

test('a broken schema directory is a system error, not an invalid document', async () => {
  const err = await validateXml('<a/>', 'backup-metadata', 'x', { schemaDir: '/nonexistent' }).catch((e) => e);
  expect(err).toBeInstanceOf(VolbackError);
  expect(err).not.toBeInstanceOf(XmlValidationError);
  expect(err.code).toBe(ErrorCodes.COMMAND_FAILED);
});

test('single-document validation reports source, line and element', async () => {
  expect(await validateXml(METADATA, 'backup-metadata', 'pool/vm1.meta')).toEqual({ ok: true });
  const bad = await validateXml(METADATA.replace('<virtualSize>10737418240', '<virtualSize>x'), 'backup-metadata', 'pool/vm1.meta');
  expect(bad.ok).toBe(false);
  if (bad.ok) return;
  // libxml2 may point at the next sibling (here <bitmap>, line 22); parseBackupSet's own diagnosis
  // is what names <virtualSize> precisely (see the metadata -invalid cases).
  expect(bad.error.location).toMatchObject({ source: 'pool/vm1.meta', line: expect.any(Number) });
  expect(bad.error.details.join('\n')).toContain("Type unsignedLong doesn't allow value 'x'");
  const empty = await validateXml('', 'backup-metadata', 'pool/empty');
  expect(!empty.ok && empty.error.message).toContain('Document is empty');
});

test('the schema and the code share one LVM reserved-name list', () => {
  const rng = readFileSync(path.join(REPO, 'schemas/common.rng'), 'utf8');
  const substrings = /\.\*_\(([a-z|]+)\)\.\*/.exec(rng)?.[1]?.split('|').map((s) => `_${s}`);
  expect(substrings).toEqual([...LVM_RESERVED_SUBSTRINGS]);
  expect(/\((snapshot\|pvmove)\)\.\*/.exec(rng)?.[1]?.split('|')).toEqual([...LVM_RESERVED_PREFIXES]);
});

test('batch validation: results in order, errors under each caller name, and throughput', async () => {
  const broken = METADATA.replace("state='complete'", "state='done'");
  const malformed = METADATA.replace('</disks>', '</disk>');
  const docs = Array.from({ length: 1000 }, (_, i) => ({
    xml: i === 10 ? broken : i === 20 ? malformed : METADATA,
    source: `vol-${i}`,
  }));
  const t0 = process.hrtime.bigint();
  const results = await validateMany(docs, 'backup-metadata', { batchSize: 250 });
  const batchMs = Number(process.hrtime.bigint() - t0) / 1e6;
  expect(results.filter((r) => r.ok)).toHaveLength(998);
  const r10 = results[10];
  const r20 = results[20];
  expect(r10?.ok === false && r10.error.location).toMatchObject({ source: 'vol-10', line: 1, element: 'volbackupset' });
  expect(r20?.ok === false && r20.error.message).toContain('vol-20:line 26: Opening and ending tag mismatch');

  const t1 = process.hrtime.bigint();
  for (let i = 0; i < 50; i += 1) await validateXml(METADATA, 'backup-metadata', 'x');
  const singleMs = Number(process.hrtime.bigint() - t1) / 1e6;
  process.stderr.write(
    `xmllint throughput: batch ${Math.round((1000 / batchMs) * 1000)} docs/s, ` +
      `one process per doc ${Math.round((50 / singleMs) * 1000)} docs/s\n`,
  );
});

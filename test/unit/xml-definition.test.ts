// Data-driven tests of <volbackup>: every test/data/xml/definition/*.xml parses and round-trips to
// out/X.xml, except *-invalid.xml, which must fail where its `<!-- expect: ... -->` comment says.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { XmlValidationError, isVolbackError, ErrorCodes } from '../../src/errors';
import { formatBackupDefinition, parseBackupDefinition } from '../../src/xml/backup-definition';
import type { BackupDefinition } from '../../src/model';

const DIR = path.join(__dirname, '../data/xml/definition');
const REGENERATE = process.env.VOLBACK_REGENERATE_OUTPUT === '1';
const files = readdirSync(DIR).filter((f) => f.endsWith('.xml'));

interface Expectation {
  line?: number;
  element?: string;
  message: string;
}

function expectation(xml: string, file: string): Expectation {
  const m = /<!--\s*expect:\s*(.*?)\s*-->/.exec(xml);
  if (!m) throw new Error(`${file}: an -invalid.xml file needs an <!-- expect: ... --> comment`);
  const spec = m[1] as string;
  const line = /\bline=(\d+)/.exec(spec);
  const element = /\belement=(\S+)/.exec(spec);
  const message = /\bmessage=(.*)$/.exec(spec);
  if (!message) throw new Error(`${file}: expect comment lacks message=`);
  return { line: line ? Number(line[1]) : undefined, element: element?.[1], message: message[1] as string };
}

test('the data folder holds valid and invalid cases', () => {
  expect(files.filter((f) => f.endsWith('-invalid.xml')).length).toBeGreaterThanOrEqual(20);
  expect(files.filter((f) => !f.endsWith('-invalid.xml')).length).toBeGreaterThanOrEqual(5);
});

describe.each(files.filter((f) => f.endsWith('-invalid.xml')))('invalid %s', (file) => {
  test('is refused with the expected location and message', async () => {
    const xml = readFileSync(path.join(DIR, file), 'utf8');
    const want = expectation(xml, file);
    const source = `definition/${file}`;
    const err = await parseBackupDefinition(xml, source).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(XmlValidationError);
    const e = err as XmlValidationError;
    expect(isVolbackError(e, ErrorCodes.XML_INVALID)).toBe(true);
    expect(e.fault).toBe('user');
    expect(e.location.source).toBe(source);
    expect(e.message).toContain(source);
    expect(e.message).toContain(want.message);
    if (want.line !== undefined) expect(e.location.line).toBe(want.line);
    if (want.element !== undefined) expect(e.location.element).toBe(want.element);
  });
});

describe.each(files.filter((f) => !f.endsWith('-invalid.xml')))('valid %s', (file) => {
  test('parses, formats to out/, and the output is a fixed point', async () => {
    const xml = readFileSync(path.join(DIR, file), 'utf8');
    const def = await parseBackupDefinition(xml, file);
    const formatted = await formatBackupDefinition(def);
    const outFile = path.join(DIR, 'out', file);
    if (REGENERATE || !existsSync(outFile)) writeFileSync(outFile, formatted);
    expect(formatted).toBe(readFileSync(outFile, 'utf8'));
    const again = await parseBackupDefinition(formatted, `out/${file}`);
    expect(again).toStrictEqual(def);
    expect(await formatBackupDefinition(again)).toBe(formatted);
  });
});

describe('defaults and normalisation', () => {
  test('an empty definition means push, auto, every disk with defaults', async () => {
    expect(await parseBackupDefinition('<volbackup/>', 'inline')).toStrictEqual({
      mode: 'push',
      kind: 'auto',
      disks: [],
    } satisfies BackupDefinition);
  });

  test('an <incremental> UUID comes back lowercase and dashed', async () => {
    const def = await parseBackupDefinition(
      '<volbackup><incremental>0B6F3C1E8D2A4C5E9F1A2B3C4D5E6F70</incremental></volbackup>',
      'inline',
    );
    expect(def.incrementalFrom).toBe('0b6f3c1e-8d2a-4c5e-9f1a-2b3c4d5e6f70');
  });

  test('formatting refuses a definition the schema refuses', async () => {
    const bad: BackupDefinition = {
      mode: 'push',
      kind: 'auto',
      disks: [{ name: 'vda', backup: true, target: { volume: '../x' } }],
    };
    await expect(formatBackupDefinition(bad)).rejects.toThrow(
      "volume '../x' on <target>: must not contain '/'",
    );
  });
});

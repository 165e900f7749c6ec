// Data-driven tests of the restore policy (src/xml/restore-policy.ts): every
// test/data/xml/restore-policy/X.xml is a stored domain XML (valid for libvirt's own domain.rng),
// its second comment the options; out/X.xml is the domain to define and out/X.json the report.
// *-invalid.xml must be refused. Every input and every output is validated with xmllint against
// /usr/share/libvirt/schemas/domain.rng, so the sanitised XML is still a domain libvirt accepts.
// Regenerate expectations with VOLBACK_REGENERATE_OUTPUT=1 (and read the diff).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, isVolbackError } from '../../src/errors';
import {
  RESTORE_ALLOWANCES,
  applyRestorePolicy,
  isAllowedEmulator,
  isLoopback,
  type RestoreAllowance,
  type RestorePolicyOptions,
  type RestorePolicyResult,
} from '../../src/xml/restore-policy';

const DIR = path.join(__dirname, '../data/xml/restore-policy');
const SCHEMA = '/usr/share/libvirt/schemas/domain.rng';
const REGENERATE = process.env.VOLBACK_REGENERATE_OUTPUT === '1';
const files = readdirSync(DIR).filter((f) => f.endsWith('.xml'));
const valid = files.filter((f) => !f.endsWith('-invalid.xml'));
const invalid = files.filter((f) => f.endsWith('-invalid.xml'));

function optionsOf(xml: string, file: string): RestorePolicyOptions {
  const m = /<!--\s*restore-policy:(.*?)-->/.exec(xml);
  if (!m) throw new Error(`${file}: needs a <!-- restore-policy: restored=… --> comment`);
  const words = (m[1] as string).trim().split(/\s+/);
  const value = (key: string): string[] =>
    (words.find((w) => w.startsWith(`${key}=`))?.slice(key.length + 1) ?? '').split(',').filter(Boolean);
  const allow = value('allow');
  for (const a of allow)
    if (!(RESTORE_ALLOWANCES as readonly string[]).includes(a)) throw new Error(`${file}: ${a}?`);
  return {
    restoredDisks: value('restored'),
    allow: allow as RestoreAllowance[],
    dropRefused: words.includes('drop-refused'),
    // host=VIRT/CPU: what the restore's host runs (host=qemu/default: no KVM)
    ...(value('host').length
      ? {
          host: {
            virtType: value('host')[0].split('/')[0] as 'kvm' | 'qemu',
            cpu: value('host')[0].split('/')[1] as 'host-passthrough' | 'default',
            reason: 'the test says so',
          },
        }
      : {}),
  };
}

/** What a host file, device, program or address in the corpus looks like: never in a default output. */
const HOSTILE = [
  '/etc/',
  '/root/',
  '/dev/sd',
  '/dev/tty',
  '/dev/input',
  '/dev/tpm',
  '/tmp/',
  'docker.sock',
  '0.0.0.0',
  '203.0.113.',
  '169.254.',
  'commandline',
  'seclabel',
  'hostdev',
  '<filesystem',
  '<shmem',
  'pygrub',
  '/usr/bin/python3',
];

const xmllint = (paths: string[]): { ok: boolean; output: string } => {
  const run = spawnSync('xmllint', ['--noout', '--relaxng', SCHEMA, ...paths], { encoding: 'utf8' });
  if (run.error) throw new Error(`xmllint: ${run.error.message} (scripts/setup installs libxml2-utils)`);
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
};

const report = (r: RestorePolicyResult): Omit<RestorePolicyResult, 'xml'> => ({
  dropped: r.dropped,
  changed: r.changed,
  kept: r.kept,
  needsFlag: r.needsFlag,
  notes: r.notes,
});

test('the corpus covers every device class, in valid and invalid cases', () => {
  expect(valid.length).toBeGreaterThanOrEqual(25);
  expect(invalid.length).toBeGreaterThanOrEqual(3);
  expect(existsSync(SCHEMA)).toBe(true);
});

test("every input validates against libvirt's domain.rng, except *-invalid.xml", () => {
  const { ok, output } = xmllint(valid.map((f) => path.join(DIR, f)));
  expect({ ok, output }).toEqual({ ok: true, output: expect.not.stringContaining('fails') });
  for (const f of invalid) expect(xmllint([path.join(DIR, f)]).ok).toBe(false);
});

describe.each(valid)('%s', (file) => {
  test('gives out/ XML and report; refused and unallowed things are not in the XML', async () => {
    const input = readFileSync(path.join(DIR, file), 'utf8');
    const options = optionsOf(input, file);
    const result = await applyRestorePolicy(input, options);
    const xmlFile = path.join(DIR, 'out', file);
    const jsonFile = path.join(DIR, 'out', file.replace(/\.xml$/, '.json'));
    const json = `${JSON.stringify(report(result), null, 2)}\n`;
    if (REGENERATE || !existsSync(xmlFile)) writeFileSync(xmlFile, result.xml);
    if (REGENERATE || !existsSync(jsonFile)) writeFileSync(jsonFile, json);
    expect(result.xml).toBe(readFileSync(xmlFile, 'utf8'));
    expect(json).toBe(readFileSync(jsonFile, 'utf8'));

    if (!options.allow?.length)
      for (const bad of HOSTILE)
        expect({ file, bad, found: result.xml.includes(bad) }).toMatchObject({ found: false });
    if (options.dropRefused) expect(result.needsFlag).toEqual([]);
    for (const f of [...result.needsFlag, ...result.kept]) expect(RESTORE_ALLOWANCES).toContain(f.allowance);
    for (const f of result.kept) expect(options.allow).toContain(f.allowance);

    // A second pass over the output changes nothing more: the policy is a fixed point.
    const again = await applyRestorePolicy(result.xml, options);
    expect(again.xml).toBe(result.xml);
    expect([...again.dropped, ...again.changed, ...again.needsFlag]).toEqual([]);
  });
});

test("every output XML validates against libvirt's domain.rng", () => {
  const outs = valid.map((f) => path.join(DIR, 'out', f));
  expect(outs.filter((f) => !existsSync(f))).toEqual([]);
  const { ok, output } = xmllint(outs);
  expect({ ok, output }).toEqual({ ok: true, output: expect.not.stringContaining('fails') });
});

describe.each(invalid)('%s', (file) => {
  test('is refused with ERR_XML_INVALID', async () => {
    const input = readFileSync(path.join(DIR, file), 'utf8');
    const err = await applyRestorePolicy(input, optionsOf(input, file)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isVolbackError(err, ErrorCodes.XML_INVALID)).toBe(true);
  });
});

describe('rules that the corpus cannot hold (libvirt’s schema would refuse the input)', () => {
  const wrap = (devices: string, top = ''): string =>
    `<domain type='kvm'><name>x</name><memory>1</memory><os><type>hvm</type></os>${top}<devices>${devices}</devices></domain>`;

  test('a DOCTYPE is refused (no entities in untrusted XML)', async () => {
    await expect(
      applyRestorePolicy(`<!DOCTYPE domain [<!ENTITY x "y">]>${wrap('')}`, { restoredDisks: [] }),
    ).rejects.toThrow(/DOCTYPE declarations are not allowed/);
  });

  test('unknown elements are dropped and reported, at the top, in <os> and in <devices>', async () => {
    const r = await applyRestorePolicy(
      wrap('<pstore backend="acpi-erst"><path>/etc/passwd</path></pstore>', '<frobnicate/>'),
      {
        restoredDisks: [],
      },
    );
    expect(r.dropped.map((d) => d.element)).toEqual([
      '/domain/frobnicate[1]',
      '/domain/devices[1]/pstore[1]',
    ]);
    expect(r.xml).not.toContain('pstore');
    const os = await applyRestorePolicy(wrap('').replace('</os>', '<shim>/etc/shadow</shim></os>'), {
      restoredDisks: [],
    });
    expect(os.dropped.map((d) => d.element)).toEqual(['/domain/os[1]/shim[1]']);
  });

  test('an element named like xml2js text nodes is not text', async () => {
    const r = await applyRestorePolicy(wrap('<__text__>/etc/passwd</__text__>'), { restoredDisks: [] });
    expect(r.xml).not.toContain('/etc/passwd');
  });

  test('an undeclared prefix is dropped, an id of the old host too', async () => {
    const r = await applyRestorePolicy(
      wrap('')
        .replace("<domain type='kvm'>", "<domain type='kvm' id='7'>")
        .replace('</domain>', '<qemu:commandline/></domain>'),
      {
        restoredDisks: [],
      },
    );
    expect(r.xml).not.toContain('commandline');
    expect(r.xml).not.toContain("id='7'");
    expect(r.dropped[0]?.reason).toContain('not declared');
  });

  test('--drop-refused turns every refusal into a drop, --allow keeps it and says so', async () => {
    const hostdev =
      "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/><product id='0x2'/></source></hostdev>";
    const refused = await applyRestorePolicy(wrap(hostdev), { restoredDisks: [] });
    expect(refused.needsFlag).toHaveLength(1);
    expect(refused.needsFlag[0]).toMatchObject({
      element: '/domain/devices[1]/hostdev[1]',
      allowance: 'host-devices',
    });
    expect(refused.xml).not.toContain('hostdev');
    const dropped = await applyRestorePolicy(wrap(hostdev), { restoredDisks: [], dropRefused: true });
    expect([dropped.needsFlag.length, dropped.dropped.length]).toEqual([0, 1]);
    const kept = await applyRestorePolicy(wrap(hostdev), { restoredDisks: [], allow: ['host-devices'] });
    expect([kept.needsFlag.length, kept.kept.length, kept.xml.includes('<hostdev')]).toEqual([0, 1, true]);
  });
});

describe('helpers', () => {
  test.each([
    ['/usr/bin/qemu-system-x86_64', true],
    ['/usr/bin/qemu-system-aarch64', true],
    ['/usr/libexec/qemu-kvm', true],
    ['/usr/bin/kvm', true],
    ['/usr/local/bin/qemu-system-x86_64', false],
    ['/usr/bin/../../tmp/qemu-system-x86_64', false],
    ['/usr/bin//qemu-system-x86_64', false],
    ['/usr/bin/qemu-system-x86_64/', false],
    ['/usr/bin/sh', false],
    ['qemu-system-x86_64', false],
  ])('emulator %s allowed: %s', (p, ok) => expect(isAllowedEmulator(p)).toBe(ok));

  test.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['[::1]', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.122.1', false],
    ['127.0.0.1.example.com', false],
  ])('%s is loopback: %s', (a, ok) => expect(isLoopback(a)).toBe(ok));
});

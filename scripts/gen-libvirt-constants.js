#!/usr/bin/env node
// Generates src/libvirt/constants.generated.ts from libvirt's machine-readable API description.
//
// Usage: node scripts/gen-libvirt-constants.js [libvirt-api.xml] [libvirt-qemu-api.xml]
// Defaults come from `pkg-config --variable libvirt_api libvirt` (and libvirt-qemu), falling back
// to /usr/share/libvirt/api. Re-run after a libvirt upgrade and commit the result.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const xml2js = require('xml2js');

function apiPath(pkg, fallback) {
  try {
    const p = execFileSync('pkg-config', ['--variable', pkg.replace('-', '_') + '_api', pkg], {
      encoding: 'utf8',
    }).trim();
    if (p && fs.existsSync(p)) return p;
  } catch {
    /* pkg-config missing or variable unknown: use the Debian location */
  }
  return fallback;
}

const apiFiles = [
  process.argv[2] ?? apiPath('libvirt', '/usr/share/libvirt/api/libvirt-api.xml'),
  process.argv[3] ?? apiPath('libvirt-qemu', '/usr/share/libvirt/api/libvirt-qemu-api.xml'),
];
const outFile = path.join(__dirname, '..', 'src', 'libvirt', 'constants.generated.ts');

function parse(file) {
  let doc;
  xml2js.parseString(fs.readFileSync(file, 'utf8'), { async: false }, (err, res) => {
    if (err) throw err;
    doc = res;
  });
  return doc.api;
}

const enums = []; // { name, type, raw, info }
const strings = []; // { name, value }
let version = '';
for (const file of apiFiles) {
  const api = parse(file);
  for (const e of api.symbols[0].enum ?? []) {
    if (!e.$.type) throw new Error(`${file}: enum ${e.$.name} has no type`);
    enums.push({ name: e.$.name, type: e.$.type, raw: e.$.value });
  }
  for (const m of api.symbols[0].macro ?? []) {
    if (m.$.name === 'LIBVIR_VERSION_NUMBER') version = m.$.raw;
    if (m.$.string !== undefined) strings.push({ name: m.$.name, value: m.$.string });
  }
}

// Values are either integers or the name of another enum (aliases): resolve, fail on anything else.
const byName = new Map(enums.map((e) => [e.name, e]));
function resolve(e, seen = new Set()) {
  if (/^-?\d+$/.test(e.raw)) return Number(e.raw);
  const target = byName.get(e.raw);
  if (!target || seen.has(e.name)) throw new Error(`cannot resolve value '${e.raw}' of ${e.name}`);
  seen.add(e.name);
  return resolve(target, seen);
}
for (const e of enums) e.value = resolve(e);

const groups = new Map();
for (const e of enums) {
  if (!groups.has(e.type)) groups.set(e.type, []);
  groups.get(e.type).push(e);
}

function nameTable(type) {
  const table = new Map();
  for (const e of groups.get(type) ?? []) {
    if (/_LAST$/.test(e.name)) continue; // sentinels, not real codes
    if (!table.has(e.value)) table.set(e.value, e.name);
  }
  if (table.size === 0) throw new Error(`no enums of type ${type}`);
  return [...table.entries()].sort((a, b) => a[0] - b[0]);
}

const out = [];
out.push('// libvirt constants and error-name tables — generated — do not edit.');
out.push(`// Source: ${apiFiles.map((f) => path.basename(f)).join(', ')} (libvirt ${version}).`);
out.push('// Regenerate with: node scripts/gen-libvirt-constants.js');
out.push('/* eslint-disable */');
out.push('');
out.push(`/** LIBVIR_VERSION_NUMBER of the API description these constants came from. */`);
out.push(`export const GENERATED_FROM_LIBVIRT_VERSION = ${Number(version)};`);
out.push('');
for (const [type, label] of [
  ['virErrorNumber', 'VIR_ERROR_CODE_NAMES'],
  ['virErrorDomain', 'VIR_ERROR_DOMAIN_NAMES'],
]) {
  out.push(`/** ${type}: number → symbolic name. */`);
  out.push(`export const ${label}: Readonly<Record<number, string>> = Object.freeze({`);
  for (const [v, n] of nameTable(type)) out.push(`  ${v}: '${n}',`);
  out.push('});');
  out.push('');
}
for (const type of [...groups.keys()].sort()) {
  out.push(`export const ${type} = {`);
  for (const e of groups.get(type).sort((a, b) => a.value - b.value || a.name.localeCompare(b.name)))
    out.push(`  ${e.name}: ${e.value},`);
  out.push('} as const;');
  out.push(`export type ${type} = (typeof ${type})[keyof typeof ${type}];`);
  out.push('');
}
out.push('/** String macros (typed-parameter field names and the like). */');
out.push('export const VIR_STRINGS = {');
for (const s of strings.sort((a, b) => a.name.localeCompare(b.name)))
  out.push(`  ${s.name}: ${JSON.stringify(s.value)},`);
out.push('} as const;');
out.push('');
fs.writeFileSync(outFile, out.join('\n'));
console.error(`wrote ${outFile}: ${enums.length} enums in ${groups.size} types, ${strings.length} strings`);

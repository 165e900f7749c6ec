// The neutral element tree between xml2js and the document modules: reading (with line numbers and
// collected problems) and writing (libvirt-style indentation and escaping). xml2js shapes stop here.
import { parseStringPromise } from 'xml2js';
import { ErrorCodes, VolbackError, XmlValidationError, type VolbackErrorOptions } from '../errors';
import { escapeAttr, escapeText } from './escape';

/** One parsed element. Children keep document order among elements of the same name. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  /** Concatenated character data directly inside the element ('' when none). */
  text: string;
  children: XmlElement[];
  /** 1-based line of the start tag (best effort: exact for documents in schema order). */
  line?: number;
}

/** A rule a document breaks, found by code (the schema cannot say it, or says it less clearly). */
export interface XmlProblem {
  message: string;
  element?: string;
  line?: number;
}

/** Masks comments, CDATA, PIs and DOCTYPE with spaces (newlines kept) so markup scans see only real tags. */
function maskNonTags(xml: string): string {
  return xml.replace(/<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>/g, (m) =>
    m.replace(/[^\n]/g, ' '),
  );
}

/** Lines of every start tag, per element name, in document order. Pure; used to place problems. */
export function startTagLines(xml: string): Map<string, number[]> {
  return tagLinesOfMasked(maskNonTags(xml));
}

function tagLinesOfMasked(masked: string): Map<string, number[]> {
  const lines = new Map<string, number[]>();
  const re = /<([A-Za-z_][\w.:-]*)|\n/g;
  let line = 1;
  for (let m = re.exec(masked); m; m = re.exec(masked)) {
    if (m[0] === '\n') {
      line += 1;
      continue;
    }
    const name = m[1] as string;
    const list = lines.get(name) ?? [];
    list.push(line);
    lines.set(name, list);
  }
  return lines;
}

type Xml2jsNode = string | { $?: Record<string, string>; _?: string; [child: string]: unknown };

function convert(
  name: string,
  node: Xml2jsNode,
  lines: Map<string, number[]>,
  seen: Map<string, number>,
): XmlElement {
  const ordinal = seen.get(name) ?? 0;
  seen.set(name, ordinal + 1);
  const el: XmlElement = { name, attrs: {}, text: '', children: [], line: lines.get(name)?.[ordinal] };
  if (typeof node === 'string') {
    el.text = node;
    return el;
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === '$') el.attrs = { ...(value as Record<string, string>) };
    else if (key === '_') el.text = value as string;
    else for (const child of value as Xml2jsNode[]) el.children.push(convert(key, child, lines, seen));
  }
  return el;
}

function refuseDoctypeMasked(normalized: string, masked: string, source: string): void {
  const doctype = /<!DOCTYPE/i.exec(masked);
  if (doctype) {
    const line = normalized.slice(0, doctype.index).split('\n').length;
    throw new XmlValidationError({ source, line }, ['DOCTYPE declarations are not allowed']);
  }
}

/** Throws ERR_XML_INVALID when `xml` has a DOCTYPE declaration (outside comments and CDATA). */
export function refuseDoctype(xml: string, source: string): void {
  const normalized = xml.replace(/\r\n?/g, '\n');
  refuseDoctypeMasked(normalized, maskNonTags(normalized), source);
}

/**
 * Parses a document into the neutral tree. Line ends are normalised as XML requires (so `&#13;`
 * survives, raw CRs do not). DOCTYPE declarations are refused: volback documents never need them and
 * entity expansion has no place in metadata read from storage pools.
 */
export async function parseTree(xml: string, source: string): Promise<XmlElement> {
  const normalized = xml.replace(/\r\n?/g, '\n');
  // Masked once: the DOCTYPE check and the start-tag line table both read it.
  const masked = maskNonTags(normalized);
  refuseDoctypeMasked(normalized, masked, source);
  let parsed: Record<string, Xml2jsNode>;
  try {
    parsed = await parseStringPromise(normalized, {
      explicitArray: true,
      explicitRoot: true,
      trim: false,
      normalize: false,
      emptyTag: '',
      strict: true,
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const line = /Line: (\d+)/.exec(message);
    throw new XmlValidationError(
      { source, line: line ? Number(line[1]) + 1 : undefined },
      [`not well-formed: ${message.split('\n')[0]}`],
      { cause: err },
    );
  }
  if (parsed === null || typeof parsed !== 'object') {
    throw new XmlValidationError({ source, line: 1 }, ['document is empty']);
  }
  const [rootName, rootNode] = Object.entries(parsed)[0] as [string, Xml2jsNode];
  return convert(rootName, rootNode, tagLinesOfMasked(masked), new Map());
}

/**
 * Walks a tree that may not match its schema, collecting problems instead of throwing, so one pass
 * both converts valid documents and explains invalid ones precisely.
 */
export class TreeReader {
  readonly problems: XmlProblem[] = [];

  problem(el: XmlElement | undefined, message: string): void {
    this.problems.push({ message, element: el?.name, line: el?.line });
  }

  /** Reports attributes and child elements outside the allowed sets. */
  allowOnly(el: XmlElement, attrs: readonly string[], children: readonly string[]): void {
    for (const attr of Object.keys(el.attrs)) {
      if (!attrs.includes(attr)) this.problem(el, `unknown attribute '${attr}' on <${el.name}>`);
    }
    for (const child of el.children) {
      if (!children.includes(child.name))
        this.problem(child, `unknown element <${child.name}> in <${el.name}>`);
    }
  }

  /** The single child named `name`, reporting duplicates; undefined when absent. */
  optional(el: XmlElement, name: string): XmlElement | undefined {
    const found = el.children.filter((c) => c.name === name);
    if (found.length > 1) this.problem(found[1], `<${name}> appears more than once in <${el.name}>`);
    return found[0];
  }

  required(el: XmlElement, name: string): XmlElement | undefined {
    const found = this.optional(el, name);
    if (!found) this.problem(el, `missing required element <${name}> in <${el.name}>`);
    return found;
  }

  all(el: XmlElement, name: string): XmlElement[] {
    return el.children.filter((c) => c.name === name);
  }

  requiredAttr(el: XmlElement, name: string): string | undefined {
    const value = el.attrs[name];
    if (value === undefined) this.problem(el, `missing required attribute '${name}' on <${el.name}>`);
    return value;
  }

  /**
   * An attribute restricted to `values`. When absent: `fallback` if given, undefined if `fallback`
   * is 'optional', else a missing-attribute problem.
   */
  enumAttr<T extends string>(
    el: XmlElement,
    name: string,
    values: readonly T[],
    fallback?: T | 'optional',
  ): T | undefined {
    const value = el.attrs[name];
    if (value === undefined) {
      if (fallback === undefined) this.problem(el, `missing required attribute '${name}' on <${el.name}>`);
      return fallback === 'optional' ? undefined : fallback;
    }
    if (!(values as readonly string[]).includes(value)) {
      this.problem(
        el,
        `${name}='${value}' on <${el.name}> must be one of ${values.map((v) => `'${v}'`).join(', ')}`,
      );
      return undefined;
    }
    return value as T;
  }

  /** Runs a name/value check (returning a reason or undefined) and records its reason. */
  check(
    el: XmlElement,
    value: string | undefined,
    what: string,
    rule: (v: string) => string | undefined,
  ): void {
    if (value === undefined) return;
    const reason = rule(value);
    if (reason) this.problem(el, `${what} '${value}' on <${el.name}>: ${reason}`);
  }

  /** Text of an element that must not contain child elements. */
  text(el: XmlElement): string {
    for (const child of el.children)
      this.problem(child, `unexpected element <${child.name}> inside <${el.name}>`);
    return el.text;
  }
}

/**
 * One XmlValidationError for a document: code-found problems first (they are precise), then
 * libxml2's own messages when the schema also failed.
 */
export function documentError(
  source: string,
  problems: readonly XmlProblem[],
  schemaError?: XmlValidationError,
  options: VolbackErrorOptions = {},
): XmlValidationError {
  const first = problems[0];
  if (!first) {
    if (schemaError) {
      return options.fault === undefined
        ? schemaError
        : new XmlValidationError(schemaError.location, schemaError.details, {
            cause: schemaError,
            ...options,
          });
    }
    throw new VolbackError(ErrorCodes.XML_INVALID, `${source}: documentError called without problems`);
  }
  const details = problems.map((p) => (p.line !== undefined ? `line ${p.line}: ${p.message}` : p.message));
  details[0] = first.message;
  if (schemaError) details.push(...schemaError.details.map((d) => `schema: ${d}`));
  return new XmlValidationError({ source, line: first.line, element: first.element }, details, {
    cause: schemaError,
    ...options,
  });
}

// ---- writing ----

/** An element to write. Attributes whose value is undefined are left out; order is kept. */
export interface OutElement {
  name: string;
  attrs?: ReadonlyArray<readonly [string, string | undefined]>;
  /** Text content; an element has text or children, not both. */
  text?: string;
  children?: ReadonlyArray<OutElement | undefined>;
}

// Characters XML 1.0 cannot carry at all, even escaped (control characters, lone surrogates, U+FFFE/F).
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function checkChars(value: string, where: string): void {
  const bad = NOT_XML_CHAR.exec(value);
  if (bad) {
    const code = (bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
    throw new VolbackError(
      ErrorCodes.INVALID_INPUT,
      `${where} contains U+${code}, which XML cannot represent`,
      {
        fault: 'user',
      },
    );
  }
}

function renderInto(el: OutElement, indent: string, out: string[]): void {
  let open = `${indent}<${el.name}`;
  for (const [key, value] of el.attrs ?? []) {
    if (value === undefined) continue;
    checkChars(value, `attribute ${key} of <${el.name}>`);
    open += ` ${key}='${escapeAttr(value)}'`;
  }
  const children = (el.children ?? []).filter((c): c is OutElement => c !== undefined);
  if (el.text !== undefined && el.text !== '') {
    checkChars(el.text, `text of <${el.name}>`);
    out.push(`${open}>${escapeText(el.text)}</${el.name}>\n`);
  } else if (children.length === 0) {
    out.push(`${open}/>\n`);
  } else {
    out.push(`${open}>\n`);
    for (const child of children) renderInto(child, `${indent}  `, out);
    out.push(`${indent}</${el.name}>\n`);
  }
}

/** Serialises a tree the way libvirt formats its XML: two-space indent, single-quoted attributes. */
export function renderXml(root: OutElement): string {
  const out: string[] = [];
  renderInto(root, '', out);
  return out.join('');
}

/**
 * Reads a document whose schema validation already ran (`schemaError` when it failed) with `read`,
 * which records rule problems on the reader. Throws one XmlValidationError naming the source, line
 * and element of the first problem: a parse error, the schema's, or a rule's.
 */
export async function readDocument<T>(
  xml: string,
  source: string,
  schemaError: XmlValidationError | undefined,
  read: (reader: TreeReader, root: XmlElement) => T | undefined,
): Promise<T> {
  let root: XmlElement;
  try {
    root = await parseTree(xml, source);
  } catch (err) {
    throw schemaError ?? err;
  }
  const reader = new TreeReader();
  const value = read(reader, root);
  if (value === undefined || reader.problems.length > 0 || schemaError) {
    throw documentError(source, reader.problems, schemaError);
  }
  return value;
}

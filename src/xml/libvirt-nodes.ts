// xml2js access to libvirt's own documents (domain, pool, volume XML), shared by their readers in
// src/xml; nothing outside src/xml sees these shapes.
import { parseStringPromise } from 'xml2js';
import { ErrorCodes, VolbackError } from '../errors';

export type Node = Record<string, unknown> & { $?: Record<string, string>; _?: string };

export const first = (node: Node | undefined, key: string): Node | undefined =>
  (node?.[key] as Node[] | undefined)?.[0];
export const all = (node: Node | undefined, key: string): Node[] => (node?.[key] as Node[] | undefined) ?? [];
export const text = (node: Node | undefined): string | undefined =>
  node === undefined ? undefined : typeof node === 'string' ? node : node._;

export async function parse(xml: string, what: string): Promise<Node> {
  try {
    return (await parseStringPromise(xml, { explicitArray: true })) as Node;
  } catch (err) {
    throw new VolbackError(ErrorCodes.XML_INVALID, `cannot parse ${what} XML: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

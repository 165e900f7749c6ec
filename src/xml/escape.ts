// The one escaping of XML text and attribute values: for the documents volback formats (src/xml/tree.ts)
// and for the small libvirt documents it writes by hand (domains, pools, volumes, checkpoints, jobs).

/** Escapes element text. '\r' becomes a character reference: an XML parser turns a raw CR into '\n'. Pure. */
export function escapeText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

/**
 * Escapes a value for an attribute in either quote, and is just as right for element text. Whitespace
 * becomes references: attribute-value normalisation would turn raw ones into spaces. Pure.
 */
export function escapeAttr(value: string): string {
  return escapeText(value)
    .replace(/'/g, '&apos;')
    .replace(/"/g, '&quot;')
    .replace(/\n/g, '&#10;')
    .replace(/\t/g, '&#9;');
}

/** What hand-written libvirt XML uses for every value, text or attribute. */
export const escapeXml = escapeAttr;

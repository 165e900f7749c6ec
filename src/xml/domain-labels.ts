// Reads the backup labels an admin put in a domain's <metadata> under volback's namespace, the way
// libvirt keeps application data in domain XML (`virsh metadata … --set`); docs/cli.md, "Many domains".
import { all, parse, text, type Node } from './libvirt-nodes';

/** volback's namespace in a domain's `<metadata>`. */
export const LABELS_NAMESPACE = 'https://volback.dev/xmlns/backup/1';

/** A label: what `--label` names; plain words, so they stay readable in `virsh dumpxml`. */
export const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * The labels of a domain: the `<label>` children of the `<backup>` element in volback's namespace
 * (any prefix; libvirt writes the namespace on that element), e.g.
 * `<volback:backup xmlns:volback="https://volback.dev/xmlns/backup/1"><volback:label>nightly</volback:label></volback:backup>`.
 * Labels that are not plain words are ignored. Throws ERR_XML_INVALID for XML that does not parse.
 */
export async function domainLabels(domainXml: string): Promise<string[]> {
  const domain = (await parse(domainXml, 'domain')).domain as Node | undefined;
  const labels: string[] = [];
  for (const metadata of all(domain, 'metadata')) {
    for (const [key, value] of Object.entries(metadata)) {
      if (key === '$' || key === '_') continue;
      const [prefix, local] = key.includes(':') ? key.split(':', 2) : [undefined, key];
      if (local !== 'backup') continue;
      for (const element of value as Node[]) {
        const ns = element.$?.[prefix ? `xmlns:${prefix}` : 'xmlns'];
        if (ns !== LABELS_NAMESPACE) continue;
        const children = [...all(element, 'label'), ...(prefix ? all(element, `${prefix}:label`) : [])];
        for (const child of children) {
          const label = text(child)?.trim();
          if (label && LABEL_RE.test(label) && !labels.includes(label)) labels.push(label);
        }
      }
    }
  }
  return labels;
}

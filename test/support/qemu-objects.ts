// What volback's QMP engine may leave inside a running QEMU: jobs, block nodes and fd sets named
// with its prefix. Tests assert this is empty after every backup, cancelled or not.
import { QMP_NAME_PREFIX } from '../../src/core/backup/qmp-job';
import type { Domain } from '../../src/libvirt';

export async function qemuLeftovers(domain: Domain): Promise<string[]> {
  const ours = (name?: string): boolean => !!name?.startsWith(QMP_NAME_PREFIX);
  const jobs = await domain.qmp<Array<{ id: string }>>('query-jobs');
  const nodes = await domain.qmp<Array<{ 'node-name': string }>>('query-named-block-nodes', { flat: true });
  const fdsets =
    await domain.qmp<Array<{ 'fdset-id': number; fds: Array<{ opaque?: string }> }>>('query-fdsets');
  return [
    ...jobs.filter((j) => ours(j.id)).map((j) => `job ${j.id}`),
    ...nodes.filter((n) => ours(n['node-name'])).map((n) => `node ${n['node-name']}`),
    ...fdsets.filter((s) => s.fds.some((f) => ours(f.opaque))).map((s) => `fd set ${s['fdset-id']}`),
  ];
}

/** Names of the named dirty bitmaps QEMU holds on any node (a running job's copy bitmap has none). */
export async function qemuBitmaps(domain: Domain): Promise<string[]> {
  const nodes = await domain.qmp<Array<{ 'dirty-bitmaps'?: Array<{ name?: string }> }>>(
    'query-named-block-nodes',
    {
      flat: true,
    },
  );
  return [
    ...new Set(nodes.flatMap((n) => (n['dirty-bitmaps'] ?? []).flatMap((b) => (b.name ? [b.name] : [])))),
  ];
}

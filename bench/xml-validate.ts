// Benchmark: validating and reading 10,000 <volbackupset> documents (a catalog scan) — the in-process
// libxml2 validator against the old xmllint subprocess path, measured in the same run.
//   npx tsc -p tsconfig.json && node dist/bench/xml-validate.js [count]
import { spawnSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BackupSet } from '../src/model';
import { formatBackupSet, parseBackupSets } from '../src/xml/backup-metadata';
import { parseTree } from '../src/xml/tree';
import { schemaFile, validateMany, validateXml } from '../src/xml/validate';

const COUNT = Number(process.argv[2] ?? 10_000);

// ---- realistic documents: 1–3 disks, a checkpoint, and the domain's inactive XML (~3–5 KB escaped) ----

function uuid(n: number, salt: number): string {
  const hex = ((n * 2654435761 + salt * 40503) >>> 0).toString(16).padStart(8, '0');
  return `${hex}-${hex.slice(0, 4)}-4${hex.slice(1, 4)}-8${hex.slice(4, 7)}-${hex}${hex.slice(0, 4)}`;
}

function domainXml(name: string, domUuid: string, disks: number): string {
  const diskXml = Array.from(
    { length: disks },
    (_, d) => `    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none' io='native' discard='unmap'/>
      <source file='/var/lib/libvirt/images/${name}-vd${'abc'[d]}.qcow2'/>
      <target dev='vd${'abc'[d]}' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x0${4 + d}' slot='0x00' function='0x0'/>
    </disk>
`,
  ).join('');
  return `<domain type='kvm'>
  <name>${name}</name>
  <uuid>${domUuid}</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>4194304</memory>
  <currentMemory unit='KiB'>4194304</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <vmport state='off'/>
  </features>
  <cpu mode='host-passthrough' check='none' migratable='on'/>
  <clock offset='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
    <timer name='pit' tickpolicy='delay'/>
    <timer name='hpet' present='no'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <pm>
    <suspend-to-mem enabled='no'/>
    <suspend-to-disk enabled='no'/>
  </pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${diskXml}    <controller type='usb' index='0' model='qemu-xhci' ports='15'>
      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>
    </controller>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='virtio-serial' index='0'>
      <address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>
    </controller>
    <interface type='network'>
      <mac address='52:54:00:${name.length.toString(16).padStart(2, '0')}:1c:3e'/>
      <source network='default'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <serial type='pty'>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/>
    </channel>
    <input type='mouse' bus='ps2'/>
    <input type='keyboard' bus='ps2'/>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </memballoon>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
</domain>
`;
}

function backupSet(i: number): BackupSet {
  const name = `vm${i % 200}`;
  const domUuid = uuid(i % 200, 7);
  const incremental = i % 7 !== 0;
  const disks = 1 + (i % 3);
  const id = uuid(i, 1);
  return {
    id,
    volbackVersion: '0.1.0',
    mode: i % 5 === 0 ? 'pull' : 'push',
    kind: incremental ? 'incremental' : 'full',
    state: 'complete',
    createdAt: new Date(Date.UTC(2026, 10, 1) + i * 3_600_000),
    completedAt: new Date(Date.UTC(2026, 10, 1) + i * 3_600_000 + 162_333),
    ...(incremental ? { parentId: uuid(i - 1, 1) } : {}),
    description: 'nightly',
    domain: { name, uuid: domUuid },
    checkpoint: {
      name: `volback-${id.slice(0, 8)}`,
      ...(incremental ? { parent: `volback-${uuid(i - 1, 1).slice(0, 8)}` } : {}),
      xml: `<domaincheckpoint>\n  <name>volback-${id.slice(0, 8)}</name>\n  <disks>\n    <disk name='vda' checkpoint='bitmap' bitmap='volback-${id.slice(0, 8)}'/>\n  </disks>\n</domaincheckpoint>\n`,
    },
    disks: Array.from({ length: disks }, (_, d) => ({
      id: uuid(i * 4 + d, 3),
      target: `vd${'abc'[d]}`,
      kind: incremental ? 'incremental' : 'full',
      ...(incremental ? { parentId: uuid((i - 1) * 4 + d, 3) } : {}),
      sourcePath: `/var/lib/libvirt/images/${name}-vd${'abc'[d]}.qcow2`,
      sourceFormat: 'qcow2',
      volume: {
        pool: 'volback',
        name: `${name}-vd${'abc'[d]}-${String(i).padStart(6, '0')}.qcow2`,
        format: 'qcow2',
      },
      bitmap: `volback-${id.slice(0, 8)}`,
      virtualSize: 10737418240 * (d + 1),
      bytesCopied: 52428800 + i,
    })),
    domainXml: domainXml(name, domUuid, disks),
  };
}

// ---- the old path, kept here only as the baseline: xmllint, 500 files per process, one per CPU ----

function xmllintAvailable(): boolean {
  return spawnSync('xmllint', ['--version']).status === 0;
}

function runXmllint(args: string[], stdin = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('xmllint', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(stderr));
    child.stdin.end(stdin);
  });
}

async function xmllintBatch(docs: string[], rng: string): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'volback-bench-'));
  try {
    const batches: number[][] = [];
    for (let s = 0; s < docs.length; s += 500)
      batches.push(Array.from({ length: Math.min(500, docs.length - s) }, (_, k) => s + k));
    let valid = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: os.availableParallelism() }, async () => {
        while (next < batches.length) {
          const batch = batches[next++] as number[];
          const files = batch.map((i) => path.join(dir, `${i}.xml`));
          await Promise.all(batch.map((i, k) => writeFile(files[k] as string, docs[i] as string)));
          const stderr = await runXmllint(['--noout', '--nonet', '--relaxng', rng, ...files]);
          valid += stderr.split('\n').filter((l) => l.endsWith(' validates')).length;
        }
      }),
    );
    return valid;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- measurement ----

async function timed<T>(
  label: string,
  n: number,
  fn: () => Promise<T>,
): Promise<{ label: string; rate: number; ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const rate = (n / ms) * 1000;
  process.stdout.write(
    `${label.padEnd(58)} ${String(Math.round(rate)).padStart(8)} docs/s  ${ms.toFixed(0).padStart(6)} ms  (${n} docs)\n`,
  );
  return { label, rate, ms, value };
}

async function main(): Promise<void> {
  const sets = Array.from({ length: COUNT }, (_, i) => backupSet(i));
  const t0 = process.hrtime.bigint();
  const xmls: string[] = [];
  for (const set of sets) xmls.push(await formatBackupSet(set));
  const formatMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const sizes = xmls.map((x) => Buffer.byteLength(x)).sort((a, b) => a - b);
  const docs = xmls.map((xml, i) => ({ xml, source: `volback/meta-${i}` }));
  const rng = schemaFile('backup-metadata');
  process.stdout.write(
    `${COUNT} documents, ${sizes[0]}–${sizes[sizes.length - 1]} bytes (median ${sizes[sizes.length >> 1]}), ` +
      `${os.availableParallelism()} CPUs, node ${process.version}\n` +
      `(formatBackupSet wrote them at ${Math.round((COUNT / formatMs) * 1000)} docs/s, self-validation included)\n\n`,
  );

  // Warm-up: schema compile, JIT.
  await parseBackupSets(docs.slice(0, 500));

  const results: Array<{ label: string; rate: number }> = [];
  let baseline: number | undefined;
  let perProcess: number | undefined;
  if (xmllintAvailable()) {
    const single = Math.min(100, COUNT);
    const one = await timed('xmllint, one process per document (old validateXml)', single, async () => {
      for (let i = 0; i < single; i += 1)
        await runXmllint(['--noout', '--nonet', '--relaxng', rng, '-'], xmls[i]);
    });
    perProcess = one.rate;
    results.push(one);
    const batch = await timed('xmllint, 500 files per process (old validateMany)', COUNT, () =>
      xmllintBatch(xmls, rng),
    );
    if (batch.value !== COUNT) throw new Error(`xmllint validated ${batch.value} of ${COUNT}`);
    baseline = batch.rate;
    results.push(batch);
  } else {
    process.stdout.write('xmllint not on PATH: no baseline\n');
  }

  results.push(
    await timed('validateXml, one await after another', COUNT, async () => {
      for (const d of docs)
        if (!(await validateXml(d.xml, 'backup-metadata', d.source)).ok) throw new Error(d.source);
    }),
  );
  results.push(
    await timed('validateXml, all in flight at once', COUNT, async () => {
      const all = await Promise.all(docs.map((d) => validateXml(d.xml, 'backup-metadata', d.source)));
      if (all.some((r) => !r.ok)) throw new Error('invalid');
    }),
  );
  results.push(
    await timed('validateMany (one worker hop per CPU)', COUNT, async () => {
      const all = await validateMany(docs, 'backup-metadata');
      if (all.some((r) => !r.ok)) throw new Error('invalid');
    }),
  );
  results.push(
    await timed('code pass only: parseTree (xml2js) per document', COUNT, async () => {
      for (const d of docs) await parseTree(d.xml, d.source);
    }),
  );
  results.push(
    await timed('parseBackupSets: validate + parse + BackupSet objects', COUNT, async () => {
      const all = await parseBackupSets(docs);
      all.forEach((r, i) => {
        if (!r.ok) throw r.error;
        if (r.set.id !== sets[i]?.id) throw new Error(`set ${i} read back wrong`);
      });
    }),
  );

  if (baseline !== undefined && perProcess !== undefined) {
    process.stdout.write(
      '\nratios to the xmllint paths measured above:      vs xmllint batch   vs one process/doc\n',
    );
    for (const r of results) {
      const vsBatch = (r.rate / baseline).toFixed(r.rate < baseline / 10 ? 3 : 1);
      const vsOne = (r.rate / perProcess).toFixed(0);
      process.stdout.write(`  ${r.label.padEnd(56)} ${vsBatch.padStart(7)}×  ${vsOne.padStart(8)}×\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

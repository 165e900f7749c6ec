// A real guest OS with qemu-guest-agent (scripts/agentguest's Debian image), booted as a local libvirt
// domain with the agent channel and a qcow2 data disk holding an ext4 file system, for the tests of
// application-consistent backups (docs/consistency.md). One boot serves a whole test file.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { virDomainUndefineFlagsValues, type Connection, type Domain } from '../../src/libvirt';
import type { Cleanup } from './cleanup';
import { chooseVirtType } from './domain-xml';
import { createDirPool, type TestDirPool } from './libvirt';
import { REPO_ROOT } from './ts-child';
import { uniqueName } from './names';

export interface AgentGuest {
  name: string;
  domain: Domain;
  pool: TestDirPool;
  /** `kvm` only on a host whose KVM runs the host's CPU (real hardware virtualisation); else `qemu` (TCG). */
  virtType: 'kvm' | 'qemu';
  /** Seconds from `virsh start` to the agent answering with /data mounted. */
  bootSeconds: number;
  console: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The cached image, built by `scripts/setup --for-tests` (scripts/agentguest build); fails with the fix. */
function imageDir(): string {
  try {
    return execFileSync('bash', [path.join(REPO_ROOT, 'scripts/agentguest'), 'path'], {
      encoding: 'utf8',
    }).trim();
  } catch (err) {
    throw new Error(
      'the agent guest image is not built: run `bash scripts/agentguest build` (or `scripts/setup --for-tests`)',
      { cause: err },
    );
  }
}

/**
 * Runs a command in the guest through the agent (guest-exec), waits for it, and returns its exit
 * code and output. Nothing here syncs: what a command writes stays in the guest's page cache.
 */
export async function guestExec(
  domain: Domain,
  argv: readonly string[],
): Promise<{ exitcode: number; stdout: string; stderr: string }> {
  const { pid } = await domain.agentCommand<{ pid: number }>(
    'guest-exec',
    { path: argv[0], arg: argv.slice(1), 'capture-output': true },
    10,
  );
  for (;;) {
    const s = await domain.agentCommand<{
      exited: boolean;
      exitcode?: number;
      'out-data'?: string;
      'err-data'?: string;
    }>('guest-exec-status', { pid }, 10);
    if (s.exited)
      return {
        exitcode: s.exitcode ?? -1,
        stdout: Buffer.from(s['out-data'] ?? '', 'base64').toString(),
        stderr: Buffer.from(s['err-data'] ?? '', 'base64').toString(),
      };
    await sleep(100);
  }
}

/** `thawed` or `frozen`, as the guest agent reports it, asked through `virsh qemu-agent-command`. */
export function freezeStatus(name: string): string {
  const out = execFileSync(
    'virsh',
    ['-c', 'qemu:///system', 'qemu-agent-command', name, '{"execute":"guest-fsfreeze-status"}'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return (JSON.parse(out) as { return: string }).return;
}

/** A raw qcow2 data disk with an ext4 file system labelled `data` (the guest mounts it at /data). */
function makeDataDisk(dir: string): string {
  const raw = path.join(dir, 'data.raw');
  const qcow2 = path.join(dir, 'vdb.qcow2');
  execFileSync('truncate', ['-s', '64M', raw]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'data', raw]);
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=1.1', raw, qcow2]);
  fs.rmSync(raw);
  return qcow2;
}

function guestXml(options: {
  name: string;
  virtType: 'kvm' | 'qemu';
  image: string;
  root: string;
  data: string;
  console: string;
}): string {
  return `<domain type='${options.virtType}'>
  <name>${options.name}</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${options.image}/vmlinuz</kernel>
    <initrd>${options.image}/initrd.img</initrd>
    <cmdline>root=LABEL=agentguest rw console=ttyS0 panic=1 quiet</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='unsafe'/>
      <source file='${options.root}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${options.data}'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <serial type='file'>
      <source path='${options.console}'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>`;
}

/**
 * Boots the agent guest and waits until its agent answers and /data is mounted. Registered on
 * `cleanup`: the domain (destroyed, undefined with its checkpoints) and its pool.
 */
export async function startAgentGuest(conn: Connection, cleanup: Cleanup): Promise<AgentGuest> {
  const image = imageDir();
  // A Debian kernel boots under real KVM only: on a paravirtual kvm-pvm (KVM with libvirt's default
  // CPU, host CPU refused) it makes no progress, so anything but hardware KVM boots under TCG.
  const virt = await chooseVirtType(conn);
  const virtType = virt.virtType === 'kvm' && virt.cpu === 'host-passthrough' ? 'kvm' : 'qemu';
  const pool = await createDirPool(conn, cleanup, 'agentguest');
  const root = path.join(pool.dir, 'vda.qcow2');
  execFileSync('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-o',
    'compat=1.1',
    '-b',
    path.join(image, 'root.qcow2'),
    '-F',
    'qcow2',
    root,
  ]);
  const data = makeDataDisk(pool.dir);
  await pool.pool.refresh();
  const name = uniqueName('agentguest');
  const consolePath = path.join(pool.dir, 'console.log');
  const domain = await conn.defineDomain(
    guestXml({ name, virtType, image, root, data, console: consolePath }),
  );
  cleanup.domain(domain, virDomainUndefineFlagsValues.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA);
  const t0 = Date.now();
  await domain.create();
  const deadline = t0 + 300_000;
  for (;;) {
    try {
      const r = await guestExec(domain, ['/usr/bin/mountpoint', '-q', '/data']);
      if (r.exitcode === 0) break;
      // Under a loaded TCG boot the data disk's label can show up after fstab's device timeout.
      await guestExec(domain, ['/bin/mount', '/data']);
    } catch {
      // the agent is not up yet
    }
    if (Date.now() > deadline) {
      const tail = fs.existsSync(consolePath) ? fs.readFileSync(consolePath, 'utf8').slice(-2000) : '';
      throw new Error(`the agent guest did not answer within 300 s; console:\n${tail}`);
    }
    await sleep(1000);
  }
  return { name, domain, pool, virtType, bootSeconds: (Date.now() - t0) / 1000, console: consolePath };
}

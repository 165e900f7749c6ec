// Which kind of domain this host can run, decided by starting one: KVM with the host's CPU, KVM with
// libvirt's default CPU, or TCG. /dev/kvm existing proves nothing (a paravirtual kvm-pvm crashes QEMU
// at start with `host-passthrough`), so the choice rests on a probe domain that really started.
import { randomBytes } from 'node:crypto';
import { virDomainCreateFlags, type Connection } from '../libvirt';
import { logger } from '../log';
import type { CpuMode, VirtType } from '../model';
import { probeDomainXml } from '../xml/scratch-domains';

export type { CpuMode, VirtType };

const log = logger('virt-type');

/** What the user may ask for (config `virt_type`, environment `VOLBACK_VIRT_TYPE`). */
export type VirtPreference = 'auto' | VirtType;

export interface VirtChoice {
  virtType: VirtType;
  cpu: CpuMode;
  /** One sentence saying why this kind was chosen, for reports and logs. */
  reason: string;
  /** True when an override chose the kind and no probe ran. */
  forced: boolean;
}

/** Starts a probe domain with this configuration; resolves with QEMU's error line, or undefined when it ran. */
export type Probe = (virtType: VirtType, cpu: CpuMode) => Promise<string | undefined>;

/**
 * The first line QEMU printed, out of a libvirt start error: libvirt wraps it ("internal error: qemu
 * unexpectedly closed the monitor: <timestamp> qemu-system-x86_64: error: …") and adds QEMU's later
 * lines (assertions, backtraces), which say less. Pure.
 */
export function qemuErrorLine(message: string): string {
  const first = message.split('\n').find((l) => l.trim()) ?? message;
  return first
    .replace(/^.*?qemu unexpectedly closed the monitor:\s*/i, '')
    .replace(/^.*?process exited while connecting to monitor:\s*/i, '')
    .replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z\s*/, '')
    .trim();
}

/**
 * Decides the kind: an override wins without a probe (and never gets `host-passthrough`, which only a
 * probe may prove); otherwise KVM with the host's CPU, else KVM with libvirt's default CPU, each only
 * when its probe domain started (both are probed at once); otherwise TCG, with QEMU's reason. `kvmCapable` is libvirt's answer
 * for domain type kvm: an error message when it has none (then nothing is probed).
 */
export async function decideVirtType(
  preference: VirtPreference,
  kvmCapable: string | undefined,
  probe: Probe,
  overrideSource = 'an override',
): Promise<VirtChoice> {
  if (preference !== 'auto') {
    return { virtType: preference, cpu: 'default', reason: `forced by ${overrideSource}`, forced: true };
  }
  if (kvmCapable !== undefined) {
    return {
      virtType: 'qemu',
      cpu: 'default',
      reason: `libvirt offers no KVM domains: ${kvmCapable}`,
      forced: false,
    };
  }
  // Both at once: a host where the host CPU fails pays for one probe's time, not two.
  const [passthrough, plain] = await Promise.all([probe('kvm', 'host-passthrough'), probe('kvm', 'default')]);
  if (passthrough === undefined) {
    return {
      virtType: 'kvm',
      cpu: 'host-passthrough',
      reason: 'a KVM probe domain with the host CPU started',
      forced: false,
    };
  }
  if (plain === undefined) {
    return {
      virtType: 'kvm',
      cpu: 'default',
      reason: `a KVM probe domain with libvirt's default CPU started; with the host CPU QEMU failed: ${passthrough}`,
      forced: false,
    };
  }
  return {
    virtType: 'qemu',
    cpu: 'default',
    reason: `a KVM probe domain failed to start: ${plain}`,
    forced: false,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How long a probe's vCPU runs: long enough to fail on a first KVM_RUN, short enough to cost little. */
const PROBE_RUN_MS = 300;

/**
 * Starts a probe domain paused, lets it run briefly, checks it is still running, and destroys it.
 * A QEMU that aborts at start, or dies once its vCPU runs, is reported with its first error line.
 */
export function libvirtProbe(conn: Connection): Probe {
  return async (virtType, cpu) => {
    const name = `volback-probe-${process.pid}-${randomBytes(3).toString('hex')}`;
    let domain;
    try {
      domain = await conn.createDomain(
        probeDomainXml(name, virtType, cpu),
        virDomainCreateFlags.VIR_DOMAIN_START_PAUSED | virDomainCreateFlags.VIR_DOMAIN_START_AUTODESTROY,
      );
    } catch (err) {
      return qemuErrorLine((err as Error).message);
    }
    try {
      await domain.resume();
      await sleep(PROBE_RUN_MS);
      if (!(await domain.isActive())) return 'QEMU exited once the probe domain ran';
      return undefined;
    } catch (err) {
      return qemuErrorLine((err as Error).message);
    } finally {
      await domain.destroy().catch(() => undefined);
      domain.free();
    }
  };
}

/** One decision per connection URI and preference for the life of the process. */
const decisions = new Map<string, Promise<VirtChoice>>();

/**
 * The kind of domain volback starts on `conn`'s host (demo, tests, bench): decided once per process,
 * by probe unless `preference` forces it. `overrideSource` names where a forced preference came from.
 */
export function chooseVirtType(
  conn: Connection,
  preference: VirtPreference = 'auto',
  overrideSource?: string,
): Promise<VirtChoice> {
  const key = `${conn.uri}\n${preference}`;
  let decision = decisions.get(key);
  if (!decision) {
    decision = (async () => {
      const kvmCapable = await conn
        .getDomainCapabilities({ virttype: 'kvm' })
        .then(() => undefined)
        .catch((err: Error) => err.message.split('\n')[0]);
      const choice = await decideVirtType(preference, kvmCapable, libvirtProbe(conn), overrideSource);
      log.debug(`domains on ${conn.uri} use ${choice.virtType} (cpu ${choice.cpu}): ${choice.reason}`);
      return choice;
    })();
    decisions.set(key, decision);
    decision.catch(() => decisions.delete(key));
  }
  return decision;
}

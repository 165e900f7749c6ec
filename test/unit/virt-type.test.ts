// The choice of domain kind: an override wins, otherwise only a probe domain that really started makes
// it KVM, and host-passthrough only when its own probe started. Probes are faked here (pure logic);
// the system tests start real domains of whatever kind this decides.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromEnvironment, parseConfigText } from '../../src/config';
import { buildDomainXml, probeDomainXml } from '../../src/xml/scratch-domains';
import { describeVirt } from '../../src/host/capabilities';
import {
  decideVirtType,
  qemuErrorLine,
  type CpuMode,
  type Probe,
  type VirtType,
} from '../../src/host/virt-type';

// Start errors as libvirt 9.0 / QEMU 7.2 reported them on this project's kind of host (kvm-pvm with the
// host CPU; /dev/kvm made unreadable for QEMU's user; the LVM test host, whose CPU has no SVM).
const PVM_PASSTHROUGH =
  "virDomainCreateXML: internal error: qemu unexpectedly closed the monitor: 2026-12-01T19:22:24.417591Z qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.";
const KVM_PERMISSION =
  'virDomainCreateXML: internal error: qemu unexpectedly closed the monitor: Could not access KVM kernel module: Permission denied\n2026-12-01T19:23:42.621833Z qemu-system-x86_64: -accel kvm: failed to initialize kvm: Permission denied';

/** A probe that fails with `errors[type/cpu]` and records what it was asked. */
function fakeProbe(errors: Partial<Record<string, string>>): Probe & { calls: string[] } {
  const calls: string[] = [];
  const probe = async (virtType: VirtType, cpu: CpuMode): Promise<string | undefined> => {
    calls.push(`${virtType}/${cpu}`);
    const err = errors[`${virtType}/${cpu}`];
    return err === undefined ? undefined : qemuErrorLine(err);
  };
  return Object.assign(probe, { calls });
}

describe('qemuErrorLine', () => {
  it.each([
    [PVM_PASSTHROUGH, 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69'],
    [KVM_PERMISSION, 'Could not access KVM kernel module: Permission denied'],
    [
      'virDomainCreateXML: unsupported configuration: Emulator does not support virt type kvm',
      'virDomainCreateXML: unsupported configuration: Emulator does not support virt type kvm',
    ],
  ])('keeps the first line QEMU printed of %#', (message, line) => {
    expect(qemuErrorLine(message)).toBe(line);
  });
});

describe('decideVirtType', () => {
  it('uses the host CPU only when its probe started (a working KVM)', async () => {
    const probe = fakeProbe({});
    const choice = await decideVirtType('auto', undefined, probe);
    expect(choice).toMatchObject({ virtType: 'kvm', cpu: 'host-passthrough', forced: false });
    expect(probe.calls.sort()).toEqual(['kvm/default', 'kvm/host-passthrough']);
  });

  it("falls back to libvirt's default CPU with QEMU's reason (a limited kvm-pvm)", async () => {
    const choice = await decideVirtType(
      'auto',
      undefined,
      fakeProbe({ 'kvm/host-passthrough': PVM_PASSTHROUGH }),
    );
    expect(choice).toMatchObject({ virtType: 'kvm', cpu: 'default', forced: false });
    expect(choice.reason).toContain('failed to set MSR 0x10a to 0x69');
    expect(choice.reason).not.toContain('Assertion');
  });

  it('uses TCG when no KVM probe starts, saying why', async () => {
    const choice = await decideVirtType(
      'auto',
      undefined,
      fakeProbe({ 'kvm/host-passthrough': KVM_PERMISSION, 'kvm/default': KVM_PERMISSION }),
    );
    expect(choice).toEqual({
      virtType: 'qemu',
      cpu: 'default',
      reason: 'a KVM probe domain failed to start: Could not access KVM kernel module: Permission denied',
      forced: false,
    });
  });

  it('probes nothing when libvirt offers no KVM domains (no /dev/kvm)', async () => {
    const probe = fakeProbe({});
    const choice = await decideVirtType(
      'auto',
      "virConnectGetDomainCapabilities: invalid argument: the accel 'kvm' is not supported by '/usr/bin/qemu-system-x86_64' on this host",
      probe,
    );
    expect(choice.virtType).toBe('qemu');
    expect(choice.reason).toContain("the accel 'kvm' is not supported");
    expect(probe.calls).toEqual([]);
  });

  it.each(['kvm', 'qemu'] as const)(
    'an override to %s wins without a probe and never with the host CPU',
    async (kind) => {
      const probe = fakeProbe({});
      const choice = await decideVirtType(kind, undefined, probe, 'VOLBACK_VIRT_TYPE=' + kind);
      expect(choice).toEqual({
        virtType: kind,
        cpu: 'default',
        reason: `forced by VOLBACK_VIRT_TYPE=${kind}`,
        forced: true,
      });
      expect(probe.calls).toEqual([]);
    },
  );
});

describe('the override in the configuration', () => {
  it('is read from VOLBACK_VIRT_TYPE and virt_type, and refused when unknown', () => {
    expect(configFromEnvironment({ VOLBACK_VIRT_TYPE: 'qemu' }).virtType).toBe('qemu');
    expect(parseConfigText('virt_type = "kvm"\n', 'f.conf').virtType).toBe('kvm');
    expect(() => configFromEnvironment({ VOLBACK_VIRT_TYPE: 'tcg' })).toThrow(
      'VOLBACK_VIRT_TYPE must be one of auto, kvm, qemu, got "tcg"',
    );
    expect(() => parseConfigText('virt_type = "xen"\n', 'f.conf')).toThrow(
      /f\.conf:1: virt_type must be one of auto, kvm, qemu/,
    );
  });
});

describe('domain XML of probes and scratch domains', () => {
  const schema = '/usr/share/libvirt/schemas/domain.rng';
  /** libvirt's own domain schema (xmllint from libxml2-utils, installed by scripts/setup). */
  const validate = (xml: string): string => {
    const file = join(mkdtempSync(join(tmpdir(), 'volback-virt-')), 'd.xml');
    writeFileSync(file, xml);
    const r = spawnSync('xmllint', ['--noout', '--relaxng', schema, file], { encoding: 'utf8' });
    return r.status === 0 ? 'valid' : r.stderr;
  };

  it.each([
    ['kvm', 'host-passthrough'],
    ['kvm', 'default'],
    ['qemu', 'default'],
  ] as const)(
    'a %s/%s probe is a valid libvirt domain with the CPU it names and no devices',
    (virtType, cpu) => {
      const xml = probeDomainXml('volback-probe-1', virtType, cpu);
      expect(validate(xml)).toBe('valid');
      expect(xml).toContain(`<domain type='${virtType}'>`);
      expect(xml.includes('host-passthrough')).toBe(cpu === 'host-passthrough');
      expect(xml).not.toMatch(/<disk|<interface|<graphics/);
    },
  );

  it('a scratch domain carries host-passthrough only when the choice says so', () => {
    const disks = [{ path: "/var/lib/x/a'b&.qcow2" }];
    const plain = buildDomainXml({ name: 'vm', virt: { virtType: 'kvm', cpu: 'default' }, disks });
    const host = buildDomainXml({ name: 'vm', virt: { virtType: 'kvm', cpu: 'host-passthrough' }, disks });
    expect(validate(plain)).toBe('valid');
    expect(validate(host)).toBe('valid');
    expect(plain).not.toContain('<cpu');
    expect(host).toContain("<cpu mode='host-passthrough'/>");
    expect(plain).toContain("file='/var/lib/x/a&apos;b&amp;.qcow2'");
  });

  it('reports name the kind and the reason', () => {
    expect(
      describeVirt({
        virtType: 'qemu',
        cpu: 'default',
        reason: 'forced by VOLBACK_VIRT_TYPE=qemu',
        forced: true,
      }),
    ).toBe('TCG: forced by VOLBACK_VIRT_TYPE=qemu');
    expect(describeVirt({ virtType: 'kvm', cpu: 'default', reason: 'r', forced: false })).toBe(
      "KVM (libvirt's default CPU): r",
    );
  });
});

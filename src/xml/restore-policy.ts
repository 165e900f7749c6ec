// The restore policy: what a domain defined from a backup's stored XML may keep of its old host. Pure.
// The stored XML comes from a pool other hosts and tools can write, so it is untrusted input: whatever
// reaches this host — its files, devices, programs, network and security labels — is kept only when it
// is harmless or an allowance says so. The rules and their reasons: docs/restore.md, "What a restored
// domain keeps". xml2js shapes stay inside this file.
import { parseStringPromise } from 'xml2js';
import { ErrorCodes, VolbackError } from '../errors';
import type { CpuMode, VirtType } from '../model';
import { escapeAttr, escapeText } from './escape';
import { absNormalizedPathProblem } from './names';
import { refuseDoctype } from './tree';

/**
 * What an admin can allow a restored domain to keep as it was stored:
 * - `host-devices`: host devices and host files the guest reaches (hostdev, filesystem passthrough,
 *   evdev input, TPM passthrough, shmem, nvdimm, char devices on files/pipes/sockets/devices, CD-ROM
 *   and floppy media, host audio, SMBIOS of the host, leases, ...);
 * - `host-boot-files`: direct kernel boot (kernel, initrd, dtb), ACPI tables, fw_cfg files, firmware,
 *   NVRAM and option-ROM files outside the system's firmware directories;
 * - `host-commands`: programs run on the host: `<qemu:commandline>` and the rest of the qemu
 *   namespace, interface scripts, a virtiofsd other than the system's;
 * - `emulator`: an `<emulator>` outside /usr/bin and /usr/libexec (or not named like QEMU);
 * - `host-network`: listening on non-loopback addresses and connecting to addresses the XML names
 *   (graphics, TCP/UDP char devices, socket networking, USB redirection over TCP, host routes);
 * - `seclabels`: the stored `<seclabel>`s (which can turn confinement off or run QEMU as root).
 */
export const RESTORE_ALLOWANCES = [
  'host-devices',
  'host-boot-files',
  'host-commands',
  'emulator',
  'host-network',
  'seclabels',
] as const;
export type RestoreAllowance = (typeof RESTORE_ALLOWANCES)[number];

export interface RestorePolicyOptions {
  /** Targets of the disks volback restores and points at new volumes; their sources are replaced after. */
  restoredDisks: readonly string[];
  /** What may stay as stored although it reaches the host. */
  allow?: readonly RestoreAllowance[];
  /** Drop what needs an allowance that was not given, instead of refusing (`needsFlag`). */
  dropRefused?: boolean;
  /**
   * The kind of domain the restore's host runs (chooseVirtType: decided by starting one): a stored
   * domain that needs more (KVM, a host-passthrough CPU) is fitted to it. Absent: kept as stored.
   */
  host?: { virtType: VirtType; cpu: CpuMode; reason: string };
}

/** One decision about one element of the stored XML. */
export interface PolicyFinding {
  /** Where, XPath-like: `/domain/devices/serial[2]` (position among siblings of that name, from 1). */
  element: string;
  /** What it was: its start tag (and its `<source>`'s) or its text. */
  detail: string;
  /** Why it is dropped, changed, kept or refused. */
  reason: string;
  /** The allowance that keeps it as stored; absent when nothing does. */
  allowance?: RestoreAllowance;
}

export interface RestorePolicyResult {
  /**
   * The domain XML to define. It never holds anything that needs an allowance that was not given:
   * refused elements are left out too, so a caller that forgot `needsFlag` still defines nothing unsafe.
   */
  xml: string;
  /** Removed (the domain works without them, or volback replaces them). */
  dropped: PolicyFinding[];
  /** Kept in a safe form: emptied media, char devices turned to pty, listeners bound to 127.0.0.1. */
  changed: PolicyFinding[];
  /** Kept as stored because an allowance was given. */
  kept: PolicyFinding[];
  /** Needs an allowance: a restore must refuse unless `dropRefused` (then these are in `dropped`). */
  needsFlag: PolicyFinding[];
  /** What the admin has to know or do after the restore (graphics passwords, UEFI variables, TPM). */
  notes: string[];
}

// ---- the tree: document order kept across names, text kept, namespaces resolved ----

interface El {
  name: string;
  attrs: Record<string, string>;
  children: Array<El | string>;
  /** Namespace URI; '' for none, UNBOUND for a prefix nothing declares. */
  ns: string;
}

const UNBOUND = '\0unbound';
const QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0';

type X2J = { '#name': string; $?: Record<string, string>; $$?: X2J[]; _?: string };

function toEl(node: X2J, scope: ReadonlyMap<string, string>): El {
  const attrs = { ...(node.$ ?? {}) };
  let inner = scope;
  for (const [key, value] of Object.entries(attrs)) {
    if (key !== 'xmlns' && !key.startsWith('xmlns:')) continue;
    if (inner === scope) inner = new Map(scope);
    (inner as Map<string, string>).set(key === 'xmlns' ? '' : key.slice(6), value);
  }
  const name = node['#name'];
  const colon = name.indexOf(':');
  const prefix = colon >= 0 ? name.slice(0, colon) : '';
  const ns = inner.get(prefix) ?? (prefix ? UNBOUND : '');
  const children = (node.$$ ?? []).map((c): El | string =>
    // xml2js names text nodes '__text__'; an element of that name has children or attributes of its own.
    c['#name'] === '__text__' && c.$$ === undefined && c.$ === undefined ? (c._ ?? '') : toEl(c, inner),
  );
  return { name, attrs, children, ns };
}

async function parseDomain(xml: string): Promise<El> {
  refuseDoctype(xml, 'stored domain XML');
  let parsed: Record<string, X2J>;
  try {
    parsed = await parseStringPromise(xml, {
      explicitChildren: true,
      preserveChildrenOrder: true,
      charsAsChildren: true,
      includeWhiteChars: true,
      explicitRoot: true,
      trim: false,
      normalize: false,
      strict: true,
    });
  } catch (err) {
    throw new VolbackError(
      ErrorCodes.XML_INVALID,
      `stored domain XML is not well-formed: ${(err as Error).message.split('\n')[0]}`,
      {
        fault: 'user',
        cause: err,
      },
    );
  }
  const root = parsed && typeof parsed === 'object' ? Object.values(parsed)[0] : undefined;
  const el = root ? toEl(root, new Map()) : undefined;
  if (!el || el.name !== 'domain' || el.ns !== '') {
    throw new VolbackError(ErrorCodes.XML_INVALID, 'stored domain XML has no <domain> root element', {
      fault: 'user',
    });
  }
  return el;
}

const elements = (el: El): El[] => el.children.filter((c): c is El => typeof c !== 'string');
const child = (el: El, name: string): El | undefined =>
  elements(el).find((c) => c.name === name && c.ns === '');
const textOf = (el: El | undefined): string =>
  el === undefined ? '' : el.children.filter((c): c is string => typeof c === 'string').join('');
const without = (el: El, names: readonly string[]): Array<El | string> =>
  el.children.filter((c) => typeof c === 'string' || !names.includes(c.name));

function render(el: El, indent: string, out: string[]): void {
  let open = `${indent}<${el.name}`;
  for (const [key, value] of Object.entries(el.attrs)) open += ` ${key}='${escapeAttr(value)}'`;
  const kids = elements(el);
  const text = textOf(el);
  if (kids.length === 0) {
    out.push(text === '' ? `${open}/>\n` : `${open}>${escapeText(text)}</${el.name}>\n`);
  } else if (text.trim() === '') {
    out.push(`${open}>\n`);
    for (const k of kids) render(k, `${indent}  `, out);
    out.push(`${indent}</${el.name}>\n`);
  } else {
    // Mixed content (only in <metadata> of other applications): written as it was, without indentation.
    const inline: string[] = [];
    for (const c of el.children) {
      if (typeof c === 'string') inline.push(escapeText(c));
      else {
        const part: string[] = [];
        render(c, '', part);
        inline.push(part.join('').replace(/\n$/, ''));
      }
    }
    out.push(`${open}>${inline.join('')}</${el.name}>\n`);
  }
}

/** `<serial type='file'> <source path='/etc/passwd'/>`: an element as a finding shows it. */
function summary(el: El): string {
  const tag = (e: El): string =>
    `<${e.name}${Object.entries(e.attrs)
      .map(([k, v]) => ` ${k}='${v}'`)
      .join('')}>`;
  const text = textOf(el).trim();
  const source = child(el, 'source');
  return [tag(el), text ? `${text}` : undefined, source ? tag(source) : undefined].filter(Boolean).join(' ');
}

// ---- what counts as harmless ----

/** System firmware and ROM files: root-owned, world-readable, nothing secret. */
const FIRMWARE_DIRS = ['/usr/share/'];
/** libvirt's own per-domain NVRAM directory (qemu.conf nvram_dir default). */
const NVRAM_DIR = '/var/lib/libvirt/qemu/nvram/';
const EMULATOR_DIRS = ['/usr/bin/', '/usr/libexec/'];
const EMULATOR_NAME = /^(qemu-system-[A-Za-z0-9_]+|qemu-kvm|kvm)$/;
const VIRTIOFSD = ['/usr/libexec/virtiofsd', '/usr/lib/qemu/virtiofsd', '/usr/bin/virtiofsd'];
const RNG_DEVICES = ['/dev/random', '/dev/urandom', '/dev/hwrng'];

const cleanPath = (p: string): boolean => absNormalizedPathProblem(p) === undefined;
const under = (p: string, dirs: readonly string[]): boolean =>
  cleanPath(p) && dirs.some((d) => p.startsWith(d));
const directlyIn = (p: string, dir: string): boolean =>
  cleanPath(p) && p.startsWith(dir) && p.length > dir.length && !p.slice(dir.length).includes('/');

export function isAllowedEmulator(path: string): boolean {
  return (
    cleanPath(path) &&
    EMULATOR_DIRS.some((d) => path.startsWith(d) && EMULATOR_NAME.test(path.slice(d.length)))
  );
}

/** 127.0.0.0/8, ::1 and localhost: only this host can connect. */
export function isLoopback(address: string): boolean {
  const a = address
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return a === 'localhost' || a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/**
 * A domain type or CPU mode the host cannot start (a backup taken on a KVM host, restored on one
 * without, or with a paravirtual KVM that crashes QEMU under host-passthrough) becomes what the
 * host runs: type qemu (TCG), libvirt's default CPU model with the stored topology kept.
 */
function fitToHost(w: Walk, domain: El, host: NonNullable<RestorePolicyOptions['host']>): void {
  if (domain.attrs.type === 'kvm' && host.virtType === 'qemu') {
    w.changed.push({
      element: '/domain',
      detail: "<domain type='kvm'>",
      reason: `made type 'qemu': this host cannot run KVM domains (${host.reason}); the guest runs under QEMU's emulator, slower`,
    });
    domain.attrs.type = 'qemu';
  }
  const cpu = child(domain, 'cpu');
  if (
    cpu?.attrs.mode === 'host-passthrough' &&
    (domain.attrs.type === 'qemu' || host.cpu !== 'host-passthrough')
  ) {
    w.change(
      '/domain/cpu',
      cpu,
      `made libvirt's default CPU model: this host does not start host-passthrough domains (${host.reason})`,
    );
    delete cpu.attrs.mode;
    delete cpu.attrs.migratable; // only for host CPU modes
  }
}

// ---- the walk ----

/** Decisions collected while walking one document. */
class Walk {
  readonly dropped: PolicyFinding[] = [];
  readonly changed: PolicyFinding[] = [];
  readonly kept: PolicyFinding[] = [];
  readonly needsFlag: PolicyFinding[] = [];
  readonly notes = new Set<string>();
  private readonly allow: ReadonlySet<RestoreAllowance>;

  constructor(private readonly options: RestorePolicyOptions) {
    this.allow = new Set(options.allow ?? []);
  }

  drop(where: string, el: El, reason: string, allowance?: RestoreAllowance): undefined {
    this.dropped.push({ element: where, detail: summary(el), reason, ...(allowance ? { allowance } : {}) });
    return undefined;
  }

  change(where: string, el: El, reason: string, allowance?: RestoreAllowance): void {
    this.changed.push({ element: where, detail: summary(el), reason, ...(allowance ? { allowance } : {}) });
  }

  /**
   * Something that may stay as stored only with `allowance`; `reason` says why. True (keep it) when
   * allowed; otherwise false, and `fix` says what happens instead: 'refuse' (needsFlag, or dropped
   * with dropRefused), 'drop', or a change the caller makes, described by `fix` ("made a pty").
   */
  gate(allowance: RestoreAllowance, where: string, el: El, reason: string, fix: string): boolean {
    if (this.allow.has(allowance)) {
      this.kept.push({ element: where, detail: summary(el), reason, allowance });
      return true;
    }
    if (fix !== 'refuse' && fix !== 'drop') this.change(where, el, `${fix}: ${reason}`, allowance);
    else if (fix === 'drop' || this.options.dropRefused) this.drop(where, el, reason, allowance);
    else this.needsFlag.push({ element: where, detail: summary(el), reason, allowance });
    return false;
  }

  restored(target: string): boolean {
    return this.options.restoredDisks.includes(target);
  }
}

/** Visits the element children of `el` with their XPath-like location; `visit` returns what replaces each. */
function mapChildren(el: El, where: string, visit: (c: El, at: string) => El | undefined): void {
  const seen = new Map<string, number>();
  el.children = el.children.flatMap((c): Array<El | string> => {
    if (typeof c === 'string') return [c];
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    const next = visit(c, `${where}/${c.name}[${n}]`);
    return next ? [next] : [];
  });
  // Indentation around children that are all gone is not content.
  if (el.children.every((c) => typeof c === 'string' && c.trim() === '')) el.children = [];
}

/** Elements of another namespace than libvirt's own: qemu passthrough is refused, the rest dropped. */
function foreign(w: Walk, el: El, at: string): El | undefined {
  if (el.ns === QEMU_NS) {
    return w.gate(
      'host-commands',
      at,
      el,
      'QEMU passthrough (qemu namespace): extra QEMU arguments, capabilities or properties can make QEMU run programs and open host files',
      'refuse',
    )
      ? el
      : undefined;
  }
  return w.drop(
    at,
    el,
    el.ns === UNBOUND
      ? 'its namespace prefix is not declared, so libvirt does not read it'
      : `namespace ${el.ns} is not read by libvirt's QEMU driver`,
  );
}

const TOP_LEVEL_KEPT = new Set([
  'name', 'uuid', 'title', 'description', 'metadata', 'maxMemory', 'memory', 'currentMemory',
  'memoryBacking', 'memtune', 'blkiotune', 'vcpu', 'vcpus', 'iothreads', 'iothreadids',
  'defaultiothread', 'cputune', 'numatune', 'resource', 'features', 'clock', 'on_poweroff',
  'on_reboot', 'on_crash', 'on_lockfailure', 'pm', 'perf', 'keywrap', 'launchSecurity', 'cpu',
  'idmap', 'throttlegroups',
]); // prettier-ignore

function topLevel(w: Walk, el: El, at: string): El | undefined {
  if (el.ns !== '') return foreign(w, el, at);
  if (TOP_LEVEL_KEPT.has(el.name)) return el;
  switch (el.name) {
    case 'genid':
      if (textOf(el).trim() !== '') {
        w.change(
          at,
          el,
          'emptied: a restore is a rollback, and guests that watch the generation id (Windows, Active Directory) must see a new one; libvirt generates it',
        );
        el.children = [];
      }
      return el;
    case 'bootloader':
    case 'bootloader_args':
      return w.drop(at, el, "a host program that libvirt's Xen driver runs; QEMU/KVM does not use it");
    case 'os':
      return os(w, el, at);
    case 'sysinfo':
      return sysinfo(w, el, at);
    case 'devices':
      mapChildren(el, at, (c, cat) => device(w, c, cat));
      return el;
    case 'seclabel':
      return seclabel(w, el, at);
    default:
      return w.drop(at, el, "not an element volback's restore policy knows");
  }
}

function seclabel(w: Walk, el: El, at: string): El | undefined {
  return w.gate(
    'seclabels',
    at,
    el,
    "a stored security label can switch confinement off (type='none', relabel='no') or run QEMU as root (model='dac' label='+0:+0'); without it libvirt applies this host's defaults",
    'drop',
  )
    ? el
    : undefined;
}

/** Drops every `<seclabel>` below `el` (disk and char-device sources carry them too). */
function deviceSeclabels(w: Walk, el: El, at: string): void {
  mapChildren(el, at, (c, cat) => {
    if (c.ns === '' && c.name === 'seclabel') return seclabel(w, c, cat);
    deviceSeclabels(w, c, cat);
    return c;
  });
}

function os(w: Walk, el: El, at: string): El {
  const bootFileReason =
    "direct kernel boot: QEMU reads this host file into the guest (a hostile XML can name /etc/shadow), and the old host's files are rarely right here; without it the VM boots from its disks, which it may not be able to";
  let kernelRemoved = false;
  mapChildren(el, at, (c, cat) => {
    if (c.ns !== '') return foreign(w, c, cat);
    switch (c.name) {
      case 'type':
      case 'boot':
      case 'bootmenu':
      case 'bios':
      case 'firmware':
      case 'root':
      case 'init':
      case 'initarg':
      case 'initenv':
      case 'initdir':
      case 'inituser':
      case 'initgroup':
        return c;
      case 'kernel':
      case 'initrd':
      case 'dtb': {
        const keep = w.gate('host-boot-files', cat, c, bootFileReason, 'refuse');
        if (!keep && c.name === 'kernel') kernelRemoved = true;
        return keep ? c : undefined;
      }
      case 'cmdline':
        return c; // decided below: it goes with the kernel
      case 'loader': {
        const path = textOf(c).trim();
        if (path === '' || under(path, FIRMWARE_DIRS)) {
          if (c.attrs.type === 'pflash' || path.includes('OVMF') || path.includes('AAVMF'))
            w.notes.add(
              'UEFI: the backup holds no UEFI variables (boot entries, Secure Boot keys); the restored VM starts with fresh variables from the firmware template, so a guest that needs its own boot entry may have to be told where to boot from',
            );
          return c;
        }
        return w.gate(
          'host-boot-files',
          cat,
          c,
          `firmware outside ${FIRMWARE_DIRS.join(', ')}: QEMU maps this host file into the guest`,
          'refuse',
        )
          ? c
          : undefined;
      }
      case 'nvram':
        return nvram(w, c, cat);
      case 'acpi':
        mapChildren(c, cat, (t, tat) =>
          w.gate('host-boot-files', tat, t, 'an ACPI table read from a host file into the guest', 'refuse')
            ? t
            : undefined,
        );
        return elements(c).length ? c : undefined;
      case 'smbios':
        if (c.attrs.mode === 'host') {
          if (
            w.gate(
              'host-devices',
              cat,
              c,
              "mode='host' shows the host's SMBIOS data (serial numbers, vendor) to the guest",
              'removed (the guest sees emulated SMBIOS data)',
            )
          )
            return c;
          return undefined;
        }
        return c;
      default:
        return w.drop(cat, c, "not an <os> element volback's restore policy knows");
    }
  });
  if (kernelRemoved) {
    // Without -kernel, QEMU refuses -append, -initrd and -dtb.
    mapChildren(el, at, (c, cat) =>
      ['cmdline', 'initrd', 'dtb'].includes(c.name) && c.ns === ''
        ? w.drop(cat, c, 'goes with the kernel, which is not kept')
        : c,
    );
  }
  return el;
}

function nvram(w: Walk, el: El, at: string): El | undefined {
  const path = textOf(el).trim();
  const source = child(el, 'source');
  const stored = path || source?.attrs.file || (source ? `network ${source.attrs.protocol ?? ''}` : '');
  if (stored && !directlyIn(path, NVRAM_DIR)) {
    if (
      !w.gate(
        'host-boot-files',
        at,
        el,
        `NVRAM file outside ${NVRAM_DIR}: libvirt gives QEMU write access to it (a hostile XML can name /etc/passwd)`,
        'reset (libvirt creates a fresh one at its default path)',
      )
    ) {
      el.children = without(el, ['source']).filter((c) => typeof c !== 'string');
      delete el.attrs.type;
    }
  }
  const template = el.attrs.template;
  if (template !== undefined && !under(template, FIRMWARE_DIRS)) {
    if (
      !w.gate(
        'host-boot-files',
        at,
        el,
        `NVRAM template outside ${FIRMWARE_DIRS.join(', ')}: libvirt copies this host file for the guest`,
        "template removed (libvirt uses the firmware's own)",
      )
    )
      delete el.attrs.template;
  }
  w.notes.add(
    'UEFI: the backup holds no UEFI variables (boot entries, Secure Boot keys); the restored VM starts with fresh variables from the firmware template, so a guest that needs its own boot entry may have to be told where to boot from',
  );
  return textOf(el).trim() === '' && Object.keys(el.attrs).length === 0 && elements(el).length === 0
    ? undefined
    : el;
}

function sysinfo(w: Walk, el: El, at: string): El | undefined {
  if (el.attrs.type !== 'fwcfg') return el;
  mapChildren(el, at, (entry, eat) =>
    entry.attrs.file === undefined ||
    w.gate('host-boot-files', eat, entry, 'a fw_cfg entry read from a host file into the guest', 'refuse')
      ? entry
      : undefined,
  );
  return elements(el).length ? el : undefined;
}

const DEVICES_KEPT = new Set([
  'controller', 'sound', 'video', 'watchdog', 'memballoon', 'nvram', 'panic', 'iommu', 'vsock', 'hub',
  'redirfilter', 'crypto',
]); // prettier-ignore

const CHARDEV_SAFE = new Set(['pty', 'vc', 'null', 'stdio', 'spicevmc', 'spiceport', 'qemu-vdagent', 'dbus']);

function device(w: Walk, el: El, at: string): El | undefined {
  if (el.ns !== '') return foreign(w, el, at);
  const kept = deviceOnly(w, el, at);
  if (kept) deviceSeclabels(w, kept, at);
  return kept;
}

function deviceOnly(w: Walk, el: El, at: string): El | undefined {
  if (DEVICES_KEPT.has(el.name)) return el;
  const refuse = (allowance: RestoreAllowance, reason: string): El | undefined =>
    w.gate(allowance, at, el, reason, 'refuse') ? el : undefined;
  switch (el.name) {
    case 'emulator': {
      const path = textOf(el).trim();
      if (isAllowedEmulator(path)) return el;
      return refuse(
        'emulator',
        `an emulator outside ${EMULATOR_DIRS.join(' and ')} (or not named qemu-system-*, qemu-kvm): libvirt runs this host program; without the element libvirt uses this host's own QEMU`,
      );
    }
    case 'disk':
      return disk(w, el, at);
    case 'lease':
      return refuse('host-devices', 'a lock-manager lease in a host file');
    case 'filesystem': {
      const keep = refuse('host-devices', 'passes a host directory or file into the guest');
      const binary = keep ? child(el, 'binary')?.attrs.path : undefined;
      if (keep && binary !== undefined && !VIRTIOFSD.includes(binary))
        return w.gate('host-commands', at, el, `runs ${binary} on the host as virtiofsd`, 'refuse')
          ? el
          : undefined;
      return keep;
    }
    case 'hostdev':
      return refuse('host-devices', 'passes a host device (PCI, USB, SCSI, mediated) to the guest');
    case 'interface':
      return iface(w, el, at);
    case 'input':
      if (el.attrs.type === 'passthrough' || el.attrs.type === 'evdev')
        return refuse(
          'host-devices',
          "passes a host input device (keyboard, mouse) to the guest; 'evdev' can grab the host's keyboard",
        );
      return el;
    case 'graphics':
      return graphics(w, el, at);
    case 'audio':
      return audio(w, el, at);
    case 'serial':
    case 'parallel':
    case 'console':
    case 'channel':
      return chardev(w, el, at);
    case 'smartcard': {
      const mode = el.attrs.mode;
      if (mode === 'host' || mode === 'host-certificates')
        return refuse('host-devices', "uses the host's smartcard readers or an NSS database of the host");
      return chardev(w, el, at);
    }
    case 'redirdev':
      if ((el.attrs.type ?? '') === 'spicevmc') return el;
      return w.gate('host-network', at, el, 'USB redirection from a network address the XML names', 'drop')
        ? el
        : undefined;
    case 'rng':
      return rng(w, el, at);
    case 'tpm': {
      const backend = child(el, 'backend');
      if (backend?.attrs.type === 'emulator') {
        w.notes.add(
          "TPM: the emulated TPM's state (swtpm) is not in the backup; the restored VM has an empty TPM, so keys sealed to it (BitLocker, LUKS with TPM) need their recovery keys",
        );
        return el;
      }
      return refuse('host-devices', "passes the host's TPM (or a socket of the host) to the guest");
    }
    case 'shmem':
      return refuse(
        'host-devices',
        'shares memory with host processes or other guests (/dev/shm, a server socket)',
      );
    case 'memory': {
      const path = child(child(el, 'source') ?? el, 'path');
      if ((el.attrs.model === 'nvdimm' || el.attrs.model === 'virtio-pmem') && path)
        return refuse('host-devices', 'maps a host file or device into guest memory');
      return el;
    }
    default:
      return w.drop(at, el, "not a device volback's restore policy knows");
  }
}

const MEDIA_SOURCE = ['source', 'backingStore', 'auth', 'encryption', 'mirror'];

function disk(w: Walk, el: El, at: string): El | undefined {
  const device = el.attrs.device ?? 'disk';
  const target = child(el, 'target')?.attrs.dev ?? '';
  if (device === 'disk' && w.restored(target)) {
    // volback writes the new source; nothing of the old one (children, backing chain, secrets) applies.
    el.children = without(el, ['backingStore', 'auth', 'encryption', 'mirror']);
    const source = child(el, 'source');
    if (source) source.children = [];
    return el;
  }
  if (device === 'disk' || device === 'lun')
    return w.drop(at, el, 'not restored: volback defines only the hard disks it restored');
  if (device !== 'cdrom' && device !== 'floppy') return w.drop(at, el, `unknown disk device '${device}'`);
  const source = child(el, 'source');
  const hasMedia = source !== undefined || child(el, 'backingStore') !== undefined;
  if (!hasMedia) return el;
  if (
    w.gate(
      'host-devices',
      at,
      el,
      `its media is a host file, device or network image (a hostile XML can name /etc/shadow or /dev/sda)`,
      'emptied (insert media with virsh change-media)',
    )
  )
    return el;
  el.children = without(el, MEDIA_SOURCE);
  el.attrs.type = 'file';
  return el;
}

function iface(w: Walk, el: El, at: string): El | undefined {
  const type = el.attrs.type ?? '';
  const refuse = (allowance: RestoreAllowance, reason: string): El | undefined =>
    w.gate(allowance, at, el, reason, 'refuse') ? el : undefined;
  if (['hostdev', 'vdpa', 'vhostuser'].includes(type))
    return refuse('host-devices', `type '${type}' passes a host device or a host socket to the guest`);
  if (['server', 'client', 'mcast', 'udp'].includes(type))
    return refuse(
      'host-network',
      `type '${type}' (QEMU socket networking) listens on or connects to addresses the XML names`,
    );
  if (!['network', 'bridge', 'user', 'direct', 'ethernet', 'null', 'vds', 'internal'].includes(type))
    return w.drop(at, el, `unknown interface type '${type}'`);
  mapChildren(el, at, (c, cat) => {
    if (c.ns !== '') return foreign(w, c, cat);
    switch (c.name) {
      case 'script':
      case 'downscript':
        return w.gate(
          'host-commands',
          cat,
          c,
          'libvirt runs this program on the host as root when the interface comes up or goes down',
          'refuse',
        )
          ? c
          : undefined;
      case 'ip':
      case 'route':
        if (type !== 'ethernet') return c;
        return w.gate(
          'host-network',
          cat,
          c,
          "adds addresses or routes to the host's side of the tap device (a default route would send host traffic to the guest)",
          'drop',
        )
          ? c
          : undefined;
      case 'rom': {
        const file = c.attrs.file;
        if (file === undefined || under(file, FIRMWARE_DIRS)) return c;
        if (
          !w.gate(
            'host-boot-files',
            cat,
            c,
            'an option ROM read from a host file into the guest',
            'file removed (the default ROM is used)',
          )
        ) {
          delete c.attrs.file;
          if (Object.keys(c.attrs).length === 0) return undefined;
        }
        return c;
      }
      case 'backend': {
        const odd = (['tap', 'vhost', 'logFile'] as const).filter(
          (a) =>
            c.attrs[a] !== undefined &&
            !(a === 'tap' && c.attrs[a] === '/dev/net/tun') &&
            !(a === 'vhost' && c.attrs[a] === '/dev/vhost-net'),
        );
        if (
          odd.length &&
          !w.gate(
            'host-devices',
            cat,
            c,
            `${odd.join(', ')}: host device or file paths other than the standard ones`,
            'removed',
          )
        ) {
          for (const a of odd) delete c.attrs[a];
          if (Object.keys(c.attrs).length === 0) return undefined;
        }
        return c;
      }
      default:
        return c;
    }
  });
  return el;
}

const PASSWORD_NOTE = (type: string, stored: boolean, at: string): string =>
  stored
    ? `graphics (${type}, ${at}): its password was stored in the backup pool in clear text; anyone who can read the pool knows it: set a new one (virsh edit, passwd='…' on <graphics>)`
    : `graphics (${type}, ${at}): libvirt leaves display passwords out of the XML volback stores, so the restored VM's ${type.toUpperCase()} display has no password; set one with virsh edit (passwd='…' on <graphics>) or virsh update-device <domain> graphics.xml --config --live, and see where it listens with virsh domdisplay <domain>`;

function graphics(w: Walk, el: El, at: string): El | undefined {
  const type = el.attrs.type ?? '';
  if (type === 'sdl' || type === 'desktop' || type === 'rdp')
    return w.gate(
      'host-devices',
      at,
      el,
      `type '${type}' opens a window on a display of the host (and may read its X authority file)`,
      'drop',
    )
      ? el
      : undefined;
  if (!['vnc', 'spice', 'egl-headless', 'dbus', 'none'].includes(type))
    return w.drop(at, el, `unknown graphics type '${type}'`);
  if (type === 'vnc' || type === 'spice') {
    w.notes.add(PASSWORD_NOTE(type, el.attrs.passwd !== undefined, at));
    const publicListen =
      (el.attrs.listen !== undefined && !isLoopback(el.attrs.listen)) ||
      elements(el).some(
        (l) =>
          l.name === 'listen' &&
          (l.attrs.type === 'network' ||
            (l.attrs.type === 'address' && l.attrs.address !== undefined && !isLoopback(l.attrs.address))),
      );
    if (
      publicListen &&
      !w.gate(
        'host-network',
        at,
        el,
        'it listens on an address other hosts can reach',
        'rebound to 127.0.0.1',
      )
    ) {
      if (el.attrs.listen !== undefined) el.attrs.listen = '127.0.0.1';
      for (const l of elements(el)) {
        if (l.name !== 'listen') continue;
        if (l.attrs.type === 'network' || l.attrs.type === 'address')
          l.attrs = { type: 'address', address: '127.0.0.1' };
      }
    }
    const sockets = elements(el).filter((l) => l.name === 'listen' && l.attrs.socket !== undefined);
    if (
      (el.attrs.socket !== undefined || sockets.length) &&
      !w.gate(
        'host-devices',
        at,
        el,
        'QEMU removes and creates a socket at a path the XML names',
        'socket path removed (libvirt picks one)',
      )
    ) {
      delete el.attrs.socket;
      for (const l of sockets) delete l.attrs.socket;
    }
  }
  if (type === 'dbus' && el.attrs.address !== undefined) {
    if (
      !w.gate(
        'host-devices',
        at,
        el,
        'connects to a D-Bus address the XML names',
        'address removed (libvirt starts its own bus)',
      )
    )
      delete el.attrs.address;
  }
  const gl = child(el, 'gl');
  const node = gl?.attrs.rendernode;
  if (gl && node !== undefined && !/^\/dev\/dri\/renderD[0-9]+$/.test(node)) {
    if (
      !w.gate(
        'host-devices',
        at,
        el,
        'a render node that is not /dev/dri/renderD*',
        'render node removed (libvirt picks one)',
      )
    )
      delete gl.attrs.rendernode;
  }
  return el;
}

function audio(w: Walk, el: El, at: string): El | undefined {
  const type = el.attrs.type ?? '';
  if (['none', 'spice', 'dbus'].includes(type)) return el;
  if (
    w.gate(
      'host-devices',
      at,
      el,
      `audio type '${type}' plays through or records from the host (a host sound device, sound server or file)`,
      "replaced by type='none'",
    )
  )
    return el;
  return { name: 'audio', ns: '', attrs: { id: el.attrs.id ?? '1', type: 'none' }, children: [] };
}

/** A char device, or the char-device part of smartcard/rng: kept, made a pty, or dropped. */
function chardev(w: Walk, el: El, at: string): El | undefined {
  const type = el.attrs.type ?? 'pty';
  const source = child(el, 'source');
  const isChannel = el.name === 'channel';
  const canBePty = ['serial', 'console', 'parallel'].includes(el.name);
  const log = child(el, 'log');
  if (log && !w.gate('host-devices', at, el, 'its <log file> writes to a host file', 'log removed'))
    el.children = without(el, ['log']);
  if (CHARDEV_SAFE.has(type)) return el;
  let allowance: RestoreAllowance = 'host-devices';
  let reason = '';
  if (type === 'tcp') {
    if (source?.attrs.mode === 'bind' && source.attrs.host !== undefined && isLoopback(source.attrs.host))
      return el;
    allowance = 'host-network';
    reason =
      source?.attrs.mode === 'bind'
        ? 'listens on an address other hosts can reach'
        : "connects to a network address the XML names (this host's own services too)";
  } else if (type === 'udp') {
    allowance = 'host-network';
    reason = 'sends to a network address the XML names';
  } else if (type === 'unix') {
    reason =
      "a host socket at a path the XML names (QEMU removes whatever is there, or connects to another program's socket)";
    const target = child(el, 'target');
    if (isChannel && target?.attrs.type === 'virtio' && source?.attrs.path !== undefined) {
      if (w.gate('host-devices', at, el, reason, 'path removed (libvirt picks one)')) return el;
      source.attrs = { mode: 'bind' };
      return el;
    }
    if (isChannel && target?.attrs.type === 'virtio' && source?.attrs.mode !== 'connect') return el;
  } else if (type === 'file' || type === 'pipe' || type === 'dev') {
    reason =
      type === 'file'
        ? 'writes to a host file the XML names (a hostile XML can name /etc/passwd)'
        : type === 'pipe'
          ? 'reads and writes host FIFOs the XML names'
          : 'opens a host device (a serial port, a terminal)';
  } else {
    reason = `char device type '${type}'`;
  }
  if (canBePty) {
    if (w.gate(allowance, at, el, reason, 'made a pty (virsh console still reaches it)')) return el;
    return { ...el, attrs: { type: 'pty' }, children: without(el, ['source', 'protocol', 'log']) };
  }
  return w.gate(allowance, at, el, reason, 'drop') ? el : undefined;
}

function rng(w: Walk, el: El, at: string): El | undefined {
  const backend = child(el, 'backend');
  if (!backend) return el;
  if (backend.attrs.model === 'random') {
    const path = textOf(backend).trim();
    if (path === '' || RNG_DEVICES.includes(path)) return el;
    if (!w.gate('host-devices', at, el, `reads host device ${path}`, '/dev/urandom used instead'))
      backend.children = ['/dev/urandom'];
    return el;
  }
  if (backend.attrs.model === 'egd') {
    // The backend is a char device: the same rules as chardev(), but there is no pty to fall back to.
    const type = backend.attrs.type ?? 'pty';
    if (CHARDEV_SAFE.has(type)) return el;
    const network = type === 'tcp' || type === 'udp';
    return w.gate(
      network ? 'host-network' : 'host-devices',
      at,
      el,
      `its entropy comes from a char device of type '${type}' (${network ? 'a network address' : 'a host file, socket or device'} the XML names)`,
      'drop',
    )
      ? el
      : undefined;
  }
  return el;
}

/**
 * Applies the restore policy to a stored domain XML (see RESTORE_ALLOWANCES and docs/restore.md).
 * Disks in `restoredDisks` are left for volback to point at the restored volumes; every other hard
 * disk is dropped. Throws ERR_XML_INVALID (fault user) when the XML is not a well-formed `<domain>`
 * or has a DOCTYPE. Pure: reads nothing but its input.
 */
export async function applyRestorePolicy(
  xml: string,
  options: RestorePolicyOptions,
): Promise<RestorePolicyResult> {
  const domain = await parseDomain(xml);
  const w = new Walk(options);
  delete domain.attrs.id; // the id of a running domain on the old host
  if (options.host) fitToHost(w, domain, options.host);
  const targets = new Set<string>();
  mapChildren(domain, '/domain', (c, at) => {
    if (c.ns === '' && c.name === 'devices') {
      // Two disks with one target would both be pointed at the same restored volume.
      mapChildren(c, at, (d, dat) => {
        if (d.ns !== '' || d.name !== 'disk') return d;
        const target = child(d, 'target')?.attrs.dev ?? '';
        if (targets.has(target)) return w.drop(dat, d, `a second disk with target '${target}'`);
        targets.add(target);
        return d;
      });
    }
    return topLevel(w, c, at);
  });
  const out: string[] = [];
  render(domain, '', out);
  return {
    xml: out.join(''),
    dropped: w.dropped,
    changed: w.changed,
    kept: w.kept,
    needsFlag: w.needsFlag,
    notes: [...w.notes],
  };
}

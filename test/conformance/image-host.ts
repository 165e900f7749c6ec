// The host whose pool the conformance suite runs against, and the suite's own way to its images:
// qemu-io and qemu-img run on that host itself (this machine, or the LVM test host through its ssh),
// never through the driver under test, and a running test domain there takes known writes. A local
// pool's host is this machine; a remote one is reached over libvirt by the driver, and over ssh by
// the suite only to check what the driver did.
import path from 'node:path';
import { flushDisk } from '../../src/host/scratch-domain';
import type { Connection } from '../../src/libvirt';
import { run, type RunResult } from '../../src/tools/exec';
import {
  imagesEqual,
  secretObjectArgs,
  secretPipes,
  secretsOf,
  type ImageRef,
} from '../../src/tools/qemu-img';
import {
  Cleanup,
  createRemoteDomain,
  createTestDomain,
  openSystemConnection,
  openTestHost,
  REPO_ROOT,
} from '../support';

/** A running one-disk (vda) domain on the pool's host, with a model of what vda holds. */
export interface HostDomain {
  name: string;
  /** The domain's XML, as libvirt holds it. */
  xml(): Promise<string>;
  /** Writes `length` bytes of `pattern` at `offset` into vda through QEMU, and into the model. */
  write(pattern: number, offset: number, length: number): Promise<void>;
  /** True when `image` (on the host) reads exactly as vda's model. */
  matchesModel(image: ImageRef): Promise<boolean>;
  /** True when vda itself still holds exactly its model (flushed first: it is live). */
  diskMatchesModel(): Promise<boolean>;
}

export interface ImageHost {
  /** A connection to the host's libvirtd. */
  connect(): Promise<Connection>;
  /**
   * Runs a qemu tool there, with the secrets of `images` on pipes; exit codes in `okExitCodes` are
   * not failures.
   */
  tool(argv: string[], images: ImageRef[], okExitCodes?: number[]): Promise<RunResult>;
  createDomain(conn: Connection, cleanup: Cleanup, diskSize: number, label: string): Promise<HostDomain>;
}

/** This machine: the system libvirtd, and the tools run here. */
export const LOCAL_HOST: ImageHost = {
  connect: openSystemConnection,
  tool: (argv, images, okExitCodes) => run(argv, { okExitCodes, ...secretPipes(...images) }),
  async createDomain(conn, cleanup, diskSize, label) {
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [diskSize], label });
    const model: ImageRef = { path: vm.disks[0].modelPath, format: 'raw' };
    return {
      name: vm.name,
      xml: async () => vm.xml,
      write: (pattern, offset, length) => vm.write('vda', pattern, offset, length),
      matchesModel: (image) => imagesEqual(image, model),
      diskMatchesModel: () => vm.diskMatches('vda', model.path),
    };
  },
};

/** A word for a POSIX shell: ssh hands the remote shell one command line. Pure. */
const shellWord = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/** A run of guest bytes: [offset, length, the byte every one of them is]. */
export type ByteRun = [number, number, number];

/**
 * True when `image` on `host` reads as `runs` (its parents included), checked by one qemu-io; with
 * `shared`, while a QEMU has it open.
 */
export async function readsAsRuns(
  host: ImageHost,
  image: ImageRef,
  runs: readonly ByteRun[],
  shared = false,
): Promise<boolean> {
  const reads = runs.flatMap(([offset, length, byte]) => [
    '-c',
    `read -P 0x${byte.toString(16)} ${offset} ${length}`,
  ]);
  const argv = ['qemu-io', ...secretObjectArgs(image), '-r', ...(shared ? ['-U'] : []), '-f', image.format];
  const out = await host.tool([...argv, ...reads, image.path], [image], [1]);
  return out.exitCode === 0 && !/Pattern verification failed|error/i.test(out.stdout + out.stderr);
}

/** Runs of equal bytes in `model`, as [offset, length, byte]. Pure. */
function byteRuns(model: Buffer): ByteRun[] {
  const runs: ByteRun[] = [];
  for (let start = 0; start < model.length;) {
    let end = start + 1;
    while (end < model.length && model[end] === model[start]) end++;
    runs.push([start, end - start, model[start]]);
    start = end;
  }
  return runs;
}

/** The LVM test host (scripts/testhost): libvirt over qemu+tcp, the tools through its ssh. */
export const TEST_HOST: ImageHost = {
  connect: () => openTestHost(),
  async tool(argv, images, okExitCodes) {
    if (secretsOf(...images).length)
      throw new Error('the test host is reached through ssh, which carries no image secrets');
    return run(
      ['bash', path.join(REPO_ROOT, 'scripts', 'testhost'), '--quiet', 'ssh', argv.map(shellWord).join(' ')],
      { okExitCodes },
    );
  },
  async createDomain(conn, cleanup, diskSize, label) {
    const vm = await createRemoteDomain(conn, cleanup, label, diskSize, ['vda']);
    // Every run of equal bytes read back and checked in one qemu-io (one ssh round trip).
    const reads = (image: ImageRef, shared: boolean): Promise<boolean> =>
      readsAsRuns(TEST_HOST, image, byteRuns(vm.model.vda), shared);
    return {
      name: vm.name,
      xml: () => vm.domain.getXMLDesc(),
      write: (pattern, offset, length) => vm.write('vda', pattern, offset, length),
      matchesModel: (image) => reads(image, false),
      async diskMatchesModel() {
        await flushDisk(vm.domain, 'vda');
        return reads({ path: vm.disks.vda, format: 'qcow2' }, true);
      },
    };
  },
};

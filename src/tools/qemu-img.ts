// qemu-img command lines (pure argv builders, unit-tested) and the few runners volback needs.
import { run } from './exec';
import type { VolumeFormat } from '../model';

/** An image as qemu-img addresses it: a local path or a protocol string, with its format. */
export interface ImageRef {
  path: string;
  format: string;
  /** Secret objects `path` refers to by id (a network image's key): handed to the tool through pipes. */
  secrets?: readonly ImageSecret[];
  /**
   * The top layer's own file when `path` is a `json:` description that opens an encrypted chain
   * with its key (keyedImage): `qemu-img info` reads the file itself, as it needs no key and opens
   * no backing file, so the description's backing options would be refused.
   */
  file?: string;
}

/** A QEMU secret object: `value` is the secret as base64 text (how libvirt stores a cephx key). */
export interface ImageSecret {
  id: string;
  value: Buffer;
}

/** The distinct secrets of some images, in the order secretObjectArgs numbers their fds. Pure. */
export function secretsOf(...images: ImageRef[]): ImageSecret[] {
  const seen = new Map<string, ImageSecret>();
  for (const s of images.flatMap((i) => i.secrets ?? [])) if (!seen.has(s.id)) seen.set(s.id, s);
  return [...seen.values()];
}

/** `--object secret,...` options reading each secret from an inherited pipe (fd 3, 4, …). Pure. */
export function secretObjectArgs(...images: ImageRef[]): string[] {
  return secretsOf(...images).flatMap((s, i) => [
    '--object',
    `secret,id=${s.id},file=/dev/fd/${3 + i},format=base64`,
  ]);
}

/** Run options that hand the images' secrets to the tool (see RunOptions.secrets). */
export const secretPipes = (...images: ImageRef[]): { secrets: Buffer[] } => ({
  secrets: secretsOf(...images).map((s) => s.value),
});

/** The most bytes an image of `format` holding `dataBytes` of a `virtualSize` disk takes (qcow2: + its tables). Pure. */
export function maxImageBytes(format: VolumeFormat, dataBytes: number, virtualSize: number): number {
  return dataBytes + (format === 'qcow2' ? Math.ceil(virtualSize / 8192) : 0);
}

export const infoArgv = (image: ImageRef, backingChain = false): string[] => [
  'qemu-img',
  'info',
  ...(image.file === undefined ? secretObjectArgs(image) : []),
  '-U',
  '--output=json',
  ...(backingChain ? ['--backing-chain'] : []),
  '-f',
  image.format,
  image.file ?? image.path,
];

/**
 * A `json:` description of a qcow2 chain whose `encryptedLayers` top layers are LUKS-encrypted with
 * the secret object `keyId`: each encrypted layer gets `encrypt.key-secret`, nested through
 * `backing` as QEMU opens the chain (the backing files are the ones the headers name). Pure.
 */
export function keyedChainPath(file: string, keyId: string, encryptedLayers: number): string {
  let node: Record<string, unknown> | undefined;
  for (let i = encryptedLayers - 1; i >= 0; i--) {
    const layer: Record<string, unknown> = { encrypt: { 'key-secret': keyId } };
    if (node) layer.backing = node;
    if (i === 0) {
      layer.driver = 'qcow2';
      layer.file = { driver: 'file', filename: file };
    }
    node = layer;
  }
  return `json:${JSON.stringify(node)}`;
}

/** How many layers of a chain, top first, `qemu-img info --backing-chain` shows encrypted before the first plain one. Pure. */
export function encryptedTopLayers(chain: readonly RawInfo[]): number {
  let n = 0;
  while (n < chain.length && chain[n]['format-specific']?.data?.encrypt !== undefined) n++;
  return n;
}

/**
 * `image` (a local qcow2 file) opened with `key`: its encrypted layers — an encrypted backup chain
 * is encrypted all the way down — each get the key, and the key goes to the tool through a pipe,
 * never argv. An image with no encrypted layer is returned as it is. Reads the headers only (no key
 * is needed for that).
 */
export async function keyedImage(image: ImageRef, key: ImageSecret): Promise<ImageRef> {
  const { stdout } = await run(infoArgv(image, true), secretPipes(image));
  const layers = encryptedTopLayers(JSON.parse(stdout) as RawInfo[]);
  if (layers === 0) return image;
  return {
    path: keyedChainPath(image.file ?? image.path, key.id, layers),
    format: 'qcow2',
    file: image.file ?? image.path,
    secrets: [...(image.secrets ?? []).filter((s) => s.id !== key.id), key],
  };
}

/** The encrypted qcow2 file `file` alone (no backing file opened), opened with `key`. Pure. */
export const keyedLayer = (file: string, key: ImageSecret): ImageRef & { format: 'qcow2' } => ({
  path: keyedChainPath(file, key.id, 1),
  format: 'qcow2',
  file,
  secrets: [key],
});

/**
 * Flattens `source` (and its backing chain) into `target`; holes stay holes (-S), target exists (-n) or is created.
 * `topLayerOver` (with `targetExists`, a target standing on that image): only `source`'s own top layer is
 * copied, the rest taken to be that image's (-B), which is how a merge copies one layer at a time.
 */
export const convertArgv = (
  source: ImageRef,
  target: ImageRef & { format: VolumeFormat },
  options: { targetExists?: boolean; topLayerOver?: ImageRef } = {},
): string[] => [
  'qemu-img',
  'convert',
  ...secretObjectArgs(source, target),
  '-U',
  '-p',
  '-W',
  '-m',
  '8',
  '-f',
  source.format,
  '-O',
  target.format,
  ...(target.format === 'qcow2' && !options.targetExists ? ['-o', 'compat=1.1'] : []),
  ...(options.targetExists ? ['-n'] : []),
  ...(options.topLayerOver ? ['-B', options.topLayerOver.path] : []),
  source.path,
  target.path,
];

/** `qemu-img compare -U`: exit 0 identical, 1 different. */
export const compareArgv = (a: ImageRef, b: ImageRef): string[] => [
  'qemu-img',
  'compare',
  ...secretObjectArgs(a, b),
  '-U',
  '-f',
  a.format,
  '-F',
  b.format,
  a.path,
  b.path,
];

/**
 * `qemu-img rebase` in safe mode: every cluster where the old and the new backing differ is first
 * copied into `image`, so its guest-visible content never changes; the header is rewritten last, so
 * an interrupted run leaves the image still correct on its old backing. No `newBacking`: the image
 * takes in all its backing data and stands alone.
 */
export const rebaseArgv = (image: ImageRef, newBacking?: ImageRef): string[] => [
  'qemu-img',
  'rebase',
  ...secretObjectArgs(image, ...(newBacking ? [newBacking] : [])),
  '-f',
  image.format,
  '-b',
  newBacking?.path ?? '',
  ...(newBacking ? ['-F', newBacking.format] : []),
  image.path,
];

/**
 * `qemu-img rebase -u`: rewrites only the backing reference in `image`'s header (no data is read or
 * written), for a layer whose new backing holds exactly the bytes of its old one (a copy). An
 * encrypted layer is opened with its key (`keyedLayer`): QEMU refuses to open it without one.
 */
export const rebaseUnsafeArgv = (image: ImageRef & { format: 'qcow2' }, newBacking: ImageRef): string[] => [
  'qemu-img',
  'rebase',
  ...secretObjectArgs(image),
  '-u',
  '-f',
  image.format,
  '-b',
  newBacking.path,
  '-F',
  newBacking.format,
  image.path,
];

export interface ImageInfo {
  virtualSize: number;
  actualSize: number;
  format: string;
  backingFile?: string;
  /** qcow2 only: '0.10' or '1.1'. */
  compat?: string;
  /** qcow2 only: the layer's built-in encryption format (`luks`) when it is encrypted. */
  encryption?: string;
  bitmaps: Array<{ name: string; flags: string[]; granularity: number }>;
}

interface RawInfo {
  'virtual-size': number;
  'actual-size'?: number;
  format: string;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: {
    type: string;
    data?: {
      compat?: string;
      bitmaps?: Array<{ name: string; flags: string[]; granularity: number }>;
      /** qcow2 with built-in encryption: its format (`luks`) and parameters, never the key. */
      encrypt?: { format?: string };
    };
  };
}

/** Turns qemu-img's JSON into volback's shape. Pure. */
export function parseInfo(raw: RawInfo): ImageInfo {
  const data = raw['format-specific']?.data;
  return {
    virtualSize: raw['virtual-size'],
    actualSize: raw['actual-size'] ?? 0,
    format: raw.format,
    backingFile: raw['full-backing-filename'] ?? raw['backing-filename'],
    compat: data?.compat,
    ...(data?.encrypt ? { encryption: data.encrypt.format ?? 'unknown' } : {}),
    bitmaps: data?.bitmaps ?? [],
  };
}

export async function imageInfo(image: ImageRef): Promise<ImageInfo> {
  const { stdout } = await run(infoArgv(image), secretPipes(image));
  return parseInfo(JSON.parse(stdout) as RawInfo);
}

/** True when both images have the same guest-visible content. */
export async function imagesEqual(a: ImageRef, b: ImageRef): Promise<boolean> {
  const { exitCode } = await run(compareArgv(a, b), { okExitCodes: [1], ...secretPipes(a, b) });
  return exitCode === 0;
}

/** `qemu-img check` of one image layer (its backing files are not checked). Pure. */
export const checkArgv = (image: ImageRef): string[] => [
  'qemu-img',
  'check',
  ...secretObjectArgs(image),
  '-U',
  '--output=json',
  '-f',
  image.format,
  image.path,
];

/**
 * What is wrong with one image layer, as `qemu-img check` sees it (exit 2: corrupt, 3: leaked
 * clusters, 1: the check could not run); empty when it is sound.
 */
export async function checkImage(image: ImageRef, signal?: AbortSignal): Promise<string[]> {
  // A raw image has no structure of its own to be unsound (qemu-img refuses to check one).
  if (image.format === 'raw') return [];
  const check = await run(checkArgv(image), { signal, okExitCodes: [1, 2, 3], ...secretPipes(image) });
  if (check.exitCode === 0) return [];
  return [
    `qemu-img check failed (exit ${check.exitCode}): ${(check.stderr || check.stdout).trim().split('\n')[0]}`,
  ];
}

/**
 * QEMU before 9.2.1 can fail its own PBKDF benchmark while making a LUKS header ("Unable to get
 * accurate CPU usage"; fixed upstream by "crypto: fix bogus error benchmarking pbkdf on fast
 * machines"): seen in a CI run here with QEMU 7.2. Such a failure says nothing about the image. Pure.
 */
export const isPbkdfBenchmarkGlitch = (message: string): boolean =>
  message.includes('Unable to get accurate CPU usage');

/**
 * Runs `create` (which makes a LUKS header: qemu-img, or libvirt running it), trying again up to
 * twice when QEMU's PBKDF benchmark glitches (isPbkdfBenchmarkGlitch). Only for a create that leaves
 * nothing behind when it fails or rewrites its file whole: qemu-img does, and so does libvirt (it
 * removes the new volume when qemu-img fails; seen here with libvirt 9.0).
 */
export async function retryPbkdfGlitch<T>(create: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await create();
    } catch (err) {
      if (attempt >= 3 || !isPbkdfBenchmarkGlitch((err as Error).message)) throw err;
    }
  }
}

/** Runs `createEncryptedQcow2Argv` (same arguments), through retryPbkdfGlitch. */
export async function createEncryptedQcow2(
  path: string,
  size: number,
  key: ImageSecret,
  backing?: ImageRef,
): Promise<void> {
  await retryPbkdfGlitch(() =>
    run(createEncryptedQcow2Argv(path, size, key, backing), secretPipes(keyHolder(key))),
  );
}

/**
 * `qemu-img create` of an empty LUKS-encrypted qcow2 (compat 1.1) whose passphrase is the secret
 * `key` (from a pipe: secretPipes of `keyHolder(key)`), standing on `backing` when given; QEMU's
 * default cipher and key derivation, as libvirt makes encrypted volumes. Over an existing file, QEMU
 * rewrites it in place (its mode and owner stay). Pure.
 */
export const createEncryptedQcow2Argv = (
  path: string,
  capacity: number,
  key: ImageSecret,
  backing?: ImageRef,
): string[] => [
  'qemu-img',
  'create',
  ...secretObjectArgs(keyHolder(key)),
  '-q',
  '-f',
  'qcow2',
  '-o',
  `compat=1.1,encrypt.format=luks,encrypt.key-secret=${key.id}`,
  ...(backing ? ['-b', backing.path, '-F', backing.format] : []),
  path,
  String(capacity),
];

/** An image reference that only carries `key`, to hand it to a tool (secretObjectArgs, secretPipes). Pure. */
export const keyHolder = (key: ImageSecret): ImageRef => ({ path: '', format: 'qcow2', secrets: [key] });

/**
 * `qemu-img create` of an empty qcow2 (compat 1.1) whose compressed clusters are zstd
 * (`compression_type`, which libvirt's volume XML cannot ask for, and `qemu-img amend` cannot set
 * later), standing on `backing` when given. Over an existing file, QEMU truncates and rewrites it in
 * place: the file keeps its owner and mode.
 */
export const createZstdQcow2Argv = (path: string, capacity: number, backing?: ImageRef): string[] => [
  'qemu-img',
  'create',
  '-q',
  '-f',
  'qcow2',
  '-o',
  'compat=1.1,compression_type=zstd',
  ...(backing ? ['-b', backing.path, '-F', backing.format] : []),
  path,
  String(capacity),
];

/** `qemu-img map` of the top layer only: which extents the image itself holds. */
export const mapArgv = (image: ImageRef): string[] => [
  'qemu-img',
  'map',
  ...secretObjectArgs(image),
  '-U',
  '--output=json',
  '-f',
  image.format,
  image.path,
];

/** One entry of `qemu-img map --output=json`. */
export interface MapExtent {
  start: number;
  length: number;
  depth: number;
  data: boolean;
  zero?: boolean;
  /** QEMU 6.1+: the range is allocated in some layer (false: a hole all the way down). */
  present?: boolean;
}

/** Bytes of data stored in the image's own layer (not its backing files). Pure. */
export function topLayerDataBytes(extents: readonly MapExtent[]): number {
  return extents.filter((e) => e.depth === 0 && e.data).reduce((sum, e) => sum + e.length, 0);
}

/**
 * The ranges an image's own layer stores, merged: its data, and when it has a backing file also its
 * zero clusters, which hide the backing's data. Without a backing a zero cluster reads as a hole does
 * (QEMU's full backups write them for every unallocated cluster), and a raw image reports its holes
 * as present zeros: neither stores anything. Pure.
 */
export function topLayerRanges(
  extents: readonly MapExtent[],
  hasBacking: boolean,
): Array<{ start: number; length: number }> {
  const out: Array<{ start: number; length: number }> = [];
  for (const e of extents) {
    if (e.depth !== 0 || !(e.data || (hasBacking && e.present === true))) continue;
    const last = out[out.length - 1];
    if (last && last.start + last.length === e.start) last.length += e.length;
    else out.push({ start: e.start, length: e.length });
  }
  return out;
}

/** The ranges the image's own layer stores (see topLayerRanges). */
export async function storedRanges(image: ImageRef): Promise<Array<{ start: number; length: number }>> {
  const hasBacking = image.format !== 'raw' && (await imageInfo(image)).backingFile !== undefined;
  const { stdout } = await run(mapArgv(image), secretPipes(image));
  return topLayerRanges(JSON.parse(stdout) as MapExtent[], hasBacking);
}

/** How many bytes of guest data the image itself holds (what a backup into it copied). */
export async function storedDataBytes(image: ImageRef): Promise<number> {
  const { stdout } = await run(mapArgv(image), secretPipes(image));
  return topLayerDataBytes(JSON.parse(stdout) as MapExtent[]);
}

/** `qemu-img bitmap --remove`: deletes one persistent dirty bitmap from a qcow2 image. */
export const bitmapRemoveArgv = (image: ImageRef, bitmap: string): string[] => [
  'qemu-img',
  'bitmap',
  ...secretObjectArgs(image),
  '--remove',
  '-f',
  image.format,
  image.path,
  bitmap,
];

/** Removes persistent bitmaps from a qcow2 image that no QEMU has open. */
export async function removeBitmaps(image: ImageRef, names: readonly string[]): Promise<void> {
  for (const name of names) await run(bitmapRemoveArgv(image, name), secretPipes(image));
}

/**
 * Splits `qemu-img convert -p` output (`    (12.34/100%)\r` records) into percentages. Returns the
 * complete records' values and the unfinished tail to prepend to the next chunk. Pure.
 */
export function parseConvertProgress(text: string): { percents: number[]; rest: string } {
  const records = text.split(/[\r\n]/);
  const rest = records.pop() ?? '';
  const percents = records
    .map((r) => /\((\d+(?:\.\d+)?)\/100%\)/.exec(r)?.[1])
    .filter((p): p is string => p !== undefined)
    .map(Number);
  return { percents, rest };
}

/**
 * Runs `qemu-img convert` (argv from `convertArgv`), reporting progress as a fraction 0..1. The
 * signal kills qemu-img and rejects with ERR_CANCELLED; the caller removes the partial target.
 */
export async function convertImage(
  source: ImageRef,
  target: ImageRef & { format: VolumeFormat },
  options: { targetExists?: boolean; signal?: AbortSignal; onProgress?: (fraction: number) => void } = {},
): Promise<void> {
  let pending = '';
  await run(convertArgv(source, target, { targetExists: options.targetExists }), {
    signal: options.signal,
    ...secretPipes(source, target),
    onStdout: (chunk) => {
      const { percents, rest } = parseConvertProgress(pending + chunk);
      pending = rest;
      if (percents.length > 0) options.onProgress?.(percents[percents.length - 1] / 100);
    },
  });
}

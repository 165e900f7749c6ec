// The LUKS1 header QEMU writes into an encrypted qcow2 (its full disk encryption header extension):
// parsed strictly from untrusted bytes, unlocked with a passphrase, and the data sectors decrypted,
// so that volback's own reader opens encrypted backups on hosts it reads only through libvirt
// (docs/encryption.md, "Reading over a remote connection"). Only QEMU's defaults as libvirt creates
// them are read: aes-xts-plain64 with a SHA-1/SHA-256/SHA-512 hash; anything else is refused.
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { ErrorCodes, VolbackError } from '../errors';

/** LUKS encrypts in 512-byte sectors; each sector's IV is its number (plain64). */
export const LUKS_SECTOR = 512;

const MAGIC = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]); // "LUKS\xba\xbe"
/** The LUKS1 header proper (its key slots' material follows, elsewhere in the area). */
export const LUKS_HEADER_BYTES = 592;
const SLOTS = 8;
const SLOT_ACTIVE = 0x00ac71f3;
const SLOT_INACTIVE = 0x0000dead;
const DIGEST_BYTES = 20;
const SALT_BYTES = 32;
/**
 * Bounds on the header's counts, so a forged header cannot make an open take hours or gigabytes:
 * QEMU derives about 2 s of PBKDF2 and writes 4000 stripes.
 */
export const MAX_PBKDF2_ITERATIONS = 2 ** 26;
const MAX_STRIPES = 4000;
const HASHES = new Set(['sha1', 'sha256', 'sha512']);

const pbkdf2 = promisify(crypto.pbkdf2);

/** A LUKS1 header that volback can unlock; offsets are bytes from the header's start. */
export interface LuksHeader {
  /** Node's cipher name: aes-128-xts or aes-256-xts. */
  cipher: string;
  hash: string;
  keyBytes: number;
  mkDigest: Buffer;
  mkDigestSalt: Buffer;
  mkDigestIterations: number;
  slots: { iterations: number; salt: Buffer; materialOffset: number; stripes: number }[];
}

/** An unlocked header: the master key and the cipher it is for. The holder wipes `key`. */
export interface LuksKey {
  cipher: string;
  key: Buffer;
}

/** A LUKS header volback refuses: damaged, or made with a cipher it does not read. */
const bad = (where: string, problem: string): VolbackError =>
  new VolbackError(ErrorCodes.XML_INVALID, `${where}: LUKS header ${problem}`, { fault: 'system' });

/** A NUL-padded ASCII field. */
function text(buf: Buffer, at: number, length: number): string {
  const field = buf.subarray(at, at + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString('latin1');
}

/**
 * Parses the LUKS1 header in `buf` (the first bytes of the encryption header area, which is
 * `areaLength` bytes long): every key slot's material must lie inside that area.
 */
export function parseLuksHeader(buf: Buffer, areaLength: number, where: string): LuksHeader {
  if (buf.length < LUKS_HEADER_BYTES)
    throw bad(where, `is ${buf.length} bytes, shorter than ${LUKS_HEADER_BYTES}`);
  if (!buf.subarray(0, 6).equals(MAGIC)) throw bad(where, 'magic: not a LUKS header');
  const version = buf.readUInt16BE(6);
  if (version !== 1) throw bad(where, `version ${version}: only LUKS1, as QEMU writes it, is read`);
  const cipherName = text(buf, 8, 32);
  const cipherMode = text(buf, 40, 32);
  const hash = text(buf, 72, 32);
  const keyBytes = buf.readUInt32BE(108);
  if (cipherName !== 'aes' || cipherMode !== 'xts-plain64' || (keyBytes !== 32 && keyBytes !== 64))
    throw bad(where, `cipher ${cipherName}-${cipherMode} with a ${keyBytes}-byte key is not read by volback`);
  if (!HASHES.has(hash)) throw bad(where, `hash ${hash} is not read by volback`);
  const mkDigestIterations = buf.readUInt32BE(164);
  if (mkDigestIterations < 1 || mkDigestIterations > MAX_PBKDF2_ITERATIONS)
    throw bad(where, `mk_digest_iter ${mkDigestIterations} is outside 1..${MAX_PBKDF2_ITERATIONS}`);
  const slots: LuksHeader['slots'] = [];
  for (let i = 0; i < SLOTS; i++) {
    const at = 208 + i * 48;
    const active = buf.readUInt32BE(at);
    if (active === SLOT_INACTIVE) continue;
    if (active !== SLOT_ACTIVE)
      throw bad(where, `key slot ${i}: state 0x${active.toString(16)} is neither active nor inactive`);
    const iterations = buf.readUInt32BE(at + 4);
    const materialOffset = buf.readUInt32BE(at + 40) * LUKS_SECTOR;
    const stripes = buf.readUInt32BE(at + 44);
    if (iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS)
      throw bad(where, `key slot ${i}: ${iterations} iterations are outside 1..${MAX_PBKDF2_ITERATIONS}`);
    if (stripes < 1 || stripes > MAX_STRIPES)
      throw bad(where, `key slot ${i}: ${stripes} stripes are outside 1..${MAX_STRIPES}`);
    if (materialOffset < LUKS_HEADER_BYTES || materialOffset + materialBytes(keyBytes, stripes) > areaLength)
      throw bad(
        where,
        `key slot ${i}: its key material at ${materialOffset} lies outside the ${areaLength}-byte header area`,
      );
    slots.push({
      iterations,
      salt: Buffer.from(buf.subarray(at + 8, at + 8 + SALT_BYTES)),
      materialOffset,
      stripes,
    });
  }
  if (!slots.length) throw bad(where, 'has no active key slot');
  return {
    cipher: `aes-${keyBytes * 4}-xts`,
    hash,
    keyBytes,
    mkDigest: Buffer.from(buf.subarray(112, 112 + DIGEST_BYTES)),
    mkDigestSalt: Buffer.from(buf.subarray(132, 132 + SALT_BYTES)),
    mkDigestIterations,
    slots,
  };
}

/** A key slot's material: `stripes` copies of the key's size, in whole sectors. */
const materialBytes = (keyBytes: number, stripes: number): number =>
  Math.ceil((keyBytes * stripes) / LUKS_SECTOR) * LUKS_SECTOR;

/**
 * The master key of `header`, from the first active slot `passphrase` opens, checked against the
 * header's digest. `readArea(offset, length)` reads the header area. A passphrase that opens no slot
 * is refused with QEMU's own words ("cannot unlock any keyslot"), which callers recognise.
 */
export async function unlockLuks(
  header: LuksHeader,
  passphrase: Buffer,
  readArea: (offset: number, length: number) => Promise<Buffer>,
  where: string,
): Promise<LuksKey> {
  for (const slot of header.slots) {
    const slotKey = await pbkdf2(passphrase, slot.salt, slot.iterations, header.keyBytes, header.hash);
    const material = await readArea(slot.materialOffset, materialBytes(header.keyBytes, slot.stripes));
    decryptSectors({ cipher: header.cipher, key: slotKey }, material, 0);
    slotKey.fill(0);
    const candidate = afMerge(
      material.subarray(0, header.keyBytes * slot.stripes),
      header.keyBytes,
      slot.stripes,
      header.hash,
    );
    material.fill(0);
    const digest = await pbkdf2(
      candidate,
      header.mkDigestSalt,
      header.mkDigestIterations,
      DIGEST_BYTES,
      header.hash,
    );
    if (crypto.timingSafeEqual(digest, header.mkDigest)) return { cipher: header.cipher, key: candidate };
    candidate.fill(0);
  }
  throw new VolbackError(
    ErrorCodes.INVALID_INPUT,
    `${where}: Invalid password, cannot unlock any keyslot of its LUKS header`,
    { fault: 'user' },
  );
}

/**
 * Decrypts `data` in place: whole sectors, the first being sector `firstSector` (its IV). For a
 * qcow2 layer the sector number is the data's offset in the file, as QEMU encrypts LUKS qcow2.
 */
export function decryptSectors(key: LuksKey, data: Buffer, firstSector: number): void {
  if (data.length % LUKS_SECTOR !== 0)
    throw new Error(`decryptSectors: ${data.length} bytes are not whole sectors`);
  const iv = Buffer.alloc(16);
  for (let at = 0, sector = firstSector; at < data.length; at += LUKS_SECTOR, sector++) {
    iv.writeBigUInt64LE(BigInt(sector), 0);
    const decipher = crypto.createDecipheriv(key.cipher, key.key, iv).setAutoPadding(false);
    const plain = decipher.update(data.subarray(at, at + LUKS_SECTOR));
    decipher.final();
    plain.copy(data, at);
  }
}

/** LUKS's anti-forensic merge: the key from its `stripes` diffused copies. */
function afMerge(material: Buffer, keyBytes: number, stripes: number, hash: string): Buffer {
  let d: Buffer = Buffer.alloc(keyBytes);
  for (let i = 0; i < stripes - 1; i++) {
    xorInto(d, material.subarray(i * keyBytes, (i + 1) * keyBytes));
    d = diffuse(d, hash);
  }
  xorInto(d, material.subarray((stripes - 1) * keyBytes, stripes * keyBytes));
  return d;
}

function xorInto(target: Buffer, other: Buffer): void {
  for (let i = 0; i < target.length; i++) target[i] ^= other[i];
}

/** Each digest-sized piece of `block` becomes the hash of its index (big-endian) and itself. */
function diffuse(block: Buffer, hash: string): Buffer {
  const size = crypto.createHash(hash).digest().length;
  const out = Buffer.alloc(block.length);
  const index = Buffer.alloc(4);
  for (let j = 0; j * size < block.length; j++) {
    const piece = block.subarray(j * size, Math.min(block.length, (j + 1) * size));
    index.writeUInt32BE(j, 0);
    crypto
      .createHash(hash)
      .update(index)
      .update(piece)
      .digest()
      .copy(out, j * size, 0, piece.length);
  }
  return out;
}

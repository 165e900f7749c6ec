// Encrypted backups' pure logic (docs/encryption.md): how qemu-img opens an encrypted chain with its
// key, which secret a run asks for and when a chain must start again, the refusals made before
// anything is created (pools that cannot store encrypted volumes, raw volumes, compression, engines
// that cannot hand QEMU the key), the CLI flag and how `backup show` names the secret.
import { decideEngine, qmpUnavailable, type EngineFacts } from '../../src/core/backup/engine';
import { baseForEncryption, openRunKey, requestedSecret } from '../../src/core/backup/encryption';
import type { BackupPlan } from '../../src/core/backup/plan';
import { keyObjectId } from '../../src/core/shared/encryption';
import { describeEncryption, withEncryptFlag } from '../../src/cli/encryption-flag';
import type { Connection } from '../../src/libvirt';
import type { BackupDefinition, BackupSet } from '../../src/model';
import type { PoolDriverCapabilities } from '../../src/pool/driver';
import { encryptedTopLayers, infoArgv, keyedChainPath } from '../../src/tools/qemu-img';
import { base64Bytes, bytesOfBase64 } from '../../src/tools/secret-bytes';
import { secretRefOf, secretUsageProblem } from '../../src/xml/encryption';
import { createDirDriver } from '../../pool-drivers/dir';
import { createLogicalDriver } from '../../pool-drivers/logical';
import { createRbdDriver } from '../../pool-drivers/rbd';

const UUID = '5a1d0c3e-0000-4000-8000-00000000e0c1';
const ENC = { format: 'luks', secretUuid: UUID, secretUsage: 'vm1 backups' } as const;
const PLAIN_DEF: BackupDefinition = { mode: 'push', kind: 'auto', disks: [] };

describe('qemu-img and an encrypted chain', () => {
  it('gives each encrypted layer the key, nested through backing, the top naming its file', () => {
    expect(JSON.parse(keyedChainPath('/p/top.qcow2', 'k', 1).slice(5))).toEqual({
      driver: 'qcow2',
      file: { driver: 'file', filename: '/p/top.qcow2' },
      encrypt: { 'key-secret': 'k' },
    });
    const three = JSON.parse(keyedChainPath('/p/top.qcow2', 'k', 3).slice(5));
    expect(three.backing).toEqual({
      encrypt: { 'key-secret': 'k' },
      backing: { encrypt: { 'key-secret': 'k' } },
    });
    expect(keyedChainPath('/p/top.qcow2', 'k', 2).startsWith('json:{')).toBe(true);
  });

  it('counts the encrypted layers from the top, as qemu-img info --backing-chain lists them', () => {
    const layer = (encrypted: boolean) => ({
      'virtual-size': 1,
      format: 'qcow2',
      'format-specific': { type: 'qcow2', data: encrypted ? { encrypt: { format: 'luks' } } : {} },
    });
    expect(encryptedTopLayers([layer(true), layer(true)])).toBe(2);
    expect(encryptedTopLayers([layer(true), layer(false), layer(true)])).toBe(1);
    expect(encryptedTopLayers([layer(false)])).toBe(0);
  });

  it('reads the header of a keyed image from its file, with no secret object (info needs no key)', () => {
    const argv = infoArgv({
      path: keyedChainPath('/p/top.qcow2', 'k', 2),
      format: 'qcow2',
      file: '/p/top.qcow2',
      secrets: [{ id: 'k', value: Buffer.from('c2VjcmV0') }],
    });
    expect(argv[argv.length - 1]).toBe('/p/top.qcow2');
    expect(argv).not.toContain('--object');
    expect(argv.join(' ')).not.toContain('c2VjcmV0');
  });

  it('names the key object after the secret, never its value; base64 through no string', () => {
    expect(keyObjectId(UUID)).toBe('volback-key-5a1d0c3e');
    expect(base64Bytes(Buffer.from('pass phrase!')).toString()).toBe(
      Buffer.from('pass phrase!').toString('base64'),
    );
  });

  it('decodes base64 back through no string, every padding length, and refuses what is not base64', () => {
    for (const text of ['', 'a', 'ab', 'abc', 'pass phrase!', '\u00ff\u0000\u0080 binary']) {
      const raw = Buffer.from(text, 'latin1');
      expect(bytesOfBase64(base64Bytes(raw)).equals(raw)).toBe(true);
    }
    expect(() => bytesOfBase64(Buffer.from('abc'))).toThrow('not a multiple of 4');
    expect(() => bytesOfBase64(Buffer.from('ab!d'))).toThrow('invalid character at 2');
    expect(() => bytesOfBase64(Buffer.from('a=bc'))).toThrow('invalid character at 1');
  });
});

describe('which secret a run asks for', () => {
  it('takes the definition first, then the config; format none means plain', () => {
    expect(requestedSecret(PLAIN_DEF, undefined)).toBeUndefined();
    expect(requestedSecret(PLAIN_DEF, UUID.toUpperCase())).toEqual({ uuid: UUID });
    expect(requestedSecret(PLAIN_DEF, 'vm1 backups')).toEqual({ usage: 'vm1 backups' });
    expect(requestedSecret({ ...PLAIN_DEF, encryption: { format: 'none' } }, UUID)).toBeUndefined();
    expect(
      requestedSecret({ ...PLAIN_DEF, encryption: { format: 'luks', secret: { usage: 'x' } } }, UUID),
    ).toEqual({ usage: 'x' });
  });

  it('names secrets by UUID (any libvirt form) or usage id; refuses control characters and empty ids', () => {
    expect(secretRefOf('5A1D0C3E00004000800000000000E0C1')).toEqual({ uuid: UUID });
    expect(secretUsageProblem('')).toBeDefined();
    expect(secretUsageProblem('a\nb')).toBeDefined();
    expect(secretUsageProblem('x'.repeat(257))).toBeDefined();
    expect(secretUsageProblem('vm1 backups')).toBeUndefined();
  });

  const set = (encryption?: typeof ENC): BackupSet => ({ id: 's1', encryption }) as unknown as BackupSet;

  it('starts a new chain with a full when encryption is asked of a plain one', () => {
    const base = baseForEncryption('vm1', { set: set(), usable: true }, { uuid: UUID });
    expect(base).toMatchObject({ usable: false });
    expect((base as { reason: string }).reason).toContain(`libvirt secret ${UUID}`);
    expect((base as { reason: string }).reason).toContain('not encrypted');
  });

  it('continues an encrypted chain whatever is asked (its own secret), and a plain one when nothing is', () => {
    expect(baseForEncryption('vm1', { set: set(ENC), usable: true }, undefined)).toMatchObject({
      usable: true,
    });
    expect(baseForEncryption('vm1', { set: set(ENC), usable: true }, { uuid: 'other' })).toMatchObject({
      usable: true,
    });
    expect(baseForEncryption('vm1', { set: set(), usable: true }, undefined)).toMatchObject({ usable: true });
    expect(baseForEncryption('vm1', undefined, { uuid: UUID })).toBeUndefined();
  });
});

describe('refusals before anything is created', () => {
  // No libvirt call may happen before these refusals: a connection that throws proves it.
  const noConn = new Proxy(
    {},
    { get: () => () => Promise.reject(new Error('libvirt was called')) },
  ) as Connection;
  const plan = (over: Partial<BackupPlan> = {}): BackupPlan =>
    ({
      setId: 's',
      createdAt: new Date(),
      kind: 'full',
      disks: [{ target: 'vda', pool: 'p', format: 'qcow2' }],
      skipped: [],
      notes: [],
      ...over,
    }) as unknown as BackupPlan;
  const caps =
    (over: Partial<PoolDriverCapabilities> = {}) =>
    () =>
      ({ ...createDirDriver().capabilities, ...over }) as PoolDriverCapabilities;

  it('declares which drivers store encrypted volumes: dir does, rbd (raw images) and logical do not', () => {
    expect(createDirDriver().capabilities.encryptedVolumes).toBe(true);
    expect(createRbdDriver().capabilities.encryptedVolumes).toBe(false);
    expect(createLogicalDriver().capabilities.encryptedVolumes).toBe(false);
  });

  it('refuses a pool that cannot store encrypted volumes, naming it and the disk', async () => {
    await expect(
      openRunKey(noConn, 'vm1', plan(), { uuid: UUID }, () => createRbdDriver().capabilities),
    ).rejects.toMatchObject({
      code: 'ERR_POOL_UNSUPPORTED',
      message: 'cannot back up vm1 encrypted: pool p (disk vda) cannot store encrypted volumes',
    });
  });

  it('refuses raw volumes and compression with encryption', async () => {
    await expect(
      openRunKey(
        noConn,
        'vm1',
        plan({ disks: [{ target: 'vda', pool: 'p', format: 'raw' }] as BackupPlan['disks'] }),
        { uuid: UUID },
        caps(),
      ),
    ).rejects.toThrow("disk vda's volume would be raw");
    await expect(
      openRunKey(noConn, 'vm1', plan({ compression: 'zstd' }), { uuid: UUID }, caps()),
    ).rejects.toThrow('both compressed and encrypted');
  });

  it('reads no key for a plain full, nor for an incremental of a plain chain', async () => {
    expect(await openRunKey(noConn, 'vm1', plan(), undefined, caps())).toBeUndefined();
    const parent = { id: 'p1' } as BackupSet;
    expect(
      await openRunKey(noConn, 'vm1', plan({ kind: 'incremental', parent }), { uuid: UUID }, caps()),
    ).toBe(undefined);
  });

  const facts = (over: Partial<EngineFacts> = {}): EngineFacts => ({
    setting: 'auto',
    incremental: true,
    unwritable: [],
    domain: 'vm1',
    confinedBy: [],
    fdPassing: true,
    fdTargets: ['p'],
    encrypted: true,
    ...over,
  });

  it('sends encrypted backups through the QMP engine, and refuses where it cannot run', () => {
    expect(decideEngine(facts())).toMatchObject({ engine: 'qmp', required: true });
    expect(decideEngine(facts({ setting: 'libvirt' }))).toEqual({
      refused:
        'an encrypted backup needs the QMP engine (volback hands QEMU the key over QMP), and backup_engine is libvirt',
    });
    expect(decideEngine(facts({ confinedBy: ['apparmor'] }))).toMatchObject({
      refused: expect.stringContaining('an encrypted backup needs the QMP engine, which cannot copy vm1'),
    });
    expect(qmpUnavailable({ required: true }, facts(), 'a filter node')).toEqual({
      refused: 'an encrypted backup needs the QMP engine, which cannot copy vm1: a filter node',
    });
  });
});

describe('merging an encrypted chain', () => {
  const poolOn = (uri: string) =>
    ({ name: 'b', type: 'dir', conn: { getURI: async () => uri } }) as unknown as Parameters<
      NonNullable<ReturnType<typeof createDirDriver>['rebaseRefusal']>
    >[0];

  it('a dir pool of another host refuses it before the removal starts; a plain chain merges there', async () => {
    const driver = createDirDriver();
    expect(await driver.rebaseRefusal!(poolOn('qemu:///system'), true)).toBeUndefined();
    expect(await driver.rebaseRefusal!(poolOn('qemu+ssh://root@h/system'), false)).toBeUndefined();
    expect(await driver.rebaseRefusal!(poolOn('qemu+ssh://root@h/system'), true)).toBe(
      "dir pool 'b' merges encrypted volumes only on the host volback runs on",
    );
  });
});

describe('the CLI', () => {
  it('--encrypt names a secret by UUID or usage, or none', () => {
    expect(withEncryptFlag(undefined, {})).toBeUndefined();
    expect(withEncryptFlag(undefined, { encrypt: UUID })?.encryption).toEqual({
      format: 'luks',
      secret: { uuid: UUID },
    });
    expect(withEncryptFlag(PLAIN_DEF, { encrypt: 'none' })?.encryption).toEqual({ format: 'none' });
    expect(() => withEncryptFlag(undefined, { encrypt: '' })).toThrow('--encrypt');
  });

  it('backup show names the secret by UUID and usage', () => {
    expect(describeEncryption(ENC)).toBe(`luks, libvirt secret ${UUID} (usage 'vm1 backups')`);
    expect(describeEncryption(undefined)).toBeUndefined();
  });
});

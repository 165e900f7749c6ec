// Connection facade, error mapping, loader and coverage check against libvirt's test:///default driver.
import os from 'os';
import fs from 'fs';
import { ErrorCodes, VolbackError } from '../../src/errors';
import {
  Connection,
  GENERATED_FROM_LIBVIRT_VERSION,
  LibvirtError,
  isFreedHandle,
  isLibvirtError,
  loadBinding,
  wrappedFunctions,
} from '../../src/libvirt';

const API_XML = ['/usr/share/libvirt/api/libvirt-api.xml', '/usr/share/libvirt/api/libvirt-qemu-api.xml'];

/** The libvirt C functions issue #2 requires the binding to wrap. */
const REQUIRED = [
  // connection
  'virConnectOpenAuth',
  'virConnectClose',
  'virConnectGetLibVersion',
  'virConnectGetVersion',
  'virConnectGetHostname',
  'virConnectGetCapabilities',
  'virConnectGetDomainCapabilities',
  'virConnectSetKeepAlive',
  'virConnectIsAlive',
  'virConnectGetURI',
  // domains
  'virDomainLookupByName',
  'virDomainLookupByUUIDString',
  'virConnectListAllDomains',
  'virDomainDefineXMLFlags',
  'virDomainUndefineFlags',
  'virDomainCreateWithFlags',
  'virDomainCreateXML',
  'virDomainDestroyFlags',
  'virDomainGetState',
  'virDomainGetInfo',
  'virDomainGetXMLDesc',
  'virDomainIsActive',
  'virDomainIsPersistent',
  'virDomainGetName',
  'virDomainGetUUIDString',
  // pools
  'virStoragePoolDefineXML',
  'virStoragePoolCreateXML',
  'virStoragePoolBuild',
  'virStoragePoolCreate',
  'virStoragePoolDestroy',
  'virStoragePoolUndefine',
  'virStoragePoolLookupByName',
  'virConnectListAllStoragePools',
  'virStoragePoolRefresh',
  'virStoragePoolGetInfo',
  'virStoragePoolGetXMLDesc',
  'virStoragePoolListAllVolumes',
  'virStoragePoolSetAutostart',
  'virStoragePoolIsActive',
  'virStoragePoolGetName',
  'virStoragePoolGetUUIDString',
  // volumes and streams
  'virStorageVolCreateXML',
  'virStorageVolCreateXMLFrom',
  'virStorageVolLookupByName',
  'virStorageVolLookupByPath',
  'virStorageVolLookupByKey',
  'virStorageVolDelete',
  'virStorageVolWipe',
  'virStorageVolGetInfo',
  'virStorageVolGetXMLDesc',
  'virStorageVolGetPath',
  'virStorageVolGetKey',
  'virStorageVolGetName',
  'virStorageVolResize',
  'virStorageVolUpload',
  'virStorageVolDownload',
  'virStreamNew',
  'virStreamRecvFlags',
  'virStreamRecvHole',
  'virStreamSend',
  'virStreamSendHole',
  'virStreamFinish',
  'virStreamAbort',
  'virStreamFree',
  // checkpoints, backup, jobs, QEMU
  'virDomainCheckpointCreateXML',
  'virDomainListAllCheckpoints',
  'virDomainCheckpointLookupByName',
  'virDomainCheckpointGetXMLDesc',
  'virDomainCheckpointDelete',
  'virDomainCheckpointGetParent',
  'virDomainBackupBegin',
  'virDomainBackupGetXMLDesc',
  'virDomainGetJobStats',
  'virDomainAbortJob',
  'virDomainAbortJobFlags',
  'virDomainGetBlockInfo',
  'virDomainQemuMonitorCommand',
  // plumbing
  'virEventRegisterDefaultImpl',
  'virEventRunDefaultImpl',
  'virConnectDomainEventRegisterAny',
  'virConnectDomainEventDeregisterAny',
  'virSetErrorFunc',
  'virGetLastError',
];

describe('libvirt connection (test:///default)', () => {
  let conn: Connection;

  beforeAll(async () => {
    conn = await Connection.open('test:///default');
  });
  afterAll(async () => {
    await conn.close();
  });

  it('reports URI, type, versions, hostname and liveness', async () => {
    expect(await conn.getURI()).toBe('test:///default');
    expect(await conn.getType()).toBe('TEST');
    expect(await conn.getLibVersion()).toBeGreaterThanOrEqual(9000000);
    expect(await conn.getVersion()).toBeGreaterThan(0);
    expect(await conn.getHostname()).toBeTruthy();
    expect(await conn.isAlive()).toBe(true);
  });

  it('returns capabilities XML', async () => {
    expect(await conn.getCapabilities()).toMatch(/<capabilities>/);
  });

  it('maps unsupported calls to LibvirtError VIR_ERR_NO_SUPPORT (domain capabilities, keepalive)', async () => {
    // The test driver implements neither; qemu:///system covers the success path.
    const err = await conn.getDomainCapabilities().catch((e: unknown) => e);
    expect(isLibvirtError(err, 'VIR_ERR_NO_SUPPORT')).toBe(true);
    await expect(conn.setKeepAlive(5, 3)).rejects.toMatchObject({ codeName: 'VIR_ERR_NO_SUPPORT' });
  });

  it('turns a failed lookup into a LibvirtError with numeric and symbolic code, domain and a JS stack', async () => {
    const err = await conn.lookupDomainByName('no-such-domain').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    expect(err).toBeInstanceOf(VolbackError);
    const e = err as LibvirtError;
    expect(e.code).toBe(ErrorCodes.LIBVIRT);
    expect(e.libvirtCode).toBe(42);
    expect(e.codeName).toBe('VIR_ERR_NO_DOMAIN');
    expect(e.domainName).toBe('VIR_FROM_TEST');
    expect(e.libvirtFunction).toBe('virDomainLookupByName');
    expect(e.message).toMatch(/^virDomainLookupByName: Domain not found/);
    expect(e.fault).toBe('user');
    expect(e.stack).toContain('libvirt-connection.test.ts');
    expect(isLibvirtError(e, 'VIR_ERR_NO_DOMAIN')).toBe(true);
    expect(isLibvirtError(e, 'VIR_FROM_TEST')).toBe(true);
    expect(isLibvirtError(e, 'VIR_ERR_NO_STORAGE_POOL')).toBe(false);
  });

  it('opens read-only connections that refuse writes', async () => {
    const ro = await Connection.open('test:///default', { readOnly: true });
    try {
      expect((await ro.listAllDomains()).length).toBeGreaterThan(0);
      const err = await ro
        .defineDomain(
          "<domain type='test'><name>ro</name><memory>1024</memory><os><type>hvm</type></os></domain>",
        )
        .catch((e: unknown) => e);
      expect(isLibvirtError(err, 'VIR_ERR_OPERATION_DENIED')).toBe(true);
    } finally {
      await ro.close();
    }
  });

  it('rejects an unknown URI scheme', async () => {
    await expect(Connection.open('nosuch:///x')).rejects.toMatchObject({ codeName: 'VIR_ERR_NO_CONNECT' });
  });

  it('rejects calls on a closed connection with a clear error instead of crashing', async () => {
    const c = await Connection.open('test:///default');
    await c.close();
    await c.close(); // idempotent
    c.free(); // idempotent
    const err = await c.getHostname().catch((e: unknown) => e);
    expect(isFreedHandle(err)).toBe(true);
    expect((err as LibvirtError).codeName).toBe('VIR_ERR_INVALID_CONN');
    expect((err as Error).message).toMatch(/already been freed or closed/);
  });
});

describe('libvirt binding self-description', () => {
  const apiNames = new Set(
    API_XML.flatMap((f) =>
      [...fs.readFileSync(f, 'utf8').matchAll(/<function name='([^']+)'/g)].map((m) => m[1]),
    ),
  );

  it('wraps only functions that exist in libvirt-api.xml / libvirt-qemu-api.xml', () => {
    const wrapped = wrappedFunctions();
    expect(wrapped.length).toBeGreaterThan(80);
    expect(wrapped.filter((f) => !apiNames.has(f))).toEqual([]);
  });

  it('covers every function issue #2 requires', () => {
    const wrapped = new Set(wrappedFunctions());
    expect(REQUIRED.filter((f) => !wrapped.has(f))).toEqual([]);
  });

  it('was generated from, and runs against, libvirt 9.0 or newer', () => {
    const b = loadBinding();
    expect(GENERATED_FROM_LIBVIRT_VERSION).toBeGreaterThanOrEqual(9000000);
    expect(b.libvirtVersion).toBeGreaterThanOrEqual(b.compiledAgainst);
    // Each export names the libvirt functions it calls.
    expect(b.exportTable().domainLookupByName).toEqual(['virDomainLookupByName']);
  });

  it('fails to load with ERR_BINDING_LOAD and the fix when the addon is missing or broken', () => {
    const prev = process.env.VOLBACK_LIBVIRT_BINDING;
    const broken = `${os.tmpdir()}/volback-broken-${process.pid}.node`;
    fs.writeFileSync(broken, 'not an ELF file');
    try {
      for (const candidate of ['/nonexistent/volback_libvirt.node', broken]) {
        process.env.VOLBACK_LIBVIRT_BINDING = candidate;
        jest.isolateModules(() => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const native = require('../../src/libvirt/native') as typeof import('../../src/libvirt/native');
          let err: unknown;
          try {
            native.loadBinding();
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(Error);
          expect((err as VolbackError).code).toBe(ErrorCodes.BINDING_LOAD);
          expect((err as Error).message).toContain(
            'run `npm run build:native` (needs libvirt-dev, g++, python3)',
          );
          expect((err as Error).message).toContain(candidate);
        });
      }
    } finally {
      fs.rmSync(broken, { force: true });
      if (prev === undefined) delete process.env.VOLBACK_LIBVIRT_BINDING;
      else process.env.VOLBACK_LIBVIRT_BINDING = prev;
    }
  });
});

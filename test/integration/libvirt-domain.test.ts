// Domain and checkpoint facade, freed handles and domain events against test:///default.
import { execFile } from 'child_process';
import fs from 'fs';
import { promisify } from 'util';
import {
  bindingCandidates,
  Connection,
  Domain,
  LibvirtError,
  isLibvirtError,
  virConnectListAllDomainsFlags,
  virDomainCheckpointCreateFlags,
  virDomainCheckpointDeleteFlags,
  virDomainCreateFlags,
  virDomainEventType,
  virDomainState,
  type LifecycleEvent,
} from '../../src/libvirt';
import { Cleanup, uniqueName } from '../support';

const testDomainXml = (name: string) => `<domain type='test'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/guest/${name}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>`;

describe('libvirt domains (test:///default)', () => {
  let conn: Connection;
  const cleanup = new Cleanup();

  beforeAll(async () => {
    conn = cleanup.connection(await Connection.open('test:///default'));
  });
  afterAll(() => cleanup.run());

  it('looks up the built-in domain by name and UUID and reads its facts', async () => {
    const dom = await conn.lookupDomainByName('test');
    try {
      expect(await dom.getName()).toBe('test');
      const uuid = await dom.getUUIDString();
      expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
      const same = await conn.lookupDomainByUUID(uuid);
      expect(await same.getName()).toBe('test');
      same.free();
      expect(await dom.isActive()).toBe(true);
      expect(await dom.isPersistent()).toBe(true);
      expect(await dom.getState()).toEqual({
        state: virDomainState.VIR_DOMAIN_RUNNING,
        reason: expect.any(Number),
      });
      expect(await dom.getInfo()).toMatchObject({ state: virDomainState.VIR_DOMAIN_RUNNING, nrVirtCpu: 2 });
      expect(await dom.getXMLDesc()).toMatch(/<name>test<\/name>/);
      expect(await dom.getID()).toBeGreaterThan(0);
      expect(await dom.getBlockInfo('vda')).toMatchObject({ capacity: expect.any(Number) });
    } finally {
      dom.free();
    }
  });

  it('lists domains with flags', async () => {
    const active = await conn.listAllDomains(virConnectListAllDomainsFlags.VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    const names = await Promise.all(active.map((d) => d.getName()));
    expect(names).toContain('test');
    active.forEach((d) => d.free());
  });

  it('defines, starts, destroys and undefines a persistent domain', async () => {
    const name = uniqueName('dom');
    const dom = cleanup.domain(await conn.defineDomain(testDomainXml(name)));
    expect(await dom.isPersistent()).toBe(true);
    expect(await dom.isActive()).toBe(false);
    expect((await dom.getState()).state).toBe(virDomainState.VIR_DOMAIN_SHUTOFF);
    // The test driver rejects VIR_DOMAIN_START_PAUSED; the system test covers it on QEMU.
    const err = await dom.create(virDomainCreateFlags.VIR_DOMAIN_START_PAUSED).catch((e: unknown) => e);
    expect(isLibvirtError(err, 'VIR_ERR_INVALID_ARG')).toBe(true);
    await dom.create();
    expect((await dom.getState()).state).toBe(virDomainState.VIR_DOMAIN_RUNNING);
    await dom.destroy();
    expect(await dom.isActive()).toBe(false);
    await dom.undefine();
    await expect(conn.lookupDomainByName(name)).rejects.toMatchObject({ codeName: 'VIR_ERR_NO_DOMAIN' });
  });

  it('creates a transient domain that disappears on destroy', async () => {
    const name = uniqueName('transient');
    const dom = cleanup.domain(await conn.createDomain(testDomainXml(name)));
    expect(await dom.isPersistent()).toBe(false);
    expect(await dom.isActive()).toBe(true);
    await dom.destroy();
    const err = await conn.lookupDomainByName(name).catch((e: unknown) => e);
    expect(isLibvirtError(err, 'VIR_ERR_NO_DOMAIN')).toBe(true);
  });

  it('rejects bad XML with a LibvirtError, not a crash', async () => {
    const err = await conn.defineDomain('<domain').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    expect(isLibvirtError(err, 'VIR_ERR_XML_DETAIL', 'VIR_ERR_XML_ERROR')).toBe(true);
  });

  it('makes every call on a freed handle reject clearly, and free() idempotent', async () => {
    const dom = await conn.lookupDomainByName('test');
    dom.free();
    dom.free();
    expect(dom.freed).toBe(true);
    for (const call of [
      () => dom.getName(),
      () => dom.getXMLDesc(),
      () => dom.create(),
      () => dom.listAllCheckpoints(),
    ]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LibvirtError);
      expect((err as LibvirtError).codeName).toBe('VIR_ERR_INVALID_DOMAIN');
    }
  });

  it('keeps a handle usable by a call already in flight when it is freed', async () => {
    const dom = await conn.lookupDomainByName('test');
    const pending = dom.getXMLDesc();
    dom.free();
    expect(await pending).toMatch(/<domain/);
  });

  it('manages checkpoints: create, list, lookup, XML, parent, redefine, delete', async () => {
    const dom = cleanup.domain(await conn.defineDomain(testDomainXml(uniqueName('ck'))));
    await dom.create();
    const c1 = await dom.createCheckpoint(`<domaincheckpoint><name>c1</name></domaincheckpoint>`);
    const c2 = await dom.createCheckpoint(`<domaincheckpoint><name>c2</name></domaincheckpoint>`);
    expect(await c1.getName()).toBe('c1');
    expect((await dom.listAllCheckpoints()).length).toBe(2);
    const parent = await c2.getParent();
    expect(await parent?.getName()).toBe('c1');
    expect(await c1.getParent()).toBeNull();
    expect((await c1.listAllChildren()).length).toBe(1);
    const xml = await c2.getXMLDesc();
    expect(xml).toMatch(/<parent>\s*<name>c1<\/name>/);

    // Drop c2's metadata only, then put it back with REDEFINE (what a restore of metadata does).
    await c2.delete(virDomainCheckpointDeleteFlags.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY);
    await expect(dom.lookupCheckpointByName('c2')).rejects.toMatchObject({
      codeName: 'VIR_ERR_NO_DOMAIN_CHECKPOINT',
    });
    const back = await dom.createCheckpoint(
      xml,
      virDomainCheckpointCreateFlags.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE,
    );
    expect(await back.getName()).toBe('c2');

    await c1.delete(virDomainCheckpointDeleteFlags.VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN);
    expect(await dom.listAllCheckpoints()).toEqual([]);
    for (const c of [c1, c2, parent, back]) c?.free();
  });

  it('delivers lifecycle events through the event loop thread and stops after unsubscribe', async () => {
    const name = uniqueName('events');
    const seen: LifecycleEvent[] = [];
    const unsubscribe = await conn.onDomainEvent('lifecycle', (ev) => {
      if (ev.domain.name === name) seen.push(ev);
    });
    const dom: Domain = cleanup.domain(await conn.defineDomain(testDomainXml(name)));
    await dom.create();
    await waitFor(() => seen.some((e) => e.type === virDomainEventType.VIR_DOMAIN_EVENT_STARTED));
    expect(seen[0]).toMatchObject({ event: 'lifecycle', domain: { name, uuid: expect.any(String) } });
    await unsubscribe();
    await unsubscribe(); // idempotent
    const count = seen.length;
    await dom.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.length).toBe(count);
  });

  it('lets several subscribers watch the same domain and event, each unsubscribing alone', async () => {
    const name = uniqueName('fanout');
    const dom: Domain = cleanup.domain(await conn.defineDomain(testDomainXml(name)));
    const first: number[] = [];
    const second: number[] = [];
    // libvirt itself refuses a second registration of one callback for the same domain and event.
    const stopFirst = await conn.onDomainEvent('lifecycle', (ev) => first.push(ev.type), { domain: dom });
    const stopSecond = await conn.onDomainEvent('lifecycle', (ev) => second.push(ev.type), { domain: dom });
    await dom.create();
    await waitFor(() => first.length > 0 && second.length > 0);
    expect(second).toEqual(first);
    await stopFirst();
    const firstCount = first.length;
    await dom.destroy();
    await waitFor(() => second.includes(virDomainEventType.VIR_DOMAIN_EVENT_STOPPED));
    expect(first.length).toBe(firstCount);
    await stopSecond();
    const third: number[] = [];
    const stopThird = await conn.onDomainEvent('lifecycle', (ev) => third.push(ev.type), { domain: dom });
    await dom.create();
    await waitFor(() => third.includes(virDomainEventType.VIR_DOMAIN_EVENT_STARTED));
    // A subscriber arriving while the last one's deregistration is in flight waits for it.
    const stopping = stopThird();
    const fourth: number[] = [];
    const stopFourth = await conn.onDomainEvent('lifecycle', (ev) => fourth.push(ev.type), { domain: dom });
    await stopping;
    await dom.destroy();
    await waitFor(() => fourth.includes(virDomainEventType.VIR_DOMAIN_EVENT_STOPPED));
    await stopFourth();
  });

  it('does not let a throwing event callback crash the process', async () => {
    const name = uniqueName('throws');
    let calls = 0;
    const unsubscribe = await conn.onDomainEvent('lifecycle', (ev) => {
      if (ev.domain.name !== name) return;
      calls += 1;
      throw new Error('callback bug');
    });
    const dom = cleanup.domain(await conn.defineDomain(testDomainXml(name)));
    await waitFor(() => calls > 0);
    await unsubscribe();
    expect(await dom.isPersistent()).toBe(true);
  });
});

describe('libvirt event subscriptions and process lifetime', () => {
  it("a live subscription does not keep Node running (unref'd thread-safe function)", async () => {
    const addon = bindingCandidates().find((p) => fs.existsSync(p))!;
    const script = `
      const n = require(${JSON.stringify(addon)});
      (async () => {
        const c = await n.connectOpen('test:///default', 0);
        await n.domainEventRegister(c, null, 0, () => {});
        process.stdout.write('subscribed');
      })();`;
    const started = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { timeout: 10_000 });
    expect(stdout).toBe('subscribed');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Handle lifetime under load: 10,000 lookup+free round trips must not grow RSS.
import v8 from 'v8';
import vm from 'vm';
import { Connection } from '../../src/libvirt';

const MiB = 1024 * 1024;

// A real GC handle, whether or not jest ran under --expose-gc.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r)); // finalizers run after the GC pass
  }
}

describe('libvirt handle lifetime (test:///default)', () => {
  it('does 10,000 lookups with free() and keeps RSS growth small', async () => {
    const conn = await Connection.open('test:///default');
    try {
      const round = async (n: number) => {
        for (let i = 0; i < n; i += 100) {
          // 100 concurrent calls at a time: the connection takes concurrent calls.
          const doms = await Promise.all(Array.from({ length: 100 }, () => conn.lookupDomainByName('test')));
          for (const d of doms) d.free();
        }
      };
      await round(2000); // warm-up: libuv pool threads, V8 code, allocator arenas
      await collect();
      const before = process.memoryUsage().rss;
      await round(10000);
      await collect();
      const growth = (process.memoryUsage().rss - before) / MiB;
      expect(growth).toBeLessThan(20);
    } finally {
      await conn.close();
    }
  });

  it('releases handles nobody freed when they are garbage collected', async () => {
    const conn = await Connection.open('test:///default');
    for (let i = 0; i < 2000; i++) await conn.lookupDomainByName('test'); // never freed explicitly
    await collect();
    // Every domain handle holds a connection reference until freed: after the finalizers ran,
    // closing leaves none behind.
    expect(await conn.close()).toBe(0);
  });
});

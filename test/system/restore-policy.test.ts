// restoreDomain applies the restore policy to the stored domain XML, which a pool's other writers can
// tamper with: a hostile element refuses the restore before anything is created; --drop-refused or an
// allowance decides what stays; what was changed is reported; the defined domain is what the policy gave.
import { createBackup } from '../../src/core/backup/coordinator';
import { scanCatalog } from '../../src/core/catalog/scan';
import { restoreDomain } from '../../src/core/restore/domain';
import { ErrorCodes, isVolbackError } from '../../src/errors';
import type { Connection } from '../../src/libvirt';
import { writeDocument } from '../../src/pool/documents';
import { closePools, openPool } from '../../src/pool/pool-layer';
import { formatBackupSet } from '../../src/xml';
import { parseDomainXml } from '../../src/xml/libvirt-domain';
import {
  Cleanup,
  backupLocation,
  createTestDomain,
  openSystemConnection,
  poolVolumeNames,
  uniqueName,
} from '../support';
import { MiB, cleanupDomainByName } from './restore-helpers';

jest.setTimeout(240_000);

describe('restore policy on a tampered backup', () => {
  const cleanup = new Cleanup();
  let conn: Connection;
  let pool: string;
  let setId: string;

  beforeAll(async () => {
    conn = cleanup.connection(await openSystemConnection());
    const { defaults, lockDir } = backupLocation(conn, cleanup);
    pool = defaults.pool;
    const vm = await createTestDomain(conn, cleanup, { diskSizes: [8 * MiB], label: 'policy' });
    await vm.write('vda', 0x3c, 0, MiB);
    const { set } = await createBackup(conn, vm.name, { defaults, lockDir });
    setId = set.id;
    // Someone with write access to the pool rewrites the stored domain XML.
    const hostile = set.domainXml
      .replace(
        /<os>/,
        '<os><kernel>/etc/shadow</kernel><initrd>/etc/gshadow</initrd><cmdline>console=ttyS0</cmdline>',
      )
      .replace(
        /<devices>/,
        "<devices><serial type='file'><source path='/etc/passwd'/><target port='0'/></serial>" +
          "<graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0'/>",
      );
    expect(hostile).toContain('/etc/shadow');
    const stored = (await scanCatalog(conn, { pools: [pool] })).stored.find((s) => s.set.id === set.id)!;
    const open = await openPool(conn, pool);
    try {
      await writeDocument(open, stored.metadataVolume, await formatBackupSet({ ...set, domainXml: hostile }));
    } finally {
      closePools([open]);
    }
  });
  afterAll(() => cleanup.run());

  it('refuses host boot files before anything is created, naming them and the allowance', async () => {
    const before = await poolVolumeNames(conn, pool);
    const name = uniqueName('policy-refused');
    const err = await restoreDomain(conn, { setId, name, newUuid: true, scanPools: [pool] }).catch(
      (e: unknown) => e,
    );
    expect(isVolbackError(err, ErrorCodes.INVALID_INPUT)).toBe(true);
    expect((err as Error).message).toMatch(/\/domain\/os\[1\]\/kernel\[1\].*\/etc\/shadow/);
    expect((err as { hint?: string }).hint).toMatch(/--allow host-boot-files/);
    expect(await poolVolumeNames(conn, pool)).toEqual(before);
    await expect(conn.lookupDomainByName(name)).rejects.toThrow(/not found|no domain/i);
  });

  it('with dropRefused defines the domain the policy gave, and reports what it changed', async () => {
    const name = uniqueName('policy-dropped');
    cleanupDomainByName(conn, cleanup, name);
    const restored = await restoreDomain(conn, {
      setId,
      name,
      newUuid: true,
      dropRefused: true,
      scanPools: [pool],
    });
    const dom = await conn.lookupDomainByName(name);
    const xml = await dom.getXMLDesc(2 /* VIR_DOMAIN_XML_INACTIVE */);
    dom.free();
    expect(xml).not.toMatch(/\/etc\/shadow|\/etc\/gshadow|\/etc\/passwd|0\.0\.0\.0/);
    expect(xml).toMatch(/<serial type='pty'>/);
    expect(xml).toMatch(/<graphics type='vnc'[^>]*listen='127\.0\.0\.1'/);
    expect((await parseDomainXml(xml)).disks.map((d) => d.target)).toEqual(['vda']);
    expect(restored.policy.dropped.map((f) => f.element)).toEqual(
      expect.arrayContaining(['/domain/os[1]/kernel[1]', '/domain/os[1]/initrd[1]']),
    );
    expect(restored.policy.changed.map((f) => f.detail).join('\n')).toMatch(/\/etc\/passwd/);
    expect(restored.policy.notes.join('\n')).toMatch(/password/);
  });

  it('an allowance keeps what it names, and only that', async () => {
    const name = uniqueName('policy-allowed');
    cleanupDomainByName(conn, cleanup, name);
    const restored = await restoreDomain(conn, {
      setId,
      name,
      newUuid: true,
      allow: ['host-network'],
      dropRefused: true,
      scanPools: [pool],
    });
    const dom = await conn.lookupDomainByName(name);
    const xml = await dom.getXMLDesc(2);
    dom.free();
    expect(xml).toMatch(/listen='0\.0\.0\.0'/);
    expect(xml).not.toMatch(/\/etc\/shadow|\/etc\/passwd/);
    expect(restored.policy.kept.map((f) => f.allowance)).toEqual(
      restored.policy.kept.map(() => 'host-network'),
    );
  });
});

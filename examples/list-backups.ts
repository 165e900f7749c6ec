// Lists every backup volume across all active pools as JSON, using only volback's public API.
//   node dist/examples/list-backups.js [libvirt URI]
import { listBackups, loadConfig, openConnection } from '../src';

async function main(): Promise<void> {
  const uri = process.argv[2] ?? loadConfig().connectUri;
  const conn = await openConnection(uri);
  try {
    const listing = await listBackups(conn);
    const volumes = listing.sets.flatMap(({ set, restorable }) =>
      set.disks
        .filter((d) => d.volume)
        .map((d) => ({
          pool: d.volume!.pool,
          volume: d.volume!.name,
          format: d.volume!.format,
          domain: set.domain.name,
          disk: d.target,
          setId: set.id,
          kind: d.kind,
          createdAt: set.createdAt.toISOString(),
          restorable,
        })),
    );
    process.stdout.write(`${JSON.stringify({ volumes, strayVolumes: listing.strayVolumes }, null, 2)}\n`);
  } finally {
    await conn.close();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`list-backups: ${err.message}\n`);
  process.exit(1);
});

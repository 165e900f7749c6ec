// volback's version, read once from its package.json (works from src/ under ts-jest and from dist/src/).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function readVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'volback' && pkg.version) return pkg.version;
  }
  return '0.0.0';
}

export const VOLBACK_VERSION = readVersion();

// Every pool driver volback ships runs the shared conformance suite: each folder of pool-drivers/
// holding a driver (an index.ts) is a registered pool type with its test/conformance/<type>.test.ts,
// and every registered type has such a folder. Build output there (node-gyp's git-ignored
// node_modules beside a native addon) holds no index.ts and is no driver.
import fs from 'node:fs';
import path from 'node:path';
import { supportedPoolTypes } from '../../src/pool/registry';

const ROOT = path.join(__dirname, '..', '..');

describe('pool drivers and the conformance suite', () => {
  const folders = fs
    .readdirSync(path.join(ROOT, 'pool-drivers'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(ROOT, 'pool-drivers', e.name, 'index.ts')))
    .map((e) => e.name)
    .sort();

  it('registers exactly the driver folders', () => {
    expect([...supportedPoolTypes()].sort()).toEqual(folders);
  });

  it.each(folders)('runs the conformance suite against the %s driver', (type) => {
    const file = path.join(ROOT, 'test', 'conformance', `${type}.test.ts`);
    expect(fs.existsSync(file)).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toMatch(
      new RegExp(`describeDriverConformance\\(\\{\\s*type: '${type}'`),
    );
  });
});

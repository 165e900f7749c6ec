// A fresh node process that runs volback's TypeScript sources (for "a fresh process that never saw
// this" and "kill it mid-way" tests): a require hook built on typescript's transpileModule, so it
// tests this checkout even when dist/ is stale, and needs no ts-node.
import path from 'node:path';

/** The repository root: the child's cwd, so its script can `require('./src/...')`. */
export const REPO_ROOT = path.resolve(__dirname, '../..');

const REQUIRE_TS = `
const ts = require('typescript');
const fs = require('fs');
require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(outputText, filename);
};
`;

/** Arguments for `spawn(process.execPath, …, { cwd: REPO_ROOT })` running `script` with `args` as process.argv.slice(1). */
export const tsChildArgs = (script: string, args: readonly string[]): string[] => [
  '-e',
  REQUIRE_TS + script,
  ...args,
];

/** The same for a script file (e.g. a test fixture) that requires the sources by relative path. */
export const tsScriptArgs = (file: string, args: readonly string[]): string[] =>
  tsChildArgs(`require(${JSON.stringify(file)});`, args);

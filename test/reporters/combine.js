// The closing line of npm test when jest ran in groups (scripts/run-tests): the groups' --json
// results summed into the line summary.js prints for a single run. Exits 1 when a group left no
// results (it crashed before its end) or, under CI, when a test was skipped.
const fs = require('node:fs');
const { closingLine } = require('./summary');

const totals = { passed: 0, failed: 0, skipped: 0 };
let missing = false;
for (const file of process.argv.slice(2)) {
  let results;
  try {
    results = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    process.stdout.write(`jest: no results in ${file}: that group did not finish\n`);
    missing = true;
    continue;
  }
  totals.passed += results.numPassedTests;
  totals.failed += results.numFailedTests + results.numRuntimeErrorTestSuites;
  totals.skipped += results.numPendingTests + results.numTodoTests;
}
if (closingLine(totals) || missing) process.exitCode = 1;

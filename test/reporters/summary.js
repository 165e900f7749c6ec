// Prints the plain closing line CI reads ("N passed, N failed, N skipped") and, under CI, turns a
// skipped test into a failure: a system test whose service is missing must fail, never skip.
// Under scripts/test-lanes it writes "passed failed skipped" to $VOLBACK_TEST_SUMMARY instead, and
// the lanes runner prints the one closing line for all lanes.
const fs = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    if (process.env.VOLBACK_TEST_SUMMARY) {
      fs.writeFileSync(process.env.VOLBACK_TEST_SUMMARY, `${results.numPassedTests} ${failed} ${skipped}\n`);
    } else {
      process.stdout.write(
        `\njest: ${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped\n`,
      );
    }
    if (process.env.CI && skipped > 0) {
      process.stdout.write(
        'jest: skipped tests are failures in CI (a missing service must fail with its fix)\n',
      );
      process.exitCode = 1;
    }
  }
}
module.exports = SummaryReporter;

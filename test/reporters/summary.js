// Prints the plain closing line CI reads ("N passed, N failed, N skipped") and, under CI, turns a
// skipped test into a failure: a system test whose service is missing must fail, never skip.
// Under scripts/run-tests (VOLBACK_TEST_GROUP set) the groups' line is printed once, by combine.js.

/** Prints the closing line; true when the run must fail for its skipped tests. */
function closingLine({ passed, failed, skipped }) {
  process.stdout.write(`\njest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  if (process.env.CI && skipped > 0) {
    process.stdout.write(
      'jest: skipped tests are failures in CI (a missing service must fail with its fix)\n',
    );
    return true;
  }
  return false;
}

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    if (process.env.VOLBACK_TEST_GROUP) {
      if (process.env.CI && skipped > 0) process.exitCode = 1;
      return;
    }
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    if (closingLine({ passed: results.numPassedTests, failed, skipped })) process.exitCode = 1;
  }
}
module.exports = SummaryReporter;
module.exports.closingLine = closingLine;

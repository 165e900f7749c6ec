// The lane of scripts/test-lanes this jest process runs in (unset when jest runs on its own): a
// suite that uses the test host or stops a shared service must be marked for its lane, or it
// would run beside suites it disturbs.
export type Lane = 'testhost' | 'alone';

/** Throws, naming the marker, when this process runs in a lane other than `lane`. */
export function assertLane(lane: Lane, why: string): void {
  const current = process.env.VOLBACK_TEST_LANE;
  if (current === undefined || current === lane) return;
  throw new Error(
    `${why}: its suite must start with the line \`// lane: ${lane}\` ` +
      `(scripts/test-lanes runs it in the ${current} lane, beside other suites)`,
  );
}

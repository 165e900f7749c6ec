// The lane guard of scripts/test-lanes: a suite that uses the test host or restarts libvirtd fails
// with the marker it needs when it runs in another lane, and runs unguarded outside the lanes.
import { assertLane } from '../support/lanes';

describe('assertLane', () => {
  const saved = process.env.VOLBACK_TEST_LANE;
  afterEach(() => {
    if (saved === undefined) delete process.env.VOLBACK_TEST_LANE;
    else process.env.VOLBACK_TEST_LANE = saved;
  });

  it('lets a suite run in its own lane and outside the lanes', () => {
    delete process.env.VOLBACK_TEST_LANE;
    expect(() => assertLane('testhost', 'uses the test host')).not.toThrow();
    process.env.VOLBACK_TEST_LANE = 'testhost';
    expect(() => assertLane('testhost', 'uses the test host')).not.toThrow();
  });

  it('names the missing marker and the lane it ran in', () => {
    process.env.VOLBACK_TEST_LANE = 'local';
    expect(() => assertLane('testhost', 'this suite uses the LVM test host')).toThrow(
      'this suite uses the LVM test host: its suite must start with the line `// lane: testhost` ' +
        '(scripts/test-lanes runs it in the local lane, beside other suites)',
    );
    process.env.VOLBACK_TEST_LANE = 'testhost';
    expect(() => assertLane('alone', 'this suite restarts libvirtd')).toThrow('`// lane: alone`');
  });
});

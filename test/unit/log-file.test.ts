// The config's log_file: a JSON-lines log that may hold command lines and domain details, so only
// its owner may read it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addLogFile, logger } from '../../src/log';

const waitFor = async (check: () => boolean, ms = 3000): Promise<void> => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('log_file', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-log-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is created mode 0600 and receives JSON lines', async () => {
    const file = path.join(dir, 'volback.log');
    const previous = process.umask(0o022);
    let close: (() => void) | undefined;
    try {
      close = addLogFile(file);
      logger('test').warn('hello from the log test');
      await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('hello'));
    } finally {
      process.umask(previous);
    }
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('600');
    expect(JSON.parse(fs.readFileSync(file, 'utf8').trim().split('\n')[0] as string)).toMatchObject({
      level: 'warn',
      message: 'hello from the log test',
      component: 'test',
    });
    close?.();
  });

  it('a file that cannot be created is a config error naming it', () => {
    expect(() => addLogFile(path.join(dir, 'no', 'such', 'dir', 'x.log'))).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining('no/such/dir/x.log') }),
    );
  });
});

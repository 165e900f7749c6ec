// The config's log_file: a JSON-lines log that may hold command lines and domain details, so only
// its owner may read it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import winston from 'winston';
import { addLogFile, logger, setLogLevel } from '../../src/log';

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

  it('keeps its own level while stderr keeps the one set for it', async () => {
    const file = path.join(dir, 'debug.log');
    const printed: string[] = [];
    // What passes the stderr transport's level reaches its log().
    const stderrLog = jest
      .spyOn(winston.transports.Console.prototype, 'log')
      .mockImplementation((...args: unknown[]) => {
        const [info, next] = args as [{ message: string }, () => void];
        printed.push(info.message);
        next();
      });
    const close = addLogFile(file, 'debug');
    try {
      setLogLevel('warn');
      logger('test').debug('debug line for the file only');
      logger('test').warn('warn line for both');
      await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('warn line'));
    } finally {
      close();
      stderrLog.mockRestore();
    }
    expect(fs.readFileSync(file, 'utf8')).toContain('debug line for the file only');
    expect(printed.join('\n')).toContain('warn line for both');
    expect(printed.join('\n')).not.toContain('debug line');
  });

  it('a file that cannot be created is a config error naming it', () => {
    expect(() => addLogFile(path.join(dir, 'no', 'such', 'dir', 'x.log'))).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining('no/such/dir/x.log') }),
    );
  });
});

// volback's log at debug level into a file of the test's own, for suites that check what the log
// (every command line) never holds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addLogFile } from '../../src/log';
import type { Cleanup } from './cleanup';

/**
 * Logs at debug level into a new file in a fresh temporary directory and returns its path (stderr
 * keeps its level); at `cleanup`, the file is detached and the directory removed.
 */
export function captureDebugLog(cleanup: Cleanup): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volback-test-log-'));
  const file = path.join(dir, 'volback.log');
  const removeLog = addLogFile(file, 'debug');
  cleanup.add('debug log file', async () => {
    removeLog();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return file;
}

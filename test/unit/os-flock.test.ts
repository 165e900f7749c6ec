// The volback_os addon and its facade: flock(2)'s exclusive lock per open file description.
import { closeSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, type VolbackError } from '../../src/errors';
import { tryLockExclusive } from '../../src/os';
import { loadOsBinding } from '../../src/os/native';

describe('tryLockExclusive', () => {
  it('excludes a second open of the same file, in this process too, until the holder closes', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'volback-flock-')), 'f.lock');
    const a = openSync(path, 'w');
    const b = openSync(path, 'r');
    try {
      expect(tryLockExclusive(a)).toBe(true);
      expect(tryLockExclusive(a)).toBe(true); // the same description already holds it
      expect(tryLockExclusive(b)).toBe(false);
      closeSync(a);
      expect(tryLockExclusive(b)).toBe(true);
    } finally {
      closeSync(b);
    }
  });

  it('throws an errno error for a bad descriptor', () => {
    const fd = openSync(join(mkdtempSync(join(tmpdir(), 'volback-flock-')), 'f'), 'w');
    closeSync(fd);
    expect(() => tryLockExclusive(fd)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'flock' }));
  });

  it('refuses a blocking lock (it would stall the event loop) and non-integer arguments', () => {
    const os = loadOsBinding();
    // Thrown by the addon in Node's realm, not jest's: match on name and message.
    const thrown = (call: () => unknown) => {
      try {
        call();
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
      return 'nothing thrown';
    };
    expect(thrown(() => os.flock(0, os.LOCK_EX))).toMatch(/^RangeError: .*need LOCK_NB/);
    expect(thrown(() => os.flock(0, 99))).toMatch(/^RangeError: /);
    expect(thrown(() => (os.flock as (...a: unknown[]) => number)('0', os.LOCK_UN))).toMatch(/^TypeError: /);
  });
});

describe('loadOsBinding', () => {
  it('fails with ERR_BINDING_LOAD and the fix when the addon is missing', () => {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { loadOsBinding: fresh } = require('../../src/os/native') as typeof import('../../src/os/native');
      let err: unknown;
      try {
        fresh(['/nonexistent/volback_os.node']);
      } catch (e) {
        err = e;
      }
      // The isolated registry has its own VolbackError class: match on name and code.
      expect((err as VolbackError).name).toBe('VolbackError');
      expect((err as VolbackError).code).toBe(ErrorCodes.BINDING_LOAD);
      expect((err as VolbackError).message).toContain('npm run build:native');
    });
  });
});

// Config resolution: file parsing errors name file and line; layers apply in order with sources.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, mergeConfig, parseConfigText } from '../../src/config';
import { isVolbackError } from '../../src/errors';

describe('config file parsing', () => {
  it('reads libvirt-style key = value lines with comments', () => {
    const parsed = parseConfigText(
      '# volback\ndefault_pool = "backups2"   # fast disk\nkeep_daily = 7\nlog_level = "debug"\n',
      'f.conf',
    );
    expect(parsed).toEqual({ defaultPool: 'backups2', logLevel: 'debug', retention: { keepDaily: 7 } });
  });

  it.each([
    ['default_pol = "x"', /f\.conf:2: unknown key 'default_pol'/],
    ['keep_daily = seven', /f\.conf:2: keep_daily must be an integer/],
    ['default_pool = x', /f\.conf:2: default_pool must be a quoted string/],
    ['default_pool_path = "relative/dir"', /f\.conf:2: default_pool_path must be an absolute path/],
    [
      'default_pool_path = "/srv/a/../etc"',
      /f\.conf:2: default_pool_path must not contain '\.' or '\.\.' segments/,
    ],
    ['backup_format = "vmdk"', /f\.conf:2: backup_format must be one of qcow2, raw/],
    ['full_backup_engine = "fast"', /f\.conf:2: full_backup_engine must be one of qmp, libvirt/],
    ['backup_engine = "fast"', /f\.conf:2: backup_engine must be one of auto, qmp, libvirt/],
    ['just words', /f\.conf:2: expected 'key = value'/],
    ['default_pool_layout = "sharded"', /f\.conf:2: default_pool_layout must be one of per-domain, single/],
  ])('rejects %s with file and line', (line, message) => {
    expect(() => parseConfigText(`# first\n${line}\n`, 'f.conf')).toThrow(message);
  });
});

describe('default pool layout', () => {
  it('is per-domain unless the file says single', () => {
    expect(mergeConfig([]).defaultPoolLayout).toBe('per-domain');
    expect(parseConfigText('default_pool_layout = "single"\n', 'f.conf')).toEqual({
      defaultPoolLayout: 'single',
    });
  });
});

describe('backup engine setting', () => {
  it.each([
    ['backup_engine = "qmp"', 'qmp'],
    ['backup_engine = "libvirt"', 'libvirt'],
    // The older key chose only the engine of fulls: its "qmp" is today's "auto".
    ['full_backup_engine = "qmp"', 'auto'],
    ['full_backup_engine = "libvirt"', 'libvirt'],
  ])('%s sets backupEngine %s', (line, engine) => {
    expect(parseConfigText(`${line}\n`, 'f.conf')).toEqual({ backupEngine: engine });
  });

  it('defaults to auto', () => {
    expect(mergeConfig([]).backupEngine).toBe('auto');
  });
});

describe('config layers', () => {
  it('applies defaults, file, environment and flags in order and records sources', () => {
    const cfg = mergeConfig([
      ['file', { defaultPool: 'a', connectUri: 'qemu+ssh://h/system' }],
      ['environment', { connectUri: 'test:///default' }],
      ['flag', { defaultPool: 'b' }],
    ]);
    expect(cfg.defaultPool).toBe('b');
    expect(cfg.connectUri).toBe('test:///default');
    expect(cfg.defaultPoolPath).toBe('/var/lib/libvirt/backups');
    expect(cfg.sources).toMatchObject({
      defaultPool: 'flag',
      connectUri: 'environment',
      defaultPoolPath: 'default',
    });
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it('ignores a missing default file but fails on a missing explicit one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'volback-config-'));
    expect(() => loadConfig({ path: join(dir, 'nope.conf'), env: {} })).toThrow(/cannot read config file/);
    const file = join(dir, 'volback.conf');
    writeFileSync(file, 'default_pool = "from-file"\n');
    const cfg = loadConfig({ env: { VOLBACK_CONFIG: file, LIBVIRT_DEFAULT_URI: 'test:///default' } });
    expect(cfg.defaultPool).toBe('from-file');
    expect(cfg.file).toBe(file);
    expect(cfg.connectUri).toBe('test:///default');
  });

  it('rejects an invalid VOLBACK_LOG_LEVEL', () => {
    try {
      loadConfig({ path: undefined, env: { VOLBACK_LOG_LEVEL: 'loud', VOLBACK_CONFIG: undefined } });
      throw new Error('expected a failure');
    } catch (err) {
      expect(isVolbackError(err, 'ERR_CONFIG')).toBe(true);
    }
  });
});

describe('config file reading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'volback-conf-'));
  it.each([
    ['a device', '/dev/zero', /is not a regular file/],
    ['a huge file', join(dir, 'huge.conf'), /more than 1048576 a config can be/],
    ['Latin-1 bytes', join(dir, 'latin1.conf'), /is not UTF-8 at line 2, column 20 \(byte 29\)/],
  ])('refuses %s before reading it', (_what, file, message) => {
    if (file.endsWith('huge.conf')) writeFileSync(file, Buffer.alloc(1024 * 1024 + 1, 0x20));
    if (file.endsWith('latin1.conf'))
      writeFileSync(file, Buffer.from('# volback\ndefault_pool = "caf\xe9"\n', 'latin1'));
    const started = Date.now();
    expect(() => loadConfig({ path: file, env: {} })).toThrow(message);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

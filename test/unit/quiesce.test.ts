// The pure parts of application-consistent backups: whether the agent can be asked (from the live
// domain XML), the CLI's --quiesce flags, how `backup show` says it, the config keys, and the
// arithmetic of the freeze bound (a bound a freeze call cannot fit in is refused).
import { describeConsistency, withQuiesceFlags } from '../../src/cli/commands/backup';
import { UsageError } from '../../src/cli/exit-codes';
import { mergeConfig, parseConfigText } from '../../src/config';
import { FREEZE_MARGIN_SECONDS, tooLateToFreeze } from '../../src/core/backup/freeze-bound';
import { agentUnavailable, checkQuiesceSettings } from '../../src/core/backup/quiesce';
import { ErrorCodes } from '../../src/errors';

const channel = (state?: string): string =>
  `<domain><devices><channel type='unix'><source mode='bind' path='/run/x.sock'/>` +
  `<target type='virtio' name='org.qemu.guest_agent.0'${state ? ` state='${state}'` : ''}/>` +
  `<alias name='channel0'/></channel></devices></domain>`;

describe('agentUnavailable', () => {
  test('a connected agent channel can be asked', () => {
    expect(agentUnavailable(channel('connected'))).toBeUndefined();
  });
  test('a disconnected channel: no agent runs in the guest', () => {
    expect(agentUnavailable(channel('disconnected'))).toBe(
      'the guest agent is not connected (not running in the guest)',
    );
  });
  test('no agent channel at all, or only another channel', () => {
    expect(agentUnavailable('<domain><devices/></domain>')).toMatch(/no guest agent channel/);
    expect(
      agentUnavailable(
        "<domain><devices><channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0' state='connected'/></channel></devices></domain>",
      ),
    ).toMatch(/no guest agent channel/);
  });
});

describe('withQuiesceFlags', () => {
  test('no flags: the definition as it is', () => {
    expect(withQuiesceFlags(undefined, {}, 'try')).toBeUndefined();
  });
  test('--quiesce and --quiesce-mountpoint make a <quiesce>', () => {
    expect(
      withQuiesceFlags(undefined, { quiesce: 'require', 'quiesce-mountpoint': ['/', '/data'] }, 'try'),
    ).toEqual({
      mode: 'push',
      kind: 'auto',
      disks: [],
      quiesce: { mode: 'require', mountpoints: ['/', '/data'] },
    });
  });
  test('mountpoints alone keep the definition mode, else the config mode', () => {
    const def = {
      mode: 'push' as const,
      kind: 'full' as const,
      disks: [],
      quiesce: { mode: 'off' as const, mountpoints: [] },
    };
    expect(withQuiesceFlags(def, { 'quiesce-mountpoint': '/data' }, 'try')?.quiesce).toEqual({
      mode: 'off',
      mountpoints: ['/data'],
    });
    expect(withQuiesceFlags(undefined, { 'quiesce-mountpoint': '/data' }, 'require')?.quiesce).toEqual({
      mode: 'require',
      mountpoints: ['/data'],
    });
  });
  test('bad values are usage errors', () => {
    expect(() => withQuiesceFlags(undefined, { quiesce: 'always' }, 'try')).toThrow(UsageError);
    expect(() => withQuiesceFlags(undefined, { 'quiesce-mountpoint': 'data' }, 'try')).toThrow(/absolute/);
    expect(() => withQuiesceFlags(undefined, { quiesce: 'off', 'quiesce-mountpoint': '/' }, 'try')).toThrow(
      /takes no/,
    );
  });
});

test('describeConsistency', () => {
  expect(describeConsistency(undefined)).toBeUndefined();
  expect(describeConsistency({ kind: 'application', freezeMs: 412, filesystems: 2 })).toBe(
    'application (froze 2 filesystem(s) for 412 ms)',
  );
  expect(
    describeConsistency({ kind: 'application', freezeMs: 9, filesystems: 1, mountpoints: ['/data'] }),
  ).toBe('application (froze /data for 9 ms)');
  expect(describeConsistency({ kind: 'crash', reason: 'quiesce is off' })).toBe('crash (quiesce is off)');
});

describe('config', () => {
  test('defaults: try, 10 s per agent answer, 60 s bound', () => {
    const c = mergeConfig([]);
    expect([c.quiesce, c.quiesceTimeout, c.quiesceMaxFreeze]).toEqual(['try', 10, 60]);
  });
  test('keys', () => {
    expect(
      parseConfigText('quiesce = "require"\nquiesce_timeout = 3\nquiesce_max_freeze = 20\n', 'f'),
    ).toEqual({
      quiesce: 'require',
      quiesceTimeout: 3,
      quiesceMaxFreeze: 20,
    });
    expect(() => parseConfigText('quiesce = "always"', 'f')).toThrow(
      /f:1: quiesce must be one of try, require, off/,
    );
    expect(() => parseConfigText('quiesce_max_freeze = 1', 'f')).toThrow(/from 5 to 3600/);
  });
});

describe('the freeze bound', () => {
  test('a quiesce_max_freeze a freeze call (quiesce_timeout) and the margin do not fit in is refused, naming the keys', () => {
    expect(FREEZE_MARGIN_SECONDS).toBe(5);
    const merged = (text: string) => mergeConfig([['file', parseConfigText(text, 'f')]], 'f');
    expect(() => merged('quiesce_timeout = 3\nquiesce_max_freeze = 8\n')).toThrow(
      'f: quiesce_max_freeze (8 s) must be more than quiesce_timeout (3 s) + 5 s',
    );
    // Each key alone is valid: 60 s agent calls against the default 60 s bound are not.
    expect(() => merged('quiesce_timeout = 60\n')).toThrow(/quiesce_max_freeze \(60 s\) must be more/);
    expect(merged('quiesce_timeout = 3\nquiesce_max_freeze = 9\n').quiesceMaxFreeze).toBe(9);
    // The same settings handed to the library (createBackup's defaults) are refused as input.
    expect(() => checkQuiesceSettings({ mode: 'try', timeoutSeconds: 10, maxFreezeSeconds: 15 })).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_INPUT }),
    );
    expect(() =>
      checkQuiesceSettings({ mode: 'try', timeoutSeconds: 10, maxFreezeSeconds: 16 }),
    ).not.toThrow();
  });

  test('no freeze is asked for once less than one agent call and the margin is left before the deadline', () => {
    const began = 1_000_000;
    const deadline = began + 20_000;
    expect(tooLateToFreeze(began, deadline, began + 500, 3)).toBeUndefined();
    expect(tooLateToFreeze(began, deadline, deadline - 8_000, 3)).toBeUndefined();
    // A watchdog that took 12.5 s to start: 7.5 s left, less than 3 + 5.
    expect(tooLateToFreeze(began, deadline, began + 12_500, 3)).toBe(
      "12.5 s of the 20 s freeze bound went before the freeze could be asked for (the watchdog's start): less than quiesce_timeout (3 s) + 5 s was left",
    );
  });
});

// `volback config show`: the effective configuration and where each value came from.
import { keyValues } from '../format';
import type { CommandSpec } from '../framework';

const configShow: CommandSpec = {
  path: ['config', 'show'],
  summary: 'print the effective configuration and the source of each value',
  description: 'Sources, lowest to highest: default, file, environment, flag.',
  async run(ctx) {
    const { sources, file, retention, ...values } = ctx.config;
    const settings: Record<string, { value: unknown; source: string }> = {};
    for (const [key, value] of Object.entries({ logFile: undefined, ...values }))
      settings[key] = { value: value ?? null, source: sources[key] ?? 'default' };
    for (const [key, value] of Object.entries(retention))
      settings[`retention.${key}`] = { value, source: sources[`retention.${key}`] ?? 'default' };
    return {
      data: { file: file ?? null, settings },
      human: () =>
        [
          `config file: ${file ?? '(none read)'}`,
          keyValues(
            Object.entries(settings).map(([k, s]) => [
              k,
              `${s.value === null ? '(unset)' : String(s.value)}  (${s.source})`,
            ]),
          ),
        ].join('\n'),
    };
  },
};

export const configCommands: CommandSpec[] = [configShow];

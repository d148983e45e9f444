// The setting tables: the options, environment names and config-file keys each command derives from them.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseConfigFile } from '../../../src/config/file.js';
import { RENDER_SETTINGS } from '../../../src/config/render-settings.js';
import { addSettings, logLevel, sidekickSetting } from '../../../src/config/settings-table.js';

describe('logLevel', () => {
  it('takes --log-level, else SIDEKICK_LOG_LEVEL, else CONFD_LOG_LEVEL, else leaves the default to the logger', () => {
    expect(logLevel('debug', { SIDEKICK_LOG_LEVEL: 'warn', CONFD_LOG_LEVEL: 'error' })).toBe('debug');
    expect(logLevel(undefined, { SIDEKICK_LOG_LEVEL: 'warn', CONFD_LOG_LEVEL: 'error' })).toBe('warn');
    expect(logLevel('', { CONFD_LOG_LEVEL: 'error' })).toBe('error');
    expect(logLevel(undefined, {})).toBeUndefined();
  });
});

describe('addSettings', () => {
  it('declares value, switch and list options reading SIDEKICK_<FLAG>, lists split on commas', () => {
    const specs = [
      sidekickSetting({ flag: 'drain-delay', value: '<duration>', help: 'wait', defaultHelp: '0s', kind: 'duration' }),
      sidekickSetting({ flag: 'json', help: 'print JSON', kind: 'bool' }),
      sidekickSetting({ flag: 'tags', value: '<list>', help: 'tags', kind: 'list' }),
      sidekickSetting({ flag: 'check', value: '<check>', help: 'checks', kind: 'repeat' }),
    ];
    const parse = (argv: string[], env: NodeJS.ProcessEnv) => {
      const saved = { ...process.env };
      Object.assign(process.env, env);
      try {
        return addSettings(new Command('x').exitOverride(), specs).parse(argv, { from: 'user' }).opts();
      } finally {
        for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
      }
    };
    expect(parse(['--tags', 'a,b', '--tags', 'c', '--check', 'exec:a,b', '--check', 'tcp'], {})).toEqual({ tags: ['a', 'b', 'c'], check: ['exec:a,b', 'tcp'] });
    expect(parse([], { SIDEKICK_DRAIN_DELAY: '2s', SIDEKICK_JSON: '1', SIDEKICK_TAGS: 'x, y' })).toEqual({ drainDelay: '2s', json: true, tags: ['x', 'y'] });
    const help = addSettings(new Command('x'), specs).helpInformation();
    expect(help).toMatch(/--drain-delay <duration>\s+wait \(default: 0s\) \(env: SIDEKICK_DRAIN_DELAY\)/);
  });
});

describe("render's table", () => {
  it('reads every config-file key it declares, in YAML', () => {
    const keys = Object.values(RENDER_SETTINGS).flatMap((s) => ('file' in s ? [...s.file] : []));
    const values: Record<string, string> = { interval: '30', onetime: 'true', watch: 'false', noop: 'false', sync_only: 'false', keep_stage_file: 'false' };
    const text = keys.filter((k) => k !== 'client_ca_keys').map((k) => `${k}: ${values[k] ?? `"v-${k}"`}`).join('\n');
    const file = parseConfigFile('/etc/sidekick/sidekick.yaml', text, '/');
    expect(Object.keys(file.values).sort()).toEqual(Object.values(RENDER_SETTINGS).flatMap((s) => ('field' in s ? [s.field] : [])).sort());
  });
});

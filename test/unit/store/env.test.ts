// EnvSource: confd's env backend mapping between keys and variable names.
import { describe, expect, it } from 'vitest';
import { EnvSource, envEntries, envKey, envName } from '../../../src/store/env.js';

describe('env key mapping', () => {
  it('maps keys to variable names and back like confd', () => {
    expect(envName('/foo/bar')).toBe('FOO_BAR');
    expect(envName('/foo/bar/')).toBe('FOO_BAR');
    expect(envName('/')).toBe('');
    expect(envKey('FOO_BAR')).toBe('/foo/bar');
  });

  it('selects variables under each prefix as a path (FOO covers FOO_BAR, not FOOD)', () => {
    const env = { FOO: '0', FOO_BAR: '1', FOO_BAZ_QUX: '2', FOOD: 'no', OTHER: 'no' };
    expect(envEntries(['/foo'], env)).toEqual([
      ['/foo', '0'],
      ['/foo/bar', '1'],
      ['/foo/baz/qux', '2'],
    ]);
    expect(envEntries(['/foo/baz', '/other'], env)).toEqual([
      ['/foo/baz/qux', '2'],
      ['/other', 'no'],
    ]);
    expect(envEntries(['/'], env)).toHaveLength(5);
  });
});

describe('EnvSource', () => {
  it('reads once at start and is synced', async () => {
    const src = new EnvSource({ prefixes: ['/app'], env: { APP_PORT: '80', APP_HOST: 'h', HOME: '/root' } });
    const states: string[] = [];
    src.on('state', (s) => states.push(s));
    expect(src.state).toBe('connecting');
    await src.start();
    expect(src.state).toBe('synced');
    expect(states).toEqual(['synced']);
    expect(src.view.list('/app')).toEqual([
      ['/app/host', 'h'],
      ['/app/port', '80'],
    ]);
    await src.close();
  });

  it('reads process.env by default', async () => {
    process.env.SIDEKICK_TEST_ENV_SOURCE = 'yes';
    try {
      const src = new EnvSource({ prefixes: ['/sidekick/test'] });
      await src.start();
      expect(src.view.get('/sidekick/test/env/source')).toBe('yes');
    } finally {
      delete process.env.SIDEKICK_TEST_ENV_SOURCE;
    }
  });
});

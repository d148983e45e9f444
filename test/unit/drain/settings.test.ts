import { describe, expect, it } from 'vitest';
import { drainSettings } from '../../../src/config/sidecar-config.js';
import { ConfigError } from '../../../src/util/errors.js';

describe('drain flags', () => {
  it('default to a 10 s timeout and no delay', () => {
    expect(drainSettings({})).toEqual({ timeoutMs: 10_000, delayMs: 0 });
    expect(drainSettings({ drainTimeout: '30s', drainDelay: '2s' })).toEqual({ timeoutMs: 30_000, delayMs: 2000 });
  });

  it.each([
    [{ drainTimeout: '0' }, /--drain-timeout: must be longer than 0, got "0"/],
    [{ drainTimeout: '0s' }, /--drain-timeout: must be longer than 0/],
    [{ drainTimeout: 'soon' }, /--drain-timeout: expected a duration like "500ms", "10s" or "1m", got `soon`/],
    [{ drainDelay: '-1s' }, /--drain-delay: expected a duration/],
    [{ drainTimeout: '1s', drainDelay: '5s' }, /--drain-delay: must not exceed --drain-timeout \(5000 ms > 1000 ms\)/],
  ])('refuse %j naming the flag', (flags, message) => {
    expect(() => drainSettings(flags)).toThrow(ConfigError);
    expect(() => drainSettings(flags)).toThrow(message);
  });
});

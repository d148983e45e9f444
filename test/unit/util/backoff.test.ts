// sleep(ms, signal), nextDelay and retryForever: waits cut short by an AbortSignal, capped jittered doubling.
import { describe, expect, it } from 'vitest';
import { nextDelay, retryForever, sleep } from '../../../src/util/backoff.js';
import { silentLogger } from '../../../src/util/log.js';

describe('sleep', () => {
  it('waits ms without a signal', async () => {
    const t0 = performance.now();
    await sleep(50);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
  });

  it('resolves when the signal aborts, and at once when it already has', async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 20);
    await sleep(10_000, ac.signal);
    expect(performance.now() - t0).toBeLessThan(1000);
    const t1 = performance.now();
    await sleep(10_000, ac.signal);
    expect(performance.now() - t1).toBeLessThan(50);
  });
});

describe('nextDelay', () => {
  it('doubles within ±20 % and stays under the cap (plus jitter)', () => {
    for (let i = 0; i < 200; i++) {
      const d = nextDelay(100, 1000);
      expect(d).toBeGreaterThanOrEqual(160);
      expect(d).toBeLessThanOrEqual(240);
      const capped = nextDelay(800, 1000);
      expect(capped).toBeGreaterThanOrEqual(800);
      expect(capped).toBeLessThanOrEqual(1200);
    }
  });
});

describe('retryForever', () => {
  it('retries until fn succeeds', async () => {
    let calls = 0;
    const ac = new AbortController();
    const value = await retryForever(
      async () => {
        if (++calls < 3) throw new Error('down');
        return 'up';
      },
      { log: silentLogger, what: 'store', signal: ac.signal, initialMs: 1, maxMs: 2 },
    );
    expect(value).toBe('up');
    expect(calls).toBe(3);
  });

  it('resolves undefined as soon as the signal aborts, mid-wait', async () => {
    const ac = new AbortController();
    let calls = 0;
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 30);
    const value = await retryForever(
      async () => {
        calls++;
        throw new Error('down');
      },
      { log: silentLogger, what: 'store', signal: ac.signal, initialMs: 10_000 },
    );
    expect(value).toBeUndefined();
    expect(calls).toBe(1);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('does not call fn when the signal has already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    let calls = 0;
    const value = await retryForever(async () => ++calls, { log: silentLogger, what: 'store', signal: ac.signal });
    expect(value).toBeUndefined();
    expect(calls).toBe(0);
  });
});

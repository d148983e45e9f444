import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_WAIT, Quiescence, waitOf } from '../../../src/apply/quiescence.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('Quiescence', () => {
  it('with a zero wait, coalesces one synchronous burst into one fire', () => {
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 0, maxMs: 0 }, fire);
    for (let i = 0; i < 100; i++) q.poke();
    expect(fire).not.toHaveBeenCalled();
    vi.runAllTicks();
    vi.advanceTimersToNextTimer(); // the setImmediate, not a 1 ms timer
    expect(fire).toHaveBeenCalledTimes(1);
    expect(q.pending).toBe(false);
  });

  it('with a zero wait, fires from setImmediate: before an immediate queued after it, no 1 ms timer in between', async () => {
    vi.useRealTimers();
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 0, maxMs: 0 }, fire);
    q.poke();
    q.poke();
    await new Promise((r) => setImmediate(r));
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('without wait, a second change within the burst window joins the first: one fire, the window after the last', () => {
    const fire = vi.fn();
    const q = new Quiescence(waitOf({ reloadCmd: 'nginx -s reload' }), fire);
    q.poke();
    vi.advanceTimersByTime(DEFAULT_WAIT.minMs - 1);
    q.poke();
    vi.advanceTimersByTime(DEFAULT_WAIT.minMs - 1);
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledTimes(1);
    // A change after a quiet window is a render of its own.
    q.poke();
    vi.advanceTimersByTime(DEFAULT_WAIT.minMs);
    expect(fire).toHaveBeenCalledTimes(2);
  });

  it("a resource's own wait wins; without one, a resource with haproxy_socket or without a reload renders each turn at once, one with a reload gets the burst window", () => {
    expect(waitOf({ wait: { minMs: 1000, maxMs: 5000 }, haproxySocket: '/run/haproxy/admin.sock' })).toEqual({ minMs: 1000, maxMs: 5000 });
    expect(waitOf({ haproxySocket: '/run/haproxy/admin.sock' })).toEqual({ minMs: 0, maxMs: 0 });
    expect(waitOf({ reloadCmd: 'nginx -s reload' })).toEqual(DEFAULT_WAIT);
    expect(waitOf({ reloadSignal: { signal: 'SIGHUP', pidFile: '/run/nginx.pid' } })).toEqual(DEFAULT_WAIT);
    expect(waitOf({})).toEqual({ minMs: 0, maxMs: 0 });
    expect(DEFAULT_WAIT.minMs).toBeGreaterThan(0);
  });

  it('fires once the burst has been quiet for min', () => {
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 100, maxMs: 400 }, fire);
    q.poke();
    vi.advanceTimersByTime(60);
    q.poke();
    vi.advanceTimersByTime(60);
    q.poke();
    vi.advanceTimersByTime(99);
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('never waits longer than max after the first change of a burst', () => {
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 100, maxMs: 400 }, fire);
    for (let t = 0; t < 1000; t += 50) {
      q.poke();
      vi.advanceTimersByTime(50);
    }
    // pokes every 50 ms never let min expire; max fires at 400, then 400 ms after the next burst starts (850).
    expect(fire).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(100);
    expect(fire).toHaveBeenCalledTimes(3);
  });

  it('cancel drops a pending fire', () => {
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 10, maxMs: 40 }, fire);
    q.poke();
    expect(q.pending).toBe(true);
    q.cancel();
    vi.advanceTimersByTime(100);
    expect(fire).not.toHaveBeenCalled();
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Quiescence } from '../../../src/apply/quiescence.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('Quiescence', () => {
  it('without wait, coalesces one synchronous burst into one fire', () => {
    const fire = vi.fn();
    const q = new Quiescence(undefined, fire);
    for (let i = 0; i < 100; i++) q.poke();
    expect(fire).not.toHaveBeenCalled();
    vi.runAllTicks();
    vi.advanceTimersToNextTimer(); // the setImmediate, not a 1 ms timer
    expect(fire).toHaveBeenCalledTimes(1);
    expect(q.pending).toBe(false);
  });

  it('without wait, fires from setImmediate: before an immediate queued after it, no 1 ms timer in between', async () => {
    vi.useRealTimers();
    const fire = vi.fn();
    const q = new Quiescence(undefined, fire);
    q.poke();
    q.poke();
    await new Promise((r) => setImmediate(r));
    expect(fire).toHaveBeenCalledTimes(1);
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

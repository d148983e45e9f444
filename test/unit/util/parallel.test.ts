// mapLimit: results in order, never more than the limit at once, and after a failure nothing new starts.
import { describe, expect, it } from 'vitest';
import { mapLimit } from '../../../src/util/parallel.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('mapLimit', () => {
  it('resolves with the results in the order of the items, running at most `limit` at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 2], 3, async (n) => {
      running++;
      most = Math.max(most, running);
      await tick(n);
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 20]);
    expect(most).toBe(3);
  });

  it('an empty list gives an empty result; a limit below 1 runs one at a time', async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
    let running = 0;
    let most = 0;
    await mapLimit([1, 2, 3], 0, async () => {
      most = Math.max(most, ++running);
      await tick(1);
      running--;
    });
    expect(most).toBe(1);
  });

  it('after a failure starts nothing new, lets the running ones settle, then rejects with the first error', async () => {
    const started: number[] = [];
    const settled: number[] = [];
    const run = mapLimit([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('item 1 failed');
      if (n === 2) throw new Error('item 2 failed');
      await tick(20);
      settled.push(n);
    });
    await expect(run).rejects.toThrow('item 1 failed');
    expect(started).toEqual([0, 1]);
    expect(settled).toEqual([0]);
  });
});

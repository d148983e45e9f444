import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { deadlineSignal } from '../../../src/util/deadline.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const aborted = (signal: AbortSignal): Promise<unknown> =>
  new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));

describe('deadlineSignal', () => {
  it('aborts with a TimeoutError at the deadline, even when garbage is collected meanwhile', async () => {
    const started = performance.now();
    const d = deadlineSignal(150, new AbortController().signal);
    const reason = aborted(d.signal);
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await reason).toMatchObject({ name: 'TimeoutError' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
  });

  it("aborts with the caller's reason as soon as one of its signals aborts", async () => {
    const a = new AbortController();
    const b = new AbortController();
    const d = deadlineSignal(60_000, a.signal, undefined, b.signal);
    const reason = aborted(d.signal);
    b.abort('second SIGTERM');
    expect(await reason).toBe('second SIGTERM');
    d.dispose();
  });

  it('is aborted from the start when a signal already is', () => {
    const a = new AbortController();
    a.abort('gone');
    const d = deadlineSignal(60_000, a.signal);
    expect(d.signal.aborted).toBe(true);
    expect(d.signal.reason).toBe('gone');
  });

  it('dispose() ends it: neither the timer nor a later abort of a source reaches it', async () => {
    const a = new AbortController();
    const d = deadlineSignal(30, a.signal);
    d.dispose();
    await new Promise((r) => setTimeout(r, 60));
    a.abort('late');
    expect(d.signal.aborted).toBe(false);
  });
});

// Waiting and retrying: one sleep that an AbortSignal cuts short, one backoff (capped doubling with jitter), and
// retryForever, which logs once per state change rather than per attempt.
import { errorMessage, logEtcdFailure } from './errors.js';
import type { Logger } from './log.js';

/** Options for {@link retryForever}. */
export interface RetryOptions {
  log: Logger;
  /** What is being reached, for the log lines ("store", "docker"). */
  what: string;
  /** Aborted when shutdown is requested: the wait ends at once and retryForever resolves undefined. */
  signal: AbortSignal;
  initialMs?: number;
  maxMs?: number;
}

/** Options for {@link sleep}. */
export interface SleepOptions {
  /** The timer does not keep the process alive (a retry pending at exit must not hold it). */
  unref?: boolean;
}

/** Sleeps ms, resolving early (never rejecting) when `signal` aborts; at once when it already has. */
export function sleep(ms: number, signal?: AbortSignal, opts: SleepOptions = {}): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, ms));
    if (opts.unref) t.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The next delay: doubled, capped, with ±20 % jitter so many sidecars don't retry in step. */
export function nextDelay(previousMs: number, maxMs: number): number {
  const base = Math.min(previousMs * 2, maxMs);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** Calls fn until it succeeds or the signal aborts; one warning when it starts failing, one info when it recovers. */
export async function retryForever<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T | undefined> {
  let delay = opts.initialMs ?? 500;
  const maxMs = opts.maxMs ?? 30_000;
  let failing = false;
  while (!opts.signal.aborted) {
    try {
      const value = await fn();
      if (failing) opts.log.info({ what: opts.what }, `${opts.what} reachable again`);
      return value;
    } catch (err) {
      if (!failing) {
        logEtcdFailure(opts.log, { what: opts.what, err: errorMessage(err) }, err, `${opts.what} unreachable; retrying with backoff`);
      }
      failing = true;
      await sleep(delay, opts.signal);
      delay = nextDelay(delay, maxMs);
    }
  }
  return undefined;
}

// Retry with capped exponential backoff and jitter, logging once per state change rather than per attempt.
import { errorMessage, logEtcdFailure } from './errors.js';
import type { Logger } from './log.js';

/** Options for {@link retryForever}. */
export interface RetryOptions {
  log: Logger;
  /** What is being reached, for the log lines ("store", "docker"). */
  what: string;
  /** Stop trying (shutdown requested): resolves undefined. */
  stopped: () => boolean;
  initialMs?: number;
  maxMs?: number;
}

/** Sleeps for ms, waking early (every 100 ms check) when stopped() turns true. */
export async function sleepUnless(ms: number, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!stopped() && Date.now() < until) {
    await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
  }
}

/** The next delay: doubled, capped, with ±20 % jitter so many sidecars don't retry in step. */
export function nextDelay(previousMs: number, maxMs: number): number {
  const base = Math.min(previousMs * 2, maxMs);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** Calls fn until it succeeds or stopped() is true; one warning when it starts failing, one info when it recovers. */
export async function retryForever<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T | undefined> {
  let delay = opts.initialMs ?? 500;
  const maxMs = opts.maxMs ?? 30_000;
  let failing = false;
  while (!opts.stopped()) {
    try {
      const value = await fn();
      if (failing) opts.log.info({ what: opts.what }, `${opts.what} reachable again`);
      return value;
    } catch (err) {
      if (!failing) {
        logEtcdFailure(opts.log, { what: opts.what, err: errorMessage(err) }, err, `${opts.what} unreachable; retrying with backoff`);
      }
      failing = true;
      await sleepUnless(delay, opts.stopped);
      delay = nextDelay(delay, maxMs);
    }
  }
  return undefined;
}

/** Sleeps ms (no longer than the signal lets it). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

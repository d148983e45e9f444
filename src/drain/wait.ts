// The sidecar's side of acknowledged deregistration: after deleting a record at revision R, wait until every live
// renderer that reads the record's keys has applied R (see acks.ts), bounded by a timeout; a renderer that dies is
// dropped as its lease expires, one that starts meanwhile is waited for as soon as it publishes.
import type { Etcd3 } from 'etcd3';
import { errorMessage, isAccessDenied } from '../util/errors.js';
import { sleep } from '../util/backoff.js';
import { deadlineSignal } from '../util/deadline.js';
import type { Logger } from '../util/log.js';
import { ACK_PREFIX, ackCovers, parseAck, type Ack } from './acks.js';
import { FollowedPrefix } from './followed.js';

/** What a drain waits for, and how long. */
export interface DrainWaitOptions {
  client: Etcd3;
  /** The deleted record keys. */
  keys: string[];
  /** The revision of their deletion. */
  revision: number;
  /** Give up after this long, in ms. */
  timeoutMs: number;
  /** With no renderer reading the keys, wait this long instead (ms; 0: not at all). */
  delayMs: number;
  /** Aborted: stop waiting at once (a second SIGTERM). */
  signal?: AbortSignal;
  log: Logger;
}

/**
 * How a drain ended. `acknowledged`: every renderer concerned applied the deletion; `unreadable`: etcd refused to
 * let us read the acknowledgements (a role without /sidekick/), so there was nothing to wait on.
 */
export type DrainOutcome = 'acknowledged' | 'no-renderers' | 'timeout' | 'skipped' | 'unreadable';

/** The result, for the one log line a drain writes. */
export interface DrainResult {
  outcome: DrainOutcome;
  waitedMs: number;
  /** Renderers (`<node>/<resource>`) that applied the deletion. */
  acknowledged: string[];
  /** Renderers that had not when the wait ended. */
  pending: string[];
}

/** The renderers concerned and whether all of them are through. */
function tally(acks: Map<string, Ack>, keys: readonly string[], revision: number): { acknowledged: string[]; pending: string[] } {
  const acknowledged: string[] = [];
  const pending: string[] = [];
  for (const ack of acks.values()) {
    if (!ackCovers(ack, keys)) continue;
    (ack.revision >= revision ? acknowledged : pending).push(ack.renderer);
  }
  return { acknowledged: acknowledged.sort(), pending: pending.sort() };
}

/**
 * Waits until every live renderer whose keys cover `keys` has applied `revision`. Never throws: an unreadable etcd
 * is retried until the timeout, which then reports the renderers last known as pending.
 */
export async function waitForAcks(opts: DrainWaitOptions): Promise<DrainResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const bound = deadlineSignal(Math.max(1, Math.ceil(opts.timeoutMs)), opts.signal);
  const over = bound.signal;
  let wake: () => void = () => undefined;
  over.addEventListener('abort', () => wake(), { once: true });
  const view = new FollowedPrefix<Ack>({ client: opts.client, prefix: ACK_PREFIX, parse: parseAck, what: 'renderer acknowledgement', log: opts.log, onChange: () => wake() });
  const stopped = new Promise<never>((_, reject) => {
    wake = () => reject(new Error('drain wait ended'));
  });
  stopped.catch(() => undefined);
  try {
    for (;;) {
      try {
        await Promise.race([view.open(), stopped]);
        break;
      } catch (err) {
        if (isAccessDenied(err)) {
          opts.log.warn({ err: errorMessage(err) }, `etcd refused reading ${ACK_PREFIX}/ (the role needs read access to it); not waiting for renderers`);
          return { outcome: 'unreadable', waitedMs: elapsed(), acknowledged: [], pending: [] };
        }
        opts.log.debug({ err: errorMessage(err) }, 'cannot read renderer acknowledgements; retrying');
        await sleep(250, over);
        if (over.aborted) return { outcome: opts.signal?.aborted ? 'skipped' : 'timeout', waitedMs: elapsed(), acknowledged: [], pending: [] };
      }
    }
    let seen = tally(view.values, opts.keys, opts.revision);
    if (seen.acknowledged.length + seen.pending.length === 0) {
      if (opts.delayMs > 0) await sleep(Math.min(opts.delayMs, opts.timeoutMs), opts.signal);
      return { outcome: opts.signal?.aborted ? 'skipped' : 'no-renderers', waitedMs: elapsed(), ...seen };
    }
    while (seen.pending.length > 0 && !over.aborted) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      seen = tally(view.values, opts.keys, opts.revision);
    }
    const outcome: DrainOutcome =
      seen.pending.length > 0 ? (opts.signal?.aborted ? 'skipped' : 'timeout') : seen.acknowledged.length > 0 ? 'acknowledged' : 'no-renderers';
    return { outcome, waitedMs: elapsed(), ...seen };
  } finally {
    bound.dispose();
    await view.close();
  }
}

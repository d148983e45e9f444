// One drain, as every sidecar runs it: delete the instances' records (the lease stays), then wait until every
// renderer that reads them has applied the deletion, and write one log line saying how it ended.
import type { Etcd3 } from 'etcd3';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { waitForAcks, type DrainResult } from './wait.js';
import { deadlineSignal } from '../util/deadline.js';

/** The drain of the sidecars that remove records on stop (`announce`). */
export interface DrainSettings {
  /** Longest wait for the renderers' acknowledgements, in ms (> 0). */
  timeoutMs: number;
  /** The wait when no renderer reads the record, in ms (0: none). */
  delayMs: number;
}

/** What {@link drainInstances} needs. */
export interface DrainInstancesOptions {
  client: Etcd3;
  /** The registry holding the records (Registry.deregister). */
  registry: { deregister(id: string): Promise<{ keys: string[]; revision: number }>; readonly state?: string };
  log: Logger;
  /** Instance ids to take out of rotation. */
  ids: string[];
  settings: DrainSettings;
  /** Aborted: stop waiting at once (e.g. a second SIGTERM). */
  signal?: AbortSignal;
  /** Extra fields of the log line, e.g. the container. */
  fields?: Record<string, unknown>;
}

/** The deletion of `ids`: the keys removed and the revision to wait for (0: nothing was written). */
export interface Deletion {
  keys: string[];
  revision: number;
}

/** Rejects when `signal` aborts first. */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error('drain interrupted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Deregisters every id and merges the results. */
export async function deleteInstances(registry: DrainInstancesOptions['registry'], ids: string[]): Promise<Deletion> {
  const removed = await Promise.all(ids.map((id) => registry.deregister(id)));
  return { keys: removed.flatMap((r) => r.keys), revision: Math.max(0, ...removed.map((r) => r.revision)) };
}

/** Writes the one line that says how a drain ended. */
export function logDrain(log: Logger, result: DrainResult, delayMs: number, fields: Record<string, unknown>): void {
  const line = { ...fields, waitedMs: result.waitedMs, acknowledged: result.acknowledged, pending: result.pending };
  if (result.outcome === 'acknowledged') log.info(line, 'drained: every renderer reading the record has applied its removal');
  else if (result.outcome === 'no-renderers') log.info(line, `drained: no renderer reads the record${delayMs > 0 ? '; waited --drain-delay' : ''}`);
  else if (result.outcome === 'skipped') log.warn(line, 'drain skipped by a second signal');
  else if (result.outcome === 'unreadable') log.warn(line, 'drain not waited for: the renderer acknowledgements cannot be read');
  else log.warn(line, 'drain timed out: some renderers did not acknowledge within --drain-timeout');
}

/**
 * Drains instances: deletes their records (the lease stays), then waits until every renderer that reads them has
 * applied the deletion, within `settings.timeoutMs` (the record deletion itself included); `signal` cuts the wait
 * short. Writes one log line saying how it ended. Never throws.
 */
export async function drainInstances(opts: DrainInstancesOptions): Promise<DrainResult> {
  const { log, settings } = opts;
  const started = performance.now();
  const fields = { ...opts.fields, services: opts.ids.join(',') };
  let result: DrainResult;
  // Without a lease, or with writes failing, nothing can be deleted now: waiting would only hold up the stop, and the
  // records go with the lease (revoked on the way out, or expiring) either way.
  if (opts.registry.state === 'connecting' || opts.registry.state === 'failing') {
    log.warn({ ...fields, registry: opts.registry.state }, 'etcd unreachable: not draining');
    return { outcome: 'timeout', waitedMs: 0, acknowledged: [], pending: [] };
  }
  const bound = deadlineSignal(settings.timeoutMs, opts.signal);
  try {
    const { keys, revision } = await unlessAborted(deleteInstances(opts.registry, opts.ids), bound.signal).finally(bound.dispose);
    if (revision === 0) {
      log.info(fields, 'nothing to drain: no record was registered');
      return { outcome: 'no-renderers', waitedMs: 0, acknowledged: [], pending: [] };
    }
    const timeoutMs = Math.max(1, Math.round(settings.timeoutMs - (performance.now() - started)));
    result = await waitForAcks({ client: opts.client, keys, revision, timeoutMs, delayMs: settings.delayMs, ...(opts.signal && { signal: opts.signal }), log });
  } catch (err) {
    const skipped = opts.signal?.aborted === true;
    log.warn({ ...fields, err: errorMessage(err) }, skipped ? 'drain skipped before the record was deleted' : 'record not deleted within --drain-timeout');
    return { outcome: skipped ? 'skipped' : 'timeout', waitedMs: 0, acknowledged: [], pending: [] };
  }
  result = { ...result, waitedMs: Math.round(performance.now() - started) };
  logDrain(log, result, settings.delayMs, fields);
  return result;
}

// What `register` and `announce` share at the process level: the etcd client and lease-bound registry, `--listen`
// (/healthz and /metrics), and a shutdown on SIGTERM/SIGINT that revokes the lease so every record vanishes at once.
import type { Etcd3 } from 'etcd3';
import { etcdConnection, registrySettings, type RegistrySettings, type SidecarFlags } from '../config/sidecar-config.js';
import { registryCheck } from '../http/checks.js';
import { registryMetrics } from '../http/metrics.js';
import { parseListen, startObservability, type Observability } from '../http/server.js';
import { Registry } from '../registry/registry.js';
import { waitForAcks, type DrainResult } from '../drain/wait.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { errorMessage } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import type { DrainSettings } from '../config/sidecar-config.js';

/** A connected registry and everything needed to close it. */
export interface Sidecar {
  log: Logger;
  settings: RegistrySettings;
  client: Etcd3;
  registry: Registry;
  /** With `--listen`: the health checks and metrics being served (the registry's are in already). */
  obs: Observability | undefined;
}

/** Builds client and registry from validated settings (registrySettings throws ConfigError before anything connects). */
export async function openSidecar(flags: SidecarFlags, settings: RegistrySettings = registrySettings(flags)): Promise<Sidecar> {
  const connection = etcdConnection(flags);
  if (flags.listen) parseListen(flags.listen);
  const log = createLogger(flags.logLevel ? { level: flags.logLevel } : {});
  const obs = await startObservability(flags.listen, log, [flags.password]);
  let client: Etcd3;
  try {
    client = await createEtcdClient(connection);
  } catch (err) {
    await obs?.close();
    throw err;
  }
  const registry = new Registry({ client, log, ttlSec: settings.ttlSec, layouts: settings.layouts, prefix: settings.prefix, domain: settings.domain });
  if (obs) {
    obs.health.add('etcd', registryCheck(registry, settings.ttlSec));
    registryMetrics(obs.metrics, registry);
  }
  return { log, settings, client, registry, obs };
}

/** Stops serving /healthz and /metrics, revokes the lease (every record vanishes now) and closes the etcd client. */
export async function closeSidecar(sidecar: Sidecar): Promise<void> {
  await sidecar.obs?.close();
  await sidecar.registry.close({ revoke: true });
  sidecar.client.close();
}

/** An AbortSignal that a second SIGTERM or SIGINT aborts (the first one started the stop); `done` detaches it. */
export function secondSignal(): { signal: AbortSignal; done: () => void } {
  const skip = new AbortController();
  const abort = (): void => skip.abort();
  process.once('SIGTERM', abort);
  process.once('SIGINT', abort);
  return {
    signal: skip.signal,
    done: () => {
      process.off('SIGTERM', abort);
      process.off('SIGINT', abort);
    },
  };
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

/**
 * Drains instances: deletes their records (the lease stays), then waits until every renderer that reads them has
 * applied the deletion, within `drain.timeoutMs` (the record deletion itself included); a second SIGTERM/SIGINT
 * skips the wait. Writes one log line saying how it ended. Never throws.
 */
export async function drainRecords(sidecar: Sidecar, ids: string[], drain: DrainSettings): Promise<DrainResult> {
  const started = performance.now();
  const second = secondSignal();
  const deadline = AbortSignal.any([AbortSignal.timeout(drain.timeoutMs), second.signal]);
  const services = ids.join(',');
  let result: DrainResult;
  try {
    const removed = await unlessAborted(Promise.all(ids.map((id) => sidecar.registry.deregister(id))), deadline);
    const keys = removed.flatMap((r) => r.keys);
    const revision = Math.max(0, ...removed.map((r) => r.revision));
    if (revision === 0) {
      result = { outcome: 'no-renderers', waitedMs: 0, acknowledged: [], pending: [] };
      sidecar.log.info({ services }, 'nothing to drain: no record was registered');
      return result;
    }
    const timeoutMs = Math.max(1, Math.ceil(drain.timeoutMs - (performance.now() - started)));
    result = await waitForAcks({ client: sidecar.client, keys, revision, timeoutMs, delayMs: drain.delayMs, signal: second.signal, log: sidecar.log });
  } catch (err) {
    const skipped = second.signal.aborted;
    result = { outcome: skipped ? 'skipped' : 'timeout', waitedMs: 0, acknowledged: [], pending: [] };
    sidecar.log.warn({ services, err: errorMessage(err) }, skipped ? 'drain skipped before the record was deleted' : 'record not deleted within --drain-timeout');
    return result;
  } finally {
    second.done();
  }
  const waitedMs = Math.round(performance.now() - started);
  const fields = { services, waitedMs, acknowledged: result.acknowledged, pending: result.pending };
  if (result.outcome === 'acknowledged') sidecar.log.info(fields, 'drained: every renderer reading the record has applied its removal');
  else if (result.outcome === 'no-renderers') sidecar.log.info(fields, `drained: no renderer reads the record${drain.delayMs > 0 ? '; waited --drain-delay' : ''}`);
  else if (result.outcome === 'skipped') sidecar.log.warn(fields, 'drain skipped by a second signal');
  else sidecar.log.warn(fields, 'drain timed out: some renderers did not acknowledge within --drain-timeout');
  return { ...result, waitedMs };
}

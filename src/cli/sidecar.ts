// What `register` and `announce` share at the process level: the etcd client and lease-bound registry, `--listen`
// (/healthz and /metrics), and a shutdown on SIGTERM/SIGINT that revokes the lease so every record vanishes at once.
import type { Etcd3 } from 'etcd3';
import { etcdConnection, registrySettings, type RegistrySettings, type SidecarFlags } from '../config/sidecar-config.js';
import { logLevel } from '../config/settings-table.js';
import { registryCheck } from '../http/daemon-health.js';
import { registryMetrics } from '../http/metrics.js';
import { parseListen, startObservability, type Observability } from '../http/server.js';
import { Registry } from '../registry/registry.js';
import { drainInstances, type DrainSettings } from '../drain/drain.js';
import type { DrainResult } from '../drain/wait.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { createLogger, loggerOptions, type Logger } from '../util/log.js';
import { skipOnSignal } from './signals.js';

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
  const log = createLogger(loggerOptions({ logLevel: logLevel(flags.logLevel), ...(flags.logFormat !== undefined && { logFormat: flags.logFormat }) }));
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

/**
 * Drains instances on SIGTERM/SIGINT (see drainInstances); a second SIGTERM/SIGINT skips the wait. Never throws.
 */
export async function drainRecords(sidecar: Sidecar, ids: string[], drain: DrainSettings): Promise<DrainResult> {
  const skip = skipOnSignal(sidecar.log);
  try {
    return await drainInstances({ client: sidecar.client, registry: sidecar.registry, log: sidecar.log, ids, settings: drain, signal: skip.signal });
  } finally {
    skip.dispose();
  }
}

// /metrics: Prometheus metrics (prom-client), one Registry per process rather than prom-client's global default, so
// tests can build several. Every sidekick metric is prefixed `sidekick_`; labels stay bounded: resource names come
// from the configuration, services are labelled by service NAME, never by instance or container id.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchReport } from '../daemon/render-daemon.js';
import type { CheckResult } from '../health/types.js';
import type { Registry as ServiceRegistry } from '../registry/registry.js';

export { Registry as MetricsRegistry } from 'prom-client';

/** Buckets of sidekick_apply_latency_seconds: a watch event lands in ms, a quiescence wait or slow reload in s. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A fresh registry; `processMetrics` adds prom-client's default process/Node.js metrics (RSS, CPU, event loop). */
export function createMetricsRegistry(opts: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  return registry;
}

/** A counter that follows a monotonic number read at scrape time (the registry's stats). */
function followingCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > last) this.inc(now - last);
      last = now;
    },
  });
}

/** `sidekick render`'s metrics; `batch` is the daemon's RenderObserver hook. */
export class RenderMetrics {
  private readonly renders: Counter<'resource' | 'result'>;
  private readonly reloads: Counter<'result'>;
  private readonly rollbacks: Counter;
  private readonly runtimeApplies: Counter<'result'>;
  private readonly latency: Histogram;

  /** @param storeConnected read at scrape time: is the store synced (the mirror complete and current)? */
  constructor(registry: Registry, storeConnected: () => boolean) {
    const registers = [registry];
    this.renders = new Counter({
      name: 'sidekick_renders_total',
      help: 'Resources rendered and applied, by result: applied, unchanged, noop, failed (render, check or write), rolled-back',
      labelNames: ['resource', 'result'],
      registers,
    });
    this.reloads = new Counter({
      name: 'sidekick_reloads_total',
      help: 'Reload actions run (one per distinct reload command or signal per pass), by result: ok, failed',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['ok', 'failed']) this.reloads.inc({ result }, 0);
    this.rollbacks = new Counter({
      name: 'sidekick_rollbacks_total',
      help: 'Failed reloads whose files were put back to their previous content (and reloaded again)',
      registers,
    });
    this.runtimeApplies = new Counter({
      name: 'sidekick_haproxy_runtime_applies_total',
      help: 'Membership-only changes of resources with haproxy_socket, by result: applied (through the runtime API, no reload), fallback (a command failed; reloaded)',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['applied', 'fallback']) this.runtimeApplies.inc({ result }, 0);
    this.latency = new Histogram({
      name: 'sidekick_apply_latency_seconds',
      help: 'Watch mode: time from a key change seen to the pass that put the resource in place (and reloaded it)',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'sidekick_store_connected',
      help: '1 while the store (etcd, file, env) is synced: the mirror is complete and current; 0 while connecting or stale',
      registers,
      collect() {
        this.set(storeConnected() ? 1 : 0);
      },
    });
  }

  /** Counts one render pass. */
  batch(report: BatchReport): void {
    for (const o of report.outcomes) {
      this.renders.inc({ resource: o.resource, result: o.status });
      if (o.runtime) this.runtimeApplies.inc({ result: o.runtime });
    }
    for (const r of report.reloads) {
      this.reloads.inc({ result: r.ok ? 'ok' : 'failed' });
      if (!r.ok) this.rollbacks.inc();
    }
    for (const l of report.latencies) this.latency.observe(l.seconds);
  }
}

/** The registry as its metrics read it. */
export type RegistrySource = Pick<ServiceRegistry, 'stats' | 'state' | 'size' | 'leaseId' | 'on'>;

/** `register` and `announce`: records, lease and etcd writes of the lease-bound registry. */
export function registryMetrics(registry: Registry, source: RegistrySource): void {
  const registers = [registry];
  new Gauge({
    name: 'sidekick_registered_services',
    help: 'Service instances this process keeps registered (healthy); sidekick_etcd_connected says whether etcd has them',
    registers,
    collect() {
      this.set(source.size);
    },
  });
  new Gauge({
    name: 'sidekick_etcd_connected',
    help: '1 while the etcd lease is held and writes succeed; 0 while connecting, after a lost lease, or while writes fail',
    registers,
    collect() {
      this.set(source.leaseId() !== undefined && (source.state === 'synced' || source.state === 'syncing') ? 1 : 0);
    },
  });
  followingCounter(registry, 'sidekick_lease_grants_total', 'etcd leases granted (the first, and one after each lost lease)', () => source.stats.leaseGrants);
  const lost = new Counter({ name: 'sidekick_lease_lost_total', help: 'etcd leases lost (expired or revoked); every record is rewritten on a new one', registers });
  const renewed = new Counter({ name: 'sidekick_lease_renewals_total', help: 'Successful lease keepalives (about every TTL/3)', registers });
  source.on('lease-lost', () => lost.inc());
  source.on('lease-renewed', () => renewed.inc());
  followingCounter(registry, 'sidekick_etcd_writes_total', 'etcd write operations issued (puts and deletes)', () => source.stats.writes);
  followingCounter(registry, 'sidekick_etcd_txns_total', 'etcd transactions issued', () => source.stats.txns);
}

/** `register`: the Docker event stream. */
export function dockerMetrics(registry: Registry, watcher: { readonly connected: boolean; on(event: 'disconnected', listener: () => void): unknown }): void {
  new Gauge({
    name: 'sidekick_docker_connected',
    help: '1 while the Docker event stream is open',
    registers: [registry],
    collect() {
      this.set(watcher.connected ? 1 : 0);
    },
  });
  const lost = new Counter({ name: 'sidekick_docker_disconnects_total', help: 'Docker event streams lost (dockerd restarted or unreachable)', registers: [registry] });
  watcher.on('disconnected', () => lost.inc());
}

/** `register` and `announce`: health check attempts; returns the observer the monitors call. */
export function checkMetrics(registry: Registry): (service: string, result: CheckResult) => void {
  const checks = new Counter({
    name: 'sidekick_checks_total',
    help: 'Health check attempts (and Docker HEALTHCHECK verdicts) by service name and result: pass, fail',
    labelNames: ['service', 'result'],
    registers: [registry],
  });
  return (service, result) => checks.inc({ service, result: result.ok ? 'pass' : 'fail' });
}

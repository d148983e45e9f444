// The /healthz components of each daemon. They read live state at request time and name no flag value: stores
// are named by kind (etcd, file, env), never by URL; texts also pass through redact() in Health.
import type { ApplyOutcome } from '../apply/apply.js';
import { isDone } from '../apply/status.js';
import type { ResourceConfig } from '../apply/types.js';
import type { MonitorBoard, MonitorView } from '../health/types.js';
import type { BatchReport, RenderObserver } from '../daemon/render-daemon.js';
import type { Registry as ServiceRegistry } from '../registry/registry.js';
import type { SourceState } from '../store/types.js';
import { errorMessage } from '../util/errors.js';
import type { CheckStatus, Health } from './health.js';
import { RenderMetrics, type MetricsRegistry } from './metrics.js';

/** What the etcd check reads of the Registry. */
export interface LeaseHolder extends Pick<ServiceRegistry, 'state' | 'leaseId' | 'size'> {
  on(event: 'lease-granted' | 'lease-renewed', listener: () => void): unknown;
}

/**
 * etcd lease check of `register`/`announce`: healthy while a lease is held, renewed, and writes succeed. etcd3 only
 * declares a lease lost after 2 × TTL without keepalives; this check fails as soon as one keepalive is missed
 * (none for TTL × 2/3 + 1 s; they go every TTL/3), since the records are then at risk of expiring.
 */
export function registryCheck(registry: LeaseHolder, ttlSec: number, now: () => number = Date.now): () => CheckStatus {
  const overdueMs = (ttlSec * 1000 * 2) / 3 + 1000;
  let renewed = now();
  registry.on('lease-granted', () => {
    renewed = now();
  });
  registry.on('lease-renewed', () => {
    renewed = now();
  });
  return () => {
    const held = registry.leaseId() !== undefined;
    const records = registry.size;
    const silent = now() - renewed;
    if (held && silent > overdueMs && registry.state !== 'closed') {
      return { ok: false, detail: `lease held, but not renewed for ${Math.round(silent / 1000)} s (etcd unreachable?); records expire ${ttlSec} s after the last renewal` };
    }
    switch (registry.state) {
      case 'synced':
        return { ok: held, detail: `lease held; ${records} record${records === 1 ? '' : 's'} written` };
      case 'syncing':
        return { ok: held, detail: 'lease held; writing changes' };
      case 'failing':
        return { ok: false, detail: 'lease held, but etcd writes are failing; retrying with backoff' };
      case 'closed':
        return { ok: false, detail: 'closed' };
      default:
        return { ok: false, detail: 'no lease: connecting to etcd (or replacing a lost lease)' };
    }
  };
}

/** What the docker check reads of the DockerWatcher. */
export interface DockerState {
  readonly connected: boolean;
  on(event: 'disconnected', listener: (info: { error: string }) => void): unknown;
}

/** Docker check of `register`: healthy while the event stream is open; says why it was lost otherwise. */
export function dockerCheck(watcher: DockerState): () => CheckStatus {
  let lastError: string | undefined;
  watcher.on('disconnected', (info) => {
    lastError = info.error;
  });
  return () => {
    if (watcher.connected) return { ok: true, detail: 'event stream open' };
    return { ok: false, detail: lastError === undefined ? 'connecting to Docker' : `disconnected: ${lastError}; reconnecting` };
  };
}

/** The render daemon as its checks read it. */
export interface RenderView {
  readonly source: { readonly state: SourceState };
  readonly outcomes: ReadonlyMap<string, ApplyOutcome>;
}

/** The slice of a RenderConfig the checks need. */
export interface RenderSetup {
  backend: { kind: string; password?: string };
  resources: Pick<ResourceConfig, 'name'>[];
  problems: string[];
}

/**
 * /healthz and /metrics of `sidekick render`, across the daemons one process runs (SIGHUP replaces the daemon):
 * - store: ok while the source is synced; stale or connecting otherwise, with the last error;
 * - apply: ok when every resource's last render and apply succeeded (applied, unchanged or noop);
 * - config: ok unless loading skipped resources (a bad conf.d file).
 * Pass it as the daemon's `observer`, and call {@link use} with each daemon that starts following.
 */
export class RenderStatus implements RenderObserver {
  private daemon: RenderView | undefined;
  private setup: RenderSetup;
  private startError: string | undefined;
  private sourceError: string | undefined;
  private readonly metrics: RenderMetrics;

  constructor(
    private readonly health: Health,
    registry: MetricsRegistry,
    setup: RenderSetup,
  ) {
    this.setup = setup;
    health.addSecret(setup.backend.password);
    this.metrics = new RenderMetrics(registry, () => this.daemon?.source.state === 'synced');
    health.add('store', () => this.storeCheck());
    health.add('apply', () => this.applyCheck());
    health.add('config', () => this.configCheck());
  }

  /** The daemon now running (undefined while none is: starting, or restarting after SIGHUP). */
  use(daemon: RenderView | undefined, setup: RenderSetup = this.setup): void {
    this.daemon = daemon;
    this.setup = setup;
    this.health.addSecret(setup.backend.password);
    this.sourceError = undefined;
    if (daemon) this.startError = undefined;
  }

  /** A start attempt failed (the store could not be read); retried with backoff. */
  startFailed(err: unknown): void {
    this.startError = errorMessage(err);
  }

  batch(report: BatchReport): void {
    this.metrics.batch(report);
  }

  sourceState(state: SourceState, error?: Error): void {
    this.sourceError = state === 'synced' ? undefined : error ? errorMessage(error) : this.sourceError;
  }

  private storeCheck(): CheckStatus {
    const kind = this.setup.backend.kind;
    const state = this.daemon?.source.state;
    if (state === 'synced') return { ok: true, detail: `${kind}: synced` };
    if (state === 'stale') {
      return { ok: false, detail: `${kind}: stale (was synced, now cut off; keeping the last good files)${this.sourceError ? `: ${this.sourceError}` : ''}` };
    }
    const why = this.daemon ? this.sourceError : this.startError;
    return { ok: false, detail: `${kind}: connecting${why ? `: ${why}` : ''}` };
  }

  private applyCheck(): CheckStatus {
    const { resources } = this.setup;
    if (!this.daemon) return { ok: false, detail: 'nothing applied yet' };
    const failing: Record<string, string> = {};
    for (const { name } of resources) {
      const o = this.daemon.outcomes.get(name);
      if (!o) failing[name] = 'not rendered yet';
      else if (!isDone(o.status)) failing[name] = `${o.status}: ${o.error ? errorMessage(o.error) : 'no reason given'}`;
    }
    const bad = Object.keys(failing).length;
    if (bad === 0) return { ok: true, detail: `${resources.length} resource${resources.length === 1 ? '' : 's'}: last apply ok` };
    return { ok: false, detail: `${bad} of ${resources.length} resource${resources.length === 1 ? '' : 's'} failing`, failing };
  }

  private configCheck(): CheckStatus {
    const { problems } = this.setup;
    if (problems.length === 0) return { ok: true, detail: 'every resource loaded' };
    return {
      ok: false,
      detail: `${problems.length} problem${problems.length === 1 ? '' : 's'} in the configuration; those resources are skipped`,
      failing: Object.fromEntries(problems.map((p, i) => [String(i + 1), p])),
    };
  }
}

/**
 * The `services` component of /healthz for `register` and `announce`: how many checked services pass, and for each
 * one failing, the check that fails and why ("web-1 (h1:web-1:80)": "tcp: ECONNREFUSED"). It stays ok while
 * services fail: keeping a failing service out of the registry is sidekick doing its job, not sidekick failing.
 */
export class ServiceChecks implements MonitorBoard {
  private readonly monitors = new Map<string, MonitorView>();

  /** Shows `view` under `name` until the returned function is called (when the service's monitor stops). */
  track(name: string, view: MonitorView): () => void {
    this.monitors.set(name, view);
    return () => {
      if (this.monitors.get(name) === view) this.monitors.delete(name);
    };
  }

  /** The component's verdict, read at request time. */
  check(): CheckStatus {
    const failing: Record<string, string> = {};
    let passing = 0;
    let starting = 0;
    for (const [name, view] of this.monitors) {
      if (view.state === 'healthy') passing++;
      else if (view.state === 'unknown') starting++;
      else failing[name] = view.lastResult?.detail ?? 'failing';
    }
    const total = this.monitors.size;
    const parts = [`${passing} passing`, `${Object.keys(failing).length} failing`, ...(starting > 0 ? [`${starting} not checked yet`] : [])];
    return { ok: true, detail: `${total} service${total === 1 ? '' : 's'}: ${parts.join(', ')}`, ...(Object.keys(failing).length > 0 && { failing }) };
  }
}

// `sidekick register`: Docker containers → services → health → lease-bound records.
// Every event and every resync ends in the same step, `converge(container)`: inspect it, map it to service specs,
// and make the monitors and records match. Steps for one container run one at a time, in order.
import type { DockerEvent } from '../docker/events.js';
import { containerServices, type InspectedContainer } from '../docker/services.js';
import { killMeaning, signalName, parseSignal, stopSettings, type StopSettings } from '../docker/stop.js';
import type { MappingOptions, MappingWarning, ServiceSpec } from '../docker/types.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { containerTarget } from '../drain/maintenance.js';
import { RecordSwitch, type RecordWriter } from './record-switch.js';

/** The inspect fields the daemon reads: the mapping's, plus the run state (dockerode's ContainerInfo fits). */
export type ContainerInfo = InspectedContainer & {
  Config?: { StopSignal?: string } | null;
  State: { Running: boolean; Paused: boolean; Restarting: boolean; ExitCode: number; Health?: { Status: string } };
};

/** What the daemon reads of a Docker event (parsed once, by the watcher's parseEvent). */
export type ContainerEvent = Pick<DockerEvent, 'kind' | 'health' | 'id' | 'attributes'>;

/** Docker as the daemon uses it (DockerWatcher): events, list, inspect. */
export interface ContainerSource {
  listRunning(): Promise<ContainerInfo[]>;
  inspect(id: string): Promise<ContainerInfo | undefined>;
  on(event: 'event', listener: (e: ContainerEvent) => void): unknown;
  on(event: 'connected', listener: () => void): unknown;
}

/** A container that opted into drained stops and has just been sent its StopSignal. */
export interface DrainTarget {
  /** Full container id. */
  id: string;
  /** Container name, for logs. */
  container: string;
  /** Instance ids whose records were written: to deregister and wait for. */
  services: string[];
  /** SERVICE_DRAIN, to send once drained (`SIGTERM`). */
  signal: string;
}


/** A running health monitor for one service; `report` feeds Docker's own HEALTHCHECK status. */
export interface ServiceMonitor {
  start(): void;
  stop(): void;
  report(status: string): void;
}

/** Creates the monitor of one service; it calls `onChange(true)` once healthy and `onChange(false)` once it fails. */
export type MonitorFactory = (spec: ServiceSpec, onChange: (healthy: boolean) => void) => ServiceMonitor;

export interface RegisterDaemonOptions {
  docker: ContainerSource;
  registry: RecordWriter;
  monitors: MonitorFactory;
  mapping: MappingOptions;
  /** List and converge every this many ms (`--resync`); 0 disables the timer (reconnects still resync). */
  resyncMs: number;
  /** `always`: a container that exits is deregistered; `on-success`: only when it exits with status 0. */
  deregister: 'always' | 'on-success';
  /** Drains an opted-in container's services, then sends it `signal` (see docker/stop.ts). Never rejects. */
  drain: (target: DrainTarget) => Promise<void>;
  log: Logger;
}

/** What is known of a container: its inspected state, only that it exited (a `die` event), or nothing (gone). */
type Observed = ContainerInfo | { exitCode: number } | undefined;

interface Tracked {
  spec: ServiceSpec;
  /** The spec as JSON: a changed label or address replaces the monitor. */
  fingerprint: string;
  monitor: ServiceMonitor;
  record: RecordSwitch;
  /** Exited with a failure under `--deregister on-success`: no monitor runs, the record stays. */
  kept: boolean;
}

/** Converges the registry to the running, healthy services of the local Docker daemon. */
export class RegisterDaemon {
  private readonly opts: RegisterDaemonOptions;
  private readonly log: Logger;
  /** container id → its services, by instance id. */
  private readonly containers = new Map<string, Map<string, Tracked>>();
  /** Per-container queue: steps for one container never interleave. */
  private readonly queues = new Map<string, Promise<void>>();
  /**
   * container id → warnings already logged for it, so a bad label is reported once per container, not at every
   * resync. An entry goes when its container is gone (removed, or no longer listed nor tracked at a resync).
   */
  private readonly warned = new Map<string, Set<string>>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private resyncing: Promise<void> | undefined;
  private closed = false;
  /** Containers that had an event while a resync runs: what the resync listed about them may be stale. */
  private readonly changedDuringResync = new Set<string>();
  /** container id → how it stops (StopSignal, SERVICE_DRAIN), from its last inspect. */
  private readonly stops = new Map<string, StopSettings>();
  /** Maintenance: instance ids and `docker:<container id>` names held out of rotation. */
  private readonly held = new Set<string>();
  /** Containers sent a stopping signal: nothing of theirs is registered until they start again or are gone. */
  private readonly stopping = new Set<string>();

  constructor(opts: RegisterDaemonOptions) {
    this.opts = opts;
    this.log = opts.log.child({ component: 'register' });
  }

  /** Subscribes to Docker; the watcher's first 'connected' runs the initial resync. */
  start(): void {
    this.opts.docker.on('event', (e) => this.onEvent(e));
    this.opts.docker.on('connected', () => void this.resync());
    if (this.opts.resyncMs > 0) {
      this.resyncTimer = setInterval(() => void this.resync(), this.opts.resyncMs);
    }
  }

  /** Lists running containers and converges each; containers no longer running are dropped; then repairs etcd. */
  resync(): Promise<void> {
    // A resync already running covers this request.
    this.resyncing ??= this.doResync().finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  /** How many containers have warnings remembered: at most the containers Docker still has (tests). */
  get warnedContainers(): number {
    return this.warned.size;
  }

  /** Resolves once every queued container step has run (tests, bench). */
  async idle(): Promise<void> {
    while (this.queues.size > 0 || this.resyncing) {
      await Promise.all([...this.queues.values(), this.resyncing]);
    }
  }

  /** Stops the timers and every monitor; the registry (and its lease) is the caller's to close. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.resyncTimer);
    await this.idle().catch(() => undefined);
    for (const services of this.containers.values()) for (const t of services.values()) t.monitor.stop();
    this.containers.clear();
  }

  private async doResync(): Promise<void> {
    this.changedDuringResync.clear();
    let running: ContainerInfo[];
    try {
      running = await this.opts.docker.listRunning();
    } catch (err) {
      // The watcher reconnects and emits 'connected' again; that resyncs.
      this.log.warn({ err: errorMessage(err) }, 'cannot list containers; will resync after Docker reconnects');
      return;
    }
    const seen = new Set(running.map((c) => c.Id));
    // The listing can take seconds; a container with an event since it began was already applied with newer data
    // (e.g. it died after being listed as running): inspect it again instead of going back to the listed state.
    const steps = running.map((info) =>
      this.enqueue(info.Id, async () => {
        const stale = this.changedDuringResync.has(info.Id);
        this.apply(info.Id, stale ? await this.opts.docker.inspect(info.Id) : info, 'resync');
      }),
    );
    for (const id of this.containers.keys()) {
      // Gone or exited: inspect tells which (an exited container may keep its record under --deregister on-success).
      if (!seen.has(id)) steps.push(this.enqueue(id, async () => this.apply(id, await this.opts.docker.inspect(id), 'resync')));
    }
    await Promise.all(steps);
    // Containers gone without a `destroy` seen (events lost while Docker was unreachable) and not tracked.
    for (const id of [...this.warned.keys()]) {
      if (!seen.has(id) && !this.containers.has(id) && !this.changedDuringResync.has(id)) this.warned.delete(id);
    }
    this.changedDuringResync.clear();
    try {
      await this.opts.registry.reconcile();
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot reconcile etcd with the registered services; will retry at the next resync');
    }
  }

  private onEvent({ kind, health, id, attributes }: ContainerEvent): void {
    if (this.closed) return;
    if (kind === 'health_status') {
      for (const t of this.containers.get(id)?.values() ?? []) t.monitor.report(health ?? '');
      return;
    }
    // A signal is not an exit, but the stopping ones say the container is going away: its records go now, before
    // the app stops answering, instead of at the `die` that follows. Reload signals (HUP, USR1…) change nothing.
    const meaning = kind === 'kill' ? killMeaning(attributes.signal, this.stops.get(id)) : undefined;
    if (meaning === 'none') return;
    // A network connect/disconnect changes only a container's own addresses, which only --internal registers.
    if ((kind === 'connect' || kind === 'disconnect') && !this.opts.mapping.internal) return;
    if (this.resyncing) this.changedDuringResync.add(id);
    // `die` and `destroy` are final for this run of the container: act on the event itself, without an inspect —
    // dockerd answers inspects slowly while it is tearing containers down (hundreds of ms when many die at once).
    if (kind === 'die') {
      const code = Number(attributes.exitCode);
      void this.enqueue(id, async () => this.apply(id, { exitCode: Number.isInteger(code) ? code : -1 }, kind));
      return;
    }
    if (kind === 'destroy') {
      void this.enqueue(id, async () => this.apply(id, undefined, kind));
      return;
    }
    if (meaning === 'drain') {
      void this.enqueue(id, () => this.drainContainer(id));
      return;
    }
    if (meaning === 'stop' || kind === 'stop') {
      const cause = meaning ? `kill ${signalName(parseSignal(attributes.signal ?? '') ?? 0)}` : kind;
      void this.enqueue(id, async () => this.withdrawAll(id, cause));
      return;
    }
    if (kind === 'start') this.stopping.delete(id);
    // Otherwise inspect says what is true now (events can arrive late or out of order).
    void this.enqueue(id, async () => this.apply(id, await this.opts.docker.inspect(id), kind));
  }

  private enqueue(id: string, step: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const next = previous
      .then(step)
      .catch((err: unknown) => this.log.warn({ container: id.slice(0, 12), err: errorMessage(err) }, 'cannot update container; the next resync retries'))
      .finally(() => {
        if (this.queues.get(id) === next) this.queues.delete(id);
      });
    this.queues.set(id, next);
    return next;
  }

  /** Makes this container's monitors and records match what is known of it (see {@link Observed}). */
  private apply(id: string, observed: Observed, cause: string): void {
    if (this.closed) return;
    const info = observed && 'Id' in observed ? observed : undefined;
    if (observed === undefined || !info) this.stopping.delete(id);
    if (observed === undefined) {
      this.stops.delete(id);
      this.warned.delete(id);
    }
    if (info) this.stops.set(id, this.stopSettingsOf(info));
    const exitCode = observed === undefined ? undefined : !('Id' in observed) ? observed.exitCode : observed.State.Running ? undefined : observed.State.ExitCode;
    const wanted = info && this.shouldRegister(info) ? this.specsOf(info) : new Map<string, ServiceSpec>();
    const keepExited = exitCode !== undefined && exitCode !== 0 && this.opts.deregister === 'on-success';
    const current = this.containers.get(id) ?? new Map<string, Tracked>();
    for (const [sid, t] of current) {
      const next = wanted.get(sid);
      if (next && !t.kept && JSON.stringify(next) === t.fingerprint) continue;
      t.monitor.stop();
      if (keepExited && !next && t.record.healthy) {
        // registrator's `-deregister on-success`: a failed container keeps its record until it is removed or restarts.
        if (!t.kept) this.log.info({ container: t.spec.containerName, service: sid, exitCode }, 'container failed; keeping its record (--deregister on-success)');
        t.kept = true;
        continue;
      }
      current.delete(sid);
      t.record.withdraw(cause);
    }
    for (const [sid, spec] of wanted) {
      if (current.has(sid)) continue;
      current.set(sid, this.track(spec, info?.State.Health?.Status));
    }
    if (current.size > 0) this.containers.set(id, current);
    else this.containers.delete(id);
  }

  /** Running, not paused and not being stopped: only then are its services checked and registered. */
  private shouldRegister(info: ContainerInfo): boolean {
    return info.State.Running && !info.State.Paused && !info.State.Restarting && !this.stopping.has(info.Id);
  }

  /** The container is being stopped: every record of it goes now; nothing registers again until it starts. */
  private withdrawAll(id: string, cause: string): void {
    if (this.closed) return;
    this.stopping.add(id);
    for (const t of this.containers.get(id)?.values() ?? []) {
      t.monitor.stop();
      t.record.withdraw(cause);
    }
    this.containers.delete(id);
  }

  /** An opted-in container got its StopSignal: hand its records to the drain, which then sends SERVICE_DRAIN. */
  private async drainContainer(id: string): Promise<void> {
    const stop = this.stops.get(id);
    if (this.closed || !stop?.drainSignal) return;
    this.stopping.add(id);
    const services: string[] = [];
    for (const [sid, t] of this.containers.get(id) ?? []) {
      t.monitor.stop();
      if (t.record.release()) services.push(sid);
    }
    this.containers.delete(id);
    await this.opts.drain({ id, container: stop.container, services, signal: stop.drainSignal });
  }

  /**
   * Maintenance: holds out every service named by `name` (an instance id or `docker:<container id>`), now and when
   * it is tracked again. Returns the ids whose records were written (the caller deregisters them), or undefined
   * when no service of this host matches.
   */
  hold(name: string): string[] | undefined {
    this.held.add(name);
    const matched = this.matching(name);
    if (matched.length === 0) return undefined;
    return matched.filter(([, t]) => t.record.hold(true)).map(([sid]) => sid);
  }

  /** Ends the hold of `name`: its services are written again once their checks pass. */
  release(name: string): void {
    this.held.delete(name);
    for (const [sid, t] of this.matching(name)) if (!this.isHeld(sid, t.spec.containerId)) t.record.hold(false);
  }

  private matching(name: string): Array<[string, Tracked]> {
    const out: Array<[string, Tracked]> = [];
    for (const [cid, services] of this.containers) {
      for (const [sid, t] of services) if (sid === name || containerTarget(cid) === name) out.push([sid, t]);
    }
    return out;
  }

  private isHeld(sid: string, containerId: string): boolean {
    return this.held.has(sid) || this.held.has(containerTarget(containerId));
  }

  /** Stop settings, warning once per container about a SERVICE_DRAIN that cannot work. */
  private stopSettingsOf(info: ContainerInfo): StopSettings {
    const stop = stopSettings(info);
    if (stop.warning) this.warnOnce(info.Id, stop.warning, '');
    return stop;
  }

  private warnOnce(id: string, w: MappingWarning, lead = 'skipping service: '): void {
    const once = `${w.label}\0${w.message}`;
    const warned = this.warned.get(id) ?? new Set<string>();
    if (warned.has(once)) return;
    warned.add(once);
    this.warned.set(id, warned);
    this.log.warn({ container: w.container, label: w.label }, `${lead}${w.message}`);
  }

  private specsOf(info: ContainerInfo): Map<string, ServiceSpec> {
    const { services, warnings } = containerServices(info, this.opts.mapping);
    for (const w of warnings) this.warnOnce(info.Id, w, w.ignored ? '' : undefined);
    return new Map(services.map((s) => [s.record.id, s]));
  }

  private track(spec: ServiceSpec, dockerHealth: string | undefined): Tracked {
    const record = new RecordSwitch(spec.record, this.opts.registry, this.log, { container: spec.containerName });
    if (this.isHeld(spec.record.id, spec.containerId)) record.hold(true);
    const monitor = this.opts.monitors(spec, (healthy) => {
      if (!this.closed) record.set(healthy);
    });
    monitor.start();
    if (spec.health.check.kind === 'docker' && dockerHealth) monitor.report(dockerHealth);
    return { spec, fingerprint: JSON.stringify(spec), kept: false, monitor, record };
  }
}

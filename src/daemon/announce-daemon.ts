// `sidekick announce`: one service's check keeps one lease-bound record alive while it passes.
import type { CheckTarget } from '../health/checks.js';
import type { HealthSettings } from '../health/types.js';
import type { ServiceChecks } from '../http/daemon-health.js';
import type { ServiceRecord } from '../registry/record.js';
import type { Logger } from '../util/log.js';
import { createMonitor, type CheckObserver } from './monitors.js';
import { RecordSwitch, type RecordWriter } from './record-switch.js';
import type { HealthMonitor } from '../health/monitor.js';

export interface AnnounceDaemonOptions {
  registry: RecordWriter;
  record: ServiceRecord;
  health: HealthSettings;
  /** Where the check connects (default: the record's address). */
  checkTarget?: CheckTarget;
  log: Logger;
  /** Told each check attempt's outcome (/metrics). */
  onCheck?: CheckObserver;
  /** Shows the service's check on /healthz. */
  board?: ServiceChecks;
}

/** Checks one address on its schedule; healthy → the record is written, failing `fall` times → removed. */
export class AnnounceDaemon {
  private readonly record: RecordSwitch;
  private readonly monitor: HealthMonitor;
  private readonly untrack: (() => void) | undefined;

  constructor(opts: AnnounceDaemonOptions) {
    const log = opts.log.child({ component: 'announce' });
    this.record = new RecordSwitch(opts.record, opts.registry, log);
    const { record } = opts;
    const { host, port } = opts.checkTarget ?? record;
    this.monitor = createMonitor(
      { name: record.id, host, port, health: opts.health },
      (healthy) => this.record.set(healthy),
      log,
      undefined,
      opts.onCheck,
    );
    this.untrack = opts.board?.track(record.id, this.monitor);
  }

  /** True while the record is written. */
  get healthy(): boolean {
    return this.record.healthy;
  }

  start(): void {
    this.monitor.start();
  }

  /** Maintenance: holds the record out (true when it was written; the caller deregisters it) or lets it back. */
  hold(on: boolean): boolean {
    return this.record.hold(on);
  }

  /** Stops checking; the caller closes the registry, which revokes the lease so the record vanishes at once. */
  stop(): void {
    this.untrack?.();
    this.monitor.stop();
  }
}

// The rise/fall monitor of one service: runs its checker on a jittered schedule and reports state changes.
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { activeChecks, checkKinds } from './check-options.js';
import { sharedSlots, type SlotTimers } from './slots.js';
import type { CheckResult, Checker, HealthSettings } from './types.js';

/** `unknown` until the first verdict: neither registered nor reported failing yet. */
export type HealthState = 'unknown' | 'healthy' | 'unhealthy';

/** One state change, as given to `onChange`. */
export interface HealthChange {
  name: string;
  state: 'healthy' | 'unhealthy';
  previous: HealthState;
  /** The attempt (or Docker status) that caused the change. */
  result: CheckResult;
}

/** Options of a {@link HealthMonitor}. */
export interface HealthMonitorOptions {
  settings: HealthSettings;
  /** Required for http/tcp/exec checks; ignored for `docker` and `none`. */
  checker?: Checker;
  log: Logger;
  /** Names the service in logs and changes. */
  name: string;
  /** Called once per state change, synchronously (for `none`, inside start()). Never after stop(). */
  onChange?: (change: HealthChange) => void;
  /** A number in [0, 1); Math.random by default. Tests pass a fixed one. */
  jitter?: () => number;
  /** Where steady-state attempts are scheduled; the process-wide {@link sharedSlots} by default. */
  slots?: SlotTimers;
}

/** The first attempt comes within this much of start() (or 10 % of the interval if shorter). */
export const FIRST_ATTEMPT_SPREAD_MS = 100;
/** Until the first pass, and only during the first interval, attempts come at most this far apart. */
export const STARTUP_RETRY_MS = 1000;
/** Each interval is stretched or shrunk by up to this fraction, so that services drift apart. */
export const INTERVAL_JITTER = 0.1;
/** Steady-state attempts are rounded up onto a shared grid of this share of the interval, at most {@link MAX_SLOT_MS}. */
export const SLOT_FRACTION = 0.05;
/** The grid of the default 10 s interval: attempts due in the same half second share one wakeup. */
export const MAX_SLOT_MS = 500;

/** The grid an interval's attempts are rounded up to (see slots.ts): 500 ms for 10 s, 20 ms for 400 ms. */
export function slotMs(intervalMs: number): number {
  return Math.max(1, Math.min(MAX_SLOT_MS, Math.round(intervalMs * SLOT_FRACTION)));
}

/**
 * Runs one service's check and applies rise/fall:
 * - `rise` passes in a row → healthy; `fall` failures in a row → unhealthy. From unknown, failures
 *   count only once the first interval is over, so a service that never comes up is reported once,
 *   but one that is still booting is not. Each change is logged once and given to onChange.
 * - The first attempt runs within {@link FIRST_ATTEMPT_SPREAD_MS} of start(). Until a service is first
 *   healthy, attempts during its first interval repeat every {@link STARTUP_RETRY_MS} (like haproxy's
 *   fastinter), so a container whose app needs a second to listen is registered after about a
 *   second, not a full interval. After that, attempts start every intervalMs ± 10 %, start to start,
 *   rounded up to the next {@link slotMs} slot shared by every monitor of the process (one wakeup for all
 *   the http/tcp attempts due in the same half second, see slots.ts; exec checks keep exact timers).
 * - Attempts never overlap; each is aborted at timeoutMs and then counts as a failure. An `all` check runs its
 *   checks together in one attempt, under one timeout, and passes only when every one does.
 * - `none` is healthy at start(); `docker` has no timer and takes Docker's status through report().
 *
 * Timers are not unref'd: a started monitor is part of the daemon's work until stop().
 */
export class HealthMonitor {
  private readonly opts: HealthMonitorOptions;
  private readonly jitter: () => number;
  private current: HealthState = 'unknown';
  private last: CheckResult | undefined;
  private passes = 0;
  private failures = 0;
  private everHealthy = false;
  private started = false;
  private stopped = false;
  private startedAt = 0;
  private cancelTimer: (() => void) | undefined;
  private inFlight: AbortController | undefined;

  constructor(opts: HealthMonitorOptions) {
    const kind = opts.settings.check.kind;
    if (kind !== 'none' && kind !== 'docker' && !opts.checker) {
      throw new Error(`health monitor for ${opts.name}: a ${kind} check needs a checker`);
    }
    this.opts = opts;
    this.jitter = opts.jitter ?? Math.random;
  }

  /** The current verdict. */
  get state(): HealthState {
    return this.current;
  }

  /** The latest attempt's outcome (or Docker status), for status pages. */
  get lastResult(): CheckResult | undefined {
    return this.last;
  }

  /** Starts checking; `none` turns healthy right here. Calling it again, or after stop(), does nothing. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.startedAt = performance.now();
    const kind = this.opts.settings.check.kind;
    if (kind === 'none') {
      this.last = { ok: true, detail: 'no check' };
      this.transition('healthy', this.last);
    } else if (kind !== 'docker') {
      this.schedule(this.firstDelay());
    }
  }

  /** Stops timers, aborts a running attempt; no change is reported afterwards. */
  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.inFlight?.abort(new Error('health monitor stopped'));
    this.inFlight = undefined;
  }

  /**
   * Feeds Docker's health_status (`docker` checks only): Docker has applied its own retries, so
   * healthy and unhealthy take effect at once; `starting` (and anything else) changes nothing.
   */
  report(status: string): void {
    if (this.stopped || this.opts.settings.check.kind !== 'docker') return;
    if (status !== 'healthy' && status !== 'unhealthy') return;
    this.last = { ok: status === 'healthy', detail: `docker: ${status}` };
    if (this.current !== status) this.transition(status, this.last);
  }

  private firstDelay(): number {
    const spread = Math.min(FIRST_ATTEMPT_SPREAD_MS, this.opts.settings.intervalMs * 0.1);
    return spread * this.jitter();
  }

  private inFirstInterval(): boolean {
    return performance.now() - this.startedAt < this.opts.settings.intervalMs;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => void this.attempt(), Math.max(0, delayMs));
    this.cancelTimer = () => clearTimeout(timer);
  }

  /**
   * Schedules the attempt after the one begun at `begun`, start to start: the startup retry (exact), or the jittered
   * interval rounded up to its slot. An attempt already overdue (it outlasted the interval) starts at once.
   */
  private scheduleNext(begun: number): void {
    if (this.stopped) return;
    const { intervalMs } = this.opts.settings;
    const startup = !this.everHealthy && this.inFirstInterval();
    const base = startup ? Math.min(STARTUP_RETRY_MS, intervalMs) : intervalMs;
    const delay = base * (1 - INTERVAL_JITTER + 2 * INTERVAL_JITTER * this.jitter()) - (performance.now() - begun);
    // Exec checks keep a timer each: a process or a Docker exec costs far more than a wakeup, and bunching them
    // into one slot would hand dockerd 1/20 of the containers' execs at once.
    if (startup || delay <= 0 || this.runsExec) this.schedule(delay);
    else this.cancelTimer = (this.opts.slots ?? sharedSlots).schedule(delay, slotMs(intervalMs), () => void this.attempt());
  }

  /** True when an attempt runs a command (alone or among several checks). */
  private get runsExec(): boolean {
    return activeChecks(this.opts.settings.check).some((c) => c.kind === 'exec');
  }

  private async attempt(): Promise<void> {
    this.cancelTimer = undefined;
    const begun = performance.now();
    const result = await this.runChecker();
    if (this.stopped) return;
    this.record(result);
    this.scheduleNext(begun);
  }

  /**
   * One attempt bounded by timeoutMs: settles at the deadline (or at stop()) even if the checker does not. An `all`
   * check's timeout also names the checks that were still running, which settle one event-loop turn after the abort.
   */
  private runChecker(): Promise<CheckResult> {
    const { timeoutMs } = this.opts.settings;
    const checker = this.opts.checker as Checker;
    const controller = new AbortController();
    const timedOut = `timeout after ${timeoutMs} ms`;
    let expired = false;
    this.inFlight = controller;
    return new Promise<CheckResult>((resolve) => {
      const settle = (result: CheckResult): void => {
        clearTimeout(deadline);
        if (this.inFlight === controller) this.inFlight = undefined;
        resolve(result);
      };
      const deadline = setTimeout(() => {
        expired = true;
        if (this.opts.settings.check.kind === 'all') setImmediate(() => settle({ ok: false, detail: timedOut }));
        else settle({ ok: false, detail: timedOut });
        controller.abort(new Error(timedOut));
      }, timeoutMs);
      controller.signal.addEventListener('abort', () => expired || settle({ ok: false, detail: 'stopped' }), { once: true });
      const answered = (result: CheckResult): void => settle(expired ? { ok: false, detail: `${timedOut}: ${result.detail}` } : result);
      Promise.resolve()
        .then(() => checker(controller.signal))
        .then(answered, (err: unknown) => settle({ ok: false, detail: `check threw: ${errorMessage(err)}` }));
    });
  }

  /** Applies one attempt to the rise/fall counters. */
  private record(result: CheckResult): void {
    this.last = result;
    if (result.ok) {
      this.failures = 0;
      this.passes++;
      if (this.current !== 'healthy' && this.passes >= this.opts.settings.rise) this.transition('healthy', result);
    } else {
      this.passes = 0;
      this.failures++;
      // A service still starting up (unknown, first interval) is not reported failing yet.
      const settling = this.current === 'unknown' && this.inFirstInterval();
      if (this.current !== 'unhealthy' && !settling && this.failures >= this.opts.settings.fall) {
        this.transition('unhealthy', result);
      }
    }
  }

  private transition(state: 'healthy' | 'unhealthy', result: CheckResult): void {
    const previous = this.current;
    this.current = state;
    if (state === 'healthy') this.everHealthy = true;
    const fields = { service: this.opts.name, check: checkKinds(this.opts.settings.check), detail: result.detail };
    if (state === 'healthy') this.opts.log.info(fields, 'health check passing');
    else if (this.opts.settings.check.kind === 'docker') this.opts.log.warn(fields, 'health check failing');
    else this.opts.log.warn({ ...fields, failures: this.failures }, 'health check failing');
    try {
      this.opts.onChange?.({ name: this.opts.name, state, previous, result });
    } catch (err) {
      this.opts.log.error({ service: this.opts.name, err: errorMessage(err) }, 'health change handler failed');
    }
  }
}

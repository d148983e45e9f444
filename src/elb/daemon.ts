// `sidekick elb`: keeps one instance in one load balancer while its local check passes. The health monitor says
// what should be; one serialized loop makes AWS agree, remembering what it last saw so a steady state costs no
// calls, re-reading membership every `resyncMs` (an instance removed by hand comes back while healthy), and
// retrying failed calls (throttling, 5xx, network) with capped backoff without ever giving up or crashing.
import type { CheckTarget } from '../health/checks.js';
import { checkerFor } from '../health/checks.js';
import { HealthMonitor } from '../health/monitor.js';
import type { Checker, HealthSettings } from '../health/types.js';
import { nextDelay, sleep } from '../util/backoff.js';
import type { Logger } from '../util/log.js';
import { awsErrorInfo, type LoadBalancerTarget, type Membership } from './load-balancers.js';
import { deadlineSignal } from '../util/deadline.js';

/** Options of an {@link ElbPresence}. */
export interface ElbPresenceOptions {
  target: LoadBalancerTarget;
  health: HealthSettings;
  /** Where http/tcp checks connect. */
  checkTarget: CheckTarget;
  log: Logger;
  /** How often membership is read back from AWS even when nothing changed here. */
  resyncMs: number;
  /** First pause after a failed AWS call; doubled (±20 %) up to retryMaxMs. Default 1 s. */
  retryInitialMs?: number;
  /** Default 60 s. */
  retryMaxMs?: number;
  /** Deadline of one register/deregister/describe, SDK retries included. Default 30 s. */
  callTimeoutMs?: number;
  /** A number in [0, 1) for the resync jitter and the monitor; Math.random by default. */
  jitter?: () => number;
  /** Replaces the checker `health.check` would get (tests script the verdicts). */
  checker?: Checker;
}

type AwsCall = 'describe' | 'register' | 'deregister';

/**
 * Registration follows health:
 * - at start, membership is read (so an instance already registered is not registered twice);
 * - the check passing `rise` times → RegisterInstancesWithLoadBalancer / RegisterTargets, once;
 * - failing `fall` times → deregistered, once; while the verdict is still unknown nothing is changed;
 * - every resync interval membership is read again and corrected;
 * - stop() deregisters, retrying until its timeout.
 */
export class ElbPresence {
  private readonly opts: Required<Omit<ElbPresenceOptions, 'jitter' | 'checker'>> & { jitter: () => number };
  private readonly log: Logger;
  private readonly monitor: HealthMonitor;
  /** What the health check says should be; undefined until its first verdict. */
  private desired: boolean | undefined;
  /** What AWS last told us (or what our last successful call made it). */
  private actual: Membership | 'unknown' = 'unknown';
  private needDescribe = true;
  private dirty = false;
  private loop: Promise<void> | undefined;
  /** The call being made now, if any. */
  private inFlight: AwsCall | undefined;
  /** The latest call made (the one a failure belongs to). */
  private lastOp: AwsCall = 'describe';
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  /** `op:code` of the failure streak being retried, so it is logged once, not at every attempt. */
  private failing: string | undefined;
  private started = false;
  private stopping = false;
  /** Aborts the loop's in-flight call at stop(). */
  private readonly abort = new AbortController();

  constructor(opts: ElbPresenceOptions) {
    this.opts = {
      retryInitialMs: 1000,
      retryMaxMs: 60_000,
      callTimeoutMs: 30_000,
      ...opts,
      jitter: opts.jitter ?? Math.random,
    };
    this.retryDelay = this.opts.retryInitialMs;
    this.log = opts.log.child({ component: 'elb' });
    const checker = opts.checker ?? checkerFor(opts.health.check, opts.checkTarget);
    this.monitor = new HealthMonitor({
      settings: opts.health,
      ...(checker && { checker }),
      log: this.log,
      name: String(opts.target.fields.instance ?? 'instance'),
      jitter: this.opts.jitter,
      onChange: (change) => this.want(change.state === 'healthy'),
    });
  }

  /** What AWS last said (or our last successful call made it): registered, deregistered, or unknown. */
  get membership(): Membership | 'unknown' {
    return this.actual;
  }

  /** True once the check passes, false once it fails; undefined before its first verdict. */
  get healthy(): boolean | undefined {
    return this.desired;
  }

  /** Reads membership, starts the check and the resync timer. Calling it again does nothing. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.kick();
    this.monitor.start();
    this.scheduleResync();
  }

  /**
   * Stops checking and deregisters the instance (unless AWS already said it is not registered), retrying until
   * `timeoutMs`. Resolves true once it is deregistered, false when the timeout ran out first.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    if (this.stopping) return this.actual === 'deregistered';
    this.stopping = true;
    this.monitor.stop();
    clearTimeout(this.retryTimer);
    clearTimeout(this.resyncTimer);
    // A register cut short may still have reached AWS: then nothing is known any more.
    if (this.inFlight === 'register') this.actual = 'unknown';
    this.abort.abort(new Error('stopping'));
    const deadline = Date.now() + timeoutMs;
    // The aborted call settles at once with the SDK; one that does not (an SDK retry sleeping between attempts) gets
    // half the stop timeout, so the deregistration itself always has the other half.
    if (this.loop) {
      const done = new AbortController();
      await Promise.race([this.loop, sleep(timeoutMs / 2, done.signal)]);
      done.abort();
    }
    const fields = this.opts.target.fields;
    if (this.actual === 'deregistered') {
      this.log.info({ ...fields }, 'stopping: instance is not registered; nothing to deregister');
      return true;
    }
    const ok = await deregisterUntil(this.opts.target, deadline, this.log, {
      fields,
      cause: 'stopping',
      retryInitialMs: this.opts.retryInitialMs,
      retryMaxMs: this.opts.retryMaxMs,
    });
    if (ok) this.actual = 'deregistered';
    return ok;
  }

  /** The health verdict changed. */
  private want(healthy: boolean): void {
    this.desired = healthy;
    this.kick();
  }

  /** Runs the loop now (or right after the pass in progress). */
  private kick(): void {
    if (this.stopping) return;
    this.dirty = true;
    if (this.loop) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
    });
  }

  private scheduleResync(): void {
    if (this.stopping) return;
    const delay = this.opts.resyncMs * (0.9 + 0.2 * this.opts.jitter());
    this.resyncTimer = setTimeout(() => {
      this.needDescribe = true;
      // A pending retry will read membership first anyway; don't cut its backoff short.
      if (!this.retryTimer) this.kick();
      this.scheduleResync();
    }, delay);
  }

  private async run(): Promise<void> {
    while (this.dirty && !this.stopping) {
      this.dirty = false;
      try {
        await this.step();
        this.recovered();
      } catch (err) {
        if (this.stopping) return;
        this.failed(err);
        return;
      }
    }
  }

  /** One pass: read membership if due, then register or deregister if it differs from what health wants. */
  private async step(): Promise<void> {
    const fields = this.opts.target.fields;
    if (this.needDescribe) {
      const found = await this.call('describe', (signal) => this.opts.target.membership(signal));
      this.needDescribe = false;
      const before = this.actual;
      this.actual = found;
      if (before === 'unknown') this.log.info({ ...fields, membership: found }, found === 'registered' ? 'instance is registered' : 'instance is not registered');
      else if (before !== found) this.log.warn({ ...fields, expected: before, found }, 'membership was changed outside sidekick');
    }
    if (this.desired === true && this.actual !== 'registered') {
      await this.call('register', (signal) => this.opts.target.register(signal));
      this.actual = 'registered';
      this.log.info({ ...fields }, 'registered');
    } else if (this.desired === false && this.actual !== 'deregistered') {
      await this.call('deregister', (signal) => this.opts.target.deregister(signal));
      this.actual = 'deregistered';
      this.log.info({ ...fields, cause: 'health check failing' }, 'deregistered');
    }
  }

  /** One AWS call bounded by callTimeoutMs and cut short by stop(). */
  private async call<T>(op: AwsCall, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.inFlight = op;
    this.lastOp = op;
    const bound = deadlineSignal(this.opts.callTimeoutMs, this.abort.signal);
    try {
      return await fn(bound.signal);
    } finally {
      bound.dispose();
      this.inFlight = undefined;
    }
  }

  private failed(err: unknown): void {
    const info = awsErrorInfo(err);
    const key = `${this.lastOp}:${info.code ?? info.name}`;
    const delay = this.retryDelay;
    this.retryDelay = nextDelay(this.retryDelay, this.opts.retryMaxMs);
    const fields = { ...this.opts.target.fields, op: this.lastOp, error: errorFields(info), retryInMs: delay };
    if (key === this.failing) this.log.debug(fields, 'AWS call failed again');
    else if (info.throttling) this.log.warn(fields, 'AWS throttled the call; retrying with backoff');
    else this.log.error(fields, 'AWS call failed; retrying with backoff');
    this.failing = key;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
  }

  private recovered(): void {
    this.retryDelay = this.opts.retryInitialMs;
    if (this.failing === undefined) return;
    this.failing = undefined;
    this.log.info({ ...this.opts.target.fields }, 'AWS calls succeed again');
  }
}

/** How {@link deregisterUntil} logs and paces its attempts. */
export interface DeregisterOptions {
  /** Where: load balancer or target group, instance, region… */
  fields: Record<string, unknown>;
  /** Why, in the `cause` field of every line ("stopping", "--deregister"). */
  cause: string;
  retryInitialMs: number;
  retryMaxMs: number;
}

/**
 * Deregisters, retrying with backoff until `deadline`: one warning per distinct error, one info line when done, one
 * error when the deadline ran out. Resolves true once deregistered.
 */
export async function deregisterUntil(target: LoadBalancerTarget, deadline: number, log: Logger, o: DeregisterOptions): Promise<boolean> {
  let delay = o.retryInitialMs;
  let logged: string | undefined;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      await target.deregister(AbortSignal.timeout(remaining));
      log.info({ ...o.fields, cause: o.cause }, 'deregistered');
      return true;
    } catch (err) {
      const info = awsErrorInfo(err);
      const key = info.code ?? info.name;
      if (key !== logged) log.warn({ ...o.fields, cause: o.cause, op: 'deregister', error: errorFields(info) }, 'deregistration failed; retrying until the stop timeout');
      logged = key;
      await sleep(Math.min(delay, deadline - Date.now()));
      delay = nextDelay(delay, o.retryMaxMs);
    }
  }
  log.error({ ...o.fields, cause: o.cause }, 'could not deregister within the stop timeout; the instance is still registered');
  return false;
}

/** The loggable part of an AWS error. */
export function errorFields(info: ReturnType<typeof awsErrorInfo>): Record<string, string | number> {
  const out: Record<string, string | number> = { name: info.name, message: info.message };
  if (info.code !== undefined) out.code = info.code;
  if (info.status !== undefined) out.status = info.status;
  if (info.requestId !== undefined) out.requestId = info.requestId;
  return out;
}

// Waiting out the load balancer's drain. Deregistration returns at once, but the load balancer still finishes the
// requests in flight: a target group keeps the target `draining` until they are done or its deregistration delay has
// passed, a classic ELB with connection draining lists the instance as "deregistration currently in progress" until
// its connections are done or the draining timeout has passed. The app has to stay up until then, so `sidekick elb`
// exits (and lets systemd stop the app) only once AWS says the instance is out, or --drain-timeout has passed.
import { nextDelay, sleep } from '../util/backoff.js';
import { deadlineSignal } from '../util/deadline.js';
import type { Logger } from '../util/log.js';
import { errorFields } from './daemon.js';
import { awsErrorInfo, type LoadBalancerTarget } from './load-balancers.js';

/** How a drain wait ended: AWS said the instance is out, --drain-timeout ran out, or a signal cut the wait short. */
export type DrainOutcome = 'drained' | 'timed out' | 'skipped';

/** Options of {@link waitForDrain}. */
export interface DrainOptions {
  /** Where: load balancer or target group, instance, region… */
  fields: Record<string, unknown>;
  /** Why, in the `cause` field of every line ("stopping", "--deregister"). */
  cause: string;
  /** --drain-timeout. */
  timeoutMs: number;
  /** Aborted: stop waiting at once (a second SIGTERM). */
  skip?: AbortSignal;
  /** Pause between two reads of the instance's state. Default 1 s. */
  pollMs?: number;
  /** First pause after a failed read; doubled (±20 %) up to retryMaxMs. */
  retryInitialMs: number;
  retryMaxMs: number;
}

/** The log line that ends a drain, per outcome. */
const ENDINGS: Record<DrainOutcome, { level: 'info' | 'warn'; msg: string }> = {
  drained: { level: 'info', msg: 'drained: the load balancer sends the instance no more traffic' },
  'timed out': { level: 'warn', msg: 'drain timed out: the load balancer may still be finishing requests on the instance' },
  skipped: { level: 'warn', msg: 'drain wait skipped by a signal' },
};

/**
 * Waits, after a deregistration, until the load balancer has drained the instance (DescribeInstanceHealth /
 * DescribeTargetHealth say it is out), at most `timeoutMs`; read errors are retried with backoff. Logs one line with
 * how long it took and how it ended, and the load balancer's own drain period when AWS tells it.
 */
export async function waitForDrain(target: LoadBalancerTarget, log: Logger, o: DrainOptions): Promise<DrainOutcome> {
  const started = Date.now();
  const bound = deadlineSignal(o.timeoutMs, o.skip);
  const over = bound.signal;
  let periodMs: number | undefined;
  let outcome: DrainOutcome;
  try {
    periodMs = over.aborted ? undefined : await drainPeriod(target, log, o, over);
    outcome = over.aborted ? ended(o) : await pollUntilOut(target, log, o, over);
  } finally {
    bound.dispose();
  }
  const ending = ENDINGS[outcome];
  log[ending.level]({ ...o.fields, cause: o.cause, outcome, drainMs: Date.now() - started, ...(periodMs !== undefined && { drainPeriodMs: periodMs }) }, ending.msg);
  return outcome;
}

/** Why `over` fired. */
const ended = (o: DrainOptions): DrainOutcome => (o.skip?.aborted ? 'skipped' : 'timed out');

/**
 * The load balancer's drain period; a warning when --drain-timeout is shorter (requests still running at the
 * timeout may be cut) or when it cannot be read (an IAM policy without the Describe*Attributes action).
 */
async function drainPeriod(target: LoadBalancerTarget, log: Logger, o: DrainOptions, over: AbortSignal): Promise<number | undefined> {
  try {
    const periodMs = await target.drainPeriodMs(over);
    if (periodMs !== undefined && periodMs > o.timeoutMs) {
      log.warn({ ...o.fields, cause: o.cause, drainPeriodMs: periodMs, drainTimeoutMs: o.timeoutMs }, "--drain-timeout is shorter than the load balancer's drain period: requests still running at the timeout may be cut");
    }
    return periodMs;
  } catch (err) {
    if (!over.aborted) {
      log.warn({ ...o.fields, cause: o.cause, error: errorFields(awsErrorInfo(err)) }, "could not read the load balancer's drain period; waiting for the drain all the same");
    }
    return undefined;
  }
}

/** Reads the instance's state every pollMs until AWS says it is out, or `over` fires. */
async function pollUntilOut(target: LoadBalancerTarget, log: Logger, o: DrainOptions, over: AbortSignal): Promise<DrainOutcome> {
  const pollMs = o.pollMs ?? 1000;
  let delay = o.retryInitialMs;
  let failing: string | undefined;
  while (!over.aborted) {
    try {
      const state = await target.drainState(over);
      if (state === 'out') return 'drained';
      log.debug({ ...o.fields, cause: o.cause, state }, 'waiting for the load balancer to drain the instance');
      delay = o.retryInitialMs;
      await sleep(pollMs, over);
    } catch (err) {
      if (over.aborted) break;
      const info = awsErrorInfo(err);
      const key = info.code ?? info.name;
      if (key !== failing) log.warn({ ...o.fields, cause: o.cause, op: 'drain-state', error: errorFields(info) }, 'could not read the drain state; retrying until --drain-timeout');
      failing = key;
      await sleep(delay, over);
      delay = nextDelay(delay, o.retryMaxMs);
    }
  }
  return ended(o);
}

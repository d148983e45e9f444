// A load balancer in memory for the unit tests of `sidekick elb`'s daemon and drain: membership, the drain that
// follows a deregistration, a call log, scripted failures and hangs.
import type { DrainState, LoadBalancerTarget, Membership } from '../../src/elb/load-balancers.js';

export type Op = 'describe' | 'register' | 'deregister' | 'drain-state' | 'drain-period';

/** One instance in one load balancer, kept in memory. */
export class MemoryTarget implements LoadBalancerTarget {
  readonly kind = 'classic';
  readonly fields = { loadBalancer: 'web-lb', instance: 'i-0123456789abcdef0' };
  registered: boolean;
  /** How long a deregistered instance drains (0: out at once). */
  drainMs = 0;
  /** What drainPeriodMs() answers. */
  drainPeriod: number | undefined = 0;
  /** When the drain of the last deregistration is over. */
  drainUntil = 0;
  calls: Op[] = [];
  /** Errors thrown by the next calls of an op, in order. */
  failures: Array<{ op: Op; err: Error }> = [];
  /** An op that never answers (until aborted). */
  hang: Op | undefined;
  closed = false;

  constructor(registered = false) {
    this.registered = registered;
  }

  count(op: Op): number {
    return this.calls.filter((c) => c === op).length;
  }

  private async call(op: Op, signal: AbortSignal | undefined): Promise<void> {
    this.calls.push(op);
    if (this.hang === op) {
      await new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    }
    const i = this.failures.findIndex((f) => f.op === op);
    if (i >= 0) {
      const [f] = this.failures.splice(i, 1);
      throw f?.err;
    }
  }

  async membership(signal?: AbortSignal): Promise<Membership> {
    await this.call('describe', signal);
    return this.registered ? 'registered' : 'deregistered';
  }
  async register(signal?: AbortSignal): Promise<void> {
    await this.call('register', signal);
    this.registered = true;
  }
  async deregister(signal?: AbortSignal): Promise<void> {
    await this.call('deregister', signal);
    if (this.registered) this.drainUntil = Date.now() + this.drainMs;
    this.registered = false;
  }
  async drainState(signal?: AbortSignal): Promise<DrainState> {
    await this.call('drain-state', signal);
    if (this.registered) return 'in-service';
    return Date.now() < this.drainUntil ? 'draining' : 'out';
  }
  async drainPeriodMs(signal?: AbortSignal): Promise<number | undefined> {
    await this.call('drain-period', signal);
    return this.drainPeriod;
  }
  close(): void {
    this.closed = true;
  }
}

/** An AWS-style error: the SDK names service exceptions after their code. */
export function awsError(code: string, status = 400): Error {
  return Object.assign(new Error(`${code} happened`), { name: code, Code: code, $metadata: { httpStatusCode: status, requestId: 'req-1' } });
}

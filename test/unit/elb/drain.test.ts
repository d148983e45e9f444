// waitForDrain against an in-memory load balancer: how long it waits, what it calls, how it ends and what it logs.
import { describe, expect, it } from 'vitest';
import { waitForDrain, type DrainOptions } from '../../../src/elb/drain.js';
import { awsError, MemoryTarget } from '../../support/elb-target.js';
import { captureLogger } from '../../support/logs.js';
import { waitFor } from '../../support/procs.js';

/** A registered target, deregistered now, that drains for `drainMs`. */
async function deregistered(drainMs: number): Promise<MemoryTarget> {
  const t = new MemoryTarget(true);
  t.drainMs = drainMs;
  t.drainPeriod = drainMs;
  await t.deregister();
  return t;
}

function drain(t: MemoryTarget, o: Partial<DrainOptions> = {}) {
  const logs = captureLogger('debug');
  const opts: DrainOptions = { fields: { ...t.fields }, cause: 'stopping', timeoutMs: 5000, pollMs: 50, retryInitialMs: 20, retryMaxMs: 100, ...o };
  const begun = Date.now();
  const done = waitForDrain(t, logs.log, opts).then((outcome) => ({ outcome, tookMs: Date.now() - begun, endedAt: Date.now() }));
  /** The one line that ends the drain. */
  const ending = () => logs.lines.filter((l) => l.outcome !== undefined);
  return { done, logs, ending, warnings: () => logs.lines.filter((l) => l.level === 40) };
}

describe('waitForDrain', () => {
  it('waits while the load balancer drains the instance, and logs one line when it is out', async () => {
    const t = new MemoryTarget(true);
    t.drainMs = 600;
    t.drainPeriod = 600;
    const d = drain(t);
    // AWS applies the deregistration a moment after the wait began (it finds the instance still in service first).
    await t.deregister();
    const { outcome, endedAt } = await d.done;
    expect(outcome).toBe('drained');
    expect(endedAt).toBeGreaterThanOrEqual(t.drainUntil);
    expect(t.count('drain-state')).toBeGreaterThan(1);
    expect(t.count('drain-period')).toBe(1);
    expect(d.ending()).toHaveLength(1);
    const [line] = d.ending();
    expect(line).toMatchObject({ level: 30, outcome: 'drained', cause: 'stopping', drainPeriodMs: 600, loadBalancer: 'web-lb', instance: 'i-0123456789abcdef0' });
    expect(line?.drainMs).toBeGreaterThanOrEqual(600);
    expect(d.warnings()).toEqual([]);
  });

  it('an instance already out (no connection draining) ends the wait at the first read', async () => {
    const t = await deregistered(0);
    const d = drain(t);
    expect((await d.done).outcome).toBe('drained');
    expect(t.count('drain-state')).toBe(1);
    expect(d.ending()[0]).toMatchObject({ outcome: 'drained', drainPeriodMs: 0 });
  });

  it('is bounded by its timeout: a drain longer than it ends as "timed out", with a warning that the period is longer', async () => {
    const t = await deregistered(60_000);
    const d = drain(t, { timeoutMs: 400 });
    const { outcome, tookMs } = await d.done;
    expect(outcome).toBe('timed out');
    expect(tookMs).toBeGreaterThanOrEqual(390);
    expect(tookMs).toBeLessThan(3000);
    expect(d.ending()[0]).toMatchObject({ level: 40, outcome: 'timed out', drainPeriodMs: 60_000 });
    expect(d.warnings()[0]).toMatchObject({ drainPeriodMs: 60_000, drainTimeoutMs: 400 });
    expect(d.warnings()[0]?.msg).toMatch(/--drain-timeout is shorter than the load balancer's drain period/);
  });

  it('an instance that AWS still has in service (registered again elsewhere) is waited for until the timeout', async () => {
    const t = new MemoryTarget(true);
    const d = drain(t, { timeoutMs: 300 });
    expect((await d.done).outcome).toBe('timed out');
    expect(t.count('drain-state')).toBeGreaterThan(1);
  });

  it('the skip signal (a second SIGTERM) ends the wait at once', async () => {
    const t = await deregistered(60_000);
    const skip = new AbortController();
    const d = drain(t, { skip: skip.signal, timeoutMs: 30_000 });
    await waitFor(() => t.count('drain-state') >= 2);
    const asked = Date.now();
    skip.abort();
    const { outcome } = await d.done;
    expect(outcome).toBe('skipped');
    expect(Date.now() - asked).toBeLessThan(1000);
    expect(d.ending()[0]).toMatchObject({ level: 40, outcome: 'skipped' });
  });

  it('skipped before it began: no AWS call at all', async () => {
    const t = await deregistered(60_000);
    const skip = new AbortController();
    skip.abort();
    expect((await drain(t, { skip: skip.signal }).done).outcome).toBe('skipped');
    expect(t.calls).toEqual(['deregister']);
  });

  it('a state read that hangs is cut short by the timeout', async () => {
    const t = await deregistered(60_000);
    t.hang = 'drain-state';
    const { outcome, tookMs } = await drain(t, { timeoutMs: 300 }).done;
    expect(outcome).toBe('timed out');
    expect(tookMs).toBeLessThan(3000);
  });

  it('failed reads are retried with backoff, one warning per kind of error', async () => {
    const t = await deregistered(300);
    t.failures = [
      { op: 'drain-state', err: awsError('Throttling') },
      { op: 'drain-state', err: awsError('Throttling') },
      { op: 'drain-state', err: awsError('InternalFailure', 500) },
    ];
    const d = drain(t);
    expect((await d.done).outcome).toBe('drained');
    const failed = d.warnings().filter((l) => l.msg === 'could not read the drain state; retrying until --drain-timeout');
    expect(failed.map((l) => (l.error as { code: string }).code)).toEqual(['Throttling', 'InternalFailure']);
  });

  it('a drain period that cannot be read (no IAM permission) is warned about, and the drain is waited for all the same', async () => {
    const t = await deregistered(300);
    t.failures = [{ op: 'drain-period', err: awsError('AccessDenied', 403) }];
    const d = drain(t);
    const { outcome, endedAt } = await d.done;
    expect(outcome).toBe('drained');
    expect(endedAt).toBeGreaterThanOrEqual(t.drainUntil);
    expect(d.warnings()[0]).toMatchObject({ msg: "could not read the load balancer's drain period; waiting for the drain all the same", error: { code: 'AccessDenied', status: 403 } });
    expect(d.ending()[0]?.drainPeriodMs).toBeUndefined();
  });
});

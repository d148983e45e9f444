// ElbPresence against an in-memory load balancer: what it calls, when, and how often.
import { afterEach, describe, expect, it } from 'vitest';
import { ElbPresence } from '../../../src/elb/daemon.js';
import type { CheckResult } from '../../../src/health/types.js';
import { awsError, MemoryTarget } from '../../support/elb-target.js';
import { captureLogger } from '../../support/logs.js';
import { waitFor } from '../../support/procs.js';

const daemons: ElbPresence[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop(100)));
});

/** A presence with a scripted check (`state.ok`), 100 ms interval, fall 2 (timeouts generous for a loaded machine). */
function presence(target: MemoryTarget, opts: { ok?: boolean; resyncMs?: number; fall?: number } = {}) {
  const state = { ok: opts.ok ?? true };
  const logs = captureLogger('debug');
  const d = new ElbPresence({
    target,
    health: { check: { kind: 'http', path: '/' }, intervalMs: 100, timeoutMs: 90, rise: 1, fall: opts.fall ?? 2 },
    checkTarget: { host: '127.0.0.1', port: 1 },
    checker: async (): Promise<CheckResult> => ({ ok: state.ok, detail: state.ok ? 'HTTP 200' : 'HTTP 503' }),
    log: logs.log,
    resyncMs: opts.resyncMs ?? 60_000,
    retryInitialMs: 20,
    retryMaxMs: 100,
    jitter: () => 0.5,
  });
  daemons.push(d);
  return { d, state, logs, msgs: (msg: string) => logs.lines.filter((l) => l.msg === msg) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ElbPresence', () => {
  it('reads membership first, registers once when healthy, and then makes no calls in the steady state', async () => {
    const t = new MemoryTarget();
    const { d, msgs } = presence(t);
    d.start();
    await waitFor(() => t.registered);
    await sleep(400); // four more passing checks
    expect(t.calls).toEqual(['describe', 'register']);
    expect(d.membership).toBe('registered');
    expect(msgs('instance is not registered')).toHaveLength(1);
    expect(msgs('registered')).toHaveLength(1);
  });

  it('an instance already registered at start is not registered again', async () => {
    const t = new MemoryTarget(true);
    const { d, msgs } = presence(t);
    d.start();
    await waitFor(() => d.healthy === true);
    await sleep(200);
    expect(t.calls).toEqual(['describe']);
    expect(msgs('instance is registered')).toHaveLength(1);
  });

  it('deregisters once after `fall` failures and registers again once the check passes', async () => {
    const t = new MemoryTarget();
    const { d, state, msgs } = presence(t);
    d.start();
    await waitFor(() => t.registered);
    state.ok = false;
    await waitFor(() => !t.registered);
    await sleep(200);
    expect(t.calls).toEqual(['describe', 'register', 'deregister']);
    expect(msgs('deregistered')[0]).toMatchObject({ cause: 'health check failing', loadBalancer: 'web-lb', instance: 'i-0123456789abcdef0' });
    state.ok = true;
    await waitFor(() => t.registered);
    expect(t.calls).toEqual(['describe', 'register', 'deregister', 'register']);
  });

  it('changes nothing while the first verdict is pending: a failing check within the first interval does not deregister', async () => {
    const t = new MemoryTarget(true);
    const logs = captureLogger();
    const d = new ElbPresence({
      target: t,
      health: { check: { kind: 'http', path: '/' }, intervalMs: 600, timeoutMs: 90, rise: 1, fall: 1 },
      checkTarget: { host: '127.0.0.1', port: 1 },
      checker: async () => ({ ok: false, detail: 'HTTP 503' }),
      log: logs.log,
      resyncMs: 60_000,
      jitter: () => 0.5,
    });
    daemons.push(d);
    d.start();
    await sleep(300);
    expect(d.healthy).toBeUndefined();
    expect(t.calls).toEqual(['describe']);
    // Once the first interval is over, a service that never came up is failing: out it goes.
    await waitFor(() => !t.registered, 2000);
    expect(t.calls).toEqual(['describe', 'deregister']);
  });

  it('re-reads membership every resync: an instance removed by hand comes back while healthy', async () => {
    const t = new MemoryTarget();
    const { d, msgs } = presence(t, { resyncMs: 200 });
    d.start();
    await waitFor(() => t.registered);
    t.registered = false; // someone deregistered it in the console
    await waitFor(() => t.count('register') === 2, 2000);
    expect(t.registered).toBe(true);
    expect(msgs('membership was changed outside sidekick')[0]).toMatchObject({ expected: 'registered', found: 'deregistered' });
  });

  it('re-reads membership every resync: an instance added by hand while failing is removed', async () => {
    const t = new MemoryTarget();
    const { d, state } = presence(t, { resyncMs: 200, ok: false });
    state.ok = false;
    d.start();
    await waitFor(() => d.healthy === false, 2000);
    t.registered = true;
    await waitFor(() => t.count('deregister') >= 1 && !t.registered, 2000);
  });

  it('retries a throttled register with backoff: one warning for the streak, one info when calls succeed again', async () => {
    const t = new MemoryTarget();
    t.failures = [0, 1, 2, 3].map(() => ({ op: 'register' as const, err: awsError('Throttling') }));
    const { d, msgs, logs } = presence(t);
    d.start();
    await waitFor(() => t.registered, 3000);
    expect(t.count('register')).toBe(5);
    const warn = msgs('AWS throttled the call; retrying with backoff');
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatchObject({ level: 40, op: 'register', error: { name: 'Throttling', code: 'Throttling', status: 400, requestId: 'req-1' } });
    expect(msgs('AWS call failed again')).toHaveLength(3);
    expect(msgs('AWS calls succeed again')).toHaveLength(1);
    expect(logs.lines.filter((l) => l.level === 50)).toHaveLength(0);
  });

  it('logs a non-throttling failure (a missing load balancer) as an error, and keeps retrying', async () => {
    const t = new MemoryTarget();
    t.failures = [{ op: 'describe', err: awsError('LoadBalancerNotFound') }, { op: 'describe', err: awsError('LoadBalancerNotFound') }];
    const { d, msgs } = presence(t);
    d.start();
    await waitFor(() => t.registered, 3000);
    expect(msgs('AWS call failed; retrying with backoff')[0]).toMatchObject({ level: 50, op: 'describe', error: { code: 'LoadBalancerNotFound' } });
  });

  it('stop() deregisters a registered instance', async () => {
    const t = new MemoryTarget();
    const { d, msgs } = presence(t);
    d.start();
    await waitFor(() => t.registered);
    expect(await d.stop(1000)).toBe(true);
    expect(t.registered).toBe(false);
    expect(msgs('deregistered')[0]).toMatchObject({ cause: 'stopping' });
    // No more checks, no more calls.
    const calls = t.calls.length;
    await sleep(200);
    expect(t.calls.length).toBe(calls);
  });

  it('stop() makes no call when AWS said the instance is not registered', async () => {
    const t = new MemoryTarget();
    const { d } = presence(t, { ok: false });
    d.start();
    await waitFor(() => d.membership === 'deregistered');
    expect(await d.stop(1000)).toBe(true);
    expect(t.calls).toEqual(['describe']);
  });

  it('stop() retries a failing deregistration until it succeeds', async () => {
    const t = new MemoryTarget();
    const { d } = presence(t);
    d.start();
    await waitFor(() => t.registered);
    t.failures = [{ op: 'deregister', err: awsError('InternalFailure', 500) }, { op: 'deregister', err: awsError('Throttling') }];
    expect(await d.stop(2000)).toBe(true);
    expect(t.count('deregister')).toBe(3);
    expect(t.registered).toBe(false);
  });

  it('stop() gives up at its timeout and says so', async () => {
    const t = new MemoryTarget();
    const { d, logs } = presence(t);
    d.start();
    await waitFor(() => t.registered);
    t.failures = Array.from({ length: 100 }, () => ({ op: 'deregister' as const, err: awsError('InternalFailure', 500) }));
    const begun = Date.now();
    expect(await d.stop(300)).toBe(false);
    expect(Date.now() - begun).toBeLessThan(1000);
    expect(logs.lines.find((l) => l.level === 50)?.msg).toMatch(/could not deregister within the stop timeout/);
  });

  it('stop() during a register that hangs aborts it and deregisters', async () => {
    const t = new MemoryTarget();
    t.hang = 'register';
    const { d } = presence(t);
    d.start();
    await waitFor(() => t.count('register') === 1);
    t.hang = undefined;
    expect(await d.stop(1000)).toBe(true);
    expect(t.calls).toEqual(['describe', 'register', 'deregister']);
  });
});

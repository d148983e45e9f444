// `sidekick elb` as a user runs it: a real process with the real AWS SDK clients, pointed at the loopback ELB/ELBv2
// Query-API and IMDSv2 server (test/support/aws.ts), checking a local HTTP server whose answers the test scripts.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ELB_VIA_BINARY,
  FAKE_ACCESS_KEY_ID,
  FAKE_SECRET_ACCESS_KEY,
  fakeAwsEnv,
  sidekickElb,
  startFakeAws,
  targetGroupArn,
  type FakeAws,
} from '../../support/aws.js';
import { freePort } from '../../support/ports.js';
import { stopProc, waitFor } from '../../support/procs.js';

type LogLine = Record<string, unknown> & { msg?: string; level?: number };

const INSTANCE = 'i-0a1b2c3d4e5f60718';
const ARN = targetGroupArn('web-tg');

/** A running `sidekick elb` with its output collected as it comes. */
interface Elb {
  proc: ResultPromise;
  logs(): LogLine[];
  count(msg: string): number;
  /** Everything it wrote, stdout and stderr. */
  output(): string;
  readonly running: boolean;
}

let fake: FakeAws;
let app: { port: number; ok: boolean; hits: number };
const elbs: Elb[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  fake = await startFakeAws({ instanceId: INSTANCE });
});

beforeEach(async () => {
  fake.reset();
  app = await appServer();
});

afterEach(async () => {
  await Promise.all(elbs.splice(0).map((e) => stop(e.proc)));
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
});

afterAll(async () => {
  await fake?.close();
});

/** The service being checked: 200 while `ok`, else 503. */
async function appServer(): Promise<{ port: number; ok: boolean; hits: number }> {
  const state = { port: 0, ok: true, hits: 0 };
  const server = createServer((_req, res) => {
    state.hits++;
    res.writeHead(state.ok ? 200 : 503, { connection: 'close' }).end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  return state;
}

/** Stops an elb run: its SIGTERM deregistration may retry for a while, hence the longer grace. */
const stop = (proc: ResultPromise, signal: NodeJS.Signals = 'SIGTERM') => stopProc(proc, signal, 10_000);

/** JSON lines of the text so far (a trailing partial line is left for later). */
function parseLines(text: string): LogLine[] {
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** Starts `sidekick elb` with fake credentials; `--endpoint-url` to the fake unless `opts.noEndpointFlag`. */
function elb(args: string[], env: Record<string, string> = {}, opts: { noEndpointFlag?: boolean } = {}): Elb {
  const proc = sidekickElb([...args, ...(opts.noEndpointFlag ? [] : ['--endpoint-url', fake.url])], fakeAwsEnv(fake, env));
  let err = '';
  let out = '';
  let running = true;
  proc.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  void proc.finally(() => (running = false));
  const e: Elb = {
    proc,
    logs: () => parseLines(err),
    count: (msg) => parseLines(err).filter((l) => l.msg === msg).length,
    output: () => out + err,
    get running() {
      return running;
    },
  };
  elbs.push(e);
  return e;
}

const check = () => `http://127.0.0.1:${app.port}/health`;
// Short enough for quick tests, with timeouts generous enough for a loaded machine (a timed-out check is a failure).
const fast = ['--interval', '500ms', '--timeout', '450ms'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The access key id and secret appear nowhere in what sidekick wrote. */
function expectNoCredentials(text: string): void {
  expect(text).not.toContain(FAKE_ACCESS_KEY_ID);
  expect(text).not.toContain(FAKE_SECRET_ACCESS_KEY);
  expect(text).not.toMatch(/AWS4-HMAC-SHA256|Signature=/);
}

// Generous waits: each test starts real processes, and this machine may be busy with other suites.
describe(`sidekick elb (${ELB_VIA_BINARY ? 'the built binary' : 'dist/cli/elb.js under a test entry'})`, { timeout: 120_000 }, () => {
  it('classic ELB: registered while healthy, deregistered after --fall failures, registered again, deregistered on SIGTERM (exit 0)', async () => {
    fake.addLoadBalancer('web-lb', ['i-00000000000000001']);
    const e = elb(['--load-balancer', 'web-lb', '--check', check(), ...fast, '--fall', '2', '--log-level', 'debug']);
    await waitFor(() => fake.instances('web-lb').includes(INSTANCE), 30_000);

    app.ok = false;
    await waitFor(() => !fake.instances('web-lb').includes(INSTANCE), 20_000);
    const failing = e.logs().find((l) => l.msg === 'health check failing');
    expect(failing).toMatchObject({ detail: 'HTTP 503', failures: 2 });
    await sleep(1500); // more failing checks: no more calls
    expect(fake.callsOf('DeregisterInstancesFromLoadBalancer')).toHaveLength(1);

    app.ok = true;
    await waitFor(() => fake.instances('web-lb').includes(INSTANCE), 20_000);
    await sleep(1500); // more passing checks: no more calls
    expect(fake.calls.map((c) => c.action)).toEqual([
      'DescribeInstanceHealth',
      'RegisterInstancesWithLoadBalancer',
      'DeregisterInstancesFromLoadBalancer',
      'RegisterInstancesWithLoadBalancer',
    ]);

    const run = await stop(e.proc);
    expect(run.exitCode).toBe(0);
    expect(fake.instances('web-lb')).toEqual(['i-00000000000000001']);
    // Deregistered, then the drain read (no connection draining here: out at the first look).
    expect(fake.calls.slice(4).map((c) => c.action)).toEqual(['DeregisterInstancesFromLoadBalancer', 'DescribeLoadBalancerAttributes', 'DescribeInstanceHealth']);
    const logs = e.logs();
    expect(logs.filter((l) => l.msg === 'registered')).toHaveLength(2);
    expect(logs.filter((l) => l.msg === 'deregistered').map((l) => l.cause)).toEqual(['health check failing', 'stopping']);
    expect(logs.find((l) => l.msg === 'elb presence starting')).toMatchObject({ loadBalancer: 'web-lb', instance: INSTANCE, region: 'us-east-1', instanceIdFrom: 'imds' });
    // stderr is JSON lines only; stdout is empty.
    for (const l of String(run.stderr).split('\n').filter(Boolean)) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
    expect(String(run.stdout)).toBe('');

    // The instance id came from IMDSv2: a token PUT, then one GET carrying it; never a token-less (IMDSv1) GET.
    expect(fake.imdsCalls.map((c) => `${c.method} ${c.path} ${c.token ? 'token' : '-'}`)).toEqual(['PUT /latest/api/token -', 'GET /latest/meta-data/instance-id token']);
    // The real SDK signed every call with the fake key (the server saw it) ...
    for (const call of fake.calls) expect(call.authorization).toContain(`Credential=${FAKE_ACCESS_KEY_ID}/`);
    // ... and none of it reached sidekick's logs, even at debug level.
    expectNoCredentials(e.output());
  });

  it('target group (--port): the same cycle with RegisterTargets/DeregisterTargets; SIGINT deregisters too', async () => {
    fake.addTargetGroup(ARN, 80);
    const e = elb(['--target-group', ARN, '--port', '8080', '--check', check(), ...fast, '--instance-id', 'i-0fedcba9876543210']);
    await waitFor(() => fake.targets(ARN).includes('i-0fedcba9876543210:8080'), 30_000);
    app.ok = false;
    await waitFor(() => fake.targets(ARN).length === 0, 20_000);
    app.ok = true;
    await waitFor(() => fake.targets(ARN).length === 1, 20_000);
    const run = await stop(e.proc, 'SIGINT');
    expect(run.exitCode).toBe(0);
    expect(fake.targets(ARN)).toEqual([]);
    expect(fake.calls.map((c) => c.action)).toEqual([
      'DescribeTargetHealth',
      'RegisterTargets',
      'DeregisterTargets',
      'RegisterTargets',
      'DeregisterTargets',
      'DescribeTargetGroupAttributes',
      'DescribeTargetHealth',
    ]);
    for (const c of fake.callsOf('RegisterTargets')) expect(c.params).toMatchObject({ 'Targets.member.1.Id': 'i-0fedcba9876543210', 'Targets.member.1.Port': '8080' });
    // --instance-id given: instance metadata is never asked.
    expect(fake.imdsCalls).toEqual([]);
    expect(e.logs().find((l) => l.msg === 'elb presence starting')).toMatchObject({ targetGroup: ARN, port: 8080, instanceIdFrom: 'flag' });
    expectNoCredentials(e.output());
  });

  it('an instance already registered at start is not registered again (idempotent), and SIGTERM removes it', async () => {
    fake.addLoadBalancer('web-lb', [INSTANCE]);
    const e = elb(['--load-balancer', 'web-lb', '--check', check(), ...fast, '--fall', '3']);
    await waitFor(() => e.count('health check passing') === 1, 30_000);
    await sleep(1500);
    expect(fake.calls.map((c) => c.action)).toEqual(['DescribeInstanceHealth']);
    expect(e.logs().find((l) => l.msg === 'instance is registered')).toMatchObject({ membership: 'registered' });
    const run = await stop(e.proc);
    expect(run.exitCode).toBe(0);
    expect(fake.instances('web-lb')).toEqual([]);
    expect(fake.callsOf('RegisterInstancesWithLoadBalancer')).toEqual([]);
  });

  it('throttling on register is retried with backoff until it succeeds, without crashing', async () => {
    fake.addLoadBalancer('web-lb');
    // More throttles than the SDK's 3 attempts: the daemon's own retry has to take over.
    fake.throttle(5, { actions: ['RegisterInstancesWithLoadBalancer'] });
    const e = elb(['--load-balancer', 'web-lb', '--check', check(), ...fast]);
    await waitFor(() => fake.instances('web-lb').includes(INSTANCE), 40_000);
    expect(e.running).toBe(true);
    expect(fake.callsOf('RegisterInstancesWithLoadBalancer').map((c) => c.errorCode ?? c.status)).toEqual(['Throttling', 'Throttling', 'Throttling', 'Throttling', 'Throttling', 200]);
    const warn = e.logs().filter((l) => l.msg === 'AWS throttled the call; retrying with backoff');
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatchObject({ level: 40, op: 'register', error: { code: 'Throttling', status: 400 } });
    await waitFor(() => e.count('AWS calls succeed again') === 1);
    expect((await stop(e.proc)).exitCode).toBe(0);
    expectNoCredentials(e.output());
  });

  it('5xx on the SIGTERM deregistration is retried; exit 0 once it succeeds', async () => {
    fake.addTargetGroup(ARN, 80);
    const e = elb(['--target-group', ARN, '--check', check(), ...fast]);
    await waitFor(() => fake.targets(ARN).length === 1, 30_000);
    fake.serverError(4, { actions: ['DeregisterTargets'], status: 503 });
    const run = await stop(e.proc);
    expect(run.exitCode).toBe(0);
    expect(fake.targets(ARN)).toEqual([]);
    expect(fake.callsOf('DeregisterTargets').map((c) => c.status)).toEqual([503, 503, 503, 503, 200]);
  });

  it('SIGTERM when AWS keeps failing: gives up at --stop-timeout, says so, exit 1', async () => {
    fake.addLoadBalancer('web-lb');
    const e = elb(['--load-balancer', 'web-lb', '--check', check(), ...fast, '--stop-timeout', '1500ms']);
    await waitFor(() => fake.instances('web-lb').length === 1, 30_000);
    fake.serverError(1000, { actions: ['DeregisterInstancesFromLoadBalancer'] });
    const begun = Date.now();
    const run = await stop(e.proc);
    expect(Date.now() - begun).toBeLessThan(9000); // 1.5 s of retries, then exit; SIGKILL comes at 10 s
    expect(run.exitCode).toBe(1);
    expect(fake.instances('web-lb')).toEqual([INSTANCE]);
    expect(e.logs().find((l) => l.level === 50)?.msg).toMatch(/could not deregister within the stop timeout/);
  });

  it('an instance removed by hand is registered again at the next --resync while healthy', async () => {
    fake.addLoadBalancer('web-lb');
    const e = elb(['--load-balancer', 'web-lb', '--check', check(), ...fast, '--resync', '700ms']);
    await waitFor(() => fake.instances('web-lb').length === 1, 30_000);
    fake.addLoadBalancer('web-lb'); // emptied in the console
    await waitFor(() => fake.instances('web-lb').length === 1, 20_000);
    expect(fake.callsOf('RegisterInstancesWithLoadBalancer')).toHaveLength(2);
    expect(e.logs().find((l) => l.msg === 'membership was changed outside sidekick')).toMatchObject({ expected: 'registered', found: 'deregistered' });
  });

  it('a check that never passes deregisters an instance found registered, once the first interval is over', async () => {
    fake.addTargetGroup(ARN, 80, [{ id: INSTANCE }]);
    app.ok = false;
    const e = elb(['--target-group', ARN, '--check', check(), ...fast]);
    await waitFor(() => fake.targets(ARN).length === 0, 30_000);
    expect(fake.calls.map((c) => c.action)).toEqual(['DescribeTargetHealth', 'DeregisterTargets']);
    // SIGTERM: already out, nothing to deregister; the drain is only read.
    expect((await stop(e.proc)).exitCode).toBe(0);
    expect(fake.calls.slice(2).map((c) => c.action)).toEqual(['DescribeTargetGroupAttributes', 'DescribeTargetHealth']);
  });

  it('finds the ELB API through AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2 when --endpoint-url is not given', async () => {
    fake.addTargetGroup(ARN, 80);
    const e = elb(['--target-group', ARN, '--check', check(), ...fast], { AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: fake.url }, { noEndpointFlag: true });
    await waitFor(() => fake.targets(ARN).length === 1, 30_000);
    expect((await stop(e.proc)).exitCode).toBe(0);
    expect(fake.targets(ARN)).toEqual([]);
  });

  it('takes every flag from SIDEKICK_* variables too', async () => {
    fake.addLoadBalancer('env-lb');
    const e = elb([], {
      SIDEKICK_LOAD_BALANCER: 'env-lb',
      SIDEKICK_CHECK: `tcp://127.0.0.1:${app.port}`,
      SIDEKICK_INTERVAL: '500ms',
      SIDEKICK_TIMEOUT: '450ms',
      SIDEKICK_INSTANCE_ID: 'i-0123456789abcdef0',
    });
    await waitFor(() => fake.instances('env-lb').includes('i-0123456789abcdef0'), 30_000);
    expect((await stop(e.proc)).exitCode).toBe(0);
  });

  it('--deregister removes the instance once and exits (the ExecStopPost= safety net after a SIGKILL)', async () => {
    fake.addLoadBalancer('web-lb');
    const e = elb(['--load-balancer', 'web-lb', '--check', check(), ...fast]);
    await waitFor(() => fake.instances('web-lb').length === 1, 30_000);
    e.proc.kill('SIGKILL');
    await e.proc;
    expect(fake.instances('web-lb')).toEqual([INSTANCE]); // what elb-presence left behind
    const once = elb(['--load-balancer', 'web-lb', '--deregister']);
    const run = await once.proc;
    expect(run.exitCode).toBe(0);
    expect(fake.instances('web-lb')).toEqual([]);
    // Again: not registered is fine (AWS's InvalidInstance is taken as done).
    expect((await elb(['--load-balancer', 'web-lb', '--deregister']).proc).exitCode).toBe(0);
    expect(once.logs().find((l) => l.msg === 'deregistered')).toMatchObject({ cause: '--deregister', instance: INSTANCE });
  });

  it('instance metadata that does not answer: a clear error naming the endpoint, non-zero exit, no ELB call', async () => {
    fake.addLoadBalancer('web-lb');
    const dead = `http://127.0.0.1:${await freePort()}`;
    const run = await elb(['--load-balancer', 'web-lb', '--check', check(), '--imds-endpoint', dead]).proc;
    expect(run.exitCode).not.toBe(0);
    expect(String(run.stderr)).toContain(`instance id from instance metadata (IMDSv2) at ${dead}: PUT /latest/api/token: ECONNREFUSED`);
    expect(fake.calls).toEqual([]);
  });

  it.each([
    [['--check', 'http://127.0.0.1/'], /--load-balancer or --target-group: required/],
    [['--load-balancer', 'web-lb', '--target-group', ARN, '--check', 'none'], /give one, not both/],
    [['--load-balancer', 'web-lb'], /--check: required/],
    [['--load-balancer', 'web-lb', '--check', 'http:/health'], /--check: needs the host/],
    [['--load-balancer', 'web-lb', '--check', 'none', '--port', '80'], /--port: only for --target-group/],
    [['--target-group', 'not-an-arn', '--check', 'none'], /--target-group/],
    [['--load-balancer', 'web-lb', '--check', 'none', '--interval', 'soon'], /--interval/],
    [['--load-balancer', 'web-lb', '--check', 'none', '--instance-id', 'web1'], /--instance-id/],
    [['--target-group', ARN, '--check', 'none', '--drain-timeout', '0'], /--drain-timeout: must be at least 100 ms, got "0"/],
    [['--target-group', ARN, '--check', 'none', '--drain-timeout', 'until done'], /--drain-timeout: expected a duration like "500ms", "10s" or "1m"/],
    [['--load-balancer', 'web-lb', '--deregister', '--drain-timeout', '0s'], /--drain-timeout: must be at least 100 ms/],
  ])('bad flags %j: exit 2, the flag named, no AWS or metadata call', async (args, message) => {
    const run = await elb(args).proc;
    expect(run.exitCode).toBe(2);
    expect(String(run.stderr)).toMatch(message);
    expect(fake.calls).toEqual([]);
    expect(fake.imdsCalls).toEqual([]);
  });

  it('no region anywhere: exit 2 naming --region', async () => {
    const run = await sidekickElb(['--load-balancer', 'web-lb', '--check', 'none', '--endpoint-url', fake.url], { ...fakeAwsEnv(fake), AWS_REGION: '' });
    expect(run.exitCode).toBe(2);
    expect(String(run.stderr)).toMatch(/--region: required \(or set AWS_REGION/);
  });
});

/** The line that ends a drain (outcome, drainMs, drainPeriodMs). */
const drainLine = (e: Elb) => e.logs().find((l) => l.outcome !== undefined);

describe('sidekick elb drains: it exits only once the load balancer has drained the instance', { timeout: 120_000 }, () => {
  it("SIGTERM, target group: waits while the target is `draining` for the group's deregistration delay, then exits 0", async () => {
    fake.addTargetGroup(ARN, 80, [], { deregistrationDelayMs: 3000 });
    const e = elb(['--target-group', ARN, '--check', check(), ...fast]);
    await waitFor(() => fake.targets(ARN).length === 1, 30_000);
    const begun = Date.now();
    e.proc.kill('SIGTERM');
    await waitFor(() => fake.callsOf('DeregisterTargets').length === 1, 10_000);
    // Deregistered, draining, and sidekick is still there (so is the app systemd stops after it).
    await sleep(1500);
    expect(fake.targets(ARN)).toEqual([]);
    expect(fake.targets(ARN, true)).toEqual([`${INSTANCE}:80`]);
    expect(e.running).toBe(true);
    const run = await e.proc;
    const took = Date.now() - begun;
    expect(run.exitCode).toBe(0);
    expect(took).toBeGreaterThanOrEqual(3000);
    // Gone from the target group when sidekick exits, not before.
    expect(fake.targets(ARN, true)).toEqual([]);
    expect(drainLine(e)).toMatchObject({ level: 30, outcome: 'drained', cause: 'stopping', drainPeriodMs: 3000, targetGroup: ARN, instance: INSTANCE });
    expect(drainLine(e)?.drainMs).toBeGreaterThanOrEqual(2500);
    expect(e.logs().filter((l) => l.outcome !== undefined)).toHaveLength(1);
    // Polled, about once a second, with no register in between.
    const after = fake.calls.slice(fake.calls.findIndex((c) => c.action === 'DeregisterTargets') + 1).map((c) => c.action);
    expect(after[0]).toBe('DescribeTargetGroupAttributes');
    expect(new Set(after.slice(1))).toEqual(new Set(['DescribeTargetHealth']));
    expect(after.length).toBeGreaterThanOrEqual(3);
    expect(after.length).toBeLessThan(10);
  });

  it('SIGTERM, classic ELB with connection draining: waits while the instance is "deregistration currently in progress"', async () => {
    fake.addLoadBalancer('web-lb', [], { connectionDrainingMs: 3000 });
    const e = elb(['--load-balancer', 'web-lb', '--check', check(), ...fast]);
    await waitFor(() => fake.instances('web-lb').length === 1, 30_000);
    const begun = Date.now();
    e.proc.kill('SIGTERM');
    await waitFor(() => fake.callsOf('DeregisterInstancesFromLoadBalancer').length === 1, 10_000);
    await sleep(1500);
    expect(fake.instances('web-lb', true)).toEqual([INSTANCE]);
    expect(e.running).toBe(true);
    const run = await e.proc;
    expect(run.exitCode).toBe(0);
    expect(Date.now() - begun).toBeGreaterThanOrEqual(3000);
    expect(fake.instances('web-lb', true)).toEqual([]);
    expect(drainLine(e)).toMatchObject({ outcome: 'drained', drainPeriodMs: 3000, loadBalancer: 'web-lb' });
    expect(fake.callsOf('DescribeLoadBalancerAttributes')).toHaveLength(1);
  });

  it('--drain-timeout bounds the wait: a drain longer than it ends "timed out" (exit 0, the instance is deregistered)', async () => {
    fake.addTargetGroup(ARN, 80, [], { deregistrationDelayMs: 60_000 });
    // --stop-timeout bounds the deregistration phase (at most 4 s even when a call in flight ignores the abort), so
    // what is measured beyond it is the drain's own bound.
    const e = elb(['--target-group', ARN, '--check', check(), ...fast, '--stop-timeout', '4s', '--drain-timeout', '2s']);
    await waitFor(() => fake.targets(ARN).length === 1, 30_000);
    const begun = Date.now();
    const run = await stop(e.proc);
    const took = Date.now() - begun;
    expect(run.exitCode).toBe(0);
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(9000); // the 2 s of --drain-timeout, not the group's 60 s (stop() sends SIGKILL at 10 s)
    expect(fake.targets(ARN, true)).toEqual([`${INSTANCE}:80`]); // still draining at AWS
    expect(drainLine(e)).toMatchObject({ level: 40, outcome: 'timed out', drainPeriodMs: 60_000 });
    expect(drainLine(e)?.drainMs).toBeGreaterThanOrEqual(2000);
    expect(e.logs().find((l) => l.drainTimeoutMs !== undefined)).toMatchObject({ level: 40, drainTimeoutMs: 2000, drainPeriodMs: 60_000 });
  });

  it('a second SIGTERM skips the wait', async () => {
    fake.addTargetGroup(ARN, 80, [], { deregistrationDelayMs: 60_000 });
    const e = elb(['--target-group', ARN, '--check', check(), ...fast]);
    await waitFor(() => fake.targets(ARN).length === 1, 30_000);
    e.proc.kill('SIGTERM');
    await waitFor(() => fake.callsOf('DescribeTargetHealth').length >= 3, 10_000); // the first read at start, then the drain's
    const second = Date.now();
    const run = await stop(e.proc);
    expect(run.exitCode).toBe(0);
    expect(Date.now() - second).toBeLessThan(5000);
    expect(drainLine(e)).toMatchObject({ level: 40, outcome: 'skipped' });
    expect(fake.targets(ARN)).toEqual([]);
  });

  it('a second SIGTERM while deregistration is still being retried: deregistration is still done, the wait is skipped', async () => {
    fake.addTargetGroup(ARN, 80, [], { deregistrationDelayMs: 60_000 });
    const e = elb(['--target-group', ARN, '--check', check(), ...fast]);
    await waitFor(() => fake.targets(ARN).length === 1, 30_000);
    fake.serverError(9, { actions: ['DeregisterTargets'], status: 503 }); // three rounds of the SDK's 3 attempts: over a second of retries
    e.proc.kill('SIGTERM');
    await waitFor(() => fake.callsOf('DeregisterTargets').length >= 1, 10_000);
    const run = await stop(e.proc);
    expect(run.exitCode).toBe(0);
    expect(fake.callsOf('DeregisterTargets').at(-1)?.status).toBe(200);
    expect(fake.targets(ARN)).toEqual([]);
    expect(drainLine(e)).toMatchObject({ outcome: 'skipped' });
    expect(fake.callsOf('DescribeTargetGroupAttributes')).toEqual([]);
  });

  it('--deregister (ExecStopPost=) waits for the drain as well; a SIGTERM to it skips the wait after deregistering', async () => {
    fake.addTargetGroup(ARN, 80, [{ id: INSTANCE }], { deregistrationDelayMs: 3000 });
    const begun = Date.now();
    const once = elb(['--target-group', ARN, '--deregister']);
    const run = await once.proc;
    expect(run.exitCode).toBe(0);
    expect(Date.now() - begun).toBeGreaterThanOrEqual(3000);
    expect(fake.targets(ARN, true)).toEqual([]);
    expect(drainLine(once)).toMatchObject({ outcome: 'drained', cause: '--deregister', drainPeriodMs: 3000 });

    fake.addTargetGroup(ARN, 80, [{ id: INSTANCE }], { deregistrationDelayMs: 60_000 });
    const again = elb(['--target-group', ARN, '--deregister']);
    await waitFor(() => fake.callsOf('DescribeTargetGroupAttributes').length === 2, 20_000);
    const rerun = await stop(again.proc);
    expect(rerun.exitCode).toBe(0);
    expect(fake.targets(ARN)).toEqual([]);
    expect(drainLine(again)).toMatchObject({ outcome: 'skipped', cause: '--deregister' });
  });
});

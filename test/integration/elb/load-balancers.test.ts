// The real AWS SDK v3 clients against the loopback Query-API server: the calls sidekick makes, as AWS sees them.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awsErrorInfo, createTarget, type AwsClientSettings, type LoadBalancerTarget } from '../../../src/elb/load-balancers.js';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, startFakeAws, targetGroupArn, type FakeAws } from '../../support/aws.js';

const INSTANCE = 'i-0123456789abcdef0';
const saved: Record<string, string | undefined> = {};
let fake: FakeAws;
let settings: AwsClientSettings;
const targets: LoadBalancerTarget[] = [];

beforeAll(async () => {
  // The SDK's default credential chain reads these; keep real config files and IMDS out of it.
  const env = {
    AWS_ACCESS_KEY_ID: FAKE_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: FAKE_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_MAX_ATTEMPTS: undefined,
  };
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fake = await startFakeAws();
  settings = { region: 'us-east-1', endpoint: fake.url };
});

afterEach(() => {
  for (const t of targets.splice(0)) t.close();
  fake.calls.length = 0;
});

afterAll(async () => {
  await fake.close();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function target(...args: Parameters<typeof createTarget>): LoadBalancerTarget {
  const t = createTarget(...args);
  targets.push(t);
  return t;
}

describe('classic ELB target (real SDK)', () => {
  it('registers, reads membership and deregisters with the Query API calls AWS expects, signed with SigV4', async () => {
    fake.addLoadBalancer('web-lb', ['i-00000000000000001']);
    const t = target({ kind: 'classic', loadBalancer: 'web-lb', instanceId: INSTANCE }, settings);
    expect(await t.membership()).toBe('deregistered');
    await t.register();
    expect(fake.instances('web-lb')).toEqual(['i-00000000000000001', INSTANCE]);
    expect(await t.membership()).toBe('registered');
    await t.deregister();
    expect(fake.instances('web-lb')).toEqual(['i-00000000000000001']);
    expect(fake.calls.map((c) => c.action)).toEqual([
      'DescribeInstanceHealth',
      'RegisterInstancesWithLoadBalancer',
      'DescribeInstanceHealth',
      'DeregisterInstancesFromLoadBalancer',
    ]);
    const register = fake.callsOf('RegisterInstancesWithLoadBalancer')[0];
    expect(register?.params).toEqual({ Action: 'RegisterInstancesWithLoadBalancer', Version: '2012-06-01', LoadBalancerName: 'web-lb', 'Instances.member.1.InstanceId': INSTANCE });
    // Membership is read for the whole load balancer: naming an unregistered instance would be an error.
    expect(fake.callsOf('DescribeInstanceHealth')[0]?.params).toEqual({ Action: 'DescribeInstanceHealth', Version: '2012-06-01', LoadBalancerName: 'web-lb' });
    for (const call of fake.calls) {
      expect(call.service).toBe('elb');
      expect(call.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${FAKE_ACCESS_KEY_ID}/\\d{8}/us-east-1/elasticloadbalancing/aws4_request`));
      expect(call.authorization).not.toContain(FAKE_SECRET_ACCESS_KEY);
    }
  });

  it('register and deregister are idempotent (AWS answers InvalidInstance for an unregistered one: taken as done)', async () => {
    fake.addLoadBalancer('idem-lb');
    const t = target({ kind: 'classic', loadBalancer: 'idem-lb', instanceId: INSTANCE }, settings);
    await t.register();
    await t.register();
    expect(fake.instances('idem-lb')).toEqual([INSTANCE]);
    await t.deregister();
    await t.deregister();
    expect(fake.instances('idem-lb')).toEqual([]);
    expect(fake.callsOf('DeregisterInstancesFromLoadBalancer').map((c) => c.errorCode)).toEqual([undefined, 'InvalidInstance']);
  });

  it('a missing load balancer is an AccessPointNotFoundException (LoadBalancerNotFound), not retried by the SDK', async () => {
    const t = target({ kind: 'classic', loadBalancer: 'nope', instanceId: INSTANCE }, settings);
    const err = await t.register().catch((e: unknown) => e);
    expect(awsErrorInfo(err)).toMatchObject({ name: 'AccessPointNotFoundException', code: 'LoadBalancerNotFound', status: 400, throttling: false });
    expect(awsErrorInfo(err).requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.calls).toHaveLength(1);
  });

  it('the SDK retries throttling (up to 3 attempts) and 5xx itself', async () => {
    fake.addLoadBalancer('busy-lb');
    const t = target({ kind: 'classic', loadBalancer: 'busy-lb', instanceId: INSTANCE }, settings);
    fake.throttle(2, { actions: ['RegisterInstancesWithLoadBalancer'] });
    await t.register();
    expect(fake.callsOf('RegisterInstancesWithLoadBalancer').map((c) => c.status)).toEqual([400, 400, 200]);
    fake.serverError(1, { status: 503 });
    await t.deregister();
    expect(fake.callsOf('DeregisterInstancesFromLoadBalancer').map((c) => c.status)).toEqual([503, 200]);
  });

  it.each(['Throttling', 'ThrottlingException', 'RequestLimitExceeded'])('%s beyond the SDK attempts surfaces as a throttling error', async (code) => {
    fake.addLoadBalancer('busy-lb');
    const t = target({ kind: 'classic', loadBalancer: 'busy-lb', instanceId: INSTANCE }, { ...settings, maxAttempts: 2 });
    fake.throttle(2, { code });
    const err = await t.membership().catch((e: unknown) => e);
    expect(awsErrorInfo(err)).toMatchObject({ name: code, code, throttling: true });
    expect(fake.calls).toHaveLength(2);
  });
});

describe('target group target (real SDK)', () => {
  const arn = targetGroupArn('web-tg');

  it('registers Id (+Port), reads its own target health, deregisters', async () => {
    fake.addTargetGroup(arn, 80, [{ id: 'i-00000000000000001' }]);
    const t = target({ kind: 'target-group', targetGroupArn: arn, id: INSTANCE, port: 8080 }, settings);
    expect(await t.membership()).toBe('deregistered');
    await t.register();
    expect(fake.targets(arn)).toEqual(['i-00000000000000001:80', `${INSTANCE}:8080`]);
    expect(await t.membership()).toBe('registered');
    await t.deregister();
    await t.deregister(); // no effect, no error
    expect(fake.targets(arn)).toEqual(['i-00000000000000001:80']);
    expect(fake.callsOf('RegisterTargets')[0]?.params).toEqual({
      Action: 'RegisterTargets',
      Version: '2015-12-01',
      TargetGroupArn: arn,
      'Targets.member.1.Id': INSTANCE,
      'Targets.member.1.Port': '8080',
    });
    expect(fake.callsOf('DescribeTargetHealth')[0]?.params).toMatchObject({ 'Targets.member.1.Id': INSTANCE, 'Targets.member.1.Port': '8080' });
    expect(new Set(fake.calls.map((c) => c.service))).toEqual(new Set(['elbv2']));
  });

  it("without a port the group's port is used, and a target on another port is a different target", async () => {
    fake.addTargetGroup(arn, 80, [{ id: INSTANCE, port: 9000 }]);
    const t = target({ kind: 'target-group', targetGroupArn: arn, id: INSTANCE }, settings);
    expect(await t.membership()).toBe('deregistered');
    await t.register();
    expect(fake.targets(arn)).toEqual([`${INSTANCE}:80`, `${INSTANCE}:9000`]);
    expect(fake.callsOf('RegisterTargets')[0]?.params['Targets.member.1.Port']).toBeUndefined();
    expect(await t.membership()).toBe('registered');
  });

  it('a draining target counts as deregistered, and registering it again brings it back', async () => {
    fake.addTargetGroup(arn, 80);
    fake.drainingMs = 60_000;
    try {
      const t = target({ kind: 'target-group', targetGroupArn: arn, id: INSTANCE }, settings);
      await t.register();
      await t.deregister();
      expect(fake.targets(arn, true)).toEqual([`${INSTANCE}:80`]);
      expect(await t.membership()).toBe('deregistered');
      await t.register();
      expect(await t.membership()).toBe('registered');
    } finally {
      fake.drainingMs = 0;
    }
  });

  it('an ip target group takes an IP as the target id', async () => {
    fake.addTargetGroup(arn, 443);
    const t = target({ kind: 'target-group', targetGroupArn: arn, id: '10.0.1.7' }, settings);
    await t.register();
    expect(fake.targets(arn)).toEqual(['10.0.1.7:443']);
  });

  it('a missing target group is TargetGroupNotFoundException', async () => {
    const t = target({ kind: 'target-group', targetGroupArn: targetGroupArn('gone'), id: INSTANCE }, settings);
    expect(awsErrorInfo(await t.register().catch((e: unknown) => e))).toMatchObject({ name: 'TargetGroupNotFoundException', code: 'TargetGroupNotFound', throttling: false });
  });
});

describe('drain state and drain period (real SDK)', () => {
  it('classic ELB with connection draining: InService "deregistration in progress" is draining, then the instance is out', async () => {
    fake.addLoadBalancer('drain-lb', [], { connectionDrainingMs: 800 });
    const t = target({ kind: 'classic', loadBalancer: 'drain-lb', instanceId: INSTANCE }, settings);
    expect(await t.drainState()).toBe('out');
    await t.register();
    expect(await t.drainState()).toBe('in-service');
    await t.deregister();
    expect(await t.drainState()).toBe('draining');
    expect(await t.membership()).toBe('deregistered');
    expect(fake.instances('drain-lb', true)).toEqual([INSTANCE]);
    // Deregistering a draining instance again is harmless (AWS: InvalidInstance, taken as done).
    await t.deregister();
    await new Promise((r) => setTimeout(r, 850));
    expect(await t.drainState()).toBe('out');
    expect(fake.instances('drain-lb', true)).toEqual([]);
    // ConnectionDraining's Timeout is whole seconds.
    expect(await t.drainPeriodMs()).toBe(1000);
    expect(fake.callsOf('DescribeLoadBalancerAttributes')[0]?.params).toEqual({ Action: 'DescribeLoadBalancerAttributes', Version: '2012-06-01', LoadBalancerName: 'drain-lb' });
  });

  it('classic ELB without connection draining: out at once; drain period 0; an OutOfService instance gets no traffic', async () => {
    fake.addLoadBalancer('plain-lb', [INSTANCE]);
    const t = target({ kind: 'classic', loadBalancer: 'plain-lb', instanceId: INSTANCE }, settings);
    expect(await t.drainPeriodMs()).toBe(0);
    fake.setInstanceState('plain-lb', INSTANCE, 'OutOfService');
    expect(await t.drainState()).toBe('out');
    expect(await t.membership()).toBe('registered');
    fake.setInstanceState('plain-lb', INSTANCE, 'InService');
    expect(await t.drainState()).toBe('in-service');
    await t.deregister();
    expect(await t.drainState()).toBe('out');
  });

  it("target group: `draining` for the group's deregistration delay, then gone; the delay from DescribeTargetGroupAttributes", async () => {
    const arn = targetGroupArn('drain-tg');
    fake.addTargetGroup(arn, 80, [], { deregistrationDelayMs: 800 });
    const t = target({ kind: 'target-group', targetGroupArn: arn, id: INSTANCE, port: 8080 }, settings);
    expect(await t.drainState()).toBe('out');
    await t.register();
    expect(await t.drainState()).toBe('in-service');
    await t.deregister();
    expect(await t.drainState()).toBe('draining');
    // A second deregistration does not restart the delay.
    await new Promise((r) => setTimeout(r, 400));
    await t.deregister();
    await new Promise((r) => setTimeout(r, 450));
    expect(await t.drainState()).toBe('out');
    expect(await t.drainPeriodMs()).toBe(1000);
    expect(fake.callsOf('DescribeTargetGroupAttributes')[0]?.params).toEqual({ Action: 'DescribeTargetGroupAttributes', Version: '2015-12-01', TargetGroupArn: arn });
  });
});

describe('endpoint resolution by the SDK itself', () => {
  const withEnv = async (env: Record<string, string>, fn: () => Promise<void>) => {
    const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      await fn();
    } finally {
      for (const [k, v] of Object.entries(before)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };

  it('reads AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING (classic) and AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2 (target groups)', async () => {
    fake.addLoadBalancer('env-lb');
    fake.addTargetGroup(targetGroupArn('env-tg'), 80);
    const dead = 'http://127.0.0.1:9'; // the generic variable loses to the service-specific ones
    await withEnv({ AWS_ENDPOINT_URL: dead, AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING: fake.url, AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: fake.url }, async () => {
      await target({ kind: 'classic', loadBalancer: 'env-lb', instanceId: INSTANCE }, { region: 'us-east-1' }).register();
      await target({ kind: 'target-group', targetGroupArn: targetGroupArn('env-tg'), id: INSTANCE }, { region: 'us-east-1' }).register();
    });
    expect(fake.instances('env-lb')).toEqual([INSTANCE]);
    expect(fake.targets(targetGroupArn('env-tg'))).toEqual([`${INSTANCE}:80`]);
  });

  it('reads AWS_ENDPOINT_URL for both', async () => {
    fake.addLoadBalancer('env-lb');
    fake.addTargetGroup(targetGroupArn('env-tg'), 80);
    await withEnv({ AWS_ENDPOINT_URL: fake.url }, async () => {
      expect(await target({ kind: 'classic', loadBalancer: 'env-lb', instanceId: INSTANCE }, { region: 'us-east-1' }).membership()).toBe('deregistered');
      expect(await target({ kind: 'target-group', targetGroupArn: targetGroupArn('env-tg'), id: INSTANCE }, { region: 'us-east-1' }).membership()).toBe('deregistered');
    });
    expect(fake.calls.map((c) => c.action)).toEqual(['DescribeInstanceHealth', 'DescribeTargetHealth']);
  });
});

describe('timeouts', () => {
  it('an abort signal ends a call the server does not answer', async () => {
    fake.addLoadBalancer('slow-lb');
    fake.delayMs = 5000;
    try {
      const t = target({ kind: 'classic', loadBalancer: 'slow-lb', instanceId: INSTANCE }, settings);
      const begun = Date.now();
      await expect(t.register(AbortSignal.timeout(200))).rejects.toThrow();
      expect(Date.now() - begun).toBeLessThan(2000);
    } finally {
      fake.delayMs = 0;
    }
  });
});

import { describe, expect, it } from 'vitest';
import { arnRegion, elbSettings, parseBaseUrl, parseCheckUrl, type ElbFlags } from '../../../src/config/elb-config.js';
import { IMDS_DEFAULT_ENDPOINT, IMDS_IPV6_ENDPOINT, imdsEndpoint } from '../../../src/elb/imds.js';
import { ConfigError } from '../../../src/util/errors.js';

const ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-tg/73e2d6bc24d8a067';
const env = { AWS_REGION: 'us-east-1' };
const classic = (extra: ElbFlags = {}): ElbFlags => ({ loadBalancer: 'web-lb', check: 'http://127.0.0.1:80/health', ...extra });

describe('parseCheckUrl', () => {
  it.each([
    ['http://127.0.0.1:80/health', { kind: 'http', path: '/health' }, { host: '127.0.0.1', port: 80 }],
    ['http://127.0.0.1/health?full=1', { kind: 'http', path: '/health?full=1' }, { host: '127.0.0.1', port: 80 }],
    ['http://localhost:8080', { kind: 'http', path: '/' }, { host: 'localhost', port: 8080 }],
    ['http://[::1]:8080/up', { kind: 'http', path: '/up' }, { host: '::1', port: 8080 }],
    ['tcp://127.0.0.1:5432', { kind: 'tcp' }, { host: '127.0.0.1', port: 5432 }],
    ['tcp://db.internal:5432/', { kind: 'tcp' }, { host: 'db.internal', port: 5432 }],
  ])('%s', (text, spec, target) => expect(parseCheckUrl(text)).toEqual({ spec, target }));

  it('reads exec:CMD as a host command (a shell only for shell lines) and none as always healthy', () => {
    expect(parseCheckUrl('exec:pg_isready -q').spec).toEqual({ kind: 'exec', where: 'host', argv: ['pg_isready', '-q'] });
    expect(parseCheckUrl('exec:test -f /a && test -f /b').spec).toEqual({ kind: 'exec', where: 'host', argv: ['/bin/sh', '-c', 'test -f /a && test -f /b'] });
    expect(parseCheckUrl('none').spec).toEqual({ kind: 'none' });
  });

  it.each([
    [undefined, /--check: required/],
    ['', /--check: required/],
    ['https:/health', /needs the host here, e\.g\. https:\/\/127\.0\.0\.1:443\/health/],
    ['tcp://127.0.0.1', /tcp check needs a port/],
    ['tcp://127.0.0.1:80/path', /tcp check has no path/],
    ['udp://127.0.0.1:53', /expected http/],
    ['http:/health', /needs the host here, e\.g\. http:\/\/127\.0\.0\.1:80\/health/],
    ['http:127.0.0.1/health', /expected http/],
    ['127.0.0.1:80', /expected http/],
    ['http://user:pw@127.0.0.1/', /credentials/],
    ['http://127.0.0.1:0/', /port/],
    ['http://bad_host/', /host/],
    ['exec:', /exec: needs a command/],
  ])('refuses %s naming --check', (text, message) => {
    expect(() => parseCheckUrl(text)).toThrow(ConfigError);
    expect(() => parseCheckUrl(text)).toThrow(/--check/);
    expect(() => parseCheckUrl(text)).toThrow(message);
  });
});

describe('elbSettings', () => {
  it('classic ELB with defaults: instance id from IMDS, region from AWS_REGION, SDK-resolved endpoint', () => {
    const s = elbSettings(classic(), env);
    expect(s).toEqual({
      lb: { kind: 'classic', loadBalancer: 'web-lb' },
      region: 'us-east-1',
      imdsEndpoint: IMDS_DEFAULT_ENDPOINT,
      check: { spec: { kind: 'http', path: '/health' }, target: { host: '127.0.0.1', port: 80 } },
      health: { check: { kind: 'http', path: '/health' }, intervalMs: 10_000, timeoutMs: 2_000, rise: 1, fall: 2 },
      resyncMs: 60_000,
      stopTimeoutMs: 20_000,
      drainTimeoutMs: 60_000,
      deregisterOnly: false,
    });
    expect(s.instanceId).toBeUndefined();
    expect(s.endpoint).toBeUndefined();
  });

  it('target group with every flag', () => {
    const s = elbSettings(
      {
        targetGroup: ARN,
        check: 'tcp://127.0.0.1:8080',
        instanceId: 'i-0abc12345def67890',
        region: 'eu-west-1',
        port: '8080',
        interval: '2s',
        timeout: '500ms',
        rise: '2',
        fall: '3',
        resync: '30s',
        stopTimeout: '5s',
        drainTimeout: '2m',
        endpointUrl: 'http://127.0.0.1:4566/',
        imdsEndpoint: 'http://127.0.0.1:1338',
      },
      {},
    );
    expect(s).toMatchObject({
      lb: { kind: 'target-group', targetGroupArn: ARN, port: 8080 },
      instanceId: 'i-0abc12345def67890',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:4566',
      imdsEndpoint: 'http://127.0.0.1:1338',
      health: { check: { kind: 'tcp' }, intervalMs: 2000, timeoutMs: 500, rise: 2, fall: 3 },
      resyncMs: 30_000,
      stopTimeoutMs: 5000,
      drainTimeoutMs: 120_000,
    });
  });

  it('takes the region from the target group ARN before AWS_REGION, and refuses a --region that contradicts it', () => {
    expect(elbSettings({ targetGroup: ARN, check: 'none' }, { AWS_REGION: 'us-east-1' }).region).toBe('eu-west-1');
    expect(() => elbSettings({ targetGroup: ARN, check: 'none', region: 'us-east-1' }, {})).toThrow(/--region: us-east-1 differs from the target group's region eu-west-1/);
  });

  it('falls back from --region to AWS_REGION to AWS_DEFAULT_REGION, else names --region', () => {
    expect(elbSettings(classic({ region: 'ap-southeast-2' }), env).region).toBe('ap-southeast-2');
    expect(elbSettings(classic(), { AWS_DEFAULT_REGION: 'us-gov-west-1' }).region).toBe('us-gov-west-1');
    expect(elbSettings(classic(), { AWS_REGION: 'eu-central-1', AWS_DEFAULT_REGION: 'us-west-2' }).region).toBe('eu-central-1');
    expect(() => elbSettings(classic(), {})).toThrow(/--region: required \(or set AWS_REGION/);
    expect(() => elbSettings(classic(), { AWS_REGION: 'Mars' })).toThrow(/--region/);
  });

  it('accepts an IP as the target id of an ip target group, but not for a classic ELB', () => {
    expect(elbSettings({ targetGroup: ARN, check: 'none', instanceId: '10.0.1.7' }, {}).instanceId).toBe('10.0.1.7');
    expect(() => elbSettings(classic({ instanceId: '10.0.1.7' }), env)).toThrow(/--instance-id: expected an instance id/);
  });

  it('--interval 1s alone starts: the default timeout follows a short interval', () => {
    expect(elbSettings(classic({ interval: '1s' }), env).health).toMatchObject({ intervalMs: 1000, timeoutMs: 1000 });
    expect(elbSettings(classic({ interval: '30s' }), env).health).toMatchObject({ intervalMs: 30_000, timeoutMs: 2000 });
  });

  it('--deregister needs no --check', () => {
    const s = elbSettings({ loadBalancer: 'web-lb', deregister: true }, env);
    expect(s.deregisterOnly).toBe(true);
    expect(s.health.check).toEqual({ kind: 'none' });
  });

  it('the IMDS endpoint comes from AWS_EC2_METADATA_SERVICE_ENDPOINT when no flag is given, and is validated', () => {
    expect(elbSettings(classic(), { ...env, AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9/' }).imdsEndpoint).toBe('http://127.0.0.1:9');
    expect(() => elbSettings(classic(), { ...env, AWS_EC2_METADATA_SERVICE_ENDPOINT: 'nope' })).toThrow(/AWS_EC2_METADATA_SERVICE_ENDPOINT/);
  });

  it.each([
    [{ check: 'none' }, /--load-balancer or --target-group: required/],
    [{ loadBalancer: 'a', targetGroup: ARN, check: 'none' }, /give one, not both/],
    [{ loadBalancer: '-web', check: 'none' }, /--load-balancer/],
    [{ loadBalancer: 'x'.repeat(33), check: 'none' }, /--load-balancer/],
    [{ loadBalancer: 'web', check: 'none', port: '80' }, /--port: only for --target-group/],
    [{ targetGroup: 'web-tg', check: 'none' }, /--target-group: expected a target group ARN/],
    [{ targetGroup: ARN.replace('targetgroup', 'loadbalancer'), check: 'none' }, /--target-group/],
    [{ targetGroup: ARN, check: 'none', port: '0' }, /--port/],
    [{ targetGroup: ARN, check: 'none', port: '70000' }, /--port/],
    [{ loadBalancer: 'web', check: 'none', instanceId: 'web-1' }, /--instance-id/],
    [{ loadBalancer: 'web', check: 'none', interval: 'soon' }, /--interval/],
    [{ loadBalancer: 'web', check: 'none', interval: '1s', timeout: '2s' }, /--timeout: must not exceed --interval/],
    [{ loadBalancer: 'web', check: 'none', rise: '0' }, /--rise/],
    [{ loadBalancer: 'web', check: 'none', fall: 'many' }, /--fall/],
    [{ loadBalancer: 'web', check: 'none', resync: '1ms' }, /--resync/],
    [{ loadBalancer: 'web', check: 'none', stopTimeout: 'x' }, /--stop-timeout/],
    [{ loadBalancer: 'web', check: 'none', drainTimeout: '0' }, /--drain-timeout: must be at least 100 ms, got "0"/],
    [{ loadBalancer: 'web', check: 'none', drainTimeout: 'forever' }, /--drain-timeout: expected a duration like "500ms", "10s" or "1m", got `forever`/],
    [{ loadBalancer: 'web', deregister: true, drainTimeout: '-5s' }, /--drain-timeout: expected a duration/],
    [{ loadBalancer: 'web', check: 'none', endpointUrl: 'localhost:4566' }, /--endpoint-url/],
    [{ loadBalancer: 'web', check: 'none', endpointUrl: 'http://AKID:secret@127.0.0.1:4566' }, /--endpoint-url: credentials/],
    [{ loadBalancer: 'web', check: 'none', imdsEndpoint: 'ftp://127.0.0.1' }, /--imds-endpoint/],
    [{ loadBalancer: 'web' }, /--check: required/],
  ] as Array<[ElbFlags, RegExp]>)('refuses %j naming the flag', (flags, message) => {
    expect(() => elbSettings(flags, env)).toThrow(ConfigError);
    expect(() => elbSettings(flags, env)).toThrow(message);
  });
});

describe('helpers', () => {
  it('arnRegion reads the region of a target group ARN (any partition)', () => {
    expect(arnRegion(ARN)).toBe('eu-west-1');
    expect(arnRegion('arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/t/0123456789abcdef')).toBe('cn-north-1');
    expect(arnRegion('arn:aws:s3:::bucket')).toBeUndefined();
  });

  it('parseBaseUrl drops trailing slashes and refuses queries', () => {
    expect(parseBaseUrl('https://elasticloadbalancing.us-east-1.amazonaws.com/', '--endpoint-url')).toBe('https://elasticloadbalancing.us-east-1.amazonaws.com');
    expect(() => parseBaseUrl('http://127.0.0.1/?a=1', '--endpoint-url')).toThrow(/--endpoint-url/);
  });

  it('imdsEndpoint: flag, then AWS_EC2_METADATA_SERVICE_ENDPOINT, then the IPv6 endpoint in IPv6 mode, then 169.254.169.254', () => {
    expect(imdsEndpoint('http://127.0.0.1:1/', { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:2' })).toBe('http://127.0.0.1:1');
    expect(imdsEndpoint(undefined, { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:2' })).toBe('http://127.0.0.1:2');
    expect(imdsEndpoint(undefined, { AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'IPv6' })).toBe(IMDS_IPV6_ENDPOINT);
    expect(imdsEndpoint(undefined, {})).toBe(IMDS_DEFAULT_ENDPOINT);
  });
});

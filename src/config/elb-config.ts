// `sidekick elb` settings: which load balancer, which instance, which check, which AWS region/endpoint; every
// mistake is a ConfigError naming its flag, raised before any AWS or metadata call is made.
import { isIP } from 'node:net';
import type { HealthSettings } from '../health/types.js';
import type { CheckTarget } from '../health/checks.js';
import { validatePort } from '../registry/record.js';
import { IMDS_DEFAULT_ENDPOINT, imdsEndpoint, INSTANCE_ID_RE } from '../elb/imds.js';
import { ConfigError } from '../util/errors.js';
import { parseCheck } from './announce-config.js';
import { checkValues, parseCheckFlags, parseCheckUrlForm, type CheckFlags, type UrlCheck } from './check-url.js';
import { scheduleSettings, type ScheduleFlags } from './sidecar-config.js';
import { durationOf, LOG_SETTINGS, sidekickSetting, type FlagsOf, type SettingSpec } from './settings-table.js';

const sidekick = sidekickSetting;

/** elb's durations, each with its default and least value. */
const RESYNC = sidekick({ flag: 'resync', value: '<duration>', help: 'how often membership is read back from AWS and corrected', default: '60s', minMs: 100, kind: 'duration' });
const STOP_TIMEOUT = sidekick({ flag: 'stop-timeout', value: '<duration>', help: 'how long SIGTERM may spend deregistering', default: '20s', minMs: 100, kind: 'duration' });
const DRAIN_TIMEOUT = sidekick({
  flag: 'drain-timeout',
  value: '<duration>',
  help: 'once deregistered, how long to wait for the load balancer to drain the instance (target draining, connection draining); a second SIGTERM skips the wait',
  default: '60s',
  minMs: 100,
  kind: 'duration',
});

/** elb's own options (the check and schedule ones follow them). */
export const ELB_OPTIONS = [
  sidekick({ flag: 'load-balancer', value: '<name>', help: 'classic ELB name (or give --target-group)', kind: 'string' }),
  sidekick({ flag: 'target-group', value: '<arn>', help: 'ALB/NLB target group ARN (or give --load-balancer)', kind: 'string' }),
  sidekick({
    flag: 'instance-id',
    value: '<id>',
    help: 'instance to register (default: from EC2 instance metadata, IMDSv2); an IP for ip target groups',
    kind: 'string',
  }),
  sidekick({ flag: 'region', value: '<region>', help: 'AWS region', defaultHelp: "the target group ARN's, else AWS_REGION, else AWS_DEFAULT_REGION", kind: 'string' }),
  sidekick({ flag: 'port', value: '<n>', help: 'target port in the target group', defaultHelp: "the group's port", kind: 'string' }),
  RESYNC,
  STOP_TIMEOUT,
  DRAIN_TIMEOUT,
  // No SIDEKICK_DEREGISTER: an Environment= shared by ExecStart= and ExecStopPost= must not turn the daemon into a one-shot.
  { flag: 'deregister', help: 'deregister the instance once, wait for the drain, and exit (for ExecStopPost=, which runs even after SIGKILL)', kind: 'bool' },
  sidekick({
    flag: 'endpoint-url',
    value: '<url>',
    help: 'ELB API endpoint override',
    defaultHelp: 'AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING[_V2], AWS_ENDPOINT_URL, else AWS',
    kind: 'string',
  }),
  sidekick({
    flag: 'imds-endpoint',
    value: '<url>',
    help: 'instance metadata endpoint',
    defaultHelp: `AWS_EC2_METADATA_SERVICE_ENDPOINT, else ${IMDS_DEFAULT_ENDPOINT}`,
    kind: 'string',
  }),
  sidekick(LOG_SETTINGS.logLevel),
  sidekick(LOG_SETTINGS.logFormat),
] as const satisfies readonly SettingSpec[];

/** The options of `elb`, as commander returns them. */
export type ElbFlags = FlagsOf<typeof ELB_OPTIONS> & CheckFlags & ScheduleFlags;

export const ELB_DEFAULTS = {
  resync: RESYNC.default,
  stopTimeout: STOP_TIMEOUT.default,
  drainTimeout: DRAIN_TIMEOUT.default,
} as const;

/** The load balancer half: a classic ELB by name, or a target group by ARN (and the target's port). */
export type LoadBalancerSpec = { kind: 'classic'; loadBalancer: string } | { kind: 'target-group'; targetGroupArn: string; port?: number };

/** A parsed `--check`: what to run and where it connects. */
export type ElbCheck = UrlCheck;

/** What `elb` runs. */
export interface ElbSettings {
  lb: LoadBalancerSpec;
  /** Given by --instance-id; undefined means "ask instance metadata". */
  instanceId?: string;
  region: string;
  /** --endpoint-url; undefined lets the SDK resolve it (AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING[_V2], AWS_ENDPOINT_URL). */
  endpoint?: string;
  imdsEndpoint: string;
  check: ElbCheck;
  health: HealthSettings;
  resyncMs: number;
  stopTimeoutMs: number;
  /** --drain-timeout: how long, once deregistered, to wait for the load balancer to drain the instance. */
  drainTimeoutMs: number;
  /** --deregister: deregister once and exit (ExecStopPost=), no check. */
  deregisterOnly: boolean;
}

/** Classic ELB names: 1-32 letters, digits and hyphens, not starting or ending with a hyphen. */
const CLASSIC_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;
/** arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id> */
const TARGET_GROUP_ARN_RE = /^arn:aws(?:-[a-z]+)*:elasticloadbalancing:([a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{1,32}$/;
/** us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-5 ... */
const REGION_RE = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

const ELB_CHECK_FORMS = 'http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH, tcp://HOST:PORT, exec:CMD or none';

/**
 * `--check` as a URL: `http://HOST[:PORT]/PATH` (2xx/3xx pass; port 80 by default), `https://HOST[:PORT]/PATH` (port
 * 443 by default), `tcp://HOST:PORT` (a connect),
 * `exec:CMD` (a host command; exit 0 passes) or `none` (always healthy: elb-presence's behaviour).
 */
export function parseCheckUrl(text: string | undefined): ElbCheck {
  const value = (text ?? '').trim();
  if (value === '') throw new ConfigError('--check: required, e.g. http://127.0.0.1:80/health, tcp://127.0.0.1:5432, exec:CMD or none');
  const noTarget: CheckTarget = { host: '127.0.0.1', port: 0 };
  if (value === 'none') return { spec: { kind: 'none' }, target: noTarget };
  if (value.startsWith('exec:')) return { spec: parseCheck(value), target: noTarget };
  const short = /^(https?):\/(?!\/)/i.exec(value);
  if (short) {
    const scheme = (short[1] as string).toLowerCase();
    const example = `${scheme}://127.0.0.1:${scheme === 'https' ? 443 : 80}${value.slice(short[0].length - 1)}`;
    throw new ConfigError(`--check: needs the host here, e.g. ${example} (announce's ${scheme}:/PATH form has its --address), got "${text}"`);
  }
  return parseCheckUrlForm(value, ELB_CHECK_FORMS);
}

/** An http(s) base URL for --endpoint-url / --imds-endpoint; throws ConfigError naming the flag. */
export function parseBaseUrl(value: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${flag}: expected a URL like http://127.0.0.1:4566, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${flag}: expected an http or https URL, got "${value}"`);
  if (url.username || url.password) throw new ConfigError(`${flag}: credentials in the URL are not supported`);
  if (url.search || url.hash) throw new ConfigError(`${flag}: a base URL has no query or fragment, got "${value}"`);
  return value.replace(/\/+$/, '');
}

/** The load balancer flags: exactly one of --load-balancer / --target-group; --port only with a target group. */
function loadBalancerSpec(flags: ElbFlags): LoadBalancerSpec {
  const { loadBalancer, targetGroup } = flags;
  if (loadBalancer !== undefined && targetGroup !== undefined) throw new ConfigError('--load-balancer, --target-group: give one, not both');
  if (loadBalancer === undefined && targetGroup === undefined) {
    throw new ConfigError('--load-balancer or --target-group: required (a classic ELB name, or a target group ARN)');
  }
  if (loadBalancer !== undefined) {
    if (!CLASSIC_NAME_RE.test(loadBalancer)) throw new ConfigError(`--load-balancer: expected a classic ELB name (1-32 letters, digits, hyphens), got "${loadBalancer}"`);
    if (flags.port !== undefined) throw new ConfigError('--port: only for --target-group (a classic ELB sends traffic to its listeners\' instance ports)');
    return { kind: 'classic', loadBalancer };
  }
  const arn = targetGroup as string;
  if (!TARGET_GROUP_ARN_RE.test(arn)) {
    throw new ConfigError(`--target-group: expected a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID), got "${arn}"`);
  }
  if (flags.port === undefined) return { kind: 'target-group', targetGroupArn: arn };
  const port = validatePort(flags.port.trim());
  if (!port.ok) throw new ConfigError(`--port: ${port.reason}`);
  return { kind: 'target-group', targetGroupArn: arn, port: port.value };
}

/** The region named inside a target group ARN. */
export function arnRegion(arn: string): string | undefined {
  return TARGET_GROUP_ARN_RE.exec(arn)?.[1];
}

/** --region, else the target group ARN's region, else AWS_REGION, else AWS_DEFAULT_REGION. */
function region(flags: ElbFlags, lb: LoadBalancerSpec, env: NodeJS.ProcessEnv): string {
  const fromArn = lb.kind === 'target-group' ? arnRegion(lb.targetGroupArn) : undefined;
  if (flags.region !== undefined) {
    if (!REGION_RE.test(flags.region)) throw new ConfigError(`--region: expected a region like us-east-1, got "${flags.region}"`);
    if (fromArn !== undefined && fromArn !== flags.region) throw new ConfigError(`--region: ${flags.region} differs from the target group's region ${fromArn}`);
    return flags.region;
  }
  if (fromArn !== undefined) return fromArn;
  const fromEnv = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!fromEnv) throw new ConfigError('--region: required (or set AWS_REGION / AWS_DEFAULT_REGION)');
  if (!REGION_RE.test(fromEnv)) throw new ConfigError(`--region: AWS_REGION/AWS_DEFAULT_REGION is not a region like us-east-1: "${fromEnv}"`);
  return fromEnv;
}

/** --instance-id: an EC2 instance id; for a target group also an IP address (ip target groups). */
function instanceId(flags: ElbFlags, lb: LoadBalancerSpec): string | undefined {
  const id = flags.instanceId?.trim();
  if (id === undefined) return undefined;
  if (INSTANCE_ID_RE.test(id)) return id;
  if (lb.kind === 'target-group' && isIP(id) !== 0) return id;
  const what = lb.kind === 'target-group' ? 'an instance id (i-0123456789abcdef0) or, for an ip target group, an IP address' : 'an instance id like i-0123456789abcdef0';
  throw new ConfigError(`--instance-id: expected ${what}, got "${flags.instanceId}"`);
}

/** Validates the flags into settings; every mistake is a ConfigError naming its flag. */
export function elbSettings(flags: ElbFlags, env: NodeJS.ProcessEnv = process.env): ElbSettings {
  const lb = loadBalancerSpec(flags);
  const deregisterOnly = flags.deregister === true;
  const check =
    deregisterOnly && checkValues(flags.check).length === 0 ? { spec: { kind: 'none' as const }, target: { host: '127.0.0.1', port: 0 } } : parseCheckFlags(flags, parseCheckUrl);
  const health: HealthSettings = { check: check.spec, ...scheduleSettings(flags) };
  const settings: ElbSettings = {
    lb,
    region: region(flags, lb, env),
    imdsEndpoint: parseBaseUrl(imdsEndpoint(flags.imdsEndpoint, env), flags.imdsEndpoint !== undefined ? '--imds-endpoint' : 'AWS_EC2_METADATA_SERVICE_ENDPOINT'),
    check,
    health,
    resyncMs: durationOf(RESYNC, flags),
    stopTimeoutMs: durationOf(STOP_TIMEOUT, flags),
    drainTimeoutMs: durationOf(DRAIN_TIMEOUT, flags),
    deregisterOnly,
  };
  const id = instanceId(flags, lb);
  if (id !== undefined) settings.instanceId = id;
  if (flags.endpointUrl !== undefined) settings.endpoint = parseBaseUrl(flags.endpointUrl, '--endpoint-url');
  return settings;
}

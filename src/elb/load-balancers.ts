// The load balancers `sidekick elb` keeps one instance in: a classic ELB (by name) or an ALB/NLB target group (by
// ARN), both through the AWS SDK v3. Credentials come from the SDK's standard chain and are never logged: no SDK
// logger is installed (it would log every command's input and output), and errors are reduced to name, code,
// HTTP status, request id and message before anyone logs them.
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  DescribeLoadBalancerAttributesCommand,
  ElasticLoadBalancingClient,
  RegisterInstancesWithLoadBalancerCommand,
} from '@aws-sdk/client-elastic-load-balancing';
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  type TargetDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Logger } from '../util/log.js';

/** Whether the instance is in the load balancer right now. */
export type Membership = 'registered' | 'deregistered';

/**
 * Where the instance stands for the load balancer's traffic: in service (new requests may come), draining (no new
 * requests; those in flight are being finished) or out (no traffic at all).
 */
export type DrainState = 'in-service' | 'draining' | 'out';

/** One load balancer (classic ELB or target group) and the one instance/target `sidekick elb` manages in it. */
export interface LoadBalancerTarget {
  readonly kind: 'classic' | 'target-group';
  /** Names the load balancer and the instance in log lines. */
  readonly fields: Readonly<Record<string, string | number>>;
  /** Asks AWS whether the instance is registered (a draining/deregistering one counts as deregistered). */
  membership(signal?: AbortSignal): Promise<Membership>;
  /** Registers the instance; harmless when it already is. */
  register(signal?: AbortSignal): Promise<void>;
  /** Deregisters the instance; harmless when it is not registered. */
  deregister(signal?: AbortSignal): Promise<void>;
  /** Asks AWS whether the load balancer still sends the instance traffic (DescribeInstanceHealth / DescribeTargetHealth). */
  drainState(signal?: AbortSignal): Promise<DrainState>;
  /**
   * The longest the load balancer drains a deregistered instance: a classic ELB's connection draining timeout (0
   * when disabled), a target group's deregistration delay; undefined when AWS does not say.
   */
  drainPeriodMs(signal?: AbortSignal): Promise<number | undefined>;
  /** Releases the SDK client's sockets. */
  close(): void;
}

/** How the SDK clients are built. */
export interface AwsClientSettings {
  region: string;
  /**
   * An endpoint override (tests, VPC endpoints, LocalStack). Without it the SDK resolves the endpoint itself,
   * which includes AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING (classic), AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2
   * (target groups) and AWS_ENDPOINT_URL, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true.
   */
  endpoint?: string;
  /** Attempts per call, SDK retries of throttling/5xx/network errors included. Default: AWS_MAX_ATTEMPTS, else 3. */
  maxAttempts?: number;
  /** Per HTTP request: connect timeout, ms. Default 3000. */
  connectTimeoutMs?: number;
  /** Per HTTP request: response timeout, ms. Default 10000. */
  requestTimeoutMs?: number;
  /** Gets the HTTP handler's rare warnings (socket pool, timeouts); nothing else of the SDK logs. */
  log?: Logger;
}

/** What {@link createTarget} builds: a classic ELB or a target group, and the instance in it. */
export type TargetSpec =
  | { kind: 'classic'; loadBalancer: string; instanceId: string }
  /** `id` is an instance id (instance target groups) or an IP address (ip target groups). */
  | { kind: 'target-group'; targetGroupArn: string; id: string; port?: number };

const DEFAULT_MAX_ATTEMPTS = 3;

/** The shared client options: region, endpoint, retries, timeouts that throw instead of printing to the console. */
function clientConfig(settings: AwsClientSettings) {
  // The SDK prints a multi-line "versions published after January 2027 will require node >= 22" warning on
  // stderr under Node 20, which breaks our JSON-lines log; it concerns future SDK releases, not this binary.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const log = settings.log?.child({ component: 'aws-sdk' });
  const quiet = (msg: unknown): void => log?.debug({ detail: String(msg) }, 'aws sdk http handler');
  const loud = (msg: unknown): void => log?.warn({ detail: String(msg) }, 'aws sdk http handler');
  const envAttempts = Number(process.env.AWS_MAX_ATTEMPTS);
  return {
    region: settings.region,
    ...(settings.endpoint !== undefined && { endpoint: settings.endpoint }),
    maxAttempts: settings.maxAttempts ?? (Number.isInteger(envAttempts) && envAttempts > 0 ? envAttempts : DEFAULT_MAX_ATTEMPTS),
    requestHandler: {
      connectionTimeout: settings.connectTimeoutMs ?? 3000,
      requestTimeout: settings.requestTimeoutMs ?? 10_000,
      throwOnRequestTimeout: true,
      logger: { trace: quiet, debug: quiet, info: quiet, warn: loud, error: loud },
    },
  };
}

/** AWS error codes/names that mean "slow down" (the SDK's own list, plus ELB's DependencyThrottle). */
const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'DependencyThrottle',
  'DependencyThrottleException',
]);

/** The loggable facts of an SDK error: never its `$response` (headers) or anything from the client config. */
export interface AwsErrorInfo {
  name: string;
  code?: string;
  status?: number;
  requestId?: string;
  message: string;
  throttling: boolean;
}

/** Reduces any thrown value to {@link AwsErrorInfo}. */
export function awsErrorInfo(err: unknown): AwsErrorInfo {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), throttling: false };
  const e = err as Error & { Code?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number; requestId?: string } };
  const code = typeof e.Code === 'string' ? e.Code : typeof e.code === 'string' ? e.code : undefined;
  const status = e.$metadata?.httpStatusCode;
  const info: AwsErrorInfo = { name: e.name, message: e.message, throttling: THROTTLING.has(e.name) || (code !== undefined && THROTTLING.has(code)) || status === 429 };
  if (code !== undefined) info.code = code;
  if (status !== undefined) info.status = status;
  if (e.$metadata?.requestId) info.requestId = e.$metadata.requestId;
  return info;
}

/** True for the error AWS answers when the instance is not (or no longer) registered with a classic ELB. */
function isInvalidInstance(err: unknown): boolean {
  const info = awsErrorInfo(err);
  return info.name === 'InvalidEndPointException' || info.code === 'InvalidInstance';
}

/** A classic ELB's DescribeInstanceHealth shows an instance being removed with this description. */
const DEREGISTERING = /deregistration currently in progress/i;

/** A classic ELB (RegisterInstancesWithLoadBalancer / DeregisterInstancesFromLoadBalancer / DescribeInstanceHealth). */
export class ClassicElbTarget implements LoadBalancerTarget {
  readonly kind = 'classic';
  readonly fields: Readonly<Record<string, string>>;
  private readonly client: ElasticLoadBalancingClient;

  constructor(
    private readonly loadBalancer: string,
    private readonly instanceId: string,
    settings: AwsClientSettings,
  ) {
    this.client = new ElasticLoadBalancingClient(clientConfig(settings));
    this.fields = { loadBalancer, instance: instanceId };
  }

  async membership(signal?: AbortSignal): Promise<Membership> {
    const mine = await this.health(signal);
    return mine && !DEREGISTERING.test(mine.Description ?? '') ? 'registered' : 'deregistered';
  }

  async drainState(signal?: AbortSignal): Promise<DrainState> {
    const mine = await this.health(signal);
    if (!mine) return 'out';
    // With connection draining, a deregistered instance stays listed (InService) until its connections are done.
    if (DEREGISTERING.test(mine.Description ?? '')) return 'draining';
    return mine.State === 'OutOfService' ? 'out' : 'in-service';
  }

  async drainPeriodMs(signal?: AbortSignal): Promise<number | undefined> {
    const out = await this.client.send(new DescribeLoadBalancerAttributesCommand({ LoadBalancerName: this.loadBalancer }), opts(signal));
    const draining = out.LoadBalancerAttributes?.ConnectionDraining;
    if (!draining) return undefined;
    return draining.Enabled ? (draining.Timeout ?? 300) * 1000 : 0;
  }

  /** This instance's row of DescribeInstanceHealth, if it is listed. */
  private async health(signal: AbortSignal | undefined) {
    // Without Instances, AWS lists every registered instance; naming ours would make an unregistered one an error.
    const out = await this.client.send(new DescribeInstanceHealthCommand({ LoadBalancerName: this.loadBalancer }), opts(signal));
    return (out.InstanceStates ?? []).find((s) => s.InstanceId === this.instanceId);
  }

  async register(signal?: AbortSignal): Promise<void> {
    await this.client.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: this.loadBalancer, Instances: [{ InstanceId: this.instanceId }] }), opts(signal));
  }

  async deregister(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(
        new DeregisterInstancesFromLoadBalancerCommand({ LoadBalancerName: this.loadBalancer, Instances: [{ InstanceId: this.instanceId }] }),
        opts(signal),
      );
    } catch (err) {
      // AWS answers InvalidInstance for an instance that is not registered: the state we wanted.
      if (!isInvalidInstance(err)) throw err;
    }
  }

  close(): void {
    this.client.destroy();
  }
}

/** An ALB/NLB target group (RegisterTargets / DeregisterTargets / DescribeTargetHealth), by ARN. */
export class TargetGroupTarget implements LoadBalancerTarget {
  readonly kind = 'target-group';
  readonly fields: Readonly<Record<string, string | number>>;
  private readonly client: ElasticLoadBalancingV2Client;
  private readonly target: TargetDescription;

  constructor(
    private readonly targetGroupArn: string,
    id: string,
    port: number | undefined,
    settings: AwsClientSettings,
  ) {
    this.client = new ElasticLoadBalancingV2Client(clientConfig(settings));
    this.target = port === undefined ? { Id: id } : { Id: id, Port: port };
    this.fields = { targetGroup: targetGroupArn, instance: id, ...(port !== undefined && { port }) };
  }

  async membership(signal?: AbortSignal): Promise<Membership> {
    return (await this.drainState(signal)) === 'in-service' ? 'registered' : 'deregistered';
  }

  async drainState(signal?: AbortSignal): Promise<DrainState> {
    // Asking for our target (without a port AWS uses the group's) answers `unused` + Target.NotRegistered when it is not in.
    const out = await this.client.send(new DescribeTargetHealthCommand({ TargetGroupArn: this.targetGroupArn, Targets: [this.target] }), opts(signal));
    const mine = (out.TargetHealthDescriptions ?? []).find((d) => d.Target?.Id === this.target.Id && (this.target.Port === undefined || d.Target?.Port === this.target.Port));
    const state = mine?.TargetHealth?.State;
    if (!mine) return 'out';
    // `draining` lasts until the in-flight requests are done or the group's deregistration delay has passed.
    if (state === 'draining') return 'draining';
    if (state === 'unused' && mine.TargetHealth?.Reason === 'Target.NotRegistered') return 'out';
    return 'in-service';
  }

  async drainPeriodMs(signal?: AbortSignal): Promise<number | undefined> {
    const out = await this.client.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: this.targetGroupArn }), opts(signal));
    const delay = out.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
    const s = Number(delay);
    return delay === undefined || !Number.isFinite(s) || s < 0 ? undefined : s * 1000;
  }

  async register(signal?: AbortSignal): Promise<void> {
    await this.client.send(new RegisterTargetsCommand({ TargetGroupArn: this.targetGroupArn, Targets: [this.target] }), opts(signal));
  }

  async deregister(signal?: AbortSignal): Promise<void> {
    // Deregistering a target that is not registered has no effect (no error) in ELBv2.
    await this.client.send(new DeregisterTargetsCommand({ TargetGroupArn: this.targetGroupArn, Targets: [this.target] }), opts(signal));
  }

  close(): void {
    this.client.destroy();
  }
}

const opts = (signal: AbortSignal | undefined) => (signal ? { abortSignal: signal } : {});

/** Builds the target a spec names, with its own SDK client. */
export function createTarget(spec: TargetSpec, settings: AwsClientSettings): LoadBalancerTarget {
  return spec.kind === 'classic'
    ? new ClassicElbTarget(spec.loadBalancer, spec.instanceId, settings)
    : new TargetGroupTarget(spec.targetGroupArn, spec.id, spec.port, settings);
}

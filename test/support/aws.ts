// A stand-in for AWS, the one external service the tests cannot run for real: a loopback HTTP server that speaks the
// AWS Query protocol of classic ELB (2012-06-01) and ELBv2 (2015-12-01) for the calls `sidekick elb` makes, plus
// an EC2 instance-metadata endpoint that only answers the IMDSv2 token flow. The real SDK clients talk to it
// through an endpoint override; it keeps membership state, models draining (a target group's deregistration delay,
// a classic ELB's connection draining), logs every call, and injects faults on request.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { sidekickArgv } from './cli.js';

export const ELB_NS = 'http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/';
export const ELBV2_NS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

/** Fake credentials for tests; the access key id shows up in the SigV4 Authorization header the server sees. */
export const FAKE_ACCESS_KEY_ID = 'AKIDTESTSIDEKICK0001';
export const FAKE_SECRET_ACCESS_KEY = 'sEcReT/sidekick+test/DoNotLogMe0123456789';

/** One Query API call as the server saw it. */
export interface AwsCall {
  service: 'elb' | 'elbv2';
  action: string;
  /** The decoded form body (Action, Version, LoadBalancerName, Instances.member.1.InstanceId, ...). */
  params: Record<string, string>;
  /** The SigV4 Authorization header the SDK sent. */
  authorization: string | undefined;
  /** What the server answered. */
  status: number;
  errorCode?: string;
}

/** One request to the instance-metadata endpoint. */
export interface ImdsCall {
  method: string;
  path: string;
  /** The X-aws-ec2-metadata-token header, if any. */
  token: string | undefined;
  ttl: string | undefined;
  status: number;
}

/** A fault served instead of the next matching calls. */
export interface Fault {
  /** How many calls it applies to. */
  count: number;
  /** Only these actions (default: every Query API call). */
  actions?: string[];
  status: number;
  code: string;
  type: 'Sender' | 'Receiver';
  message: string;
}

/** A registered target of a target group. */
export interface FakeTarget {
  id: string;
  port: number;
  /** healthy, or draining after DeregisterTargets until the group's deregistration delay has passed. */
  state: 'healthy' | 'draining';
  drainUntil?: number;
}

/** An instance registered with a classic ELB. */
export interface FakeInstance {
  /** What DescribeInstanceHealth says; an instance being deregistered stays InService while it drains. */
  state: 'InService' | 'OutOfService';
  /** Set by DeregisterInstancesFromLoadBalancer while connection draining lasts; the instance is gone after it. */
  drainUntil?: number;
}

/** A classic ELB: its instances and its ConnectionDraining attribute. */
interface FakeLoadBalancer {
  instances: Map<string, FakeInstance>;
  /** ConnectionDraining: disabled at 0, else enabled with this timeout (reported in whole seconds, rounded up). */
  connectionDrainingMs: number;
}

/** A target group: its default port, its targets and its deregistration_delay.timeout_seconds attribute. */
interface FakeTargetGroup {
  port: number;
  targets: Map<string, FakeTarget>;
  /** Reported in whole seconds, rounded up; the group's own, else the fake's `drainingMs`. */
  deregistrationDelayMs: number | undefined;
}

/** Options of {@link startFakeAws}. */
export interface FakeAwsOptions {
  /** What IMDS answers for /latest/meta-data/instance-id. */
  instanceId?: string;
  /**
   * After DeregisterTargets, targets stay listed as `draining` this long (AWS's deregistration delay) in the
   * groups that have no delay of their own. Default 0.
   */
  drainingMs?: number;
  /** Delay every Query API answer by this much (to test timeouts). */
  delayMs?: number;
}

/** The running fake; see {@link startFakeAws}. */
export interface FakeAws {
  /** http://127.0.0.1:<port>: both the Query API endpoint and the IMDS endpoint. */
  readonly url: string;
  readonly calls: AwsCall[];
  readonly imdsCalls: ImdsCall[];
  /** Calls of one action (optionally for one service). */
  callsOf(action: string): AwsCall[];
  instanceId: string;
  drainingMs: number;
  delayMs: number;
  /**
   * Creates a classic ELB with these instances registered (InService). With `connectionDrainingMs`, connection
   * draining is enabled: a deregistered instance stays listed, InService with "Instance deregistration currently
   * in progress.", that long.
   */
  addLoadBalancer(name: string, instances?: string[], opts?: { connectionDrainingMs?: number }): void;
  /** Instance ids registered with a classic ELB (draining ones only with `includeDraining`), sorted. */
  instances(name: string, includeDraining?: boolean): string[];
  /** Marks a registered classic ELB instance OutOfService (failing the ELB's own health check) or InService again. */
  setInstanceState(name: string, instanceId: string, state: FakeInstance['state']): void;
  /**
   * Creates a target group (ARN) whose default port is `port`, with these targets registered. A deregistered
   * target stays `draining` for `deregistrationDelayMs` (default: the fake's `drainingMs`), then is gone.
   */
  addTargetGroup(arn: string, port?: number, targets?: Array<{ id: string; port?: number }>, opts?: { deregistrationDelayMs?: number }): void;
  /** Registered targets (`id:port`), sorted; draining ones only with `includeDraining`. */
  targets(arn: string, includeDraining?: boolean): string[];
  /** Serves `count` throttling errors (default code Throttling, HTTP 400) to the next matching calls. */
  throttle(count: number, opts?: { actions?: string[]; code?: string }): void;
  /** Serves `count` 5xx errors (default 500 InternalFailure) to the next matching calls. */
  serverError(count: number, opts?: { actions?: string[]; status?: number }): void;
  /** Makes IMDS answer every request with this status (e.g. 500), or normally again with undefined. */
  imdsStatus: number | undefined;
  /** Drops pending faults. */
  clearFaults(): void;
  /** Forgets every load balancer, target group, fault and logged call; IMDS answers normally again. */
  reset(): void;
  close(): Promise<void>;
}

/** A target group ARN in us-east-1 for tests. */
export function targetGroupArn(name: string, region = 'us-east-1'): string {
  return `arn:aws:elasticloadbalancing:${region}:123456789012:targetgroup/${name}/0123456789abcdef`;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** `Prefix.member.N.Field` values, in N order. */
function members(params: Record<string, string>, prefix: string, field: string): string[] {
  const out: Array<[number, string]> = [];
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.member\\.(\\d+)\\.${field}$`);
  for (const [k, v] of Object.entries(params)) {
    const m = re.exec(k);
    if (m) out.push([Number(m[1]), v]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

/** Targets.member.N.{Id,Port} pairs, in N order. */
function targetParams(params: Record<string, string>): Array<{ id: string; port: number | undefined }> {
  const out: Array<{ id: string; port: number | undefined }> = [];
  for (let n = 1; params[`Targets.member.${n}.Id`] !== undefined; n++) {
    const port = params[`Targets.member.${n}.Port`];
    out.push({ id: params[`Targets.member.${n}.Id`] as string, port: port === undefined ? undefined : Number(port) });
  }
  return out;
}

class QueryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

/** Starts the fake on 127.0.0.1 (a free port). */
export async function startFakeAws(opts: FakeAwsOptions = {}): Promise<FakeAws> {
  const classic = new Map<string, FakeLoadBalancer>();
  const groups = new Map<string, FakeTargetGroup>();
  const calls: AwsCall[] = [];
  const imdsCalls: ImdsCall[] = [];
  const faults: Fault[] = [];
  const tokens = new Set<string>();

  const state = {
    instanceId: opts.instanceId ?? 'i-0123456789abcdef0',
    drainingMs: opts.drainingMs ?? 0,
    delayMs: opts.delayMs ?? 0,
    imdsStatus: undefined as number | undefined,
  };

  /** Forgets the targets/instances whose drain is over. */
  const prune = (members: Map<string, { drainUntil?: number }>): void => {
    const now = Date.now();
    for (const [k, m] of members) if (m.drainUntil !== undefined && m.drainUntil <= now) members.delete(k);
  };
  const delayOf = (g: FakeTargetGroup): number => g.deregistrationDelayMs ?? state.drainingMs;
  /** AWS states these attributes in whole seconds. */
  const seconds = (ms: number): number => Math.ceil(ms / 1000);

  const lb = (params: Record<string, string>): FakeLoadBalancer => {
    const name = params.LoadBalancerName ?? '';
    const found = classic.get(name);
    if (!found) throw new QueryError(400, 'LoadBalancerNotFound', `There is no ACTIVE Load Balancer named '${name}'`);
    prune(found.instances);
    return found;
  };
  /** Registered and not being deregistered. */
  const isRegistered = (l: FakeLoadBalancer, id: string): boolean => l.instances.has(id) && l.instances.get(id)?.drainUntil === undefined;
  const registeredIds = (l: FakeLoadBalancer): string[] => [...l.instances.keys()].filter((id) => isRegistered(l, id)).sort();

  const tg = (params: Record<string, string>): FakeTargetGroup => {
    const arn = params.TargetGroupArn ?? '';
    const g = groups.get(arn);
    if (!g) throw new QueryError(400, 'TargetGroupNotFound', `Target groups '${arn}' not found`);
    prune(g.targets);
    return g;
  };

  const instancesXml = (ids: Iterable<string>): string =>
    `<Instances>${[...ids].map((id) => `<member><InstanceId>${escapeXml(id)}</InstanceId></member>`).join('')}</Instances>`;

  /** The result element's inner XML of one action. */
  const handlers: Record<string, (p: Record<string, string>) => string> = {
    // ---- classic ELB ----
    RegisterInstancesWithLoadBalancer: (p) => {
      const l = lb(p);
      for (const id of members(p, 'Instances', 'InstanceId')) {
        if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new QueryError(400, 'InvalidInstance', `Could not find EC2 instance ${id}.`);
        // Registering an instance that is draining takes it back into service.
        l.instances.set(id, { state: l.instances.get(id)?.state ?? 'InService' });
      }
      return instancesXml(registeredIds(l));
    },
    DeregisterInstancesFromLoadBalancer: (p) => {
      const l = lb(p);
      const ids = members(p, 'Instances', 'InstanceId');
      // What AWS answers for an instance that is not registered (see boto/boto#2274).
      for (const id of ids) if (!isRegistered(l, id)) throw new QueryError(400, 'InvalidInstance', `Could not find EC2 instance ${id}.`);
      for (const id of ids) {
        if (l.connectionDrainingMs > 0) l.instances.set(id, { state: 'InService', drainUntil: Date.now() + l.connectionDrainingMs });
        else l.instances.delete(id);
      }
      return instancesXml(registeredIds(l));
    },
    DescribeInstanceHealth: (p) => {
      const l = lb(p);
      const asked = members(p, 'Instances', 'InstanceId');
      for (const id of asked) if (!l.instances.has(id)) throw new QueryError(400, 'InvalidInstance', `Could not find EC2 instance ${id}.`);
      const ids = asked.length > 0 ? asked : [...l.instances.keys()].sort();
      const states = ids
        .map((id) => {
          const i = l.instances.get(id) as FakeInstance;
          const [description, reason] =
            i.drainUntil !== undefined
              ? ['Instance deregistration currently in progress.', 'N/A']
              : i.state === 'OutOfService'
                ? ['Instance has failed at least the UnhealthyThreshold number of health checks consecutively.', 'Instance']
                : ['N/A', 'N/A'];
          return `<member><Description>${description}</Description><InstanceId>${escapeXml(id)}</InstanceId><State>${i.state}</State><ReasonCode>${reason}</ReasonCode></member>`;
        })
        .join('');
      return `<InstanceStates>${states}</InstanceStates>`;
    },
    DescribeLoadBalancerAttributes: (p) => {
      const l = lb(p);
      const draining = `<ConnectionDraining><Enabled>${l.connectionDrainingMs > 0}</Enabled><Timeout>${l.connectionDrainingMs > 0 ? seconds(l.connectionDrainingMs) : 300}</Timeout></ConnectionDraining>`;
      return `<LoadBalancerAttributes><CrossZoneLoadBalancing><Enabled>true</Enabled></CrossZoneLoadBalancing><AccessLog><Enabled>false</Enabled></AccessLog>${draining}<ConnectionSettings><IdleTimeout>60</IdleTimeout></ConnectionSettings></LoadBalancerAttributes>`;
    },
    // ---- ELBv2 target groups ----
    RegisterTargets: (p) => {
      const g = tg(p);
      const targets = targetParams(p);
      if (targets.length === 0) throw new QueryError(400, 'ValidationError', 'Targets must not be empty');
      for (const t of targets) {
        const port = t.port ?? g.port;
        g.targets.set(`${t.id}:${port}`, { id: t.id, port, state: 'healthy' });
      }
      return '';
    },
    DeregisterTargets: (p) => {
      const g = tg(p);
      for (const t of targetParams(p)) {
        const key = `${t.id}:${t.port ?? g.port}`;
        const existing = g.targets.get(key);
        if (!existing) continue; // AWS: deregistering a target that is not registered has no effect
        if (existing.state === 'draining') continue;
        if (delayOf(g) > 0) g.targets.set(key, { ...existing, state: 'draining', drainUntil: Date.now() + delayOf(g) });
        else g.targets.delete(key);
      }
      return '';
    },
    DescribeTargetHealth: (p) => {
      const g = tg(p);
      const asked = targetParams(p);
      const rows =
        asked.length > 0
          ? asked.map((t) => {
              const port = t.port ?? g.port;
              return g.targets.get(`${t.id}:${port}`) ?? { id: t.id, port, state: 'unused' as const };
            })
          : [...g.targets.values()];
      const xml = rows
        .map((t) => {
          const health =
            t.state === 'unused'
              ? '<State>unused</State><Reason>Target.NotRegistered</Reason><Description>Target is not registered to the target group</Description>'
              : t.state === 'draining'
                ? '<State>draining</State><Reason>Target.DeregistrationInProgress</Reason><Description>Target deregistration is in progress</Description>'
                : '<State>healthy</State>';
          return `<member><HealthCheckPort>${t.port}</HealthCheckPort><TargetHealth>${health}</TargetHealth><Target><Port>${t.port}</Port><Id>${escapeXml(t.id)}</Id></Target></member>`;
        })
        .join('');
      return `<TargetHealthDescriptions>${xml}</TargetHealthDescriptions>`;
    },
    DescribeTargetGroupAttributes: (p) => {
      const g = tg(p);
      const attributes: Array<[string, string]> = [
        ['deregistration_delay.timeout_seconds', String(seconds(delayOf(g)))],
        ['stickiness.enabled', 'false'],
        ['load_balancing.algorithm.type', 'round_robin'],
      ];
      return `<Attributes>${attributes.map(([k, v]) => `<member><Key>${k}</Key><Value>${v}</Value></member>`).join('')}</Attributes>`;
    },
  };

  const answerQuery = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const params = Object.fromEntries(new URLSearchParams(body));
    const action = params.Action ?? '';
    const version = params.Version ?? '';
    const service = version === '2015-12-01' ? 'elbv2' : 'elb';
    const ns = service === 'elbv2' ? ELBV2_NS : ELB_NS;
    const authorization = req.headers.authorization;
    const call: AwsCall = { service, action, params, authorization, status: 200 };
    calls.push(call);
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
    const requestId = randomUUID();
    const send = (status: number, xml: string): void => {
      call.status = status;
      res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
    };
    const sendError = (err: QueryError): void => {
      call.errorCode = err.code;
      send(
        err.status,
        `<ErrorResponse xmlns="${ns}"><Error><Type>${err.type}</Type><Code>${err.code}</Code><Message>${escapeXml(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      );
    };
    try {
      if (version !== '2012-06-01' && version !== '2015-12-01') throw new QueryError(400, 'InvalidParameterValue', `unknown Version ${version}`);
      if (!authorization?.startsWith('AWS4-HMAC-SHA256 Credential=')) throw new QueryError(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
      const fault = faults.find((f) => f.count > 0 && (!f.actions || f.actions.includes(action)));
      if (fault) {
        fault.count--;
        throw new QueryError(fault.status, fault.code, fault.message, fault.type);
      }
      const handler = handlers[action];
      if (!handler) throw new QueryError(400, 'InvalidAction', `Could not find operation ${action} for version ${version}`);
      const result = handler(params);
      send(
        200,
        `<${action}Response xmlns="${ns}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
      );
    } catch (err) {
      sendError(err instanceof QueryError ? err : new QueryError(500, 'InternalFailure', String(err), 'Receiver'));
    }
  };

  const answerImds = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const token = req.headers['x-aws-ec2-metadata-token'];
    const ttl = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
    const call: ImdsCall = { method: req.method ?? '', path, token: typeof token === 'string' ? token : undefined, ttl: typeof ttl === 'string' ? ttl : undefined, status: 200 };
    imdsCalls.push(call);
    const send = (status: number, text: string): void => {
      call.status = status;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(text);
    };
    req.resume();
    if (state.imdsStatus !== undefined) return send(state.imdsStatus, 'unavailable');
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return send(405, 'method not allowed');
      const seconds = Number(call.ttl);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 21600) return send(400, 'bad ttl');
      const t = randomUUID();
      tokens.add(t);
      return send(200, t);
    }
    if (req.method !== 'GET') return send(405, 'method not allowed');
    // IMDSv2 only (HttpTokens=required): a request without a valid token is refused.
    if (!call.token || !tokens.has(call.token)) return send(401, 'unauthorized');
    if (path === '/latest/meta-data/instance-id') return send(200, state.instanceId);
    return send(404, 'not found');
  };

  const server: Server = createServer((req, res) => {
    if ((req.url ?? '').startsWith('/latest/')) {
      answerImds(req, res);
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    answerQuery(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    imdsCalls,
    callsOf: (action) => calls.filter((c) => c.action === action),
    get instanceId() {
      return state.instanceId;
    },
    set instanceId(v: string) {
      state.instanceId = v;
    },
    get drainingMs() {
      return state.drainingMs;
    },
    set drainingMs(v: number) {
      state.drainingMs = v;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    get imdsStatus() {
      return state.imdsStatus;
    },
    set imdsStatus(v: number | undefined) {
      state.imdsStatus = v;
    },
    addLoadBalancer: (name, instances = [], o = {}) =>
      void classic.set(name, { instances: new Map(instances.map((id) => [id, { state: 'InService' }])), connectionDrainingMs: o.connectionDrainingMs ?? 0 }),
    instances: (name, includeDraining = false) => {
      const l = classic.get(name);
      if (!l) return [];
      prune(l.instances);
      return includeDraining ? [...l.instances.keys()].sort() : registeredIds(l);
    },
    setInstanceState: (name, instanceId, s) => {
      const i = classic.get(name)?.instances.get(instanceId);
      if (!i) throw new Error(`${instanceId} is not registered with ${name}`);
      i.state = s;
    },
    addTargetGroup: (arn, port = 80, targets = [], o = {}) =>
      void groups.set(arn, {
        port,
        targets: new Map(targets.map((t) => [`${t.id}:${t.port ?? port}`, { id: t.id, port: t.port ?? port, state: 'healthy' as const }])),
        deregistrationDelayMs: o.deregistrationDelayMs,
      }),
    targets: (arn, includeDraining = false) => {
      const g = groups.get(arn);
      if (!g) return [];
      prune(g.targets);
      return [...g.targets.values()]
        .filter((t) => includeDraining || t.state !== 'draining')
        .map((t) => `${t.id}:${t.port}`)
        .sort();
    },
    throttle: (count, o = {}) =>
      void faults.push({ count, ...(o.actions && { actions: o.actions }), status: 400, code: o.code ?? 'Throttling', type: 'Sender', message: 'Rate exceeded' }),
    serverError: (count, o = {}) =>
      void faults.push({ count, ...(o.actions && { actions: o.actions }), status: o.status ?? 500, code: 'InternalFailure', type: 'Receiver', message: 'Internal failure' }),
    clearFaults: () => void faults.splice(0),
    reset: () => {
      classic.clear();
      groups.clear();
      faults.splice(0);
      calls.splice(0);
      imdsCalls.splice(0);
      state.imdsStatus = undefined;
      state.delayMs = 0;
      state.drainingMs = opts.drainingMs ?? 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The environment a `sidekick elb` run gets in tests: fake credentials, region, and no way to reach the real
 * instance-metadata service (the SDK's credential chain and our IMDS client both go to the fake instead).
 */
export function fakeAwsEnv(fake: FakeAws, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: FAKE_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: FAKE_SECRET_ACCESS_KEY,
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_SERVICE_ENDPOINT: fake.url,
    AWS_CONFIG_FILE: '/nonexistent/sidekick-test/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/sidekick-test/aws-credentials',
    ...extra,
  };
}

const ROOT = join(import.meta.dirname, '../..');

/**
 * True once src/cli/program.ts lists `elb`: the tests then run the built `sidekick` binary (dist/cli/main.js).
 * Until then they run the same command from the same build (dist/cli/elb.js, compiled by the global setup) under
 * a two-line entry equal to main.ts's, with only `elb` in the tree.
 */
export const ELB_VIA_BINARY = readFileSync(join(ROOT, 'src/cli/program.ts'), 'utf8').includes('elbCommand()');

const ELB_ENTRY = [
  "import { Command } from 'commander';",
  `import { elbCommand } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/cli/elb.js')).href)};`,
  "new Command('sidekick').addCommand(elbCommand()).parseAsync(process.argv.slice(1), { from: 'user' }).catch((err) => {",
  "  process.stderr.write(`sidekick: ${err instanceof Error ? err.message : String(err)}\\n`);",
  '  process.exitCode = 2;',
  '});',
].join('\n');

/**
 * Starts `sidekick elb ...args` with JSON logs on stderr. The environment is the runner's minus every AWS_* and
 * SIDEKICK_* variable (no real profile, session token or endpoint leaks in), plus `env`.
 */
export function sidekickElb(args: string[], env: Record<string, string> = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('SIDEKICK_')));
  const argv = ELB_VIA_BINARY ? sidekickArgv(['elb', ...args]) : ['--input-type=module', '--eval', ELB_ENTRY, '--', 'elb', ...args];
  return execa('node', argv, {
    reject: false,
    cwd: ROOT,
    env: { ...base, SIDEKICK_LOG_LEVEL: 'info', ...env },
    extendEnv: false,
    stdin: 'ignore',
    // A SIGTERM'd `elb` may rightly take longer than execa's 5 s before its own SIGKILL: it waits for the drain.
    forceKillAfterDelay: false,
  });
}

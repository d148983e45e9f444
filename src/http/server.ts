// `--listen host:port`: a small node:http server for probes and scrapers. GET (or HEAD) /healthz answers 200 or 503
// with a JSON body, /metrics the Prometheus text format; anything else is 404 (405 for other methods on those two).
// Off unless --listen is given. It binds where it is told: 127.0.0.1 keeps it on the host, 0.0.0.0 exposes it to
// the network on purpose (neither endpoint shows flag values or credentials).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatAddress } from '../util/address.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { Health } from './health.js';
import type { MetricsRegistry } from './metrics.js';

/** Where to listen: a host (name, IPv4, or IPv6 without brackets) and a port (0: any free one). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** `127.0.0.1:9273`, `[::1]:9273`, `0.0.0.0:9273`, `localhost:9273` → host and port; throws ConfigError naming --listen. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new ConfigError(`--listen: expected host:port such as 127.0.0.1:9273 or [::1]:9273, got "${text}"`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/** The listening server. */
export interface HttpEndpoint {
  /** Where it actually listens (the real port when 0 was asked for). */
  readonly address: ListenAddress;
  /** Stops listening and drops open (keep-alive) connections. Never rejects. */
  close(): Promise<void>;
}

/** What the server answers from. */
export interface HttpServerOptions extends ListenAddress {
  health: Health;
  metrics: MetricsRegistry;
  log: Logger;
}

/** Starts serving /healthz and /metrics; rejects when the address cannot be bound (in use, not local). */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpEndpoint> {
  const log = opts.log.child({ component: 'http' });
  const server = createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) => {
      log.warn({ err: errorMessage(err), path: req.url }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    throw new ConfigError(`--listen: cannot listen on ${show(opts)}: ${errorMessage(err)}`, { cause: err });
  });
  server.on('error', (err) => log.error({ err: errorMessage(err) }, 'http server error'));
  const bound = server.address() as AddressInfo;
  const address = { host: opts.host, port: bound.port };
  log.info({ listen: show(address) }, 'serving /healthz and /metrics');
  return { address, close: () => closeServer(server) };
}

function show(a: ListenAddress): string {
  return formatAddress(a.host, a.port);
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HttpServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/healthz' && path !== '/metrics') {
    send(res, req, 404, 'text/plain; charset=utf-8', 'not found: try /healthz or /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(res, req, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  if (path === '/healthz') {
    const report = opts.health.report();
    send(res, req, report.status === 'ok' ? 200 : 503, 'application/json; charset=utf-8', `${JSON.stringify(report)}\n`);
    return;
  }
  send(res, req, 200, opts.metrics.contentType, await opts.metrics.metrics());
}

function send(res: ServerResponse, req: IncomingMessage, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** What a daemon registers its checks and metrics with; `close` stops the server. */
export interface Observability {
  health: Health;
  metrics: MetricsRegistry;
  /** Where it listens. */
  address: ListenAddress;
  close(): Promise<void>;
}

/**
 * `--listen` for a CLI: a Health and a metrics registry (with process metrics), served at `listen`. Returns undefined
 * when `listen` is not given. `secrets` are values /healthz must never show (the etcd password).
 */
export async function startObservability(listen: string | undefined, log: Logger, secrets: readonly (string | undefined)[] = []): Promise<Observability | undefined> {
  if (listen === undefined || listen === '') return undefined;
  const where = parseListen(listen);
  const health = new Health(secrets);
  // prom-client is loaded only for a process that serves /metrics (about 13 MB resident).
  const { createMetricsRegistry } = await import('./metrics.js');
  const metrics = createMetricsRegistry({ processMetrics: true });
  const endpoint = await startHttpServer({ ...where, health, metrics, log });
  return { health, metrics, address: endpoint.address, close: () => endpoint.close() };
}

// A rolling restart under load, with real parts: nginx and haproxy each driven by a `sidekick render --watch`
// process, backends announced by `sidekick announce` processes, and a bounded stream of POST requests through both
// proxies. Shared by the drain tests and bench/drain.ts.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request, createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { sidekick } from './cli.js';
import { freePort } from './ports.js';
import { nginxHttpPaths, nginxPreamble, startHaproxy, startNginx, stopProc, waitFor, type HaproxyHandle, type NginxHandle } from './procs.js';

/** A parsed JSON log line. */
export type LogLine = Record<string, unknown> & { msg?: string };

/** A sidekick process with its JSON log lines collected as they come. */
export interface Proc {
  proc: ResultPromise;
  logs(): LogLine[];
  /** Text of stderr so far (for failure messages). */
  text(): string;
}

/** Starts `sidekick ...args`, collecting stderr. */
export function spawnSidekick(args: string[], env: Record<string, string> = {}): Proc {
  const proc = sidekick(args, env);
  let text = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return {
    proc,
    text: () => text,
    logs: () =>
      text
        .slice(0, text.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LogLine),
  };
}

/**
 * An HTTP app on loopback that takes `latencyMs` to answer each request with its name, and that — like most apps —
 * exits at once when stopped: every connection is cut, requests in flight included.
 */
export interface App {
  name: string;
  port: number;
  served: number;
  stop(): Promise<void>;
}

export async function startApp(name: string, latencyMs: number): Promise<App> {
  const sockets = new Set<Socket>();
  const app = { name, port: 0, served: 0 } as App;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        app.served++;
        res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end(`${name}\n`);
      }, latencyMs);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  app.port = typeof addr === 'object' && addr ? addr.port : 0;
  app.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return app;
}

/** One POST through a proxy, on a fresh connection; resolves with the answering app's name, or throws. */
export function post(port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/orders', agent: false, timeout: timeoutMs, headers: { connection: 'close', 'content-type': 'text/plain' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${res.statusCode}: ${body.trim().slice(0, 80)}`))));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end('item=1');
  });
}

/** A bounded stream of POSTs: `workers` loops, each one request at a time, until stopped or `maxMs` passed. */
export interface Load {
  ok: number;
  failed: number;
  errors: string[];
  byApp: Map<string, number>;
  stop(): Promise<void>;
}

export function startLoad(port: number, workers = 4, maxMs = 120_000): Load {
  const load = { ok: 0, failed: 0, errors: [] as string[], byApp: new Map<string, number>() } as Load;
  let running = true;
  const until = Date.now() + maxMs;
  const loop = async (): Promise<void> => {
    while (running && Date.now() < until) {
      try {
        const name = await post(port);
        load.ok++;
        load.byApp.set(name, (load.byApp.get(name) ?? 0) + 1);
      } catch (err) {
        load.failed++;
        if (load.errors.length < 20) load.errors.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  const loops = Array.from({ length: workers }, () => loop());
  load.stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  return load;
}

/** A proxy under `sidekick render --watch`: nginx (SIGHUP) or haproxy (-W, SIGUSR2), reloads watched via the pid file. */
export interface Proxy {
  kind: 'nginx' | 'haproxy';
  port: number;
  /** The renderer's acknowledgement name: `<node>/<resource>`. */
  renderer: string;
  render: Proc;
  /** The rendered config. */
  config(): Promise<string>;
  stop(): Promise<void>;
}

const NGINX_TEMPLATE = (dir: string, port: number): string => `${nginxPreamble(dir)}
http {
  ${nginxHttpPaths(dir)}
  upstream web {
{{#each (service "web")}}
    server {{address}};
{{/each}}
  }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://web; }
  }
}
`;

const HAPROXY_TEMPLATE = (port: number): string => `global
  maxconn 512
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend main
  bind 127.0.0.1:${port}
  default_backend web
backend web
  balance roundrobin
{{#each (service "web")}}
  server {{id}} {{address}}
{{/each}}
`;

/**
 * Starts nginx or haproxy on a config rendered from etcd, then `sidekick render --watch` over it. The first file is
 * rendered once (no check, no reload) so the proxy can start on it.
 */
export async function startProxy(kind: 'nginx' | 'haproxy', root: string, etcd: string, extraRenderArgs: string[] = []): Promise<Proxy> {
  const dir = join(root, kind);
  await mkdir(join(dir, 'conf.d'), { recursive: true });
  await mkdir(join(dir, 'templates'), { recursive: true });
  const port = await freePort();
  const dest = join(dir, `${kind}.conf`);
  const pidFile = join(dir, `${kind}.pid`);
  await writeFile(join(dir, 'templates', 'proxy.tmpl'), kind === 'nginx' ? NGINX_TEMPLATE(dir, port) : HAPROXY_TEMPLATE(port));
  const toml = (reload: boolean): string =>
    [
      '[template]',
      'src = "proxy.tmpl"',
      `dest = "${dest}"`,
      'keys = ["/services/web"]',
      ...(reload
        ? [
            kind === 'nginx' ? `check_cmd = "/usr/sbin/nginx -t -q -p ${dir} -e ${join(dir, 'error.log')} -c {{.src}}"` : 'check_cmd = "/usr/sbin/haproxy -c -q -f {{.src}}"',
            `reload_signal = "${kind === 'nginx' ? 'HUP' : 'USR2'}"`,
            `pid_file = "${pidFile}"`,
            'wait = "20ms:500ms"',
          ]
        : []),
    ].join('\n');
  await writeFile(join(dir, 'conf.d', `${kind}.toml`), toml(false));
  const args = ['render', '--backend', 'etcd', '--node', etcd, '--confdir', dir];
  const first = await sidekick([...args, '--onetime']);
  if (first.exitCode !== 0) throw new Error(`first render of ${kind} failed: ${String(first.stderr)}`);
  let handle: NginxHandle | HaproxyHandle;
  if (kind === 'nginx') handle = await startNginx(dir, dest);
  else handle = await startHaproxy(dir, dest);
  await writeFile(join(dir, 'conf.d', `${kind}.toml`), toml(true));
  const node = `edge-${kind}`;
  const render = spawnSidekick([...args, '--watch', '--node-name', node, ...extraRenderArgs]);
  await waitFor(() => render.logs().some((l) => l.msg === 'store in sync; rendering' || l.msg === 'initial read done'), 20_000);
  return {
    kind,
    port,
    renderer: `${node}/${kind}.toml`,
    render,
    config: () => readFile(dest, 'utf8'),
    stop: async () => {
      await stopProc(render.proc);
      await handle.stop();
    },
  };
}

/** An app and its `sidekick announce`. */
export interface Instance {
  app: App;
  announce: Proc;
  id: string;
}

/** Starts an app and announces it as web/<id>; resolves once the record is in etcd. */
export async function startInstance(id: string, etcd: string, latencyMs: number, extraArgs: string[] = []): Promise<Instance> {
  const app = await startApp(id, latencyMs);
  const announce = spawnSidekick([
    'announce', '--etcd', etcd, '--node-name', 'n1', '--name', 'web', '--id', id, '--address', `127.0.0.1:${app.port}`,
    '--check', 'tcp', '--interval', '1s', '--timeout', '500ms', '--ttl', '5s', ...extraArgs,
  ]);
  await waitFor(() => announce.logs().some((l) => l.msg === 'registered'), 15_000);
  return { app, announce, id };
}

/** The stop order of the shipped units: the announcer first (it drains), then the app, which exits at once. */
export async function stopInstance(instance: Instance): Promise<LogLine[]> {
  instance.announce.proc.kill('SIGTERM');
  const t = setTimeout(() => instance.announce.proc.kill('SIGKILL'), 30_000);
  await instance.announce.proc;
  clearTimeout(t);
  await instance.app.stop();
  return instance.announce.logs();
}

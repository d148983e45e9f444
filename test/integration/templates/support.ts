// Shared set-up for the tests of the shipped templates (templates/<name>/): a confdir holding this repo's
// templates/ and the shipped resource file (dest moved into a temp dir), a fixture store for the file
// backend, the real `sidekick render --onetime` binary, and HTTP requests with a chosen Host header.
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { request, createServer, type Server } from 'node:http';
import { basename, join } from 'node:path';
import { parse, stringify } from 'smol-toml';
import { expect } from 'vitest';
import { logLines, sidekick } from '../../support/cli.js';
import { freePort } from '../../support/ports.js';
import { tempDir } from '../../support/tmp.js';

/** This repository's templates/ folder. */
export const REPO_TEMPLATES = join(import.meta.dirname, '../../../templates');

/** One instance as the registry writes it (native layout). */
export interface Instance {
  name: string;
  id: string;
  host: string;
  port: number;
  tags?: string[];
  meta?: Record<string, string>;
}

/** What the fixture store holds: instances, raw values at /services/<name>/<key>, and vhost pins. */
export interface StoreSpec {
  instances: Instance[];
  /** [service, key segment, value]: values the registry would refuse (they must be dropped, never rendered). */
  raw?: Array<[string, string, string]>;
  /** /vhosts/<service> = names */
  pins?: Record<string, string>;
}

/** The store as a JSON document for the file backend (flattened to /services/<name>/<id> keys). */
export function storeDocument(spec: StoreSpec): string {
  const services: Record<string, Record<string, string>> = {};
  const put = (name: string, key: string, value: string): void => {
    (services[name] ??= {})[key] = value;
  };
  for (const i of spec.instances) put(i.name, i.id, JSON.stringify({ tags: [], meta: {}, ...i }));
  for (const [name, key, value] of spec.raw ?? []) put(name, key, value);
  return JSON.stringify({ services, vhosts: spec.pins ?? {} }, null, 2);
}

/** What a finished `sidekick` run gives: exit code, stdout, stderr (JSON log lines). */
export type RunResult = Awaited<ReturnType<typeof sidekick>>;

/** A temp confdir running one shipped resource. */
export interface Confdir {
  dir: string;
  /** Where the resource writes (its shipped dest's file name, inside dir). */
  dest: string;
  /** The resource as written to conf.d/ (after the test's edits). */
  resource: Record<string, unknown>;
  /** Writes the store and runs `sidekick render --onetime --backend file` on this confdir. */
  render(spec: StoreSpec, env?: Record<string, string>): Promise<RunResult>;
  cleanup(): Promise<void>;
}

/**
 * A confdir with a copy of templates/ and templates/<name>/<name>.toml in conf.d/: dest moved into the temp
 * dir, /etc/sidekick in check_cmd pointed at it, reloads and the haproxy runtime socket dropped (nothing is running), then `edit` applied.
 */
export async function shippedConfdir(name: string, edit: (resource: Record<string, unknown>, dir: string) => void = () => undefined): Promise<Confdir> {
  const { dir, cleanup } = await tempDir('sidekick-tmpl-');
  await cp(REPO_TEMPLATES, join(dir, 'templates'), { recursive: true });
  const doc = parse(await readFile(join(REPO_TEMPLATES, name, `${name}.toml`), 'utf8')) as { template: Record<string, unknown> };
  const resource = doc.template;
  const dest = join(dir, basename(String(resource.dest)));
  resource.dest = dest;
  if (typeof resource.check_cmd === 'string') resource.check_cmd = resource.check_cmd.replaceAll('/etc/sidekick', dir);
  for (const k of ['reload_cmd', 'reload_signal', 'pid_file', 'haproxy_socket']) delete resource[k];
  edit(resource, dir);
  await mkdir(join(dir, 'conf.d'));
  await writeFile(join(dir, 'conf.d', `${name}.toml`), stringify({ template: resource }));
  const storeFile = join(dir, 'store.json');
  return {
    dir,
    dest,
    resource,
    cleanup,
    render: async (spec, env = {}) => {
      await writeFile(storeFile, storeDocument(spec));
      return await sidekick(['render', '--onetime', '--confdir', dir, '--backend', 'file', '--file', storeFile], env);
    },
  };
}

/** A GET on loopback with the given Host header; status and body. */
export function getWithHost(port: number, host: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, connection: 'close' }, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET http://${host}${path} via 127.0.0.1:${port} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP backend on 127.0.0.1 answering `name\n`, remembering the paths it was asked for (health checks too). */
export interface RecordingBackend {
  name: string;
  port: number;
  paths: string[];
  close(): Promise<void>;
}

/** Starts a {@link RecordingBackend}. */
export async function recordingBackend(name: string): Promise<RecordingBackend> {
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`${name}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    name,
    port: typeof addr === 'object' && addr ? addr.port : 0,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Ports of the backends the fixture points at (the rest are addresses nothing needs to answer on). */
export interface FixturePorts {
  webA: number;
  webB: number;
  internal: number;
}

/** A hostile value the registry refuses: it must never reach a rendered file. */
export const EVIL_HOST = '10.0.0.9; } server { listen 1';

/**
 * The shared fixture: several services, a vhost from meta (declared by the second instance only), one from
 * tags, one pinned, an IPv6 instance, a host-name instance, a service with no valid instance (a refused
 * record only) and one with none at all, both pinned, meta values and ids full of characters that would
 * break a config, and a pin whose name is not a service name.
 */
export function fixtureStore(p: FixturePorts): StoreSpec {
  return {
    instances: [
      { name: 'web', id: 'h1:web-1:8080', host: '127.0.0.1', port: p.webA, meta: { check_path: '/healthz' } },
      { name: 'web', id: 'h2:web-2:8080', host: '127.0.0.1', port: p.webB, meta: { vhost: 'web.example.test, www.example.test' } },
      { name: 'api', id: 'h1:api:9000', host: '::1', port: 9000, tags: ['v2', 'vhost=api.example.test'] },
      { name: 'api', id: 'h2:api:9000', host: 'fd00::12', port: 9000, tags: ['vhost=ignored.example.test'] },
      { name: 'internal', id: 'i1', host: '127.0.0.1', port: p.internal },
      { name: 'worker', id: 'w1', host: 'localhost', port: 7000 },
      {
        name: 'odd',
        id: 'odd:1',
        host: '10.0.0.7',
        port: 80,
        meta: { vhost: 'odd.example.test $evil #comment', health_path: '/health check#x' },
      },
      { name: 'elasticsearch', id: 'es-1', host: '10.0.0.21', port: 9200 },
      { name: 'elasticsearch', id: 'es-2', host: 'fd00::22', port: 9200, meta: { scheme: 'https' } },
    ],
    raw: [
      ['billing', 'evil', JSON.stringify({ name: 'billing', id: 'evil', host: EVIL_HOST, port: 80 })],
      // An id haproxy would refuse as a server name: the record is dropped, not renamed.
      ['odd', 'odd@2+x', JSON.stringify({ name: 'odd', id: 'odd@2+x', host: '10.0.0.8', port: 80 })],
    ],
    pins: { billing: 'billing.example.test', gone: 'gone.example.test', internal: 'internal.example.test', 'bad\nname #x': 'x.example.test' },
  };
}

/** The fixture's running parts: its three recording backends, a free port for the proxy, and the store pointing at them. */
export interface Fixture {
  backends: { webA: RecordingBackend; webB: RecordingBackend; internal: RecordingBackend };
  port: number;
  store: StoreSpec;
  close(): Promise<void>;
}

/** Starts the backends the fixture store names and picks the proxy's port. */
export async function startFixture(): Promise<Fixture> {
  const backends = { webA: await recordingBackend('web-a'), webB: await recordingBackend('web-b'), internal: await recordingBackend('internal') };
  return {
    backends,
    port: await freePort(),
    store: fixtureStore({ webA: backends.webA.port, webB: backends.webB.port, internal: backends.internal.port }),
    close: async () => {
      await Promise.all(Object.values(backends).map((b) => b.close()));
    },
  };
}

/**
 * What every proxy must do with the fixture: web served by both its backends, the Host header matched without
 * its port and whatever its case (`www` spelled as given), internal served, pinned vhosts without an instance 503.
 */
export async function expectFixtureRoutes(port: number, www: string): Promise<void> {
  const served = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const res = await getWithHost(port, 'web.example.test');
    expect(res.status).toBe(200);
    served.add(res.body.trim());
  }
  expect([...served].sort()).toEqual(['web-a', 'web-b']);
  expect((await getWithHost(port, www)).status).toBe(200);
  expect(await getWithHost(port, 'internal.example.test')).toEqual({ status: 200, body: 'internal\n' });
  expect((await getWithHost(port, 'billing.example.test')).status).toBe(503);
  expect((await getWithHost(port, 'gone.example.test')).status).toBe(503);
}

/** Renders the fixture again and checks that exactly its invalid records were refused, each with a warning naming its key. */
export async function expectRefusedRecords(conf: Confdir, store: StoreSpec, env: Record<string, string>): Promise<void> {
  const run = await conf.render(store, env);
  expect(run.exitCode).toBe(0);
  const warned = logLines(String(run.stderr)).filter((l) => l.msg === 'ignoring invalid service record');
  expect(warned.map((l) => l.storeKey)).toEqual(['/services/billing/evil', '/services/odd/odd@2+x']);
}

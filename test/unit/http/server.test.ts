// The --listen server: address parsing, the two endpoints, status codes, HEAD, and a close that does not hang.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Health } from '../../../src/http/health.js';
import { createMetricsRegistry, RenderMetrics } from '../../../src/http/metrics.js';
import { parseListen, startHttpServer, startObservability, type HttpEndpoint } from '../../../src/http/server.js';
import { ConfigError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';
import { sampleIn } from './prom.js';

const open: HttpEndpoint[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function serve(health = new Health()) {
  const metrics = createMetricsRegistry();
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, health, metrics, log: silentLogger });
  open.push(server);
  return { server, metrics, url: (path: string) => `http://127.0.0.1:${server.address.port}${path}` };
}

/** A raw node:http request: any method, and an agent of the test's choosing (keep-alive). */
function raw(port: number, method: string, path: string, agent?: Agent): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('parseListen', () => {
  it('takes host:port, [v6]:port and port 0', () => {
    expect(parseListen('127.0.0.1:9273')).toEqual({ host: '127.0.0.1', port: 9273 });
    expect(parseListen('0.0.0.0:9273')).toEqual({ host: '0.0.0.0', port: 9273 });
    expect(parseListen('localhost:1')).toEqual({ host: 'localhost', port: 1 });
    expect(parseListen('[::1]:9273')).toEqual({ host: '::1', port: 9273 });
    expect(parseListen('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('refuses anything else with a ConfigError naming --listen', () => {
    for (const bad of ['9273', ':9273', '127.0.0.1', '127.0.0.1:99999', 'http://127.0.0.1:9273', '::1:9273', 'a b:1', '']) {
      expect(() => parseListen(bad)).toThrow(ConfigError);
      expect(() => parseListen(bad)).toThrow(/^--listen: expected host:port/);
    }
  });
});

describe('startHttpServer', () => {
  it('/healthz answers 200 with the checks while all pass, 503 with the failing ones otherwise', async () => {
    let ok = true;
    const health = new Health().add('store', () => ({ ok, detail: ok ? 'etcd: synced' : 'etcd: stale' }));
    const { url } = await serve(health);
    const good = await fetch(url('/healthz'));
    expect(good.status).toBe(200);
    expect(good.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await good.json()).toEqual({ status: 'ok', checks: { store: { ok: true, detail: 'etcd: synced' } } });
    ok = false;
    const bad = await fetch(url('/healthz?verbose=1'));
    expect(bad.status).toBe(503);
    expect(await bad.json()).toEqual({ status: 'failing', checks: { store: { ok: false, detail: 'etcd: stale' } } });
  });

  it('/metrics answers the Prometheus text format', async () => {
    const { url, metrics } = await serve();
    new RenderMetrics(metrics, () => true).batch({ outcomes: [{ resource: 'a.toml', status: 'applied' }], reloads: [], latencies: [] });
    const res = await fetch(url('/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE sidekick_renders_total counter');
    expect(sampleIn(text, 'sidekick_renders_total{resource="a.toml",result="applied"}')).toBe(1);
  });

  it('HEAD answers the status without a body; other paths 404; other methods 405', async () => {
    const { server } = await serve(new Health().add('x', () => ({ ok: false, detail: 'down' })));
    const port = server.address.port;
    const head = await raw(port, 'HEAD', '/healthz');
    expect(head.status).toBe(503);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect((await raw(port, 'GET', '/')).status).toBe(404);
    expect((await raw(port, 'GET', '/healthz/x')).status).toBe(404);
    const post = await raw(port, 'POST', '/metrics');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it("the README's statuses for another method and another path are the ones sent", async () => {
    const readme = readFileSync(join(import.meta.dirname, '../../../README.md'), 'utf8').replace(/\s+/g, ' ');
    const said = /another method gets (\d{3}) with `Allow: ([^`]+)`, another path (\d{3})/.exec(readme);
    expect(said).not.toBeNull();
    const { server } = await serve();
    const post = await raw(server.address.port, 'POST', '/healthz');
    const other = await raw(server.address.port, 'GET', '/status');
    expect([String(post.status), post.headers.allow, String(other.status)]).toEqual(said?.slice(1));
  });

  it('close() does not wait for keep-alive clients', async () => {
    const { server } = await serve();
    const agent = new Agent({ keepAlive: true });
    expect((await raw(server.address.port, 'GET', '/healthz', agent)).status).toBe(200);
    const started = Date.now();
    await server.close();
    open.splice(0);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(raw(server.address.port, 'GET', '/healthz')).rejects.toThrow(/ECONNREFUSED/);
    agent.destroy();
  });

  it('a port in use is a ConfigError naming --listen', async () => {
    const { server } = await serve();
    await expect(startHttpServer({ host: '127.0.0.1', port: server.address.port, health: new Health(), metrics: createMetricsRegistry(), log: silentLogger })).rejects.toThrow(
      /^--listen: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
    );
  });
});

describe('startObservability', () => {
  it('is off without an address, and serves process metrics with one', async () => {
    expect(await startObservability(undefined, silentLogger)).toBeUndefined();
    expect(await startObservability('', silentLogger)).toBeUndefined();
    const obs = await startObservability('127.0.0.1:0', silentLogger, ['pw']);
    if (!obs) throw new Error('expected a server');
    open.push({ address: obs.address, close: () => obs.close() });
    const text = await (await fetch(`http://127.0.0.1:${obs.address.port}/metrics`)).text();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });
});

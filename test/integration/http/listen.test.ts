// `--listen` as a user runs it: the real binary (render, announce) against a real etcd, probed over HTTP.
import { createServer, type Server } from 'node:net';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logLines, sidekick } from '../../support/cli.js';
import { startEtcd, type EtcdHandle } from '../../support/etcd.js';
import { freePort } from '../../support/ports.js';
import { waitFor } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';
import { sampleIn } from '../../unit/http/prom.js';

const fixtures = join(import.meta.dirname, '../../fixtures');
const PASSWORD = 'hunter2-never-shown';

interface Health {
  status: 'ok' | 'failing';
  checks: Record<string, { ok: boolean; detail: string; failing?: Record<string, string> }>;
}

let etcd: EtcdHandle;
let dir: string;
let cleanupDir: () => Promise<void>;
const procs: ResultPromise[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
}, 60_000);

beforeEach(async () => {
  ({ dir, cleanup: cleanupDir } = await tempDir('sidekick-listen-'));
});

afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill('SIGKILL');
    await p.catch(() => undefined);
  }
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  if (!etcd.running) await etcd.start();
  await etcd.delPrefix('/');
  await cleanupDir();
});

afterAll(async () => {
  await etcd?.cleanup();
});

function run(args: string[], env: Record<string, string> = {}): ResultPromise {
  const p = sidekick(args, env);
  procs.push(p);
  return p;
}

async function healthz(port: number): Promise<{ status: number; body: Health }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
  const text = await res.text();
  expect(text).not.toContain(PASSWORD);
  return { status: res.status, body: JSON.parse(text) as Health };
}

async function metrics(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
  expect(res.status).toBe(200);
  return res.text();
}

/** Polls /healthz until it answers `status`; returns that answer. */
function healthzUntil(port: number, status: number, timeoutMs = 15_000): Promise<{ status: number; body: Health }> {
  return waitFor(async () => {
    const h = await healthz(port);
    if (h.status !== status) throw new Error(`healthz ${h.status}: ${JSON.stringify(h.body)}`);
    return h;
  }, timeoutMs);
}

/** Polls /metrics until `series` satisfies `ok`; returns its value. */
function metricUntil(port: number, series: string, ok: (v: number) => boolean, timeoutMs = 15_000): Promise<number> {
  return waitFor(async () => {
    const v = sampleIn(await metrics(port), series);
    if (v === undefined || !ok(v)) throw new Error(`${series} = ${v}`);
    return v;
  }, timeoutMs);
}

describe('sidekick render --listen', () => {
  beforeEach(async () => {
    await mkdir(join(dir, 'conf.d'));
    await mkdir(join(dir, 'templates'));
    await writeFile(
      join(dir, 'conf.d/app.toml'),
      `[template]\nsrc = "app.tmpl"\ndest = "${join(dir, 'app.conf')}"\nkeys = ["/app"]\ncheck_cmd = "sh ${fixtures}/grep-check.sh BAD {{.src}}"\n`,
    );
    await writeFile(join(dir, 'templates/app.tmpl'), 'value = {{getv "/app/x"}}\n');
    await etcd.put('/app/x', '1');
  });

  it('/healthz: 200 when synced and applied, 503 naming the resource when check_cmd fails, 503 stale when etcd stops', async () => {
    const port = await freePort();
    const proc = run(['render', '--watch', '--confdir', dir, '--node', etcd.endpoint, '--listen', `127.0.0.1:${port}`], { SIDEKICK_PASSWORD: PASSWORD });
    const dest = join(dir, 'app.conf');

    const up = await healthzUntil(port, 200);
    expect(up.body).toEqual({
      status: 'ok',
      checks: {
        store: { ok: true, detail: 'etcd: synced' },
        apply: { ok: true, detail: '1 resource: last apply ok' },
        config: { ok: true, detail: 'every resource loaded' },
      },
    });
    expect(await readFile(dest, 'utf8')).toBe('value = 1\n');

    // /metrics: the first render, then a key change → a second render and a change → apply latency sample.
    let text = await metrics(port);
    expect(sampleIn(text, 'sidekick_renders_total{resource="app.toml",result="applied"}')).toBe(1);
    expect(sampleIn(text, 'sidekick_store_connected')).toBe(1);
    expect(sampleIn(text, 'sidekick_apply_latency_seconds_count')).toBe(0);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    await etcd.put('/app/x', '2');
    await waitFor(async () => (await readFile(dest, 'utf8')) === 'value = 2\n');
    await metricUntil(port, 'sidekick_renders_total{resource="app.toml",result="applied"}', (v) => v === 2);
    text = await metrics(port);
    expect(sampleIn(text, 'sidekick_apply_latency_seconds_count')).toBeGreaterThan(0);
    expect(sampleIn(text, 'sidekick_apply_latency_seconds_sum')).toBeGreaterThan(0);

    // A value the check_cmd refuses: the last good file stays, /healthz says which resource and why.
    await etcd.put('/app/x', 'BAD');
    const refused = await healthzUntil(port, 503);
    expect(refused.body.status).toBe('failing');
    expect(refused.body.checks.store?.ok).toBe(true);
    expect(refused.body.checks.apply).toMatchObject({ ok: false, detail: '1 of 1 resource failing' });
    expect(refused.body.checks.apply?.failing?.['app.toml']).toMatch(/^failed: .*rejected: found BAD/);
    expect(await readFile(dest, 'utf8')).toBe('value = 2\n');
    expect(sampleIn(await metrics(port), 'sidekick_renders_total{resource="app.toml",result="failed"}')).toBe(1);
    await etcd.put('/app/x', '3');
    await healthzUntil(port, 200);

    // etcd goes away: stale, with the reason; back once it returns.
    await etcd.stop();
    const stale = await healthzUntil(port, 503, 20_000);
    expect(stale.body.checks.store).toMatchObject({ ok: false, detail: expect.stringMatching(/^etcd: stale/) });
    expect(stale.body.checks.apply?.ok).toBe(true);
    expect(sampleIn(await metrics(port), 'sidekick_store_connected')).toBe(0);
    await etcd.start();
    await healthzUntil(port, 200, 20_000);

    proc.kill('SIGTERM');
    const done = await proc;
    expect(done.exitCode).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('reads SIDEKICK_LISTEN; /healthz is 503 while etcd cannot be reached at start', async () => {
    const port = await freePort();
    const dead = await freePort();
    void run(['render', '--watch', '--confdir', dir, '--node', `http://127.0.0.1:${dead}`], { SIDEKICK_LISTEN: `127.0.0.1:${port}` });
    const down = await healthzUntil(port, 503);
    expect(down.body.checks.store).toMatchObject({ ok: false, detail: expect.stringMatching(/^etcd: connecting/) });
    expect(down.body.checks.apply).toEqual({ ok: false, detail: 'nothing applied yet' });
  });

  it('never shows the etcd password on /healthz, given in the node URL or in SIDEKICK_PASSWORD', async () => {
    const dead = await freePort();
    // A password that the connection error itself contains (the node, 127.0.0.1:<port>): unmasked, it would show.
    const password = String(dead);
    const runs: { args: string[]; env: Record<string, string> }[] = [
      { args: ['--node', `http://root:${password}@127.0.0.1:${dead}`], env: {} },
      { args: ['--node', `http://127.0.0.1:${dead}`, '--username', 'root'], env: { SIDEKICK_PASSWORD: password } },
    ];
    for (const { args, env } of runs) {
      const port = await freePort();
      const proc = run(['render', '--watch', '--confdir', dir, '--listen', `127.0.0.1:${port}`, ...args], env);
      const down = await waitFor(async () => {
        const h = await healthz(port);
        if (!h.body.checks.store?.detail.includes('cannot read etcd')) throw new Error(`healthz ${h.status}: ${JSON.stringify(h.body)}`);
        return h;
      }, 15_000);
      expect(down.status).toBe(503);
      expect(down.body.checks.store).toMatchObject({ ok: false, detail: expect.stringContaining('127.0.0.1:***') });
      expect(JSON.stringify(down.body)).not.toContain(password);
      proc.kill('SIGKILL');
      await proc.catch(() => undefined);
    }
  });

  it('a bad --listen is a usage error (exit 2) naming the flag', async () => {
    const bad = await run(['render', '--watch', '--confdir', dir, '--node', etcd.endpoint, '--listen', 'nowhere']);
    expect(bad.exitCode).toBe(2);
    expect(String(bad.stderr)).toContain('--listen: expected host:port');
  });
});

describe('sidekick announce --listen', () => {
  it('shows the registered service, lease grants and renewals, check passes; /healthz 200 while the lease is held', async () => {
    const service = createServer((s) => s.destroy());
    servers.push(service);
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    const servicePort = (service.address() as { port: number }).port;
    const port = await freePort();
    const proc = run(
      ['announce', '--etcd', etcd.endpoint, '--node-name', 'n1', '--name', 'web', '--address', `127.0.0.1:${servicePort}`, '--check', 'tcp', '--interval', '500ms', '--timeout', '200ms', '--ttl', '3s', '--listen', `127.0.0.1:${port}`],
      { SIDEKICK_PASSWORD: PASSWORD },
    );
    await metricUntil(port, 'sidekick_registered_services', (v) => v === 1);
    const h = await healthzUntil(port, 200);
    expect(h.body).toEqual({
      status: 'ok',
      checks: {
        etcd: { ok: true, detail: expect.stringMatching(/^lease held/) },
        services: { ok: true, detail: '1 service: 1 passing, 0 failing' },
      },
    });
    expect(await metricUntil(port, 'sidekick_lease_grants_total', (v) => v >= 1)).toBe(1);
    await metricUntil(port, 'sidekick_lease_renewals_total', (v) => v >= 1);
    await metricUntil(port, 'sidekick_checks_total{service="web",result="pass"}', (v) => v >= 2);
    const text = await metrics(port);
    expect(sampleIn(text, 'sidekick_etcd_connected')).toBe(1);
    expect(sampleIn(text, 'sidekick_etcd_writes_total')).toBeGreaterThanOrEqual(1);
    expect(sampleIn(text, 'sidekick_lease_lost_total')).toBe(0);
    expect((await etcd.client.getAll().prefix('/services/web/').keys()).length).toBe(1);

    // etcd gone: the lease cannot be kept, /healthz says so.
    await etcd.stop();
    const down = await healthzUntil(port, 503, 20_000);
    expect(down.body.checks.etcd?.ok).toBe(false);
    await etcd.start();
    await healthzUntil(port, 200, 30_000);

    proc.kill('SIGTERM');
    const done = await proc;
    expect(done.exitCode).toBe(0);
    expect(logLines(String(done.stderr)).some((l) => l.msg === 'serving /healthz and /metrics')).toBe(true);
  });

  it('a port already in use is a usage error, before anything is registered', async () => {
    const busy = createServer();
    servers.push(busy);
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    const res = await run(['announce', '--etcd', etcd.endpoint, '--name', 'web', '--address', '127.0.0.1:1', '--listen', `127.0.0.1:${port}`]);
    expect(res.exitCode).toBe(2);
    expect(String(res.stderr)).toMatch(/--listen: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    expect((await etcd.client.getAll().prefix('/services/').keys()).length).toBe(0);
  });
});

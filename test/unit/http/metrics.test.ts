// /metrics: each metric moves with what the daemons report, one prom-client Registry per process.
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { checkMetrics, createMetricsRegistry, dockerMetrics, registryMetrics, RenderMetrics } from '../../../src/http/metrics.js';
import { Registry } from '../../../src/registry/registry.js';
import { silentLogger } from '../../../src/util/log.js';
import { sample } from './prom.js';

const registries: Registry[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close({ revoke: false })));
});

describe('RenderMetrics', () => {
  it('counts renders by resource and result, reloads, rollbacks and change → apply latency', async () => {
    const metrics = createMetricsRegistry();
    let synced = false;
    const render = new RenderMetrics(metrics, () => synced);
    expect(await sample(metrics, 'sidekick_store_connected')).toBe(0);
    expect(await sample(metrics, 'sidekick_reloads_total{result="ok"}')).toBe(0);
    expect(await sample(metrics, 'sidekick_rollbacks_total')).toBe(0);
    synced = true;
    render.batch({
      outcomes: [
        { resource: 'a.toml', status: 'applied' },
        { resource: 'b.toml', status: 'failed', error: new Error('x') },
      ],
      reloads: [{ resources: ['a.toml'], ok: true }],
      latencies: [{ resource: 'a.toml', seconds: 0.03 }],
    });
    render.batch({
      outcomes: [{ resource: 'a.toml', status: 'rolled-back', error: new Error('reload failed') }],
      reloads: [{ resources: ['a.toml'], ok: false }],
      latencies: [],
    });
    render.batch({ outcomes: [{ resource: 'a.toml', status: 'applied' }], reloads: [], latencies: [{ resource: 'a.toml', seconds: 2 }] });
    expect(await sample(metrics, 'sidekick_store_connected')).toBe(1);
    expect(await sample(metrics, 'sidekick_renders_total{resource="a.toml",result="applied"}')).toBe(2);
    expect(await sample(metrics, 'sidekick_renders_total{resource="a.toml",result="rolled-back"}')).toBe(1);
    expect(await sample(metrics, 'sidekick_renders_total{resource="b.toml",result="failed"}')).toBe(1);
    expect(await sample(metrics, 'sidekick_reloads_total{result="ok"}')).toBe(1);
    expect(await sample(metrics, 'sidekick_reloads_total{result="failed"}')).toBe(1);
    expect(await sample(metrics, 'sidekick_rollbacks_total')).toBe(1);
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_count')).toBe(2);
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_bucket{le="0.05"}')).toBe(1);
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_sum')).toBeCloseTo(2.03);
  });

  it('counts haproxy runtime applies and their fallbacks to a reload', async () => {
    const metrics = createMetricsRegistry();
    const render = new RenderMetrics(metrics, () => true);
    expect(await sample(metrics, 'sidekick_haproxy_runtime_applies_total{result="applied"}')).toBe(0);
    render.batch({ outcomes: [{ resource: 'h.toml', status: 'applied', runtime: 'applied' }], reloads: [], latencies: [] });
    render.batch({ outcomes: [{ resource: 'h.toml', status: 'applied', runtime: 'applied' }], reloads: [], latencies: [] });
    render.batch({ outcomes: [{ resource: 'h.toml', status: 'applied', runtime: 'fallback' }], reloads: [{ resources: ['h.toml'], ok: true }], latencies: [] });
    render.batch({ outcomes: [{ resource: 'n.toml', status: 'applied' }], reloads: [{ resources: ['n.toml'], ok: true }], latencies: [] });
    expect(await sample(metrics, 'sidekick_haproxy_runtime_applies_total{result="applied"}')).toBe(2);
    expect(await sample(metrics, 'sidekick_haproxy_runtime_applies_total{result="fallback"}')).toBe(1);
    expect(await sample(metrics, 'sidekick_reloads_total{result="ok"}')).toBe(2);
  });

  it('keeps registries apart: two per process do not share series', async () => {
    const one = createMetricsRegistry();
    const two = createMetricsRegistry();
    new RenderMetrics(one, () => true).batch({ outcomes: [{ resource: 'a', status: 'applied' }], reloads: [], latencies: [] });
    new RenderMetrics(two, () => true);
    expect(await sample(one, 'sidekick_renders_total{resource="a",result="applied"}')).toBe(1);
    expect(await sample(two, 'sidekick_renders_total{resource="a",result="applied"}')).toBeUndefined();
  });

  it('adds the process metrics (RSS, CPU) when asked', async () => {
    const text = await createMetricsRegistry({ processMetrics: true }).metrics();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  });
});

describe('registryMetrics', () => {
  it('follows the registry: records, lease grants, losses and renewals, etcd writes', async () => {
    // Never started: the client is not used; the test drives stats and events by hand.
    const reg = new Registry({ client: {} as Etcd3, ttlSec: 10, layouts: ['native'], prefix: '/services', domain: 'sidekick.local', log: silentLogger });
    registries.push(reg);
    const metrics = createMetricsRegistry();
    registryMetrics(metrics, reg);
    expect(await sample(metrics, 'sidekick_registered_services')).toBe(0);
    expect(await sample(metrics, 'sidekick_etcd_connected')).toBe(0);
    expect(await sample(metrics, 'sidekick_lease_grants_total')).toBe(0);
    reg.set({ name: 'web', id: 'h1:web:80', host: '127.0.0.1', port: 80, tags: [], meta: {} });
    reg.stats.leaseGrants = 1;
    reg.stats.writes = 3;
    reg.stats.txns = 1;
    reg.emit('lease-renewed', { leaseId: '7' });
    reg.emit('lease-renewed', { leaseId: '7' });
    reg.emit('lease-lost', { leaseId: '7', reason: 'expired' });
    expect(await sample(metrics, 'sidekick_registered_services')).toBe(1);
    expect(await sample(metrics, 'sidekick_lease_grants_total')).toBe(1);
    expect(await sample(metrics, 'sidekick_lease_renewals_total')).toBe(2);
    expect(await sample(metrics, 'sidekick_lease_lost_total')).toBe(1);
    expect(await sample(metrics, 'sidekick_etcd_writes_total')).toBe(3);
    expect(await sample(metrics, 'sidekick_etcd_txns_total')).toBe(1);
    reg.stats.leaseGrants = 2;
    reg.stats.writes = 6;
    expect(await sample(metrics, 'sidekick_lease_grants_total')).toBe(2);
    expect(await sample(metrics, 'sidekick_etcd_writes_total')).toBe(6);
    // Scraping twice does not count twice.
    expect(await sample(metrics, 'sidekick_etcd_writes_total')).toBe(6);
  });
});

describe('dockerMetrics and checkMetrics', () => {
  it('shows the Docker connection and counts lost streams', async () => {
    const watcher = Object.assign(new EventEmitter(), { connected: true });
    const metrics = createMetricsRegistry();
    dockerMetrics(metrics, watcher);
    expect(await sample(metrics, 'sidekick_docker_connected')).toBe(1);
    watcher.connected = false;
    watcher.emit('disconnected', { error: 'EOF' });
    expect(await sample(metrics, 'sidekick_docker_connected')).toBe(0);
    expect(await sample(metrics, 'sidekick_docker_disconnects_total')).toBe(1);
  });

  it('counts check attempts by service name and result', async () => {
    const metrics = createMetricsRegistry();
    const observe = checkMetrics(metrics);
    observe('web', { ok: true, detail: 'HTTP 200' });
    observe('web', { ok: true, detail: 'HTTP 200' });
    observe('web', { ok: false, detail: 'HTTP 503' });
    observe('db', { ok: false, detail: 'ECONNREFUSED' });
    expect(await sample(metrics, 'sidekick_checks_total{service="web",result="pass"}')).toBe(2);
    expect(await sample(metrics, 'sidekick_checks_total{service="web",result="fail"}')).toBe(1);
    expect(await sample(metrics, 'sidekick_checks_total{service="db",result="fail"}')).toBe(1);
  });
});

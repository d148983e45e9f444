// The render daemon's hooks feeding /healthz and /metrics, in process: a scripted source, real templates, files,
// check and reload commands. The binary against a real etcd is in test/integration/http/listen.test.ts.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ResourceConfig } from '../../../src/apply/types.js';
import { RenderDaemon, type BatchReport } from '../../../src/daemon/render-daemon.js';
import { RenderStatus } from '../../../src/http/daemon-health.js';
import { Health } from '../../../src/http/health.js';
import { createMetricsRegistry, type MetricsRegistry } from '../../../src/http/metrics.js';
import { silentLogger } from '../../../src/util/log.js';
import { waitFor } from '../../support/procs.js';
import { appConfig, appResource, ScriptedSource, useAppTemplateDir } from '../../support/scripted-source.js';
import { sample } from './prom.js';

const fixtures = join(import.meta.dirname, '../../fixtures');

const app = useAppTemplateDir();
let daemon: RenderDaemon | undefined;
afterEach(async () => {
  await daemon?.close();
  daemon = undefined;
});

const resource = (extra: Partial<ResourceConfig> = {}): ResourceConfig => appResource(app.dir, extra);

/** A following daemon over a scripted source with x=1, wired to a RenderStatus as `sidekick render --listen` does. */
async function run(r: ResourceConfig): Promise<{ source: ScriptedSource; health: Health; metrics: MetricsRegistry; reports: BatchReport[] }> {
  const source = new ScriptedSource();
  source.view.set('/app/x', '1');
  const health = new Health();
  const metrics = createMetricsRegistry();
  const cfg = appConfig(app.dir, r);
  const status = new RenderStatus(health, metrics, cfg);
  const reports: BatchReport[] = [];
  const observer = { batch: (b: BatchReport) => (reports.push(b), status.batch(b)), sourceState: status.sourceState.bind(status) };
  daemon = new RenderDaemon({ config: cfg, log: silentLogger, source, observer });
  await daemon.start();
  await daemon.renderAll();
  daemon.follow();
  status.use(daemon, cfg);
  return { source, health, metrics, reports };
}

const applied = (m: MetricsRegistry) => sample(m, 'sidekick_renders_total{resource="app.toml",result="applied"}');

describe('render daemon → /healthz and /metrics', () => {
  it('counts renders and reloads, and measures change → apply latency in watch mode only for key changes', async () => {
    const { source, health, metrics, reports } = await run(resource({ reloadCmd: `sh ${fixtures}/record.sh ${join(app.dir, 'reloads')} reload` }));
    expect(health.report().status).toBe('ok');
    expect(reports).toEqual([{ outcomes: [{ resource: 'app.toml', status: 'applied' }], reloads: [{ resources: ['app.toml'], ok: true }], latencies: [] }]);
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_count')).toBe(0);
    source.put('/app/x', '2');
    await waitFor(async () => (await applied(metrics)) === 2);
    expect(await readFile(join(app.dir, 'app.conf'), 'utf8')).toBe('value = 2\n');
    expect(await sample(metrics, 'sidekick_reloads_total{result="ok"}')).toBe(2);
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_count')).toBe(1);
    const latency = reports.at(-1)?.latencies[0];
    expect(latency?.resource).toBe('app.toml');
    expect(latency?.seconds).toBeGreaterThan(0);
    expect(latency?.seconds).toBeLessThan(5);
    // The same value again: the pass finds the file unchanged and runs no reload, but the change was handled.
    source.put('/app/x', '2');
    await waitFor(async () => (await sample(metrics, 'sidekick_renders_total{resource="app.toml",result="unchanged"}')) === 1);
    expect(await sample(metrics, 'sidekick_reloads_total{result="ok"}')).toBe(2);
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_count')).toBe(2);
  });

  it('a failing check_cmd makes /healthz 503 naming the resource; the latency of that change includes the wait', async () => {
    const { source, health, metrics } = await run(resource({ checkCmd: `sh ${fixtures}/grep-check.sh BAD {{.src}}` }));
    source.put('/app/x', 'BAD');
    await waitFor(async () => (await sample(metrics, 'sidekick_renders_total{resource="app.toml",result="failed"}')) === 1);
    const report = health.report();
    expect(report.status).toBe('failing');
    expect(report.checks.apply?.failing?.['app.toml']).toMatch(/^failed: .*rejected: found BAD/);
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_count')).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    source.put('/app/x', 'good');
    await waitFor(async () => (await applied(metrics)) === 2);
    expect(health.report().status).toBe('ok');
    // Measured from the first change not applied (BAD), not from the one that finally went through.
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_count')).toBe(1);
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_sum')).toBeGreaterThanOrEqual(0.2);
  });

  it('a failed reload counts a rollback and shows rolled-back in /healthz until a reload works', async () => {
    // A file in place before: a rollback needs one to go back to (a first file is kept and its reload retried).
    const r = resource({ reloadCmd: `sh ${fixtures}/fail-once.sh ${join(app.dir, 'marker')}` });
    await writeFile(r.dest, 'previous\n');
    const { source, health, metrics } = await run(r);
    expect(await sample(metrics, 'sidekick_reloads_total{result="failed"}')).toBe(1);
    expect(await sample(metrics, 'sidekick_rollbacks_total')).toBe(1);
    expect(await sample(metrics, 'sidekick_renders_total{resource="app.toml",result="rolled-back"}')).toBe(1);
    expect(health.report().checks.apply?.failing?.['app.toml']).toMatch(/^rolled-back: .*reload failed/);
    source.put('/app/x', '2');
    await waitFor(async () => (await applied(metrics)) === 1);
    expect(await sample(metrics, 'sidekick_reloads_total{result="ok"}')).toBe(1);
    expect(health.report().status).toBe('ok');
  });

  it('a stale store makes /healthz 503 with the reason, and the store gauge 0, until it syncs again', async () => {
    const { source, health, metrics } = await run(resource());
    expect(await sample(metrics, 'sidekick_store_connected')).toBe(1);
    source.move('stale', new Error('etcd watch lost: 14 UNAVAILABLE: Connection dropped'));
    expect(health.report().checks.store).toEqual({ ok: false, detail: 'etcd: stale (was synced, now cut off; keeping the last good files): etcd watch lost: unavailable: Connection dropped' });
    expect(await sample(metrics, 'sidekick_store_connected')).toBe(0);
    // A change seen while stale is not rendered; it is applied after the resync and its latency spans the outage.
    source.put('/app/x', '3');
    await new Promise((r) => setTimeout(r, 100));
    expect(await readFile(join(app.dir, 'app.conf'), 'utf8')).toBe('value = 1\n');
    source.move('synced');
    await waitFor(async () => (await readFile(join(app.dir, 'app.conf'), 'utf8')) === 'value = 3\n');
    expect(health.report().status).toBe('ok');
    await waitFor(async () => (await sample(metrics, 'sidekick_apply_latency_seconds_count')) === 1);
    expect(await sample(metrics, 'sidekick_apply_latency_seconds_sum')).toBeGreaterThanOrEqual(0.1);
  });
});

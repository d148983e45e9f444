// Check results reach sidekick_checks_total: each attempt of a monitor (pass, fail, timeout), Docker HEALTHCHECK
// verdicts for `docker` checks, labelled by service name; stopping a monitor is not an attempt.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../../src/docker/types.js';
import { containerMonitors, createMonitor } from '../../../src/daemon/monitors.js';
import type { ServiceMonitor } from '../../../src/daemon/register-daemon.js';
import type { CheckResult, HealthSettings } from '../../../src/health/types.js';
import { ServiceChecks } from '../../../src/http/daemon-health.js';
import { checkMetrics, createMetricsRegistry } from '../../../src/http/metrics.js';
import { silentLogger } from '../../../src/util/log.js';
import { freePort } from '../../support/ports.js';
import { waitFor } from '../../support/procs.js';
import { sample } from './prom.js';

const stoppers: (() => void)[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const stop of stoppers.splice(0)) stop();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const settings = (check: HealthSettings['check'], extra: Partial<HealthSettings> = {}): HealthSettings => ({ check, intervalMs: 100, timeoutMs: 50, rise: 1, fall: 1, ...extra });

async function listening(): Promise<number> {
  const server = createServer((s) => s.destroy());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('createMonitor observer', () => {
  it('hears every attempt, passing and failing', async () => {
    const results: CheckResult[] = [];
    const port = await listening();
    const m = createMonitor({ name: 'web', host: '127.0.0.1', port, health: settings({ kind: 'tcp' }) }, () => undefined, silentLogger, undefined, (r) => results.push(r));
    stoppers.push(() => m.stop());
    m.start();
    await waitFor(() => results.length >= 2);
    expect(results.every((r) => r.ok)).toBe(true);
    const closed = await freePort();
    const failing: CheckResult[] = [];
    const f = createMonitor({ name: 'db', host: '127.0.0.1', port: closed, health: settings({ kind: 'tcp' }) }, () => undefined, silentLogger, undefined, (r) => failing.push(r));
    stoppers.push(() => f.stop());
    f.start();
    await waitFor(() => failing.length >= 1);
    expect(failing[0]).toEqual({ ok: false, detail: 'ECONNREFUSED' });
  });

  it('a timed-out attempt is a failure; an attempt cut short by stop() is not reported; a throwing observer is ignored', async () => {
    const results: CheckResult[] = [];
    const m = createMonitor(
      { name: 'slow', host: '127.0.0.1', port: 1, health: settings({ kind: 'exec', where: 'host', argv: ['sleep', '5'] }, { timeoutMs: 30, intervalMs: 1000 }) },
      () => undefined,
      silentLogger,
      undefined,
      (r) => {
        results.push(r);
        throw new Error('observer bug');
      },
    );
    m.start();
    await waitFor(() => results.length >= 1, 5000);
    expect(results[0]).toMatchObject({ ok: false, detail: expect.stringMatching(/^timeout/) });
    m.stop();
    const stopped = createMonitor({ name: 'slow2', host: '127.0.0.1', port: 1, health: settings({ kind: 'exec', where: 'host', argv: ['sleep', '5'] }, { timeoutMs: 4000, intervalMs: 5000 }) }, () => undefined, silentLogger, undefined, (r) => results.push(r));
    stopped.start();
    await new Promise((r) => setTimeout(r, 150)); // the attempt is running
    stopped.stop();
    await new Promise((r) => setTimeout(r, 300));
    expect(results).toHaveLength(1);
  });
});

describe('containerMonitors → sidekick_checks_total', () => {
  const spec = (kind: 'docker' | 'tcp', port = 1): ServiceSpec => ({
    record: { name: 'web', id: 'h1:web-1:80', host: '127.0.0.1', port, tags: [], meta: {} },
    containerId: 'c0ffee',
    containerName: 'web-1',
    checkHost: '127.0.0.1',
    checkPort: port,
    health: settings(kind === 'docker' ? { kind: 'docker' } : { kind: 'tcp' }),
  });

  it('counts attempts and Docker verdicts by service name, not instance', async () => {
    const metrics = createMetricsRegistry();
    const factory = containerMonitors(silentLogger, async () => ({ exitCode: 0 }), checkMetrics(metrics));
    const healthy: boolean[] = [];
    const docker: ServiceMonitor = factory(spec('docker'), (h) => healthy.push(h));
    docker.start();
    docker.report('starting');
    docker.report('healthy');
    docker.report('unhealthy');
    docker.stop();
    expect(healthy).toEqual([true, false]);
    expect(await sample(metrics, 'sidekick_checks_total{service="web",result="pass"}')).toBe(1);
    expect(await sample(metrics, 'sidekick_checks_total{service="web",result="fail"}')).toBe(1);
    const tcp = factory(spec('tcp', await listening()), () => undefined);
    stoppers.push(() => tcp.stop());
    tcp.start();
    await waitFor(async () => ((await sample(metrics, 'sidekick_checks_total{service="web",result="pass"}')) ?? 0) >= 3);
    expect((await metrics.metrics()).includes('h1:web-1:80')).toBe(false);
  });
});

describe('containerMonitors → the services component of /healthz', () => {
  const spec = (id: string, check: HealthSettings['check'], port: number): ServiceSpec => ({
    record: { name: 'web', id, host: '127.0.0.1', port, tags: [], meta: {} },
    containerId: 'c0ffee',
    containerName: 'web-1',
    checkHost: '127.0.0.1',
    checkPort: port,
    health: settings(check),
  });

  it('lists each failing service with the check that fails, stays ok, and forgets a service whose monitor stopped', async () => {
    const board = new ServiceChecks();
    const factory = containerMonitors(silentLogger, async () => ({ exitCode: 0 }), undefined, board);
    const up = await listening();
    const closed = await freePort();
    const fine = factory(spec('h1:web-1:80', { kind: 'tcp' }, up), () => undefined);
    const broken = factory(spec('h1:web-1:81', { kind: 'all', checks: [{ kind: 'tcp' }, { kind: 'tcp', target: { host: '127.0.0.1', port: closed } }] }, up), () => undefined);
    stoppers.push(() => fine.stop(), () => broken.stop());
    expect(board.check()).toEqual({ ok: true, detail: '2 services: 0 passing, 0 failing, 2 not checked yet' });
    fine.start();
    broken.start();
    // Failures count once the first interval (100 ms) is over.
    await waitFor(() => board.check().failing !== undefined && board.check().detail.includes('1 passing'));
    expect(board.check()).toEqual({
      ok: true,
      detail: '2 services: 1 passing, 1 failing',
      failing: { 'web-1 (h1:web-1:81)': `tcp 127.0.0.1:${closed}: ECONNREFUSED` },
    });
    broken.stop();
    expect(board.check()).toEqual({ ok: true, detail: '1 service: 1 passing, 0 failing' });
  });
});

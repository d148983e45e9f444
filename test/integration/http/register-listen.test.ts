// `sidekick register --listen`: the real binary against a private dockerd and a real etcd, probed over HTTP.
import { describe, expect, it } from 'vitest';
import { sidekick } from '../../support/cli.js';
import { runContainer } from '../../support/docker.js';
import { useDockerEtcd } from '../../support/docker-etcd.js';
import { freePort } from '../../support/ports.js';
import { waitFor } from '../../support/procs.js';
import { sampleIn } from '../../unit/http/prom.js';

interface Health {
  status: 'ok' | 'failing';
  checks: Record<string, { ok: boolean; detail: string }>;
}

const env = useDockerEtcd();

async function healthz(port: number): Promise<{ status: number; body: Health }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: (await res.json()) as Health };
}

const metrics = async (port: number): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) })).text();

describe('sidekick register --listen', () => {
  it('shows Docker and etcd in /healthz, and registered services, check results and lease counters in /metrics', async () => {
    const port = await freePort();
    const { dockerd, etcd } = env;
    const proc = env.track(sidekick(['register', '--docker', dockerd.address, '--etcd', etcd.endpoint, '--ip', '127.0.0.1', '--node-name', 'h1', '--ttl', '3s', '--listen', `127.0.0.1:${port}`]));
    const up = await waitFor(async () => {
      const h = await healthz(port);
      if (h.status !== 200) throw new Error(JSON.stringify(h.body));
      return h.body;
    }, 15_000);
    expect(up.checks.docker).toEqual({ ok: true, detail: 'event stream open' });
    expect(up.checks.etcd?.ok).toBe(true);

    const svcPort = await freePort();
    await runContainer(dockerd.docker, {
      name: 'web0',
      cmd: ['sh', '-c', `mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 127.0.0.1:${svcPort} -h /www`],
      labels: { [`SERVICE_${svcPort}_NAME`]: 'web', SERVICE_CHECK_HTTP: '/', SERVICE_CHECK_INTERVAL: '300ms' },
    });
    await waitFor(async () => {
      const text = await metrics(port);
      if (sampleIn(text, 'sidekick_registered_services') !== 1) throw new Error('not registered yet');
      if ((sampleIn(text, 'sidekick_checks_total{service="web",result="pass"}') ?? 0) < 1) throw new Error('no check yet');
    }, 15_000);
    const text = await metrics(port);
    expect(sampleIn(text, 'sidekick_docker_connected')).toBe(1);
    expect(sampleIn(text, 'sidekick_etcd_connected')).toBe(1);
    expect(sampleIn(text, 'sidekick_lease_grants_total')).toBe(1);
    expect(sampleIn(text, 'sidekick_etcd_writes_total')).toBeGreaterThanOrEqual(1);
    // Labels carry the service name only, never the instance or container id.
    expect(text).not.toContain('h1:web0');

    // dockerd goes away: /healthz says Docker is disconnected.
    await dockerd.stop();
    const down = await waitFor(async () => {
      const h = await healthz(port);
      if (h.status !== 503) throw new Error(JSON.stringify(h.body));
      return h.body;
    }, 15_000);
    expect(down.checks.docker).toMatchObject({ ok: false, detail: expect.stringMatching(/^disconnected: /) });
    expect(sampleIn(await metrics(port), 'sidekick_docker_connected')).toBe(0);
    expect(sampleIn(await metrics(port), 'sidekick_docker_disconnects_total')).toBe(1);

    proc.kill('SIGTERM');
    expect((await proc).exitCode).toBe(0);
  });
});

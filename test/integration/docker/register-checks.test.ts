// `sidekick register` with https checks and several checks per service, as a user runs it: the real binary, a private
// dockerd (busybox containers on the host network) and etcd; the https service is a TLS server of the test's own on
// 127.0.0.1, with a certificate from a throw-away CA (the container's port is where it listens).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines, sidekick } from '../../support/cli.js';
import { runContainer } from '../../support/docker.js';
import { useDockerEtcd } from '../../support/docker-etcd.js';
import { freePort } from '../../support/ports.js';
import { waitFor } from '../../support/procs.js';
import { issueCert, makeCa, startHttpsProbe, type HttpsProbe } from '../../support/tls.js';
import { tempDir } from '../../support/tmp.js';

const env = useDockerEtcd();
let probe: HttpsProbe;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const made = await tempDir('sidekick-register-tls-');
  cleanup = made.cleanup;
  const ca = await makeCa(made.dir);
  probe = await startHttpsProbe(await issueCert(made.dir, ca, 'ip', ['IP:127.0.0.1']), { 'svc.test': await issueCert(made.dir, ca, 'svc', ['DNS:svc.test']) });
}, 60_000);

afterAll(async () => {
  await probe?.close();
  await cleanup?.();
});

async function keys(): Promise<string[]> {
  const res = await env.etcd.client.getAll().prefix('/services/').keys();
  return res.sort();
}

const keyOf = (name: string, container: string, port: number) => `/services/${name}/h1:${container}:${port}`;

describe('sidekick register: https and several checks', () => {
  it('registers a service only while every check passes, honours Host/SNI and statuses, and says which check fails', async () => {
    const listen = await freePort();
    const reg = env.track(
      sidekick(['register', '--docker', env.dockerd.address, '--etcd', env.etcd.endpoint, '--ip', '127.0.0.1', '--node-name', 'h1', '--ttl', '3s', '--listen', `127.0.0.1:${listen}`]),
    );
    let stderr = '';
    reg.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const port = probe.port;
    const fast = { SERVICE_CHECK_INTERVAL: '300ms', SERVICE_CHECK_TIMEOUT: '250ms' };
    // Verification skipped, the name svc.test as Host and SNI, 2xx only: passes (the probe answers 200).
    await runContainer(env.dockerd.docker, {
      name: 'secure',
      cmd: ['sleep', '600'],
      labels: { [`SERVICE_${port}_NAME`]: 'api', SERVICE_CHECK_HTTPS: '/health', SERVICE_CHECK_TLS_SKIP_VERIFY: 'true', SERVICE_CHECK_HOST: 'svc.test', SERVICE_CHECK_STATUS: '200-299', ...fast },
    });
    // https passes, the script inside the container does not until /tmp/ready exists. A Docker exec on a busy machine
    // can take longer than 250 ms: this one gets 2 s.
    const both = await runContainer(env.dockerd.docker, {
      name: 'both',
      cmd: ['sleep', '600'],
      labels: { [`SERVICE_${port}_NAME`]: 'api', SERVICE_CHECK_HTTPS: '/both', SERVICE_CHECK_TLS_SKIP_VERIFY: 'true', SERVICE_CHECK_SCRIPT: 'test -f /tmp/ready', SERVICE_CHECK_INTERVAL: '2s', SERVICE_CHECK_TIMEOUT: '2s' },
    });
    // Certificates verified against Node's roots, which do not include the test CA: never registered.
    await runContainer(env.dockerd.docker, {
      name: 'strict',
      cmd: ['sleep', '600'],
      labels: { [`SERVICE_${port}_NAME`]: 'api', SERVICE_CHECK_HTTPS: '/strict', ...fast },
    });
    // A 302 outside the statuses asked for.
    await runContainer(env.dockerd.docker, {
      name: 'picky',
      cmd: ['sleep', '600'],
      labels: { [`SERVICE_${port}_NAME`]: 'api', SERVICE_CHECK_HTTPS: '/302', SERVICE_CHECK_TLS_SKIP_VERIFY: 'true', SERVICE_CHECK_STATUS: '200,204', ...fast },
    });
    // A malformed status range: one warning, the service skipped.
    await runContainer(env.dockerd.docker, {
      name: 'typo',
      cmd: ['sleep', '600'],
      labels: { [`SERVICE_${port}_NAME`]: 'api', SERVICE_CHECK_HTTPS: '/typo', SERVICE_CHECK_STATUS: '2xx', ...fast },
    });

    await waitFor(async () => (await keys()).includes(keyOf('api', 'secure', port)), 15_000);
    expect(probe.seen.find((r) => r.path === '/health')).toMatchObject({ servername: 'svc.test', host: 'svc.test' });
    // /healthz names the failing services and the check that fails each.
    const failing = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${listen}/healthz`);
      const body = (await res.json()) as { checks: { services: { failing?: Record<string, string> } } };
      const f = body.checks.services.failing ?? {};
      if (Object.keys(f).length < 3) throw new Error(`failing so far: ${JSON.stringify(f)}`);
      return f;
    }, 15_000);
    expect(failing).toEqual({
      [`both (h1:both:${port})`]: 'exec test -f /tmp/ready: exit 1',
      [`strict (h1:strict:${port})`]: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      [`picky (h1:picky:${port})`]: 'HTTP 302',
    });
    expect(await keys()).toEqual([keyOf('api', 'secure', port)]);

    const exec = await env.dockerd.docker.getContainer(both.id).exec({ Cmd: ['touch', '/tmp/ready'] });
    await exec.start({});
    await waitFor(async () => (await keys()).includes(keyOf('api', 'both', port)), 15_000);
    expect(await keys()).toEqual([keyOf('api', 'both', port), keyOf('api', 'secure', port)]);

    reg.kill('SIGTERM');
    await reg;
    const lines = logLines(stderr);
    const warnings = lines.filter((l) => String(l.msg).startsWith('skipping service'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ container: 'typo', label: 'SERVICE_CHECK_STATUS' });
    expect(String(warnings[0]?.msg)).toContain('e.g. 200-299 or 200,204,301-302');
    const both1 = lines.find((l) => l.msg === 'health check failing' && String(l.service).startsWith('both'));
    expect(both1).toMatchObject({ check: 'https+exec', detail: 'exec test -f /tmp/ready: exit 1' });
  }, 60_000);
});

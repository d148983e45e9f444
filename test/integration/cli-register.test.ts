// `sidekick register` as a user runs it: the real binary against a private dockerd (busybox containers on the
// host network, bound to 127.0.0.1) and a real etcd.
import type { ResultPromise } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseServiceRecord } from '../../src/registry/record.js';
import { sidekick, logLines } from '../support/cli.js';
import { runContainer } from '../support/docker.js';
import { useDockerEtcd } from '../support/docker-etcd.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/procs.js';

const env = useDockerEtcd();

/** Starts `sidekick register` against the test dockerd and env.etcd. */
function register(extra: string[] = [], vars: Record<string, string> = {}): ResultPromise {
  return env.track(sidekick(['register', '--docker', env.dockerd.address, '--etcd', env.etcd.endpoint, '--ip', '127.0.0.1', '--node-name', 'h1', '--ttl', '3s', ...extra], vars));
}

/** busybox httpd on 127.0.0.1:port serving a page at / (and /www/index.html to delete to make / fail). */
const httpd = (port: number): string[] => ['sh', '-c', `mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 127.0.0.1:${port} -h /www`];

/** Runs a command inside a container and waits for it (test plumbing, not sidekick's exec). */
async function dockerExec(id: string, cmd: string[]): Promise<void> {
  const exec = await env.dockerd.docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  stream.resume();
  await new Promise((r) => stream.on('end', r));
}

/** All keys under a prefix with their values and lease ids. */
async function keys(prefix = '/services/'): Promise<Map<string, { value: string; lease: string }>> {
  const res = await env.etcd.client.getAll().prefix(prefix).exec();
  return new Map(res.kvs.map((kv) => [kv.key.toString(), { value: kv.value.toString(), lease: kv.lease }]));
}

const keyOf = (name: string, container: string, port: number) => `/services/${name}/h1:${container}:${port}`;

describe('sidekick register', () => {
  it('writes a healthy service under a lease, and removes it when the container stops, is killed or removed', async () => {
    const reg = register();
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const made = await Promise.all(
      ports.map((port, i) =>
        runContainer(env.dockerd.docker, {
          name: `web${i}`,
          cmd: httpd(port),
          labels: { [`SERVICE_${port}_NAME`]: 'web', SERVICE_TAGS: 'v2,blue', SERVICE_VERSION: '1.4', SERVICE_CHECK_HTTP: '/', SERVICE_CHECK_INTERVAL: '500ms' },
        }),
      ),
    );
    const all = await waitFor(async () => {
      const k = await keys();
      if (k.size !== 3) throw new Error(`${k.size} of 3 keys`);
      return k;
    }, 15_000);
    const first = all.get(keyOf('web', 'web0', ports[0] as number));
    expect(first).toBeDefined();
    const parsed = parseServiceRecord(keyOf('web', 'web0', ports[0] as number), first?.value ?? '');
    expect(parsed).toEqual({
      ok: true,
      record: { name: 'web', id: `h1:web0:${ports[0]}`, host: '127.0.0.1', port: ports[0], tags: ['v2', 'blue'], meta: { version: '1.4' }, node: 'h1' },
    });
    const leases = new Set([...all.values()].map((v) => v.lease));
    expect(leases.size).toBe(1);
    expect([...leases][0]).not.toBe('0');
    const ttl = await env.etcd.client.leaseClient.leaseTimeToLive({ ID: [...leases][0] as string });
    expect(Number(ttl.grantedTTL)).toBe(3);

    const [c0, c1, c2] = made.map((c) => env.dockerd.docker.getContainer(c.id));
    await c0?.stop({ t: 1 });
    await waitFor(async () => !(await keys()).has(keyOf('web', 'web0', ports[0] as number)));
    await c1?.kill();
    await waitFor(async () => !(await keys()).has(keyOf('web', 'web1', ports[1] as number)));
    await c2?.remove({ force: true });
    await waitFor(async () => (await keys()).size === 0);
    const lines = logLines(String((reg.kill('SIGTERM'), await reg).stderr));
    expect(lines.filter((l) => l.msg === 'registered')).toHaveLength(3);
    // The stopping signal itself deregisters, before the app stops answering: stop sends SIGTERM, kill and rm -f SIGKILL.
    const causes = lines.filter((l) => l.msg === 'deregistered').map((l) => l.cause);
    expect(causes).toEqual(['kill SIGTERM', 'kill SIGKILL', 'kill SIGKILL']);
  });

  it('removes a service after `fall` failed HTTP checks and writes it again once the check passes', async () => {
    const reg = register();
    const port = await freePort();
    const c = await runContainer(env.dockerd.docker, {
      name: 'flappy',
      cmd: httpd(port),
      labels: { [`SERVICE_${port}_NAME`]: 'api', SERVICE_CHECK_HTTP: '/', SERVICE_CHECK_INTERVAL: '300ms', SERVICE_CHECK_FALL: '2' },
    });
    const key = keyOf('api', 'flappy', port);
    await waitFor(async () => (await keys()).has(key));
    await dockerExec(c.id, ['rm', '/www/index.html']);
    await waitFor(async () => !(await keys()).has(key));
    await dockerExec(c.id, ['sh', '-c', 'echo ok > /www/index.html']);
    await waitFor(async () => (await keys()).has(key));
    reg.kill('SIGTERM');
    const lines = logLines(String((await reg).stderr));
    const failing = lines.find((l) => l.msg === 'health check failing');
    expect(failing?.detail).toBe('HTTP 404');
    expect(lines.filter((l) => l.msg === 'health check failing; deregistered')).toHaveLength(1);
  });

  it("follows the container's own Docker HEALTHCHECK", async () => {
    void register();
    const port = await freePort();
    const c = await runContainer(env.dockerd.docker, {
      name: 'hc',
      cmd: ['sh', '-c', `touch /tmp/ok && exec httpd -f -p 127.0.0.1:${port}`],
      labels: { [`SERVICE_${port}_NAME`]: 'hc' },
      healthCmd: ['test', '-f', '/tmp/ok'],
      healthIntervalMs: 200,
    });
    const key = keyOf('hc', 'hc', port);
    await waitFor(async () => (await keys()).has(key));
    await dockerExec(c.id, ['rm', '/tmp/ok']);
    await waitFor(async () => !(await keys()).has(key));
  });

  it('runs SERVICE_CHECK_SCRIPT inside the container through the Docker API', async () => {
    void register();
    const port = await freePort();
    const c = await runContainer(env.dockerd.docker, {
      name: 'scripted',
      cmd: ['sh', '-c', 'touch /tmp/ready && exec sleep 600'],
      labels: { [`SERVICE_${port}_NAME`]: 'worker', SERVICE_CHECK_SCRIPT: 'test -f /tmp/ready', SERVICE_CHECK_INTERVAL: '300ms' },
    });
    const key = keyOf('worker', 'scripted', port);
    await waitFor(async () => (await keys()).has(key));
    await dockerExec(c.id, ['rm', '/tmp/ready']);
    await waitFor(async () => !(await keys()).has(key));
  });

  it('skips a service with a malformed label, with one warning naming the container and the label, and registers the rest', async () => {
    const reg = register(['--resync', '1s']);
    const [bad, good] = await Promise.all([freePort(), freePort()]);
    await runContainer(env.dockerd.docker, { name: 'broken', cmd: ['sleep', '600'], labels: { [`SERVICE_${bad}_NAME`]: 'web', SERVICE_CHECK_INTERVAL: 'soon' } });
    await runContainer(env.dockerd.docker, { name: 'fine', cmd: ['sleep', '600'], labels: { [`SERVICE_${good}_NAME`]: 'web' } });
    await waitFor(async () => (await keys()).has(keyOf('web', 'fine', good)));
    await new Promise((r) => setTimeout(r, 2500)); // two resyncs see the bad label again
    reg.kill('SIGTERM');
    const lines = logLines(String((await reg).stderr));
    const warnings = lines.filter((l) => l.msg?.toString().startsWith('skipping service'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ container: 'broken', label: 'SERVICE_CHECK_INTERVAL' });
    expect([...(await keys()).keys()]).toEqual([]);
  });

  it('on SIGTERM revokes the lease so every key vanishes at once, and exits 0', async () => {
    const reg = register(['--ttl', '30s']);
    const port = await freePort();
    await runContainer(env.dockerd.docker, { name: 'svc', cmd: ['sleep', '600'], labels: { [`SERVICE_${port}_NAME`]: 'svc' } });
    await waitFor(async () => (await keys()).size === 1);
    reg.kill('SIGTERM');
    const result = await reg;
    expect(result.exitCode).toBe(0);
    // A 30 s lease cannot have expired: the keys are gone because the lease was revoked.
    expect((await keys()).size).toBe(0);
  });

  it('killed with SIGKILL, its keys expire within the TTL', async () => {
    const reg = register(['--ttl', '2s']);
    const port = await freePort();
    await runContainer(env.dockerd.docker, { name: 'svc', cmd: ['sleep', '600'], labels: { [`SERVICE_${port}_NAME`]: 'svc' } });
    await waitFor(async () => (await keys()).size === 1);
    reg.kill('SIGKILL');
    await reg;
    const killedAt = Date.now();
    expect((await keys()).size).toBe(1);
    await waitFor(async () => (await keys()).size === 0, 6000);
    expect(Date.now() - killedAt).toBeLessThan(2000 + 1500);
  });

  it('writes the skydns and traefik layouts on the same lease', async () => {
    void register(['--layout', 'native,skydns', '--layout', 'traefik', '--domain', 'example.internal']);
    const port = await freePort();
    await runContainer(env.dockerd.docker, { name: 'dns', cmd: ['sleep', '600'], labels: { [`SERVICE_${port}_NAME`]: 'web' } });
    await waitFor(async () => (await keys('/skydns/internal/example/web/')).size === 1);
    const [sky] = [...(await keys('/skydns/internal/example/web/')).values()];
    expect(JSON.parse(sky?.value ?? '')).toEqual({ host: '127.0.0.1', port, ttl: 3 });
    const traefik = await keys('traefik/http/services/web/loadbalancer/servers/');
    expect([...traefik.values()].map((v) => v.value)).toEqual([`http://127.0.0.1:${port}/`]);
    const native = await keys();
    expect(new Set([sky?.lease, ...[...traefik.values(), ...native.values()].map((v) => v.lease)]).size).toBe(1);
  });

  it('after dockerd restarts, resyncs: containers that died meanwhile are removed, new ones added, no stale key', async () => {
    const reg = register();
    const [p1, p2] = await Promise.all([freePort(), freePort()]);
    await runContainer(env.dockerd.docker, { name: 'old', cmd: ['sleep', '600'], labels: { [`SERVICE_${p1}_NAME`]: 'svc' } });
    await waitFor(async () => (await keys()).has(keyOf('svc', 'old', p1)));
    // Without --live-restore a restarted dockerd stops what was running, while its API is still down.
    await env.dockerd.kill();
    await env.dockerd.start();
    await runContainer(env.dockerd.docker, { name: 'new', cmd: ['sleep', '600'], labels: { [`SERVICE_${p2}_NAME`]: 'svc' } });
    await waitFor(async () => {
      const k = [...(await keys()).keys()];
      return k.length === 1 && k[0] === keyOf('svc', 'new', p2);
    }, 15_000);
    expect(reg.exitCode).toBeNull();
    reg.kill('SIGTERM');
    const lines = logLines(String((await reg).stderr));
    expect(lines.some((l) => l.component === 'docker' && l.level === 40)).toBe(true);
  });

  it('keeps running while etcd is down at start, and registers once it is up', async () => {
    await env.etcd.stop();
    const reg = register();
    const port = await freePort();
    let stderr = '';
    reg.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await runContainer(env.dockerd.docker, { name: 'early', cmd: ['sleep', '600'], labels: { [`SERVICE_${port}_NAME`]: 'svc' } });
    // It says so once, and keeps retrying (several attempts fit in the next second).
    await waitFor(() => logLines(stderr).some((l) => l.component === 'registry' && l.level === 40), 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(reg.exitCode).toBeNull();
    await env.etcd.start();
    await waitFor(async () => (await keys()).has(keyOf('svc', 'early', port)), 20_000);
    reg.kill('SIGTERM');
    const lines = logLines(String((await reg).stderr));
    expect(lines.filter((l) => l.component === 'registry' && l.level === 40)).toHaveLength(1);
  });
});

// `sidekick register --internal` for containers on two real Docker networks (internal bridges on 198.18.0.0/15 in
// the test dockerd): which network's IP is written. Nothing connects to those addresses: no check label is set,
// so a running container counts as healthy and only the written record is read back.
import { describe, expect, it } from 'vitest';
import { parseServiceRecord } from '../../../src/registry/record.js';
import { logLines, sidekick } from '../../support/cli.js';
import { createNetwork, runContainer } from '../../support/docker.js';
import { useDockerEtcd } from '../../support/docker-etcd.js';
import { waitFor } from '../../support/procs.js';

const env = useDockerEtcd();

/** `sidekick register --internal` against the test dockerd and etcd. */
function register(extra: string[] = [], vars: Record<string, string> = {}) {
  return env.track(
    sidekick(['register', '--docker', env.dockerd.address, '--etcd', env.etcd.endpoint, '--ip', '127.0.0.1', '--node-name', 'h1', '--ttl', '5s', '--resync', '1s', ...extra], vars),
  );
}

/** The records under /services/, by key. */
async function records(): Promise<Map<string, { host: string; port: number }>> {
  const res = await env.etcd.client.getAll().prefix('/services/').exec();
  const out = new Map<string, { host: string; port: number }>();
  for (const kv of res.kvs) {
    const key = kv.key.toString();
    const parsed = parseServiceRecord(key, kv.value.toString());
    if (!parsed.ok) throw new Error(`${key}: ${parsed.reason}`);
    out.set(key, { host: parsed.record.host, port: parsed.record.port });
  }
  return out;
}

/** Two networks per test (unique names and /24s) and a helper for a container exposing 80 on both. */
let round = 0;
async function twoNetworks(): Promise<{ front: string; back: string; run: (name: string, labels?: Record<string, string>) => Promise<{ front: string; back: string }> }> {
  round += 1;
  const [front, back] = [`front${round}`, `back${round}`];
  await createNetwork(env.dockerd.docker, front, `18.${round}`);
  await createNetwork(env.dockerd.docker, back, `19.${round}`);
  const run = async (name: string, labels: Record<string, string> = {}) => {
    const c = await runContainer(env.dockerd.docker, { name, cmd: ['sleep', '600'], networks: [front, back], exposedPorts: ['80/tcp'], labels: { SERVICE_NAME: 'web', ...labels } });
    // The addresses Docker gave this container on each network, to compare the records with.
    const info = await env.dockerd.docker.getContainer(c.id).inspect();
    const ip = (net: string): string => info.NetworkSettings.Networks[net]?.IPAddress ?? '';
    return { front: ip(front), back: ip(back) };
  };
  return { front, back, run };
}

describe('sidekick register --internal on a container with two networks', () => {
  it('writes the IP on --network; SERVICE_NETWORK and SERVICE_IP override it per container', async () => {
    const { front, back, run } = await twoNetworks();
    const flagged = await run('flagged');
    const labelled = await run('labelled', { SERVICE_NETWORK: front });
    await run('pinned', { SERVICE_80_IP: '198.51.100.7' });
    expect(flagged.front).toMatch(/^198\.18\./);
    expect(flagged.back).toMatch(/^198\.19\./);
    const reg = register(['--internal', '--network', back]);
    const want = new Map([
      ['/services/web/h1:flagged:80', { host: flagged.back, port: 80 }],
      ['/services/web/h1:labelled:80', { host: labelled.front, port: 80 }],
      ['/services/web/h1:pinned:80', { host: '198.51.100.7', port: 80 }],
    ]);
    await waitFor(async () => {
      const got = await records();
      if (got.size < want.size) throw new Error(`${got.size} of ${want.size} records`);
      return true;
    }, 15_000);
    expect(await records()).toEqual(want);
    reg.kill('SIGTERM');
    const lines = logLines(String((await reg).stderr));
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
  });

  it('without --network: the first network by name (SIDEKICK_NETWORK chooses the other)', async () => {
    const { front, run } = await twoNetworks();
    const c = await run('plain');
    // back<n> sorts before front<n>: Docker lists networks by name.
    const plain = register(['--internal']);
    await waitFor(async () => (await records()).get('/services/web/h1:plain:80')?.host === c.back, 15_000);
    plain.kill('SIGTERM');
    await plain;
    await env.etcd.delPrefix('/');
    const chosen = register(['--internal'], { SIDEKICK_NETWORK: front });
    await waitFor(async () => (await records()).get('/services/web/h1:plain:80')?.host === c.front, 15_000);
    chosen.kill('SIGTERM');
    await chosen;
  });

  it('skips a service whose network the container is not on, with one warning naming container and label; the others register', async () => {
    const { front, run } = await twoNetworks();
    const good = await run('good');
    await run('typo', { SERVICE_NETWORK: 'frnt' });
    await run('badip', { SERVICE_IP: '10.0.0.1;' });
    const reg = register(['--internal', '--network', front]);
    await waitFor(async () => (await records()).has('/services/web/h1:good:80'), 15_000);
    await new Promise((r) => setTimeout(r, 2500)); // two resyncs see the bad labels again
    expect(await records()).toEqual(new Map([['/services/web/h1:good:80', { host: good.front, port: 80 }]]));
    reg.kill('SIGTERM');
    const lines = logLines(String((await reg).stderr));
    const warnings = lines
      .filter((l) => (l.level as number) === 40)
      .map((l) => [String(l.container), l.label, l.msg])
      .sort(([a], [b]) => (String(a) < String(b) ? -1 : 1));
    expect(warnings).toEqual([
      ['badip', 'SERVICE_IP', expect.stringContaining('skipping service: SERVICE_IP: expected an IPv4 or IPv6 address')],
      ['typo', 'SERVICE_NETWORK', expect.stringContaining('skipping service: SERVICE_NETWORK: the container is not on network "frnt"')],
    ]);
  });

  it('follows `docker network connect` and `disconnect` of a running container without waiting for a resync', async () => {
    const { front, back } = await twoNetworks();
    const c = await runContainer(env.dockerd.docker, { name: 'late', cmd: ['sleep', '600'], networks: [front], exposedPorts: ['80/tcp'], labels: { SERVICE_NAME: 'web' } });
    const reg = register(['--internal', '--network', back, '--resync', '0']);
    let stderr = '';
    reg.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await waitFor(() => logLines(stderr).some((l) => l.container === 'late' && l.label === '--network'), 15_000);
    expect((await records()).size).toBe(0);
    await env.dockerd.docker.getNetwork(back).connect({ Container: c.id });
    const info = await env.dockerd.docker.getContainer(c.id).inspect();
    const ip = info.NetworkSettings.Networks[back]?.IPAddress;
    expect(ip).toMatch(/^198\.19\./);
    await waitFor(async () => (await records()).get('/services/web/h1:late:80')?.host === ip, 10_000);
    await env.dockerd.docker.getNetwork(back).disconnect({ Container: c.id });
    await waitFor(async () => (await records()).size === 0, 10_000);
    reg.kill('SIGTERM');
    await reg;
  });

  it('refuses --network without --internal, naming the flag', async () => {
    const result = await sidekick(['register', '--docker', env.dockerd.address, '--etcd', env.etcd.endpoint, '--network', 'front'], {}).catch((e: unknown) => e as { exitCode: number; stderr: string });
    expect(result.exitCode).not.toBe(0);
    expect(String(result.stderr)).toContain('--network "front": applies only with --internal');
  });
});

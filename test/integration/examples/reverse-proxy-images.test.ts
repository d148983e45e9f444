// examples/reverse-proxy with the real images: sidekick:latest and sidekick-nginx-endpoint:latest built by docker/'s
// build code into a private dockerd, then the compose file's `register` and `endpoint` services run as containers
// (image, user, command, environment, bind mounts taken from docker-compose.yml) beside busybox backends carrying the
// compose backends' labels. What differs from `docker compose up`: no compose (containers are created through the
// API), the host network instead of the compose network, loopback addresses (--ip 127.0.0.1, LISTEN_ADDRESS/PORT),
// the test's etcd and dockerd, busybox httpd instead of traefik/whoami.
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImages } from '../../../scripts/docker-image.js';
import { ensureBusyboxImage, startDockerd, TEST_LABEL, type DockerdHandle } from '../../support/docker.js';
import { startEtcd, type EtcdHandle } from '../../support/etcd.js';
import { freePort } from '../../support/ports.js';
import { httpGet, waitFor } from '../../support/procs.js';
import { startInstance, startLoad, stopInstance, type Instance } from '../../support/rolling.js';
import { ACK_PREFIX } from '../../../src/drain/acks.js';
import { EXAMPLES, mountsOf, readCompose, startComposeBackends, type ComposeFile, type ComposeService } from './support.js';

const EXAMPLE = join(EXAMPLES, 'reverse-proxy');

let dockerd: DockerdHandle;
let etcd: EtcdHandle;
let compose: ComposeFile;

beforeAll(async () => {
  compose = await readCompose(EXAMPLE);
  [dockerd, etcd] = await Promise.all([startDockerd(), startEtcd()]);
  await Promise.all([
    buildImages(dockerd.docker, {
      build: false,
      sidekickTags: [compose.services.register?.image as string],
      endpointTags: [compose.services.endpoint?.image as string],
    }),
    ensureBusyboxImage(dockerd.docker),
  ]);
}, 240_000);

afterAll(async () => {
  await dockerd?.cleanup();
  await etcd?.cleanup();
});

/** Creates and starts a compose service's container on the host network; `env` and `args` are added to its own. */
async function runService(name: string, env: Record<string, string>, args: string[] = [], containerName = name) {
  const s = compose.services[name] as ComposeService;
  const binds = mountsOf(s).map((m) => {
    // The Docker socket is this test's dockerd's; bind sources relative to the compose file resolve against it.
    const source = m.target === '/var/run/docker.sock' ? dockerd.socketPath : m.source.startsWith('.') ? resolve(EXAMPLE, m.source) : m.source;
    return `${source}:${m.target}${m.readOnly ? ':ro' : ''}`;
  });
  const container = await dockerd.docker.createContainer({
    name: containerName,
    Image: s.image,
    ...(s.user ? { User: s.user } : {}),
    ...(s.command ? { Cmd: [...s.command, ...args] } : {}),
    Env: Object.entries({ ...s.environment, ...env }).map(([k, v]) => `${k}=${v}`),
    Labels: { [TEST_LABEL]: '1', ...s.labels },
    HostConfig: { NetworkMode: 'host', Binds: binds, Init: true },
  });
  await container.start();
  return container;
}

/** A file's text from inside a container (the endpoint image has no shell to `cat` with). */
async function fileIn(id: string, path: string): Promise<string> {
  const tar = await dockerd.docker.getContainer(id).getArchive({ path });
  const chunks: Buffer[] = [];
  for await (const c of tar) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const size = Number.parseInt(raw.subarray(124, 136).toString('utf8').trim(), 8);
  return raw.subarray(512, 512 + size).toString('utf8');
}

describe('examples/reverse-proxy: the compose services in the real images', () => {
  it('register feeds etcd from the labelled backends; the endpoint with the example conf serves them and follows a stop', async () => {
    const { ports, ids } = await startComposeBackends(dockerd.docker, compose);
    await runService('register', { SIDEKICK_NODE: etcd.endpoint }, ['--ip', '127.0.0.1']);
    const keys = async () => (await etcd.client.getAll().prefix('/services/').keys()).sort();
    await waitFor(async () => (await keys()).length === 2, 60_000, 200);
    expect(await keys()).toEqual([`/services/web/compose:web-blue:${ports['web-blue']}`, `/services/web/compose:web-green:${ports['web-green']}`]);

    const listen = await freePort();
    const endpoint = await runService('endpoint', { SIDEKICK_NODE: etcd.endpoint, LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: String(listen) });
    const get = async (path: string) => (await httpGet(`http://127.0.0.1:${listen}${path}`)).body.trim();
    const seen = new Set<string>();
    await waitFor(async () => {
      seen.add(await get('/'));
      return seen.size === 2;
    }, 60_000, 200);
    expect([...seen].sort()).toEqual(['web-blue', 'web-green']);
    expect(['web-blue', 'web-green']).toContain(await get('/web/'));

    await dockerd.docker.getContainer(ids['web-green'] as string).stop({ t: 1 });
    // The image's sidekick re-renders, its check passes and nginx is reloaded (not merely failing over).
    await waitFor(async () => !(await fileIn(endpoint.id, '/tmp/nginx-endpoint/nginx.conf')).includes(`127.0.0.1:${ports['web-green']}`), 30_000, 200);
    const logs = async () => String(await endpoint.logs({ stdout: true, stderr: true, follow: false }));
    await waitFor(async () => (await logs()).includes('"msg":"reloaded"'), 15_000, 200);
    expect(await logs()).not.toMatch(/"level":50/);
    await waitFor(async () => (await Promise.all([get('/'), get('/'), get('/')])).every((b) => b === 'web-blue'), 15_000);
  }, 180_000);

  it('a rolling restart of announced backends behind the endpoint, under POST load, loses no request', async () => {
    // One endpoint: the one of the test above goes, so the drain has exactly one renderer to wait for.
    await dockerd.docker.getContainer('endpoint').remove({ force: true }).catch(() => undefined);
    await waitFor(async () => Object.keys(await etcd.client.getAll().prefix(`${ACK_PREFIX}/`).strings()).length === 0, 30_000, 200);
    const instances: Instance[] = [];
    for (let i = 1; i <= 3; i++) instances.push(await startInstance(`shop-${i}`, etcd.endpoint, 15, [], 'shop'));
    const listen = await freePort();
    const endpoint = await runService('endpoint', { SIDEKICK_NODE: etcd.endpoint, LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: String(listen) }, [], 'endpoint-rolling');
    const conf = async () => fileIn(endpoint.id, '/tmp/nginx-endpoint/nginx.conf').catch(() => '');
    const serves = async (list: Instance[]) => {
      const text = await conf();
      return list.every((i) => text.includes(`127.0.0.1:${i.app.port}`));
    };
    await waitFor(() => serves(instances), 60_000, 200);
    // The image renders once, then starts nginx and `sidekick render --watch`: wait for the watcher's acknowledgement.
    const acked = async () => Object.values(await etcd.client.getAll().prefix(`${ACK_PREFIX}/`).strings()).some((v) => (JSON.parse(v) as { revision: number }).revision > 0);
    await waitFor(acked, 60_000, 200);
    const load = startLoad(listen, 4, 120_000, '/shop/orders');
    try {
      await waitFor(() => instances.every((i) => i.app.served > 0), 30_000);
      for (let round = 0; round < 3; round++) {
        const old = instances[round] as Instance;
        const logs = await stopInstance(old);
        const drained = logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('drained'));
        // The endpoint's own `sidekick render` acknowledged the removal before the app stopped.
        expect(drained, old.announce.text()).toMatchObject({ pending: [] });
        expect((drained?.acknowledged as string[] | undefined)?.length).toBe(1);
        expect(await conf()).not.toContain(`127.0.0.1:${old.app.port}`);
        const fresh = await startInstance(`shop-${round + 4}`, etcd.endpoint, 15, [], 'shop');
        instances[round] = fresh;
        await waitFor(() => serves([fresh]), 30_000, 100);
        await waitFor(() => fresh.app.served > 0, 30_000);
      }
    } finally {
      await load.stop();
      await Promise.all(instances.map((i) => stopInstance(i)));
    }
    expect({ failed: load.failed, errors: load.errors }).toEqual({ failed: 0, errors: [] });
    expect(load.ok).toBeGreaterThan(100);
  }, 180_000);
});

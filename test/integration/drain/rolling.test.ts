// A rolling restart of three real backends behind a real nginx and a real haproxy, each driven by its own
// `sidekick render --watch`, under a continuous stream of POST requests: announcers stopped first, as the shipped
// units stop them, then the apps, which exit at once. Drained, not one request fails.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEtcd, type EtcdHandle } from '../../support/etcd.js';
import { waitFor } from '../../support/procs.js';
import { startInstance, startLoad, startProxy, stopInstance, type Instance, type Proxy } from '../../support/rolling.js';
import { tempDir } from '../../support/tmp.js';

let etcd: EtcdHandle;
let dir: string;
let cleanupDir: () => Promise<void>;
let proxies: Proxy[] = [];
let instances: Instance[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  ({ dir, cleanup: cleanupDir } = await tempDir('sidekick-rolling-'));
}, 60_000);

afterAll(async () => {
  await Promise.all(instances.map((i) => stopInstance(i).catch(() => undefined)));
  await Promise.all(proxies.map((p) => p.stop().catch(() => undefined)));
  await etcd?.cleanup();
  await cleanupDir?.();
});

/** True when every proxy's rendered config names exactly these apps' ports. */
async function configsName(list: Instance[]): Promise<boolean> {
  for (const p of proxies) {
    const text = await p.config();
    const ports = [...text.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])).filter((port) => port !== p.port);
    if ([...ports].sort().join() !== list.map((i) => i.app.port).sort().join()) return false;
  }
  return true;
}

it('a rolling restart under POST load through nginx and haproxy loses no request', async () => {
  instances = [await startInstance('web-1', etcd.endpoint, 15), await startInstance('web-2', etcd.endpoint, 15), await startInstance('web-3', etcd.endpoint, 15)];
  proxies = [await startProxy('nginx', dir, etcd.endpoint), await startProxy('haproxy', dir, etcd.endpoint)];
  await waitFor(() => configsName(instances), 20_000);
  const loads = proxies.map((p) => startLoad(p.port, 4, 90_000));
  for (let round = 0; round < 3; round++) {
    const old = instances[round] as Instance;
    const logs = await stopInstance(old);
    const drained = logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('drained'));
    expect(drained, old.announce.text()).toMatchObject({ acknowledged: proxies.map((p) => p.renderer).sort(), pending: [] });
    expect(old.announce.proc.exitCode).toBe(0);
    const fresh = await startInstance(`web-${round + 4}`, etcd.endpoint, 15);
    instances[round] = fresh;
    await waitFor(() => configsName(instances), 20_000);
    await waitFor(() => loads.every((l) => (l.byApp.get(fresh.id) ?? 0) > 0), 20_000);
  }
  await Promise.all(loads.map((l) => l.stop()));
  for (const [i, load] of loads.entries()) {
    expect({ proxy: proxies[i]?.kind, failed: load.failed, errors: load.errors }).toEqual({ proxy: proxies[i]?.kind, failed: 0, errors: [] });
    expect(load.ok).toBeGreaterThan(100);
  }
}, 180_000);

// Benchmark: acknowledged deregistration with real parts. A real nginx and a real haproxy, each under its own
// `sidekick render --watch`, and backends announced by `sidekick announce`:
// 1. delete → last renderer acknowledged, p50/p99 over BENCH_DRAINS deletions, beside the limit measured in the
//    same run: the renderers' quiescence plus, for the slower proxy, its config check and a reload waited out to its
//    new workers, both made by hand;
// 2. a rolling restart of three backends under POST load (4 loops per proxy), drain on (the default) and drain off
//    (--drain-timeout 1ms: the record goes and the app stops at once), failed requests side by side.
// Run: npm run bench:drain
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { awaitReload, childrenOf } from '../src/apply/settle.js';
import { ackKey } from '../src/drain/acks.js';
import { waitForAcks } from '../src/drain/wait.js';
import { createEtcdClient } from '../src/store/etcd-client.js';
import { createLogger } from '../src/util/log.js';
import { startEtcd } from '../test/support/etcd.js';
import { waitFor } from '../test/support/procs.js';
import { startInstance, startLoad, startProxy, stopInstance, type Instance, type Proxy } from '../test/support/rolling.js';
import { tempDir } from '../test/support/tmp.js';

const DRAINS = Number(process.env.BENCH_DRAINS ?? 40);
const QUIESCENCE_MS = 20; // startProxy's wait = "20ms:500ms"

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

/** Sends the proxy's reload signal by hand and waits for its new workers, as the renderer does; ms. */
async function handReload(dir: string, kind: 'nginx' | 'haproxy'): Promise<number> {
  const pid = Number.parseInt(await readFile(join(dir, kind, `${kind}.pid`), 'utf8'), 10);
  const started = performance.now();
  const before = await childrenOf(pid);
  process.kill(pid, kind === 'nginx' ? 'SIGHUP' : 'SIGUSR2');
  await awaitReload(pid, before, 10_000);
  return performance.now() - started;
}

/** Runs the proxy's own config check on its current file by hand; ms. */
async function handCheck(dir: string, kind: 'nginx' | 'haproxy'): Promise<number> {
  const conf = join(dir, kind, `${kind}.conf`);
  const started = performance.now();
  if (kind === 'nginx') await execa('/usr/sbin/nginx', ['-t', '-q', '-p', join(dir, kind), '-e', join(dir, kind, 'error.log'), '-c', conf]);
  else await execa('/usr/sbin/haproxy', ['-c', '-q', '-f', conf]);
  return performance.now() - started;
}

async function rolling(etcd: string, proxies: Proxy[], drain: boolean): Promise<{ ok: number; failed: number }[]> {
  const extra = drain ? [] : ['--drain-timeout', '1ms'];
  const instances: Instance[] = [];
  for (let i = 1; i <= 3; i++) instances.push(await startInstance(`${drain ? 'on' : 'off'}-${i}`, etcd, 15, extra));
  const names = (): boolean => instances.every((x) => x.app.served > 0);
  const loads = proxies.map((p) => startLoad(p.port, 4, 90_000));
  await waitFor(names, 20_000);
  for (let round = 0; round < 3; round++) {
    await stopInstance(instances[round] as Instance);
    const fresh = await startInstance(`${drain ? 'on' : 'off'}-${round + 4}`, etcd, 15, extra);
    instances[round] = fresh;
    await waitFor(() => fresh.app.served > 5, 20_000);
  }
  await Promise.all(loads.map((l) => l.stop()));
  await Promise.all(instances.map((x) => stopInstance(x)));
  return loads.map((l) => ({ ok: l.ok, failed: l.failed }));
}

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const { dir, cleanup } = await tempDir('sidekick-bench-drain-');
  const log = createLogger({ level: 'silent' });
  const client = await createEtcdClient({ nodes: [etcd.endpoint] });
  // One instance stays, so the proxies always have a server; the measured one comes and goes.
  const anchor = await startInstance('anchor', etcd.endpoint, 0);
  const proxies = [await startProxy('nginx', dir, etcd.endpoint), await startProxy('haproxy', dir, etcd.endpoint)];
  try {
    const acked = async (rev: number): Promise<boolean> => {
      for (const p of proxies) {
        const [node, resource] = p.renderer.split('/') as [string, string];
        const v = await client.get(ackKey(node, resource)).string();
        if (!v || (JSON.parse(v) as { revision: number }).revision < rev) return false;
      }
      return true;
    };
    const latencies: number[] = [];
    const value = JSON.stringify({ name: 'web', id: 'measured', host: '127.0.0.1', port: anchor.app.port, tags: [], meta: {} });
    for (let i = 0; i < DRAINS; i++) {
      const put = await etcd.put('/services/web/measured', value);
      await waitFor(() => acked(put), 20_000, 5);
      const started = performance.now();
      const revision = await etcd.del('/services/web/measured');
      const r = await waitForAcks({ client, keys: ['/services/web/measured'], revision, timeoutMs: 20_000, delayMs: 0, log });
      if (r.outcome !== 'acknowledged') throw new Error(`drain ${i}: ${r.outcome}, pending ${r.pending.join(',')}`);
      latencies.push(performance.now() - started);
    }
    const hand = { nginx: [] as number[], haproxy: [] as number[] };
    const reloads = { nginx: [] as number[], haproxy: [] as number[] };
    for (let i = 0; i < 10; i++) {
      for (const kind of ['nginx', 'haproxy'] as const) {
        const check = await handCheck(dir, kind);
        const reload = await handReload(dir, kind);
        reloads[kind].push(reload);
        hand[kind].push(check + reload);
      }
    }
    const limit = QUIESCENCE_MS + Math.max(pct(hand.nginx, 50), pct(hand.haproxy, 50));
    await stopInstance(anchor);

    const on = await rolling(etcd.endpoint, proxies, true);
    const off = await rolling(etcd.endpoint, proxies, false);

    console.log(`drain: ${DRAINS} deletions, renderers: ${proxies.map((p) => p.renderer).join(', ')}`);
    console.log(`  delete → last renderer acknowledged: p50 ${fmt(pct(latencies, 50))}, p99 ${fmt(pct(latencies, 99))}`);
    for (const kind of ['nginx', 'haproxy'] as const) {
      console.log(`  by hand, ${kind}: check + reload to new workers p50 ${fmt(pct(hand[kind], 50))} (reload alone ${fmt(pct(reloads[kind], 50))})`);
    }
    console.log(`  limit (quiescence ${QUIESCENCE_MS} ms + the slower proxy by hand): ${fmt(limit)}; p50 ratio ${(pct(latencies, 50) / limit).toFixed(2)}×`);
    console.log('rolling restart of 3 backends under POST load (4 loops per proxy, 15 ms per request):');
    for (const [i, p] of proxies.entries()) {
      const a = on[i] as { ok: number; failed: number };
      const b = off[i] as { ok: number; failed: number };
      console.log(`  ${p.kind.padEnd(7)} drain on: ${a.failed} failed of ${a.ok + a.failed}   drain off: ${b.failed} failed of ${b.ok + b.failed}`);
    }
  } finally {
    await Promise.all(proxies.map((p) => p.stop()));
    client.close();
    await etcd.cleanup();
    await cleanup();
  }
}

await main();

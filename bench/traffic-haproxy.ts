// Benchmark: change → traffic through a real haproxy (master-worker, stats socket level admin) under
// `sidekick render --watch` with haproxy_socket, beside limits measured in the same run:
// 1. sidekick: a record replaced in etcd (one transaction: the old server out, a new one in, another backend),
//    then fresh connections until the new server answers; p50/p99 over BENCH_CHANGES changes, and the master's
//    reload count before and after (it must not move);
// 2. the etcd floor: the same transaction (put one key, delete another) → watch event, on keys of its own; and a
//    plain put → watch event;
// 3. haproxy by hand: the same runtime commands sent to the socket directly (add, enable, drain, maint, del),
//    then fresh connections until the new server answers; and `haproxy -c` on the rendered file, which sidekick
//    runs before each swap.
// Target: sidekick's p50 ≤ the etcd floor's p50 + 10 ms, printed as a ratio.
// Run: npm run bench:traffic-haproxy
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { Etcd3 } from 'etcd3';
import { startBackend, type Backend } from '../test/support/backends.js';
import { sidekick } from '../test/support/cli.js';
import { startEtcd } from '../test/support/etcd.js';
import { freePort } from '../test/support/ports.js';
import { haproxyAdminSocket, haproxyCli, haproxyGeneration, startHaproxy, stopProc, waitFor } from '../test/support/procs.js';
import { spawnSidekick } from '../test/support/rolling.js';
import { tempDir } from '../test/support/tmp.js';

const CHANGES = Number(process.env.BENCH_CHANGES ?? 50);
const SERVER_OPTIONS = 'check inter 2s fall 3 rise 2'; // as the template writes them

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;
const record = (id: string, b: Backend): string => JSON.stringify({ name: 'web', id, host: '127.0.0.1', port: b.port, tags: [], meta: {} });

/**
 * One request on a fresh connection, as plain as it gets (HTTP/1.0 over a socket): the x-server header of the
 * answer. A probe costs well under a millisecond, so the figures are not rounded up to a fetch's few milliseconds.
 */
function probe(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.end('GET / HTTP/1.0\r\n\r\n'));
    socket.setTimeout(2000, () => socket.destroy(new Error('probe timed out')));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(/^x-server: *(\S+)/im.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? ''));
  });
}

/** Fresh connections through haproxy until server `name` answers; ms from `started`. */
async function untilServed(port: number, name: string, started: number): Promise<number> {
  for (;;) {
    if ((await probe(port)) === name) return performance.now() - started;
    if (performance.now() - started > 10_000) throw new Error(`server ${name} never answered`);
  }
}

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const { dir, cleanup } = await tempDir('sidekick-bench-traffic-haproxy-');
  const client = new Etcd3({ hosts: etcd.endpoint });
  const pool = await Promise.all(['p0', 'p1', 'p2', 'p3'].map((n) => startBackend(n)));
  const port = await freePort();
  const admin = haproxyAdminSocket(dir);
  const env = { HAPROXY_PORT: String(port), HAPROXY_ADMIN_SOCKET: admin, STREAM_PORT: String(pool[0]?.port) };
  Object.assign(process.env, env);
  await mkdir(join(dir, 'conf.d'));
  await mkdir(join(dir, 'templates'));
  await copyFile(join(import.meta.dirname, '../test/fixtures/templates/haproxy-runtime.cfg.tmpl'), join(dir, 'templates', 'haproxy.tmpl'));
  const dest = join(dir, 'haproxy.cfg');
  const toml = (live: boolean): string =>
    [
      '[template]',
      'src = "haproxy.tmpl"',
      `dest = "${dest}"`,
      'keys = ["/services/web", "/config"]',
      ...(live ? ['check_cmd = "/usr/sbin/haproxy -c -q -f {{.src}}"', 'reload_signal = "USR2"', `pid_file = "${join(dir, 'haproxy.pid')}"`, `haproxy_socket = "${admin}"`] : []),
    ].join('\n');
  await writeFile(join(dir, 'conf.d', 'haproxy.toml'), toml(false));
  await client.put('/services/web/s0').value(record('s0', pool[0] as Backend));
  const args = ['render', '--backend', 'etcd', '--node', etcd.endpoint, '--confdir', dir];
  const first = await sidekick([...args, '--onetime'], env);
  if (first.exitCode !== 0) throw new Error(`first render failed: ${String(first.stderr)}`);
  const haproxy = await startHaproxy(dir, dest, { master: true });
  await writeFile(join(dir, 'conf.d', 'haproxy.toml'), toml(true));
  const render = spawnSidekick([...args, '--watch'], env);
  try {
    await waitFor(() => render.logs().some((l) => l.msg === 'initial read done'), 20_000);
    await untilServed(port, 's0', performance.now());
    const generation = () => haproxyGeneration(haproxy.masterSocket as string, admin);

    // 1. sidekick render --watch with the runtime API.
    const before = await generation();
    const viaSidekick: number[] = [];
    const applied = (): number => render.logs().filter((l) => l.msg === 'applied through the haproxy runtime API, no reload').length;
    for (let i = 1; i <= CHANGES; i++) {
      const b = pool[i % pool.length] as Backend;
      // Each change meets an idle renderer: the previous one's check, swap and drain are over.
      await waitFor(() => applied() >= i - 1, 10_000);
      const started = performance.now();
      await client
        .if(`/services/web/s${i}`, 'Version', '>', -1)
        .then(client.put(`/services/web/s${i}`).value(record(`s${i}`, b)), client.delete().key(`/services/web/s${i - 1}`))
        .commit();
      viaSidekick.push(await untilServed(port, `s${i}`, started));
    }
    const after = await generation();
    // The last log line may still be on its way: a change and its log line are not one event.
    await waitFor(() => applied() >= CHANGES, 1000).catch(() => undefined);
    const runtimeApplies = applied();

    // 2. The etcd floor: the same transaction as a change (put a key, delete the previous one, one txn) → its watch
    //    event; and a plain put → watch event, for reference.
    const watcher = await client.watch().prefix('/bench/floor/').create();
    const floorOf = async (write: (i: number) => Promise<unknown>): Promise<number[]> => {
      const took: number[] = [];
      for (let i = 1; i <= CHANGES; i++) {
        const started = performance.now();
        const seen = new Promise<number>((resolve) => watcher.once('put', () => resolve(performance.now() - started)));
        await write(i);
        took.push(await seen);
      }
      return took;
    };
    const floor = await floorOf((i) =>
      client
        .if(`/bench/floor/f${i}`, 'Version', '>', -1)
        .then(client.put(`/bench/floor/f${i}`).value(String(i)), client.delete().key(`/bench/floor/f${i - 1}`))
        .commit(),
    );
    const putFloor = await floorOf(async (i) => {
      await client.put('/bench/floor/p').value(String(i));
    });
    await watcher.cancel();

    // 3. haproxy by hand, with the renderer stopped: the same commands, straight to the socket; and its config check.
    await stopProc(render.proc);
    const byHand: number[] = [];
    let current = `s${CHANGES}`;
    for (let i = 1; i <= CHANGES; i++) {
      const b = pool[i % pool.length] as Backend;
      const next = `h${i}`;
      const started = performance.now();
      for (const c of [`set server web/${current} state drain`, `set server web/${current} state maint`, `del server web/${current}`, `add server web/${next} 127.0.0.1:${b.port} ${SERVER_OPTIONS}`, `enable health web/${next}`, `enable server web/${next}`]) {
        await haproxyCli(admin, c);
      }
      byHand.push(await untilServed(port, next, started));
      current = next;
    }
    const check: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      await execa('/usr/sbin/haproxy', ['-c', '-q', '-f', dest]);
      check.push(performance.now() - started);
    }

    const p50 = pct(viaSidekick, 50);
    const target = pct(floor, 50) + 10;
    console.log(`haproxy runtime API: change → traffic, ${CHANGES} changes`);
    console.log(`  sidekick render --watch (etcd txn → new server answers)  p50 ${fmt(p50)}  p99 ${fmt(pct(viaSidekick, 99))}`);
    const live = render.logs().filter((l) => l.msg === 'applied through the haproxy runtime API, no reload').map((l) => Number(l.liveMs));
    console.log(`  of which render done → new server enabled (liveMs logged)  p50 ${fmt(pct(live, 50))}  p99 ${fmt(pct(live, 99))}`);
    console.log(`  reloads during those changes: ${after.reloads - before.reloads} (worker pid ${before.workerPid === after.workerPid ? 'unchanged' : 'changed'}); runtime applies logged: ${runtimeApplies}`);
    console.log(`  etcd floor (the same txn → watch event)                 p50 ${fmt(pct(floor, 50))}  p99 ${fmt(pct(floor, 99))}`);
    console.log(`  etcd, a plain put → watch event                         p50 ${fmt(pct(putFloor, 50))}  p99 ${fmt(pct(putFloor, 99))}`);
    console.log(`  haproxy by hand (commands → new server answers)          p50 ${fmt(pct(byHand, 50))}  p99 ${fmt(pct(byHand, 99))}`);
    console.log(`  haproxy -c on the rendered file (sidekick's check_cmd)    p50 ${fmt(pct(check, 50))}`);
    console.log(`  target: sidekick p50 ≤ etcd floor p50 + 10 ms = ${fmt(target)}; ratio ${(p50 / target).toFixed(2)} (≤ 1.00 meets it)`);
  } finally {
    if (render.proc.exitCode === null) await stopProc(render.proc);
    await haproxy.stop();
    client.close();
    await Promise.all(pool.map((b) => b.close()));
    await etcd.cleanup();
    await cleanup();
  }
}

await main();

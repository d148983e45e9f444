// Benchmark: change → traffic through a real nginx, as an operator sees it. A record changes in etcd; fresh
// connections through nginx are made back to back until three in a row reach the new backend. Measured in one run:
// 1. the etcd floor: put → watch event at a client on loopback;
// 2. nginx's own limit: its config written by hand and `nginx -s reload` run at once (a second nginx, same config);
// 3. `sidekick render --watch` (the built CLI) with reload_cmd = "nginx -s reload" and pid_file, no check_cmd, no
//    wait (the default burst window; BENCH_WAIT sets one): a record changed in place, and a record replaced by a put of the new one and
//    a delete of the old one sent back to back; the reloads each replacement cost, and how far apart its two
//    watch events arrived.
// Target: sidekick's p50 ≤ 1.2× nginx's limit. Run: npm run bench:traffic-nginx
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { DEFAULT_WAIT } from '../src/apply/quiescence.js';
import { EtcdSource } from '../src/store/etcd.js';
import { startBackend, type Backend } from '../test/support/backends.js';
import { sidekick } from '../test/support/cli.js';
import { startEtcd } from '../test/support/etcd.js';
import { freePort } from '../test/support/ports.js';
import { httpGet, startNginx, stopProc, waitFor, type NginxHandle } from '../test/support/procs.js';
import { spawnSidekick, type Proc } from '../test/support/rolling.js';
import { tempDir } from '../test/support/tmp.js';

const CHANGES = Number(process.env.BENCH_CHANGES ?? 40);
/** The resource's `wait`; unset: none, the default burst window. BENCH_WAIT=0 shows what the window saves. */
const WAIT = process.env.BENCH_WAIT;
const TARGET = 1.2;
/** Fresh connections in a row that must reach the new backend. */
const STREAK = 3;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An nginx.conf proxying to `servers` (host:port), everything under dir. */
const nginxConf = (dir: string, port: number, servers: string): string => `pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon on;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t}_temp;`).join('\n')}
  upstream web {
${servers}
  }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://web; }
  }
}
`;

const TEMPLATE = (dir: string, port: number): string =>
  nginxConf(dir, port, '{{#each (service "web")}}\n    server {{address}};\n{{/each}}');

/**
 * From `started`, fresh connections back to back until STREAK in a row reach `name`; ms to the first of them.
 * A connection refused or reset mid-reload counts as not there yet.
 */
async function untilTraffic(port: number, name: string, started: number): Promise<number> {
  let first = 0;
  let streak = 0;
  const deadline = started + 20_000;
  while (streak < STREAK) {
    if (performance.now() > deadline) throw new Error(`traffic never reached ${name}`);
    const at = performance.now();
    const body = await httpGet(`http://127.0.0.1:${port}/`, 2000).then((r) => r.body.trim(), () => '');
    if (body === name) {
      if (streak++ === 0) first = at;
    } else streak = 0;
  }
  return first - started;
}

/** A second nginx whose config is written by hand and reloaded with `nginx -s reload` at once: nginx's own limit. */
async function startHand(root: string, first: Backend): Promise<{ change(to: Backend): Promise<number>; stop(): Promise<void> }> {
  const dir = join(root, 'hand');
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const write = (b: Backend) => writeFile(conf, nginxConf(dir, port, `    server 127.0.0.1:${b.port};`));
  await write(first);
  const nginx = await startNginx(dir, conf);
  const [bin, ...args] = nginx.reloadCmd.split(' ') as [string, ...string[]];
  return {
    change: async (to) => {
      const started = performance.now();
      await write(to);
      await execa(bin, args);
      return untilTraffic(port, to.name, started);
    },
    stop: () => nginx.stop(),
  };
}

/** put → the watch event at another client, ms. */
async function etcdFloor(endpoint: string, put: (k: string, v: string) => Promise<number>): Promise<number[]> {
  const source = new EtcdSource({ nodes: [endpoint], prefixes: ['/bench/floor'] });
  await source.start();
  const out: number[] = [];
  try {
    for (let i = 0; i < CHANGES; i++) {
      const seen = new Promise<number>((r) => source.once('change', () => r(performance.now())));
      const started = performance.now();
      await put('/bench/floor/k', String(i));
      out.push((await seen) - started);
    }
  } finally {
    await source.close();
  }
  return out;
}

interface Sidekick {
  port: number;
  render: Proc;
  nginx: NginxHandle;
  reloads(): number;
}

/** nginx rendered by `sidekick render --watch` with reload_cmd + pid_file; the first file rendered once before nginx starts. */
async function startSidekickNginx(root: string, endpoint: string): Promise<Sidekick> {
  const dir = join(root, 'sidekick');
  await mkdir(join(dir, 'conf.d'), { recursive: true });
  await mkdir(join(dir, 'templates'), { recursive: true });
  const port = await freePort();
  const dest = join(dir, 'nginx.conf');
  await writeFile(join(dir, 'templates', 'nginx.tmpl'), TEMPLATE(dir, port));
  const toml = (reload: boolean): string =>
    [
      '[template]',
      'src = "nginx.tmpl"',
      `dest = "${dest}"`,
      'keys = ["/services/web"]',
      ...(WAIT === undefined ? [] : [`wait = "${WAIT}"`]),
      ...(reload ? [`reload_cmd = "/usr/sbin/nginx -p ${dir} -e ${join(dir, 'error.log')} -c ${dest} -s reload"`, `pid_file = "${join(dir, 'nginx.pid')}"`] : []),
    ].join('\n');
  await writeFile(join(dir, 'conf.d', 'nginx.toml'), toml(false));
  const args = ['render', '--backend', 'etcd', '--node', endpoint, '--confdir', dir];
  const first = await sidekick([...args, '--onetime']);
  if (first.exitCode !== 0) throw new Error(`first render failed: ${String(first.stderr)}`);
  const nginx = await startNginx(dir, dest);
  await writeFile(join(dir, 'conf.d', 'nginx.toml'), toml(true));
  const render = spawnSidekick([...args, '--watch']);
  await waitFor(() => render.logs().some((l) => l.msg === 'store in sync; rendering' || l.msg === 'initial read done'), 20_000);
  return { port, render, nginx, reloads: () => render.logs().filter((l) => l.msg === 'reloaded').length };
}

const record = (id: string, b: Backend): string => JSON.stringify({ name: 'web', id, host: '127.0.0.1', port: b.port, tags: [], meta: {} });

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const { dir, cleanup } = await tempDir('sidekick-bench-traffic-');
  const backends = [await startBackend('a'), await startBackend('b')];
  await etcd.put('/services/web/r0', record('r0', backends[0] as Backend));
  const sk = await startSidekickNginx(dir, etcd.endpoint);
  // Watches the same keys as sidekick, to see how far apart a replacement's two events arrive.
  const watcher = new EtcdSource({ nodes: [etcd.endpoint], prefixes: ['/services/web'] });
  await watcher.start();
  const arrived = new Map<string, number>();
  watcher.on('change', (keys) => {
    for (const k of keys) arrived.set(k, performance.now());
  });
  try {
    await waitFor(async () => (await httpGet(`http://127.0.0.1:${sk.port}/`)).body.trim() === 'a', 20_000);
    const floor = await etcdFloor(etcd.endpoint, (k, v) => etcd.put(k, v));
    const handNginx = await startHand(dir, backends[0] as Backend);
    // The three measurements take turns, so load from elsewhere on the host weighs on all of them alike.
    const hand: number[] = [];
    const inPlace: number[] = [];
    const replace: number[] = [];
    const gaps: number[] = [];
    const reloadsPer: number[] = [];
    /** Wall-clock ms at which each in-place change's watch event reached the bench's own watcher. */
    const seenAt: number[] = [];
    let key = '/services/web/r0';
    let at = 0; // the backend key's record points at
    try {
      for (let i = 1; i <= CHANGES; i++) {
        hand.push(await handNginx.change(backends[i % 2] as Backend));
        await sleep(150); // old workers gone before the next change

        // A record changed in place: one put.
        at = 1 - at;
        let to = backends[at] as Backend;
        arrived.clear();
        let started = performance.now();
        await etcd.put(key, record(key.slice(key.lastIndexOf('/') + 1), to));
        inPlace.push(await untilTraffic(sk.port, to.name, started));
        await sleep(150);
        await waitFor(() => arrived.has(key));
        seenAt.push(performance.timeOrigin + (arrived.get(key) as number));

        // A record replaced: put the new one, then delete the old one, back to back.
        at = 1 - at;
        to = backends[at] as Backend;
        const next = `/services/web/r${i}`;
        const before = sk.reloads();
        arrived.clear();
        started = performance.now();
        await etcd.put(next, record(`r${i}`, to));
        await etcd.del(key);
        replace.push(await untilTraffic(sk.port, to.name, started));
        await sleep(150);
        await waitFor(() => arrived.has(next) && arrived.has(key));
        gaps.push(Math.abs((arrived.get(next) as number) - (arrived.get(key) as number)));
        reloadsPer.push(sk.reloads() - before);
        key = next;
      }
    } finally {
      await handNginx.stop();
    }

    // Where sidekick's time goes, from its own log lines (pino's epoch-ms `time`) against the watch event's arrival.
    const times = (msg: string): number[] => sk.render.logs().filter((l) => l.msg === msg).map((l) => Number(l.time));
    const updated = times('destination updated');
    const reloaded = times('reloaded');
    const toFile: number[] = [];
    const toSettled: number[] = [];
    for (const seen of seenAt) {
      const u = updated.find((t) => t >= Math.floor(seen));
      const r = u === undefined ? undefined : reloaded.find((t) => t >= u);
      if (u !== undefined) toFile.push(u - seen);
      if (u !== undefined && r !== undefined) toSettled.push(r - u);
    }
    const limit = pct(hand, 50);
    const within = gaps.filter((g) => g < DEFAULT_WAIT.minMs).length;
    console.log(`change → traffic through nginx (${CHANGES} changes each; ${STREAK} fresh connections in a row on the new backend; wait ${WAIT === undefined ? `unset: ${DEFAULT_WAIT.minMs} ms burst window` : `"${WAIT}"`})`);
    console.log(`  etcd floor (put → watch event):             p50 ${fmt(pct(floor, 50))}, p99 ${fmt(pct(floor, 99))}`);
    console.log(`  nginx's limit (file by hand + nginx -s reload): p50 ${fmt(limit)}, p99 ${fmt(pct(hand, 99))}`);
    for (const [name, xs] of [['record changed in place', inPlace], ['record replaced (put + delete)', replace]] as const) {
      const ratio = pct(xs, 50) / limit;
      console.log(`  sidekick, ${name.padEnd(31)} p50 ${fmt(pct(xs, 50))}, p99 ${fmt(pct(xs, 99))}; p50 ${ratio.toFixed(2)}× nginx's limit (target ≤ ${TARGET}×: ${ratio <= TARGET ? 'met' : 'missed'})`);
    }
    console.log(`  in place, of which: watch event → file swapped in p50 ${fmt(pct(toFile, 50))} (burst window, render, fsync'd swap); → reload settled p50 ${fmt(pct(toSettled, 50))}`);
    console.log(`  replacement: its two watch events ${fmt(pct(gaps, 50))} apart at p50, ${fmt(pct(gaps, 90))} at p90, ${fmt(Math.max(...gaps))} at most; ${within} of ${CHANGES} under ${DEFAULT_WAIT.minMs} ms`);
    console.log(`  replacement: reloads per replacement ${reloadsPer.filter((n) => n === 1).length}× one, ${reloadsPer.filter((n) => n > 1).length}× more than one`);
  } finally {
    await watcher.close();
    await stopProc(sk.render.proc);
    await sk.nginx.stop();
    await Promise.all(backends.map((b) => b.close()));
    await etcd.cleanup();
    await cleanup();
  }
}

await main();

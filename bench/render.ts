// Benchmark: change → new config file in place, at 1,000 services × 10 instances (10,000 keys) in a real etcd.
// Prints p50/p99 over the changes, the etcd put → watch-event floor measured in the same run, and RSS.
// Run: npm run bench:render   (targets: p50 ≤ 15 ms, p99 ≤ 50 ms, RSS ≤ 150 MB)
import { Writable } from 'node:stream';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { sidekickArgv } from '../test/support/cli.js';
import { join } from 'node:path';
import type { RenderConfig } from '../src/config/types.js';
import { etcdRenderConfig } from '../test/support/config.js';
import { RenderDaemon } from '../src/daemon/render-daemon.js';
import { createLogger } from '../src/util/log.js';
import { startEtcd, testClient } from '../test/support/etcd.js';
import { tempDir } from '../test/support/tmp.js';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 60);

const TEMPLATE = `{{#each (services)}}
upstream {{this}} {
{{#each (service this)}}
  server {{address}};
{{/each}}
}
{{/each}}
`;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

function recordValue(svc: number, inst: number, port: number): string {
  return JSON.stringify({ name: `svc${svc}`, id: `i${inst}`, host: `10.0.${svc % 250}.${inst + 1}`, port, tags: ['v1'], meta: {} });
}

/** Runs the real binary against the same etcd and template and reads its resident memory from /proc. */
async function cliRss(endpoint: string, dir: string): Promise<{ rss: number; peak: number }> {
  await mkdir(join(dir, 'cli/conf.d'), { recursive: true });
  await mkdir(join(dir, 'cli/templates'), { recursive: true });
  await writeFile(join(dir, 'cli/templates/upstreams.tmpl'), TEMPLATE);
  const dest = join(dir, 'cli/upstreams.conf');
  await writeFile(join(dir, 'cli/conf.d/bench.toml'), `[template]\nsrc = "upstreams.tmpl"\ndest = "${dest}"\nkeys = ["/services"]\n`);
  const proc = execa('node', sidekickArgv(['render', '--watch', '--confdir', join(dir, 'cli'), '--node', endpoint, '--log-level', 'warn']), {
    reject: false,
  });
  try {
    for (let i = 0; i < 300 && !(await stat(dest).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000));
    const status = await readFile(`/proc/${proc.pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
  } finally {
    proc.kill('SIGTERM');
    await proc;
  }
}

async function main(): Promise<void> {
  const { dir, cleanup } = await tempDir('sidekick-bench-');
  const etcd = await startEtcd();
  const client = testClient(etcd.endpoint);
  try {
    process.stdout.write(`loading ${SERVICES * INSTANCES} keys… `);
    const started = performance.now();
    for (let s = 0; s < SERVICES; s++) {
      await Promise.all(
        Array.from({ length: INSTANCES }, (_, i) => client.put(`/services/svc${s}/i${i}`).value(recordValue(s, i, 8000 + i))),
      );
    }
    console.log(`${((performance.now() - started) / 1000).toFixed(1)} s`);

    await writeFile(join(dir, 'upstreams.tmpl'), TEMPLATE);
    const dest = join(dir, 'upstreams.conf');
    const config: RenderConfig = etcdRenderConfig(etcd.endpoint, dir, [
        {
          name: 'bench',
          origin: 'bench',
          src: join(dir, 'upstreams.tmpl'),
          dest,
          keys: ['/services'],
          prefix: '',
          commandTimeoutMs: 30_000,
          minEndpoints: 0,
        },
      ]);
    let onApplied: (() => void) | undefined;
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (chunk.includes('destination updated')) onApplied?.();
        cb();
      },
    });
    const daemon = new RenderDaemon({ config, log: createLogger({ level: 'info', destination: sink }) });
    const t0 = performance.now();
    await daemon.start();
    await daemon.renderAll();
    console.log(`initial read + first render: ${fmt(performance.now() - t0)}`);

    // Floor: etcd put → watch event, same etcd, same process, same run, on a key no resource reads (a key the
    // daemon watches would start a render per put, and the floor would include them).
    const floor: number[] = [];
    const floorWatch = await client.watch().key('/bench/floor').create();
    let floorResolve: (() => void) | undefined;
    floorWatch.on('put', () => floorResolve?.());
    for (let i = 0; i < CHANGES; i++) {
      const t = performance.now();
      await new Promise<void>((resolve) => {
        floorResolve = resolve;
        void client.put('/bench/floor').value(String(i)).exec(); // builders are lazy: exec() sends
      });
      floor.push(performance.now() - t);
    }
    await floorWatch.cancel();

    daemon.follow();
    // Split each change into put → mirror updated (etcd + watch) and mirror → file in place (sidekick).
    let changedAt = 0;
    daemon.source.on('change', () => {
      changedAt = performance.now();
    });
    const own: number[] = [];

    // Change → file in place: the daemon logs "destination updated" right after the rename over dest.
    const lat: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const svc = (i * 37) % SERVICES;
      const inst = i % INSTANCES;
      const port = 20000 + i;
      const t = performance.now();
      await new Promise<void>((resolve) => {
        onApplied = resolve;
        void client.put(`/services/svc${svc}/i${inst}`).value(recordValue(svc, inst, port)).exec();
      });
      const done = performance.now();
      lat.push(done - t);
      own.push(done - changedAt);
      await daemon.idle();
      const text = await readFile(dest, 'utf8');
      if (!text.includes(`:${port};`)) throw new Error(`change ${i} not in the rendered file`);
    }
    const rssMb = process.memoryUsage().rss / 1024 / 1024;
    await daemon.close();
    const daemonRss = await cliRss(etcd.endpoint, dir);

    const size = (await readFile(dest)).length;
    console.log(`keys: ${SERVICES * INSTANCES}, rendered file: ${(size / 1024).toFixed(0)} KiB, changes: ${CHANGES}`);
    console.log(`etcd put → watch event (floor): p50 ${fmt(pct(floor, 50))}  p99 ${fmt(pct(floor, 99))}`);
    console.log(`change → new file in place:    p50 ${fmt(pct(lat, 50))}  p99 ${fmt(pct(lat, 99))}   (target p50 ≤ 15 ms, p99 ≤ 50 ms)`);
    console.log(`of which watch event → file in place: p50 ${fmt(pct(own, 50))}  p99 ${fmt(pct(own, 99))}`);
    console.log(`sidekick's own share (p50 − floor p50): ${fmt(pct(lat, 50) - pct(floor, 50))}; ratio to floor: ${(pct(lat, 50) / pct(floor, 50)).toFixed(1)}×`);
    console.log(`RSS of \`sidekick render --watch\` on its own with ${SERVICES * INSTANCES} keys: ${daemonRss.rss} MB, peak ${daemonRss.peak} MB (target ≤ 150 MB)`);
    console.log(`RSS of this bench process (in-process daemon + its own etcd client and loader): ${rssMb.toFixed(0)} MB`);
  } finally {
    client.close();
    await etcd.cleanup();
    await cleanup();
  }
}

await main();

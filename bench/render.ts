// Benchmark: the growth curve of a real `sidekick render --watch` against a real etcd, at 1,000 / 10,000 / 100,000
// records (services × 10 instances). Per size and resource kind: change → new file in place (p50/p99), the
// renderer's CPU per change, its RSS holding the records (soon after the first render, and settled after the changes
// and an idle spell), its initial render, and the etcd put → watch floor, each beside its target; for a file set,
// also the time its first render's files take to write without rendering. An empty `render --watch` (0 records)
// gives Node's own baseline.
// Run: npm run bench:render   (BENCH_SIZES=0,1000,10000,100000 BENCH_KINDS=file,set BENCH_INSTANCES=10 BENCH_CHANGES=100 BENCH_SETTLE_S=20 BENCH_NODE_FLAGS=…)
import { createInterface } from 'node:readline';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Etcd3 } from 'etcd3';
import { NODE_FLAGS, SIDEKICK } from '../test/support/cli.js';
import { startEtcd, testClient } from '../test/support/etcd.js';
import { FolderSyncs, stageFile, swapIn } from '../src/apply/files.js';
import { FILES_IN_FLIGHT } from '../src/apply/file-set.js';
import { mapLimit } from '../src/util/parallel.js';
import { tempDir } from '../test/support/tmp.js';

const SIZES = (process.env.BENCH_SIZES ?? '0,1000,10000,100000').split(',').map(Number);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 100);
/**
 * Seconds the renderer is left idle after the changes before its settled RSS is read: V8's memory reducer gives back
 * the heap pages the first read and render grew into once the process has been idle a while (about 10–20 s here).
 */
const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? 20);
/** Node flags added after the binary's own, which they override (to compare V8 settings): BENCH_NODE_FLAGS=--max-semi-space-size=16. */
const EXTRA_NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
/** Puts per etcd transaction (etcd's default --max-txn-ops is 128) and transactions in flight while loading. */
const TXN_OPS = 100;
const TXN_PARALLEL = 8;
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/** A kind of resource to measure: its TOML (given the template's and destination's paths) and its template. */
export interface ResourceKind {
  name: string;
  toml: (paths: { src: string; dest: string }) => string;
  template: string;
  /** Whether what the resource wrote at `dest` holds `text` from a change to `service`. */
  holds: (dest: string, text: string, service: string) => Promise<boolean>;
  /** Makes what `dest` needs before the renderer starts (a file set's folder). */
  prepare?: (dest: string) => Promise<void>;
  /** How many files the first render writes, when more than one (a file set: one per service). */
  files?: (services: number) => number;
}

/** One file, an upstream per service and a server per instance; `wait = "0"`: no burst window, render at once. */
export const ONE_FILE: ResourceKind = {
  name: 'one file',
  toml: ({ src, dest }) => `[template]\nsrc = "${src}"\ndest = "${dest}"\nkeys = ["/services"]\nwait = "0"\n`,
  template: `{{#each (services)}}
upstream {{this}} {
{{#each (service this)}}
  server {{address}};
{{/each}}
}
{{/each}}
`,
  holds: async (dest, text) => (await readFile(dest, 'utf8')).includes(text),
};

/** A file set: one file per service (`dest = "…/{{service}}.conf"`), the upstream of that service only. */
export const FILE_SET: ResourceKind = {
  name: 'file per service',
  toml: ({ src, dest }) => `[template]\nsrc = "${src}"\ndest = "${dest}/{{service}}.conf"\nkeys = ["/services"]\nwait = "0"\n`,
  template: `upstream {{this}} {
{{#each (service this)}}
  server {{address}};
{{/each}}
}
`,
  holds: async (dest, text, service) => (await readFile(join(dest, `${service}.conf`), 'utf8')).includes(text),
  prepare: async (dest) => {
    await mkdir(dest, { recursive: true });
  },
  files: (services) => services,
};

/** The kinds to measure: `file` (one file) and `set` (a file per service). */
const KINDS: ResourceKind[] = (process.env.BENCH_KINDS ?? 'file,set').split(',').map((k) => {
  const kind = ({ file: ONE_FILE, set: FILE_SET } as Record<string, ResourceKind>)[k.trim()];
  if (!kind) throw new Error(`BENCH_KINDS: "${k}" is not a kind; expected file or set`);
  return kind;
});

/** What one size and kind measured. */
interface Row {
  kind: string;
  size: number;
  floor: number[];
  latency: number[];
  cpuMsPerChange: number;
  rssMb: number;
  peakMb: number;
  /** RSS after the changes and SETTLE_S idle: what the process holds from then on. */
  settledMb: number;
  spawnToFileMs: number;
  readToFileMs: number;
  /** Writing the first render's files the way the renderer does, without rendering (a file set only). */
  writeFloorMs?: number;
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const ms = (n: number): string => `${n.toFixed(1)} ms`;
let changeSeq = 0;
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

function recordValue(svc: number, inst: number, port: number): string {
  return JSON.stringify({ name: `svc${svc}`, id: `i${inst}`, host: `10.0.${svc % 250}.${inst + 1}`, port, tags: ['v1'], meta: {} });
}

/** Puts records `from` … `to - 1` (service = record / INSTANCES), in transactions of TXN_OPS, TXN_PARALLEL at once. */
async function load(client: Etcd3, from: number, to: number): Promise<void> {
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < to) {
      const start = next;
      next = Math.min(to, next + TXN_OPS);
      const success = [];
      for (let n = start; n < next; n++) {
        const svc = Math.floor(n / INSTANCES);
        const inst = n % INSTANCES;
        success.push({ request_put: { key: Buffer.from(`/services/svc${svc}/i${inst}`), value: Buffer.from(recordValue(svc, inst, 8000 + inst)) } });
      }
      await client.kv.txn({ compare: [], success, failure: [] });
    }
  };
  await Promise.all(Array.from({ length: TXN_PARALLEL }, worker));
}

/** etcd put → watch event in the bench's own process, on a key no resource reads. */
async function floor(client: Etcd3, n: number): Promise<number[]> {
  const out: number[] = [];
  const watch = await client.watch().key('/bench/floor').create();
  let resolve: (() => void) | undefined;
  watch.on('put', () => resolve?.());
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      resolve = r;
      void client.put('/bench/floor').value(String(i)).exec(); // builders are lazy: exec() sends
    });
    out.push(performance.now() - t);
  }
  await watch.cancel();
  return out;
}

/**
 * The first render's file I/O alone: `count` files of a member's size written as the renderer writes a set's files
 * (staged, fsynced, renamed, as many at a time, through the same functions), into a folder of their own.
 */
async function writeFloor(dir: string, count: number): Promise<number> {
  const folder = join(dir, `write-floor-${count}`);
  await mkdir(folder, { recursive: true });
  const content = Buffer.from(`upstream svc {\n${'  server 10.0.0.1:8000;\n'.repeat(INSTANCES)}}\n`);
  const folders = new FolderSyncs();
  const t = performance.now();
  await mapLimit(Array.from({ length: count }, (_, i) => join(folder, `svc${i}.conf`)), FILES_IN_FLIGHT, async (path) => {
    await swapIn(await stageFile(path, content, { mode: 0o644 }), path, content, folders);
  });
  await folders.flush();
  return performance.now() - t;
}

/** utime + stime of a process, in ms. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name in parentheses (which may hold spaces): utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

/**
 * Runs the real binary with one resource of `kind` over the `size` records already in etcd, then changes one record
 * CHANGES times, each waited for until the renderer logs the destination updated and the new port is in it.
 */
async function measure(size: number, kind: ResourceKind, endpoint: string, client: Etcd3, dir: string): Promise<Row> {
  const confdir = join(dir, `${kind.name.replace(/\W+/g, '-')}-${size}`);
  await mkdir(join(confdir, 'conf.d'), { recursive: true });
  await mkdir(join(confdir, 'templates'), { recursive: true });
  const src = 'bench.tmpl';
  const dest = join(confdir, 'out');
  await writeFile(join(confdir, 'templates', src), kind.template);
  await writeFile(join(confdir, 'conf.d/bench.toml'), kind.toml({ src, dest }));
  await kind.prepare?.(dest);
  const files = kind.files?.(Math.max(1, size / INSTANCES));
  const writeFloorMs = files !== undefined && size > 0 ? await writeFloor(dir, files) : undefined;
  const spawned = performance.now();
  const argv = [...NODE_FLAGS, ...EXTRA_NODE_FLAGS, SIDEKICK, 'render', '--watch', '--confdir', confdir, '--node', endpoint, '--log-level', 'info'];
  const proc = execa('node', argv, {
    reject: false,
    stdin: 'ignore',
  });
  const pid = proc.pid as number;
  let onUpdated: (() => void) | undefined;
  let readAt = 0;
  let firstAt = 0;
  const first = new Promise<void>((resolve) => {
    createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.includes('initial read done')) {
        readAt = performance.now();
        // No records, nothing to render (min_endpoints): the process holding an empty mirror is the baseline.
        if (size === 0) resolve();
      }
      if (!line.includes('destination updated')) return;
      if (firstAt === 0) {
        firstAt = performance.now();
        resolve();
      } else onUpdated?.();
    });
  });
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${kind.name} at ${size}: no first render within 120 s`)), 120_000);
    });
    await Promise.race([first, timeout]).finally(() => clearTimeout(timer));
    await sleep(1000);
    const mem = await memory(pid);
    const floorMs = await floor(client, CHANGES);
    const latency: number[] = [];
    const services = Math.max(1, size / INSTANCES);
    const cpu0 = await cpuMs(pid);
    for (let i = 0; i < CHANGES && size > 0; i++) {
      const svc = (i * 37) % services;
      const inst = i % INSTANCES;
      const port = 20000 + changeSeq++; // a new value every change, across sizes and kinds
      const t = performance.now();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`change ${i} at ${size}: no render within 10 s`)), 10_000);
        onUpdated = () => {
          clearTimeout(timer);
          resolve();
        };
        void client.put(`/services/svc${svc}/i${inst}`).value(recordValue(svc, inst, port)).exec();
      });
      latency.push(performance.now() - t);
      if (!(await kind.holds(dest, `:${port};`, `svc${svc}`))) throw new Error(`change ${i} at ${size} not in the rendered output`);
    }
    const cpuMsPerChange = size > 0 ? ((await cpuMs(pid)) - cpu0) / CHANGES : NaN;
    await sleep(SETTLE_S * 1000);
    const settled = await memory(pid);
    return {
      kind: kind.name,
      size,
      floor: floorMs,
      latency,
      cpuMsPerChange,
      rssMb: mem.rss,
      peakMb: settled.peak,
      settledMb: settled.rss,
      spawnToFileMs: firstAt - spawned,
      readToFileMs: readAt > 0 && firstAt > 0 ? firstAt - readAt : NaN,
      ...(writeFloorMs !== undefined && { writeFloorMs }),
    };
  } finally {
    proc.kill('SIGTERM');
    await proc;
  }
}

/** Targets by size (records): change → file p50 over the floor's p50, RSS, initial render. */
function targets(size: number): { overFloor?: number; rss?: number; initial?: number } {
  if (size === 10_000) return { overFloor: 3, rss: 90 };
  if (size === 100_000) return { overFloor: 10, rss: 200, initial: 1500 };
  return {};
}

function print(r: Row): void {
  const t = targets(r.size);
  const mark = (ok: boolean | undefined): string => (ok === undefined ? '' : ok ? ' ✓' : ' ✗');
  const fp50 = pct(r.floor, 50);
  const p50 = pct(r.latency, 50);
  const p99 = pct(r.latency, 99);
  console.log(`\n${r.kind}, ${r.size.toLocaleString('en')} records:`);
  console.log(`  etcd put → watch event (floor):  p50 ${ms(fp50)}  p99 ${ms(pct(r.floor, 99))}`);
  if (r.size > 0) {
    const limit = t.overFloor === undefined ? '' : `   (target p50 ≤ floor p50 + ${t.overFloor} ms = ${ms(fp50 + t.overFloor)}${mark(p50 <= fp50 + t.overFloor)})`;
    console.log(`  change → new file in place:      p50 ${ms(p50)}  p99 ${ms(p99)}${limit}`);
    // The floor's own spread (etcd's WAL fsync per put, the two cores' scheduling) is in every change's latency too.
    console.log(`  p99 / p50: ${(p99 / p50).toFixed(1)}   (target ≤ 3${mark(p99 <= 3 * p50)}; the floor's own: ${(pct(r.floor, 99) / fp50).toFixed(1)})`);
    console.log(`  renderer CPU per change (its utime + stime over the changes, /proc/<pid>/stat, 10 ms ticks): ${ms(r.cpuMsPerChange)}`);
  }
  const rssTarget = t.rss === undefined ? '' : `   (target ≤ ${t.rss} MB${mark(r.settledMb <= t.rss)})`;
  console.log(`  RSS of sidekick render --watch: 1 s after its first render ${r.rssMb} MB; after the changes and ${SETTLE_S} s idle ${r.settledMb} MB${rssTarget}; peak ${r.peakMb} MB`);
  const initTarget = t.initial === undefined ? '' : `   (target ≤ ${t.initial} ms${mark(r.readToFileMs <= t.initial)})`;
  console.log(`  initial render (initial read done → file in place): ${ms(r.readToFileMs)}${initTarget}; spawn → file in place: ${ms(r.spawnToFileMs)}`);
  if (r.writeFloorMs !== undefined) console.log(`  its files alone, written as the renderer writes them without rendering: ${ms(r.writeFloorMs)}`);
}

async function main(): Promise<void> {
  const { dir, cleanup } = await tempDir('sidekick-bench-');
  const etcd = await startEtcd();
  const client = testClient(etcd.endpoint);
  const rows: Row[] = [];
  try {
    let loaded = 0;
    for (const size of [...SIZES].sort((a, b) => a - b)) {
      if (size > loaded) {
        const t = performance.now();
        await load(client, loaded, size);
        console.log(`\nloaded records ${loaded.toLocaleString('en')} … ${size.toLocaleString('en')} into etcd in ${((performance.now() - t) / 1000).toFixed(1)} s`);
        loaded = size;
      }
      for (const kind of KINDS) {
        const row = await measure(size, kind, etcd.endpoint, client, dir);
        rows.push(row);
        print(row);
      }
    }
    console.log('\nkind | records | floor p50 | change → file p50 / p99 | CPU per change | RSS 1 s after first render / settled (peak) | initial render');
    for (const r of rows) {
      const changes = r.size > 0 ? `${ms(pct(r.latency, 50))} / ${ms(pct(r.latency, 99))} | ${ms(r.cpuMsPerChange)}` : '– | –';
      console.log(`${r.kind} | ${r.size} | ${ms(pct(r.floor, 50))} | ${changes} | ${r.rssMb} / ${r.settledMb} (${r.peakMb}) MB | ${ms(r.readToFileMs)}`);
    }
  } finally {
    client.close();
    await etcd.cleanup();
    await cleanup();
  }
}

await main();

// Benchmark: `sidekick register` (Docker events + health checks → lease-bound etcd keys), all real parts on loopback:
// a private dockerd, a private etcd, the built CLI as a child process, busybox httpd containers on the host network.
// Prints: container start → key visible (with a breakdown: service not listening yet / waiting for the next check
// attempt / the check itself / sidekick past the passing check), die → key deleted, a burst of containers started
// together → time until all are registered and how many etcd writes (transactions) it took, then idle CPU and RSS.
// Run: npm run bench:register   (targets: ≤ 50 ms past the passing check; ≤ 100 ms after `die`;
// the burst registered within the check interval + 2 s; idle CPU near zero with 100 services on 10 s checks; RSS ≤ 80 MB)
// Needs root (a private dockerd), /usr/sbin/dockerd, /usr/bin/etcd and a static busybox; takes ~2½ minutes.
// Last, the same idle figures with https checks: the http services removed, BENCH_HTTPS_KEEP (100; 0 skips it)
// containers whose SERVICE_CHECK_HTTPS (verification skipped) goes to TLS servers of the bench's own on loopback.
// Knobs: BENCH_SEQ (20 one-at-a-time containers per variant), BENCH_BURST (200), BENCH_IDLE_KEEP (100),
// BENCH_IDLE_SECONDS (60), BENCH_NODE_ARGS (extra node flags for the register process, e.g. --cpu-prof),
// BENCH_LOG (file to write register's JSON log to).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { cpus, loadavg } from 'node:os';
import { connect, createServer } from 'node:net';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Watcher } from 'etcd3';
import { sidekickArgv } from '../test/support/cli.js';
import { ensureBusyboxImage, runContainer, startDockerd, type DockerdHandle } from '../test/support/docker.js';
import { startEtcd, testClient, type EtcdHandle } from '../test/support/etcd.js';
import { issueCert, makeCa } from '../test/support/tls.js';
import { tempDir } from '../test/support/tmp.js';

const SEQ = Number(process.env.BENCH_SEQ ?? 20);
const BURST = Number(process.env.BENCH_BURST ?? 200);
const IDLE_KEEP = Number(process.env.BENCH_IDLE_KEEP ?? 100);
const HTTPS_KEEP = Number(process.env.BENCH_HTTPS_KEEP ?? 100);
/** One whole --resync period (60 s): the resync (list + inspect every container) weighs in the mean what it does in life. */
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const CHECK_INTERVAL_MS = 10_000;
const CREATE_CONCURRENCY = 16;
const START_CONCURRENCY = 32;
const NODE = 'bench';
const PREFIX = '/services/';
/** "Near zero" idle CPU, for the verdict: 1 % of one core. */
const IDLE_CPU_TARGET = 1;
const RSS_TARGET_MB = 80;

const now = (): number => performance.timeOrigin + performance.now();
const T0 = now();
/** "+12.3 s": time since the bench started, to place log lines and phases. */
const at = (t = now()): string => `+${((t - T0) / 1000).toFixed(1)} s`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
};
const fmt = (ms: number): string => (Number.isFinite(ms) ? (Math.abs(ms) >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`) : 'n/a');
const dist = (xs: number[]): string => `p50 ${fmt(pct(xs, 50))}  p95 ${fmt(pct(xs, 95))}  max ${fmt(Math.max(...xs))}`;

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number, everyMs = 2): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** `count` ports on 127.0.0.1 below the ephemeral range (so no outgoing connection takes one meanwhile) that bind now. */
async function freePorts(count: number, from = 21000): Promise<number[]> {
  const ports: number[] = [];
  for (let p = from; ports.length < count && p < 32000; p++) {
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(p, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) ports.push(p);
  }
  if (ports.length < count) throw new Error(`only ${ports.length} free ports found`);
  return ports;
}

/** Polls a TCP connect every ~2 ms; resolves with the first time it is accepted (NaN after timeoutMs). */
async function listeningAt(port: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const accepted = await new Promise<number | undefined>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        const t = now();
        s.destroy();
        resolve(t);
      });
      s.once('error', () => resolve(undefined));
    });
    if (accepted !== undefined) return accepted;
    if (Date.now() > deadline) return NaN;
    await sleep(2);
  }
}

/** One GET as sidekick's http checker does it (no agent, Connection: close, done at the status line); ms. */
function httpCheckMs(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = now();
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      const ms = now() - t;
      res.destroy();
      req.destroy();
      if ((res.statusCode ?? 0) >= 400) reject(new Error(`HTTP ${res.statusCode}`));
      else resolve(ms);
    });
    req.once('error', reject);
    req.end();
  });
}

function httpdCmd(port: number): string[] {
  return ['sh', '-c', `mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 127.0.0.1:${port} -h /www`];
}

function labels(port: number, check: boolean): Record<string, string> {
  return { [`SERVICE_${port}_NAME`]: 'web', ...(check ? { SERVICE_CHECK_HTTP: '/' } : {}) };
}

/** The instance id register gives a host-network container's port: `<node>:<container>:<port>`. */
const instanceId = (name: string, port: number): string => `${NODE}:${name}:${port}`;

// ---- observers: the etcd watch, Docker's own event stream, the register process's log ----

interface KeyEvent {
  type: 'put' | 'delete';
  id: string;
  rev: number;
  at: number;
}

class EtcdObserver {
  readonly events: KeyEvent[] = [];
  readonly firstPut = new Map<string, number>();
  readonly lastDelete = new Map<string, number>();

  record(type: 'put' | 'delete', key: Buffer, rev: string): void {
    const at = now();
    const id = key.toString().split('/').pop() as string;
    this.events.push({ type, id, rev: Number(rev), at });
    if (type === 'put') {
      if (!this.firstPut.has(id)) this.firstPut.set(id, at);
    } else {
      this.lastDelete.set(id, at);
    }
  }

  /** Events in [fromIdx, now) of `type` for `ids`: count and distinct revisions (one per transaction). */
  writes(fromIdx: number, type: 'put' | 'delete', ids: Set<string>): { ops: number; txns: number } {
    const evs = this.events.slice(fromIdx).filter((e) => e.type === type && ids.has(e.id));
    return { ops: evs.length, txns: new Set(evs.map((e) => e.rev)).size };
  }
}

class DockerObserver {
  readonly startAt = new Map<string, number>();
  readonly dieAt = new Map<string, number>();
  /** When this process received the die event (Docker's event delivery delay = this − dieAt). */
  readonly dieSeenAt = new Map<string, number>();
  /** Called at each start/kill/die event as received. */
  onAction: ((action: string, name: string, id: string) => void) | undefined;
  private stream: Readable | undefined;

  async open(docker: Dockerode): Promise<void> {
    const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['start', 'kill', 'die'] } })) as Readable;
    this.stream = stream;
    let buf = '';
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        const e = JSON.parse(line) as { Action?: string; timeNano?: number; Actor?: { ID?: string; Attributes?: Record<string, string> } };
        const name = e.Actor?.Attributes?.name?.replace(/^\//, '');
        if (!name || typeof e.timeNano !== 'number') continue;
        const at = e.timeNano / 1e6;
        if (e.Action && e.Actor?.ID) this.onAction?.(e.Action, name, e.Actor.ID);
        if (e.Action === 'start') this.startAt.set(name, at);
        else if (e.Action === 'die') {
          this.dieAt.set(name, at);
          this.dieSeenAt.set(name, now());
        }
      }
    });
    stream.on('error', () => undefined);
  }

  close(): void {
    this.stream?.destroy();
  }
}

type LogLine = Record<string, unknown> & { msg?: string; time?: number; service?: string };

/** The register CLI as a child process: its JSON log, parsed as it arrives, and its /proc figures. */
class RegisterProcess {
  readonly lines: LogLine[] = [];
  readonly proc: ChildProcess;
  private readonly exited: Promise<void>;
  private buf = '';
  private stderrTail = '';

  constructor(args: string[]) {
    // BENCH_NODE_ARGS: extra node flags for the register process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    this.proc = spawn('node', [...nodeArgs, ...sidekickArgv(['register', ...args])], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SIDEKICK_LOG_LEVEL: '' } });
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.stderrTail = (this.stderrTail + text).slice(-4000);
      this.buf += text;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line
        }
      }
    });
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  tail(): string {
    return this.stderrTail;
  }

  /** Log time (ms since the epoch, 1 ms resolution) of the first line with this message about this service. */
  logTime(msg: string, match: (l: LogLine) => boolean): number {
    return this.lines.find((l) => l.msg === msg && match(l))?.time ?? NaN;
  }

  /** utime + stime in ms. */
  async cpuMs(): Promise<number> {
    const { user, sys } = await this.cpuSplit();
    return user + sys;
  }

  /** utime and stime (user and kernel CPU time) in ms. */
  async cpuSplit(): Promise<{ user: number; sys: number }> {
    const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: (Number(f[11]) * 1000) / CLK_TCK, sys: (Number(f[12]) * 1000) / CLK_TCK };
  }

  /** VmRSS and VmHWM (peak) in MB. */
  async memMb(): Promise<{ rss: number; peak: number }> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killer);
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The register process's CPU, sampled once a second for `seconds`: % of one core per second. */
async function sampleCpu(reg: RegisterProcess, seconds: number): Promise<{ mean: number; perSecond: number[]; from: number; to: number; sysShare: number }> {
  const perSecond: number[] = [];
  const split0 = await reg.cpuSplit();
  const first = split0.user + split0.sys;
  const from = now();
  let prev = first;
  let prevAt = from;
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    const cpu = await reg.cpuMs();
    const t = now();
    perSecond.push(((cpu - prev) / (t - prevAt)) * 100);
    prev = cpu;
    prevAt = t;
  }
  const split1 = await reg.cpuSplit();
  const used = split1.user + split1.sys - first;
  return { mean: ((prev - first) / (prevAt - from)) * 100, perSecond, from, to: prevAt, sysShare: used > 0 ? (split1.sys - split0.sys) / used : NaN };
}

/** Puts a leaseless key every `everyMs` and times put → this watch's event: etcd's own latency while something else runs. */
function floorProbe(etcd: EtcdHandle, obs: EtcdObserver, key: string, everyMs: number): { stop(): Promise<number[]> } {
  const id = key.split('/').pop() as string;
  const lat: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const t = now();
      await etcd.put(key, String(i));
      const deadline = Date.now() + 10_000;
      while (!obs.events.some((e) => e.id === id && e.type === 'put' && e.at >= t) && Date.now() < deadline) await sleep(1);
      const seen = obs.events.findLast((e) => e.id === id && e.type === 'put');
      if (seen && seen.at >= t) lat.push(seen.at - t);
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await etcd.del(key);
      return lat;
    },
  };
}

// ---- the table ----

interface Row {
  figure: string;
  measured: string;
  target: string;
  ratio: string;
  verdict: string;
}
const rows: Row[] = [];
function row(figure: string, value: number, target: number | undefined, unit: 'ms' | '%' | 'MB' | '', text?: string): void {
  const shown = text ?? (unit === 'ms' ? fmt(value) : `${value.toFixed(unit === '%' ? 2 : 0)}${unit === '' ? '' : ` ${unit}`}`);
  const t = target === undefined ? '' : unit === 'ms' ? `≤ ${fmt(target)}` : `≤ ${target} ${unit}`.trim();
  const ratio = target === undefined || !Number.isFinite(value) ? '' : `${(value / target).toFixed(2)}×`;
  const verdict = target === undefined ? '' : !Number.isFinite(value) ? 'n/a' : value <= target ? 'ok' : 'MISSED';
  rows.push({ figure, measured: shown, target: t, ratio, verdict });
}
function printTable(): void {
  const head: Row = { figure: 'figure', measured: 'measured', target: 'target', ratio: 'ratio', verdict: 'verdict' };
  const all = [head, ...rows];
  const w = (k: keyof Row): number => Math.max(...all.map((r) => r[k].length));
  const line = (r: Row): string =>
    `${r.figure.padEnd(w('figure'))}  ${r.measured.padStart(w('measured'))}  ${r.target.padEnd(w('target'))}  ${r.ratio.padStart(w('ratio'))}  ${r.verdict}`;
  console.log('');
  console.log(line(head));
  console.log('-'.repeat(line(head).length));
  for (const r of rows) console.log(line(r));
}

// ---- phases ----

interface Ctx {
  docker: Dockerode;
  etcd: EtcdHandle;
  etcdObs: EtcdObserver;
  dockerObs: DockerObserver;
  reg: RegisterProcess;
}

interface Created {
  id: string;
  name: string;
  port: number;
}

async function create(ctx: Ctx, name: string, port: number, check: boolean): Promise<Created> {
  const { id } = await runContainer(ctx.docker, { name, cmd: httpdCmd(port), labels: labels(port, check), start: false, stopTimeoutS: 1 });
  return { id, name, port };
}

/** Sequential containers: start → key visible, with the breakdown. */
async function sequential(ctx: Ctx, ports: number[], check: boolean): Promise<Created[]> {
  const kind = check ? 'http check' : 'no check';
  const made: Created[] = [];
  const total: number[] = [];
  const minusCheck: number[] = [];
  const notReady: number[] = [];
  const toPass: number[] = [];
  const waitAttempt: number[] = [];
  const checkOwn: number[] = [];
  const pastPass: number[] = [];
  const startCall: number[] = [];
  let retried = 0;
  for (let i = 0; i < ports.length; i++) {
    const port = ports[i] as number;
    const c = await create(ctx, `${check ? 'seq' : 'plain'}-${i}`, port, check);
    made.push(c);
    const id = instanceId(c.name, port);
    const ready = listeningAt(port, 15_000);
    const called = now();
    await ctx.docker.getContainer(c.id).start();
    startCall.push(now() - called);
    await waitFor(`key of ${c.name}`, () => ctx.etcdObs.firstPut.has(id), 15_000);
    const put = ctx.etcdObs.firstPut.get(id) as number;
    const readyAt = await ready;
    await waitFor(`docker start event of ${c.name}`, () => ctx.dockerObs.startAt.has(c.name), 5000);
    const started = ctx.dockerObs.startAt.get(c.name) as number;
    const samples: number[] = [];
    for (let k = 0; k < 5; k++) samples.push(await httpCheckMs(port));
    const own = check ? pct(samples, 50) : 0;
    total.push(put - started);
    minusCheck.push(put - started - own);
    notReady.push(Math.max(0, readyAt - started));
    if (check) {
      await waitFor(`'health check passing' of ${c.name}`, () => Number.isFinite(ctx.reg.logTime('health check passing', (l) => String(l.service).includes(id))), 2000);
      const passed = ctx.reg.logTime('health check passing', (l) => String(l.service).includes(id));
      toPass.push(passed - started);
      // After the service listens: the wait for the attempt that passes, then the attempt itself.
      waitAttempt.push(Math.max(0, passed - Math.max(readyAt, started) - own));
      checkOwn.push(own);
      pastPass.push(put - passed);
      if (passed - started > 500) retried++;
    } else {
      const registered = ctx.reg.logTime('registered', (l) => l.service === id);
      toPass.push(registered - started);
      pastPass.push(put - registered);
    }
  }
  console.log(`\n${at()} [start → key visible, ${kind}] ${ports.length} containers, one at a time (start = Docker's 'start' event time)`);
  console.log(`  docker start call (API round trip):            ${dist(startCall)}`);
  console.log(`  start → key PUT seen by a watch:               ${dist(total)}`);
  console.log(`  service not listening yet (start → accepts):   ${dist(notReady)}`);
  if (check) {
    console.log(`  start → 'health check passing' (log, 1 ms):    ${dist(toPass)}   (${retried}/${ports.length} needed the 1 s startup retry)`);
    console.log(`  after listening: wait for the passing attempt: ${dist(waitAttempt)}   (first attempt spread ≤ 100 ms; retry every 1 s)`);
    console.log(`  the check's own time (same GET from here):     ${dist(checkOwn)}`);
    console.log(`  passing check (log) → key PUT seen:            ${dist(pastPass)}   (target ≤ 50 ms)`);
    console.log(`  start → key visible − check's own time:        ${dist(minusCheck)}`);
    row('start → visible − check time, p50 (http check)', pct(minusCheck, 50), undefined, 'ms');
    row('start → visible − check time, p95 (http check)', pct(minusCheck, 95), undefined, 'ms');
    row('  of which service not listening yet, p50', pct(notReady, 50), undefined, 'ms');
    row('passing check → key visible, p50', pct(pastPass, 50), 50, 'ms');
    row('passing check → key visible, p95', pct(pastPass, 95), 50, 'ms');
  } else {
    console.log(`  start → 'registered' (log, 1 ms):              ${dist(toPass)}   (event delivery + inspect)`);
    console.log(`  'registered' (log) → key PUT seen:             ${dist(pastPass)}   (batch + txn + watch)`);
    row('start → visible, p50 (no check: all sidekick)', pct(total, 50), 50, 'ms');
    row('start → visible, p95 (no check: all sidekick)', pct(total, 95), 50, 'ms');
  }
  return made;
}

/** Kills containers one at a time: Docker's 'die' event → key DELETE seen. */
async function dieOneByOne(ctx: Ctx, containers: Created[]): Promise<void> {
  const lat: number[] = [];
  const fromCall: number[] = [];
  const toLog: number[] = [];
  const logToDel: number[] = [];
  const delivery: number[] = [];
  for (const c of containers) {
    const id = instanceId(c.name, c.port);
    const called = now();
    await ctx.docker.getContainer(c.id).kill();
    await waitFor(`delete of ${c.name}`, () => ctx.etcdObs.lastDelete.has(id), 15_000);
    await waitFor(`docker die event of ${c.name}`, () => ctx.dockerObs.dieAt.has(c.name), 5000);
    const del = ctx.etcdObs.lastDelete.get(id) as number;
    const died = ctx.dockerObs.dieAt.get(c.name) as number;
    const deregistered = ctx.reg.logTime('deregistered', (l) => l.service === id);
    lat.push(del - died);
    fromCall.push(del - called);
    toLog.push(deregistered - died);
    delivery.push((ctx.dockerObs.dieSeenAt.get(c.name) as number) - died);
    logToDel.push(del - deregistered);
  }
  console.log(`\n${at()} [die → key deleted] ${containers.length} containers killed one at a time`);
  console.log(`  Docker 'die' event → key DELETE seen:          ${dist(lat)}`);
  console.log(`  docker kill call → key DELETE seen:            ${dist(fromCall)}`);
  console.log(`  'die' event → 'deregistered' (log, 1 ms):      ${dist(toLog)}   (event delivery + inspect)`);
  console.log(`    Docker's delivery of 'die' (to this process): ${dist(delivery)}`);
  console.log(`  'deregistered' (log) → key DELETE seen:        ${dist(logToDel)}   (batch + txn + watch)`);
  row('die → key deleted, p50', pct(lat, 50), 100, 'ms');
  row('die → key deleted, p95', pct(lat, 95), 100, 'ms');
}

/** BURST containers started together (bounded concurrency); time until all registered, and the etcd writes. */
async function burst(ctx: Ctx, ports: number[]): Promise<Created[]> {
  const t0 = now();
  const made = await pool(ports, CREATE_CONCURRENCY, (port, i) => create(ctx, `burst-${i}`, port, true));
  const created = now();
  console.log(`\n${at()} [burst] ${ports.length} containers (http check, 10 s interval): created in ${fmt(created - t0)} (${CREATE_CONCURRENCY} at a time, not timed below)`);
  const ids = new Set(made.map((c) => instanceId(c.name, c.port)));
  const fromIdx = ctx.etcdObs.events.length;
  const cpu0 = await ctx.reg.cpuMs();
  const probe = floorProbe(ctx.etcd, ctx.etcdObs, `${PREFIX}_floor/burst`, 50);
  const s0 = now();
  await pool(made, START_CONCURRENCY, (c) => ctx.docker.getContainer(c.id).start());
  const startsDone = now();
  await waitFor('every burst key', () => [...ids].every((id) => ctx.etcdObs.firstPut.has(id)), 120_000, 10);
  const allVisible = Math.max(...[...ids].map((id) => ctx.etcdObs.firstPut.get(id) as number));
  await waitFor('every start event', () => made.every((c) => ctx.dockerObs.startAt.has(c.name)), 5000);
  const starts = made.map((c) => ctx.dockerObs.startAt.get(c.name) as number);
  const firstStart = Math.min(...starts);
  const lastStart = Math.max(...starts);
  const perContainer = made.map((c) => (ctx.etcdObs.firstPut.get(instanceId(c.name, c.port)) as number) - (ctx.dockerObs.startAt.get(c.name) as number));
  const cpu1 = await ctx.reg.cpuMs();
  const floor = await probe.stop();
  const w = ctx.etcdObs.writes(fromIdx, 'put', ids);
  const allWatch = ctx.etcdObs.events.slice(fromIdx);
  const passed = made.map((c) => ctx.reg.logTime('health check passing', (l) => String(l.service).includes(instanceId(c.name, c.port))));
  const retried = made.filter((c, i) => (passed[i] as number) - (ctx.dockerObs.startAt.get(c.name) as number) > 500).length;
  const pastPass = made.map((c, i) => (ctx.etcdObs.firstPut.get(instanceId(c.name, c.port)) as number) - (passed[i] as number));
  const toPass = made.map((c, i) => (passed[i] as number) - (ctx.dockerObs.startAt.get(c.name) as number));
  console.log(`  Docker started them (${START_CONCURRENCY} start calls at a time): first start call → all start calls returned ${fmt(startsDone - s0)}; 'start' events spread over ${fmt(lastStart - firstStart)}`);
  console.log(`  first start call → all ${ports.length} keys visible:  ${fmt(allVisible - s0)}`);
  console.log(`  last 'start' event → all keys visible:        ${fmt(allVisible - lastStart)}`);
  console.log(`  per container, start → key visible:           ${dist(perContainer)}   (${retried}/${ports.length} needed the 1 s startup retry)`);
  console.log(`  per container, start → 'health check passing': ${dist(toPass)}`);
  console.log(`  per container, passing check → key visible:   ${dist(pastPass)}`);
  console.log(`  meanwhile, etcd floor (put → watch, every 50 ms): ${dist(floor)}   (n=${floor.length})`);
  console.log(`  etcd writes: ${w.ops} puts of burst keys in ${w.txns} transactions (distinct revisions); ${allWatch.length} watch events in all, ${new Set(allWatch.map((e) => e.rev)).size} revisions`);
  console.log(`  register CPU during the burst: ${fmt(cpu1 - cpu0)} of CPU time`);
  // The target bounds each container's wait (its first check may come up to an interval after its start). From the
  // first start call it would bound dockerd instead, which alone spreads 200 starts over ~15 s on 2 cores.
  row(`burst ${ports.length}: first start call → all visible (Docker's start time included)`, allVisible - s0, undefined, 'ms');
  row(`  of which Docker's own 'start' events spread`, lastStart - firstStart, undefined, 'ms');
  row(`burst ${ports.length}: last start event → all visible`, allVisible - lastStart, CHECK_INTERVAL_MS + 2000, 'ms');
  row(`burst ${ports.length}: start → visible, worst container`, Math.max(...perContainer), CHECK_INTERVAL_MS + 2000, 'ms');
  row(`burst ${ports.length}: etcd transactions (puts)`, w.txns, undefined, '', `${w.txns} txns (${w.ops} puts)`);
  return made;
}

/** Kills the containers not kept, all at once; then samples idle CPU and memory with `keep` registered. */
async function massDieThenIdle(ctx: Ctx, burstMade: Created[], keep: number, registerStartedAt: number): Promise<void> {
  const drop = burstMade.slice(keep);
  if (drop.length > 0) {
    const ids = new Set(drop.map((c) => instanceId(c.name, c.port)));
    const fromIdx = ctx.etcdObs.events.length;
    const probe = floorProbe(ctx.etcd, ctx.etcdObs, `${PREFIX}_floor/die`, 50);
    // Meanwhile: how long dockerd takes to answer an inspect (of a container that stays up), as sidekick does per event.
    const inspectLat: number[] = [];
    let probing = true;
    const inspectProbe = (async () => {
      const kept = burstMade[0] as Created;
      while (probing) {
        const t = now();
        await ctx.docker.getContainer(kept.id).inspect();
        inspectLat.push(now() - t);
        await sleep(50);
      }
    })();
    // And what sidekick does at each event: inspect the container the event is about (sampled: every 4th one).
    const sampled = new Set(drop.filter((_, i) => i % 4 === 0).map((c) => c.name));
    const inspectAt: Record<string, number[]> = { kill: [], die: [] };
    const eventInspects: Promise<void>[] = [];
    ctx.dockerObs.onAction = (action, name, id) => {
      const into = inspectAt[action];
      if (!into || !sampled.has(name)) return;
      const t = now();
      eventInspects.push(ctx.docker.getContainer(id).inspect().then(() => void into.push(now() - t), () => undefined));
    };
    const t0 = now();
    await pool(drop, START_CONCURRENCY, (c) => ctx.docker.getContainer(c.id).kill());
    const killed = now();
    await waitFor('every dropped key deleted', () => [...ids].every((id) => ctx.etcdObs.lastDelete.has(id)), 30_000, 10);
    const lastDel = Math.max(...[...ids].map((id) => ctx.etcdObs.lastDelete.get(id) as number));
    const dies = drop.map((c) => ctx.dockerObs.dieAt.get(c.name) ?? NaN);
    const perContainer = drop.map((c) => (ctx.etcdObs.lastDelete.get(instanceId(c.name, c.port)) as number) - (ctx.dockerObs.dieAt.get(c.name) ?? NaN));
    const floor = await probe.stop();
    probing = false;
    await inspectProbe;
    ctx.dockerObs.onAction = undefined;
    await Promise.all(eventInspects);
    const delivery = drop.map((c) => (ctx.dockerObs.dieSeenAt.get(c.name) ?? NaN) - (ctx.dockerObs.dieAt.get(c.name) ?? NaN));
    const w = ctx.etcdObs.writes(fromIdx, 'delete', ids);
    const dereg = drop.map((c) => ctx.reg.logTime('deregistered', (l) => l.service === instanceId(c.name, c.port)));
    const toLog = drop.map((c, i) => (dereg[i] as number) - (ctx.dockerObs.dieAt.get(c.name) ?? NaN));
    const logToDel = drop.map((c, i) => (ctx.etcdObs.lastDelete.get(instanceId(c.name, c.port)) as number) - (dereg[i] as number));
    console.log(`\n${at()} [mass die] ${drop.length} burst containers killed together: kill calls took ${fmt(killed - t0)}; last die event → all deleted ${fmt(lastDel - Math.max(...dies))}`);
    console.log(`  per container, die → key deleted:             ${dist(perContainer)}`);
    console.log(`  per container, 'die' → 'deregistered' (log):   ${dist(toLog)}   (event delivery + inspect)`);
    console.log(`    Docker's delivery of 'die' (to this process): ${dist(delivery)}`);
    console.log(`    dockerd inspect round trip meanwhile:        ${dist(inspectLat)}   (n=${inspectLat.length}; a container left running)`);
    console.log(`    inspect of the container, sent at its 'kill': ${dist(inspectAt.kill as number[])}   (n=${(inspectAt.kill as number[]).length})`);
    console.log(`    inspect of the container, sent at its 'die':  ${dist(inspectAt.die as number[])}   (n=${(inspectAt.die as number[]).length})`);
    console.log(`  per container, 'deregistered' → DELETE seen:  ${dist(logToDel)}   (batch + txn + watch)`);
    console.log(`  meanwhile, etcd floor (put → watch, every 50 ms): ${dist(floor)}   (n=${floor.length})`);
    console.log(`  etcd writes: ${w.ops} deletes in ${w.txns} transactions`);
    row(`mass die ${drop.length}: die → deleted, p50`, pct(perContainer, 50), 100, 'ms');
    row(`mass die ${drop.length}: die → deleted, p95`, pct(perContainer, 95), 100, 'ms');
  }
  await idle(ctx, registerStartedAt, 'http');
}

/** Ids registered now, per the watch. */
function registeredIds(ctx: Ctx): Set<string> {
  const registered = new Set(ctx.etcdObs.events.filter((e) => e.type === 'put' && e.id.startsWith(`${NODE}:`)).map((e) => e.id));
  for (const e of ctx.etcdObs.events) if (e.type === 'delete') registered.delete(e.id);
  return registered;
}

/** Samples idle CPU and memory of register with what is registered now, all on `kind` checks. */
async function idle(ctx: Ctx, registerStartedAt: number, kind: 'http' | 'https'): Promise<void> {
  const registered = registeredIds(ctx);
  await sleep(2000);
  const fromIdx = ctx.etcdObs.events.length;
  const cpu = await sampleCpu(ctx.reg, IDLE_SECONDS);
  const samples = cpu.perSecond;
  const [tStart, tEnd, total] = [cpu.from, cpu.to, cpu.mean];
  const mem = await ctx.reg.memMb();
  const writes = ctx.etcdObs.events.length - fromIdx;
  // --resync 60s: the timer fires every 60 s after the daemon starts (the 'registering Docker services' log line).
  const resyncs: number[] = [];
  for (let t = registerStartedAt + 60_000; t < tEnd; t += 60_000) if (t >= tStart) resyncs.push(t);
  console.log(`\n${at()} [idle, ${kind} checks] ${registered.size} keys registered (per the watch), ${IDLE_SECONDS} s sampled once a second`);
  console.log(`  CPU of the register process: mean ${total.toFixed(2)} % of one core (${(cpu.sysShare * 100).toFixed(0)} % of it in the kernel); per second: ${samples.map((x) => x.toFixed(1)).join(' ')}`);
  const checksPerSecond = registered.size / (CHECK_INTERVAL_MS / 1000);
  console.log(`  ≈ ${((total * 10) / checksPerSecond).toFixed(2)} ms of CPU per check at ${checksPerSecond.toFixed(0)} checks/s (each a new loopback ${kind === 'https' ? 'TLS connection (session resumed)' : 'TCP connection'} + GET)`);
  console.log(`  ${resyncs.length > 0 ? `the window includes the 60 s resync at +${((resyncs[0] as number) - tStart) / 1000 | 0} s (list + inspect every container + read etcd)` : 'no resync fell in the window'}; etcd writes during the window: ${writes}`);
  console.log(`  RSS ${mem.rss.toFixed(1)} MB, peak (VmHWM) ${mem.peak.toFixed(1)} MB`);
  row(`idle CPU, ${registered.size} services on 10 s ${kind} checks (mean; "near zero" read as ≤ 1 %)`, total, IDLE_CPU_TARGET, '%');
  row('  idle CPU, busiest second', Math.max(...samples), undefined, '%');
  // The seconds a resync ran in (and the one after, where it may spill) left out: the checks and the lease alone.
  const resyncSeconds = new Set(resyncs.flatMap((t) => [Math.floor((t - tStart) / 1000), Math.floor((t - tStart) / 1000) + 1]));
  const quiet = samples.filter((_, i) => !resyncSeconds.has(i));
  if (resyncs.length > 0 && quiet.length > 0) row('  idle CPU, resync seconds left out', quiet.reduce((a, b) => a + b, 0) / quiet.length, undefined, '%');
  row(`RSS of \`sidekick register\` (idle, ${kind} checks)`, mem.rss, RSS_TARGET_MB, 'MB');
  // The RSS target is for the idle figure; the peak includes the 200-container burst and start-up garbage that V8
  // returns a few seconds later.
  row('RSS peak (VmHWM, whole run: start-up and the burst included)', mem.peak, undefined, 'MB');
}

/**
 * Removes every container, then registers `n` whose SERVICE_CHECK_HTTPS goes to TLS servers of the bench's own (one
 * per port, a throw-away certificate, verification skipped) and samples idle CPU and memory with them.
 */
async function httpsIdle(ctx: Ctx, n: number, registerStartedAt: number): Promise<void> {
  const all = await ctx.docker.listContainers({ all: true });
  await pool(all, START_CONCURRENCY, (c) => ctx.docker.getContainer(c.Id).remove({ force: true }));
  await waitFor('every key deleted', () => registeredIds(ctx).size === 0, 30_000, 10);
  const { dir, cleanup } = await tempDir('sidekick-bench-tls-');
  const servers: HttpsServer[] = [];
  try {
    const cert = await issueCert(dir, await makeCa(dir), 'server', ['IP:127.0.0.1']);
    const tls = { cert: await readFile(cert.cert), key: await readFile(cert.key) };
    const ports = await freePorts(n);
    for (const port of ports) {
      const server = createHttpsServer(tls, (_req, res) => res.end('ok'));
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      servers.push(server);
    }
    const labels = (port: number) => ({ [`SERVICE_${port}_NAME`]: 'tls', SERVICE_CHECK_HTTPS: '/', SERVICE_CHECK_TLS_SKIP_VERIFY: 'true' });
    const t0 = now();
    await pool(ports, CREATE_CONCURRENCY, (port, i) => runContainer(ctx.docker, { name: `tls-${i}`, cmd: ['sleep', '3600'], labels: labels(port), stopTimeoutS: 1 }));
    await waitFor(`${n} https-checked services registered`, () => registeredIds(ctx).size >= n, 60_000, 50);
    console.log(`\n${at()} [https] ${n} containers with SERVICE_CHECK_HTTPS registered ${fmt(now() - t0)} after the first create`);
    await idle(ctx, registerStartedAt, 'https');
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await cleanup();
  }
}

// ---- main ----

async function main(): Promise<void> {
  let dockerd: DockerdHandle | undefined;
  let etcd: EtcdHandle | undefined;
  let reg: RegisterProcess | undefined;
  const dockerObs = new DockerObserver();
  let watchClient: ReturnType<typeof testClient> | undefined;
  let watcher: Watcher | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      dockerObs.close();
      await reg?.stop().catch(() => undefined);
      // Cancel first: a watch whose client closes under it keeps retrying (etcd3's WatchManager) and the process never exits.
      await watcher?.cancel().catch(() => undefined);
      watchClient?.close();
      await dockerd?.cleanup().catch((err: unknown) => console.error('dockerd cleanup failed:', err));
      await etcd?.cleanup().catch((err: unknown) => console.error('etcd cleanup failed:', err));
    })());
  const onSignal = (): void => {
    console.error('\ninterrupted; cleaning up…');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const benchStart = now();
  try {
    const t0 = now();
    [dockerd, etcd] = await Promise.all([startDockerd(), startEtcd()]);
    await ensureBusyboxImage(dockerd.docker);
    const info = (await dockerd.docker.info()) as { Driver?: string; ServerVersion?: string };
    console.log(`dockerd ${info.ServerVersion ?? '?'} (${info.Driver ?? '?'}) and etcd up, busybox image ready: ${fmt(now() - t0)}`);

    const etcdObs = new EtcdObserver();
    watchClient = testClient(etcd.endpoint);
    watcher = await watchClient.watch().prefix(PREFIX).create();
    watcher.on('put', (kv) => etcdObs.record('put', kv.key, kv.mod_revision));
    watcher.on('delete', (kv) => etcdObs.record('delete', kv.key, kv.mod_revision));
    await dockerObs.open(dockerd.docker);

    reg = new RegisterProcess([
      '--docker', dockerd.address,
      '--etcd', etcd.endpoint,
      '--ip', '127.0.0.1',
      '--node-name', NODE,
      '--log-level', 'info',
    ]);
    const r = reg;
    await waitFor('register to watch Docker and hold a lease', () =>
      r.lines.some((l) => l.msg === 'watching docker container events') && r.lines.some((l) => l.msg === 'etcd lease granted'), 20_000, 10)
      .catch((err: unknown) => {
        throw new Error(`${String(err)}\nregister stderr:\n${r.tail()}`);
      });
    const registerStartedAt = r.lines.find((l) => l.msg === 'registering Docker services')?.time ?? now();
    const memStart = await r.memMb();
    console.log(`register running (pid ${r.pid}), RSS at start ${memStart.rss.toFixed(1)} MB; log level info (JSON on a pipe)`);
    row('RSS of `sidekick register` at start, nothing registered', memStart.rss, RSS_TARGET_MB, 'MB');
    const ctx: Ctx = { docker: dockerd.docker, etcd, etcdObs, dockerObs, reg: r };

    // Floor: a plain put from here → the same watch sees it (etcd commit + watch delivery, no sidekick).
    const floor: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = now();
      await etcd.put(`${PREFIX}_floor/x`, String(i));
      await waitFor('floor put', () => etcdObs.events.some((e) => e.id === 'x' && e.at >= t && e.type === 'put'), 5000, 1);
      floor.push((etcdObs.events.findLast((e) => e.id === 'x') as KeyEvent).at - t);
    }
    await etcd.del(`${PREFIX}_floor/x`);
    console.log(`etcd floor, put → watch event here: ${dist(floor)}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
    const base = await sampleCpu(r, 8);
    console.log(`register with nothing to do (lease keepalive, event stream): ${base.mean.toFixed(2)} % of one core over 8 s`);
    row('idle CPU, nothing registered (baseline)', base.mean, undefined, '%');

    const ports = await freePorts(2 * SEQ + BURST);
    const seq = await sequential(ctx, ports.slice(0, SEQ), true);
    const plain = await sequential(ctx, ports.slice(SEQ, 2 * SEQ), false);
    await dieOneByOne(ctx, [...seq, ...plain]);
    await pool([...seq, ...plain], START_CONCURRENCY, (c) => ctx.docker.getContainer(c.id).remove({ force: true }));
    const burstMade = await burst(ctx, ports.slice(2 * SEQ, 2 * SEQ + BURST));
    await massDieThenIdle(ctx, burstMade, Math.min(IDLE_KEEP, burstMade.length), registerStartedAt);
    if (HTTPS_KEEP > 0) await httpsIdle(ctx, HTTPS_KEEP, registerStartedAt);

    const warnings = r.lines.filter((l) => typeof l.level === 'number' && l.level >= 40);
    console.log(`\nregister logged ${r.lines.length} lines, ${warnings.length} at warn or above`);
    for (const l of warnings.slice(0, 10)) console.log(`  ${at(l.time)}  ${l.msg} ${l.service ?? ''} ${l.detail ?? ''} ${l.failures ?? ''}`);
    if (process.env.BENCH_LOG) await writeFile(process.env.BENCH_LOG, r.lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    if (!r.running) throw new Error(`register exited early:\n${r.tail()}`);
    printTable();
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    console.log(`\nbench took ${fmt(now() - benchStart)} (cleanup included)`);
  }
}

await main();

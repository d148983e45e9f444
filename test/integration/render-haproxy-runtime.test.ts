// sidekick render with haproxy_socket against a real etcd and a real haproxy (master-worker, master CLI, stats
// socket level admin): membership changes go through the runtime API without a reload, anything else reloads.
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { get, type IncomingMessage } from 'node:http';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compareLive, liveServers } from '../../src/apply/haproxy-runtime.js';
import type { RenderConfig } from '../../src/config/types.js';
import { RenderDaemon } from '../../src/daemon/render-daemon.js';
import { startBackend, type Backend } from '../support/backends.js';
import { etcdRenderConfig } from '../support/config.js';
import { startEtcd, testClient, type EtcdHandle } from '../support/etcd.js';
import { captureLogger } from '../support/logs.js';
import { freePort } from '../support/ports.js';
import { haproxyAdminSocket, haproxyGeneration, startHaproxy, waitFor, type HaproxyHandle } from '../support/procs.js';
import { tempDir } from '../support/tmp.js';

const CHANGES = 100;
let etcd: EtcdHandle;
let client: ReturnType<typeof testClient>;
let dir: string;
let cleanup: () => Promise<void>;
let haproxy: HaproxyHandle;
let pool: Backend[];
let port: number;
let daemon: RenderDaemon;
let streamServer: Server;
let streamRes: ServerResponse | undefined;
const logs = captureLogger();

const record = (id: string, b: Backend): string => JSON.stringify({ name: 'web', id, host: '127.0.0.1', port: b.port, tags: [], meta: {} });
const dest = (): string => join(dir, 'haproxy.cfg');
const generation = () => haproxyGeneration(haproxy.masterSocket as string, haproxyAdminSocket(dir));
const target = () => ({ socket: haproxyAdminSocket(dir), where: 'test', timeoutMs: 2000 });

function config(withHaproxy: boolean): RenderConfig {
  return etcdRenderConfig(etcd.endpoint, dir, [
    {
      name: 'haproxy.toml',
      origin: join(dir, 'haproxy.toml'),
      src: join(dir, 'haproxy.cfg.tmpl'),
      dest: dest(),
      keys: ['/services/web', '/config'],
      prefix: '',
      commandTimeoutMs: 5000,
      minEndpoints: 0,
      // haproxy -c, held while the file `hold` exists (until `go` does) and refused while `refuse` exists.
      checkCmd: `test ! -e ${join(dir, 'refuse')} && { test ! -e ${join(dir, 'hold')} || until test -e ${join(dir, 'go')}; do sleep 0.02; done; } && /usr/sbin/haproxy -c -q -f {{.src}}`,
      ...(withHaproxy && { reloadSignal: { signal: 'SIGUSR2' as const, pidFile: join(dir, 'haproxy.pid') }, haproxySocket: haproxyAdminSocket(dir) }),
    },
  ]);
}

/** A GET through haproxy: which server answered (x-server) and what it said. */
async function through(path = '/'): Promise<{ server: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(2000) });
  return { server: res.headers.get('x-server') ?? '', body: (await res.text()).trim() };
}

/** Replaces server `from` by `to` in one etcd transaction: one change, one render. */
async function replace(from: string | undefined, to: string, b: Backend): Promise<void> {
  const ops = [client.put(`/services/web/${to}`).value(record(to, b)), ...(from ? [client.delete().key(`/services/web/${from}`)] : [])];
  await client.if(`/services/web/${to}`, 'Version', '>', -1).then(...ops).else(...ops).commit();
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  etcd = await startEtcd();
  client = testClient(etcd.endpoint);
  pool = await Promise.all(['p0', 'p1', 'p2', 'p3'].map((n) => startBackend(n)));
  streamServer = createServer((_req, res) => {
    streamRes = res;
    res.writeHead(200, { 'content-type': 'text/plain' });
    const tick = setInterval(() => res.write('.'), 50);
    res.on('close', () => clearInterval(tick));
  });
  await new Promise<void>((r) => streamServer.listen(0, '127.0.0.1', r));
  port = await freePort();
  process.env.HAPROXY_PORT = String(port);
  process.env.HAPROXY_ADMIN_SOCKET = haproxyAdminSocket(dir);
  process.env.STREAM_PORT = String((streamServer.address() as { port: number }).port);
  await copyFile(join(import.meta.dirname, '../fixtures/templates/haproxy-runtime.cfg.tmpl'), join(dir, 'haproxy.cfg.tmpl'));
  await replace(undefined, 's0', pool[0] as Backend);
  const first = new RenderDaemon({ config: config(false), log: logs.log });
  await first.start();
  await first.renderAll();
  await first.close();
  haproxy = await startHaproxy(dir, dest(), { master: true });
  daemon = new RenderDaemon({ config: config(true), log: logs.log });
  await daemon.start();
  await daemon.renderAll();
  daemon.follow();
});

afterAll(async () => {
  if (process.env.DEBUG_LOGS) console.log(logs.text());
  streamRes?.destroy();
  await daemon?.close();
  await haproxy?.stop();
  await new Promise((r) => streamServer?.close(r));
  client?.close();
  await Promise.all((pool ?? []).map((b) => b.close()));
  await etcd?.cleanup();
  await cleanup?.();
});

it(`${CHANGES} membership changes reach traffic with no reload, and a streaming response to an unchanged server survives them`, async () => {
  await waitFor(async () => (await through()).server === 's0');
  // A slow streaming response through the unchanged `stream` backend, open for the whole run.
  let received = 0;
  let ended = false;
  const response = await new Promise<IncomingMessage>((resolve, reject) => get(`http://127.0.0.1:${port}/stream`, resolve).on('error', reject));
  response.on('data', (d: Buffer) => (received += d.length));
  response.on('close', () => (ended = true));
  await waitFor(() => received > 0);
  const before = await generation();
  const started = performance.now();
  for (let i = 1; i <= CHANGES; i++) {
    const b = pool[i % pool.length] as Backend;
    await replace(`s${i - 1}`, `s${i}`, b);
    // Fresh connections until the new server answers: it is in the running haproxy, at its address.
    await waitFor(async () => {
      const r = await through();
      return r.server === `s${i}` && r.body === b.name;
    }, 5000, 5);
  }
  const elapsed = performance.now() - started;
  await daemon.idle();
  expect(await generation()).toEqual(before);
  expect(logs.lines.filter((l) => l.msg === 'reloaded')).toHaveLength(0);
  expect(logs.lines.filter((l) => l.msg === 'applied through the haproxy runtime API, no reload').length).toBeGreaterThanOrEqual(CHANGES);
  expect(compareLive(await readFile(dest(), 'utf8'), await liveServers(target()), new Set())).toEqual([]);
  const streamed = received;
  await waitFor(() => received > streamed);
  expect(ended).toBe(false);
  response.destroy();
  if (process.env.DEBUG_LOGS) console.log(`${CHANGES} changes in ${Math.round(elapsed)} ms`);
  // Each change is a render pass with its haproxy -c (about 0.1 s each, more on a loaded machine): 100 of them.
}, 180_000);

it('a removed server is drained: a request in flight on it completes, then it is deleted, still without a reload', async () => {
  // Answers after 400 ms and keeps its connections alive, so haproxy also holds an idle connection to it.
  let arrived = 0;
  const slow = createServer((_req, res) => {
    arrived++;
    setTimeout(() => res.end('slow\n'), 400);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const slowBackend: Backend = { name: 'slow', port: (slow.address() as { port: number }).port, close: async () => undefined };
  try {
    const current = (await liveServers(target())).find((x) => x.backend === 'web')?.name;
    await replace(current, 'slow', slowBackend);
    await waitFor(async () => (await through()).server === 'slow');
    const before = await generation();
    const seen = arrived;
    const inFlight = through();
    await waitFor(() => arrived > seen);
    await replace('slow', 'after', pool[1] as Backend);
    expect(await inFlight).toEqual({ server: 'slow', body: 'slow' });
    await waitFor(async () => (await through()).server === 'after');
    await daemon.idle();
    expect(await generation()).toEqual(before);
    const drained = logs.lines.filter((l) => l.msg === 'applied through the haproxy runtime API, no reload').at(-1);
    expect(drained).toMatchObject({ added: 1, removed: 1 });
    expect(Number(drained?.ms)).toBeGreaterThan(100);
    expect(compareLive(await readFile(dest(), 'utf8'), await liveServers(target()), new Set())).toEqual([]);
  } finally {
    slow.closeAllConnections();
    await new Promise((r) => slow.close(r));
  }
});

/** srv_admin_state's forced-drain bit (`set server … state drain`). */
const DRAIN = 0x08;
/** The server of backend `web` haproxy runs now. */
const webServer = async (): Promise<string> => (await liveServers(target())).find((x) => x.backend === 'web')?.name as string;
const fileAndLiveAgree = async (): Promise<string[]> => compareLive(await readFile(dest(), 'utf8'), await liveServers(target()), new Set());

it('a new server takes all new traffic while check_cmd still runs: the old one drains from the start, is deleted after the swap', async () => {
  const current = await webServer();
  const before = await generation();
  await writeFile(join(dir, 'hold'), '');
  try {
    await replace(current, 'early', pool[2] as Backend);
    await waitFor(async () => (await through()).server === 'early', 4000, 5);
    // The check is held: the file is the old one, and the old server still runs beside the new, draining (admin
    // state bit 0x08): every fresh connection goes to the new one.
    expect(await readFile(dest(), 'utf8')).not.toContain('early');
    const web = (await liveServers(target())).filter((x) => x.backend === 'web');
    expect(web.map((x) => x.name).sort()).toEqual(['early', current].sort());
    expect((web.find((x) => x.name === current)?.admin ?? 0) & DRAIN).toBe(DRAIN);
    for (let i = 0; i < 10; i++) expect((await through()).server).toBe('early');
    await writeFile(join(dir, 'go'), '');
    await waitFor(async () => (await readFile(dest(), 'utf8')).includes('early'), 10_000);
    await daemon.idle();
  } finally {
    await rm(join(dir, 'hold'), { force: true });
    await rm(join(dir, 'go'), { force: true });
  }
  expect(await generation()).toEqual(before);
  expect(await fileAndLiveAgree()).toEqual([]);
  expect(await webServer()).toBe('early');
});

it('a new file that fails check_cmd is undone on the running haproxy too: its servers are the live file\'s again, no reload', async () => {
  const current = await webServer();
  const before = await generation();
  const file = await readFile(dest(), 'utf8');
  await writeFile(join(dir, 'refuse'), '');
  try {
    await replace(current, 'refused', pool[3] as Backend);
    await waitFor(() => logs.lines.some((l) => l.msg === "runtime changes undone: the running servers are the live file's again"), 10_000);
    await daemon.idle();
    expect(await readFile(dest(), 'utf8')).toBe(file);
    expect(await fileAndLiveAgree()).toEqual([]);
    expect(await webServer()).toBe(current);
    expect(((await liveServers(target())).find((x) => x.name === current)?.admin ?? DRAIN) & DRAIN).toBe(0);
    expect((await through()).server).toBe(current);
    expect(await generation()).toEqual(before);
    expect(logs.lines.some((l) => l.msg === 'resource not applied; destination left as it was' && String(l.err).includes('check'))).toBe(true);
  } finally {
    await rm(join(dir, 'refuse'), { force: true });
  }
  // The next change renders the record again and applies it.
  await replace('refused', 'accepted', pool[3] as Backend);
  await waitFor(async () => (await through()).server === 'accepted', 10_000);
  await daemon.idle();
  expect(await fileAndLiveAgree()).toEqual([]);
});

it('a structural change (another balance algorithm) reloads', async () => {
  const before = await generation();
  await client.put('/config/balance').value('leastconn');
  await waitFor(async () => (await generation()).reloads === before.reloads + 1, 10_000);
  await daemon.idle();
  expect((await generation()).workerPid).not.toBe(before.workerPid);
  expect(await readFile(dest(), 'utf8')).toContain('balance leastconn');
  expect(logs.lines.some((l) => l.msg === 'reloaded')).toBe(true);
});

it('a runtime command haproxy refuses falls back to a reload, after which the file and the running servers agree', async () => {
  // `balance source` is not a dynamic algorithm: haproxy refuses `add server` in that backend.
  await client.put('/config/balance').value('source');
  await waitFor(async () => (await readFile(dest(), 'utf8')).includes('balance source'));
  await daemon.idle();
  await waitFor(async () => (await liveServers(target())).length > 0);
  const before = await generation();
  const current = (await liveServers(target())).find((s) => s.backend === 'web')?.name as string;
  await replace(current, 'late', pool[0] as Backend);
  await waitFor(() => logs.lines.some((l) => l.msg === 'haproxy runtime apply failed; reloading instead'), 10_000);
  await waitFor(async () => (await generation()).reloads === before.reloads + 1, 10_000);
  await daemon.idle();
  const failed = logs.lines.filter((l) => l.msg === 'haproxy runtime apply failed; reloading instead').at(-1);
  expect(String(failed?.err)).toMatch(/"add server web\/late .*" answered: Backend must use a dynamic load balancing/);
  await waitFor(async () => compareLive(await readFile(dest(), 'utf8'), await liveServers(target()), new Set(['web/late'])).length === 0);
  expect((await through()).server).toBe('late');
});

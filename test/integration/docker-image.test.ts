// The container images, built with no registry against a private dockerd: the local node base (docker import of
// this host's node), the sidekick image (docker/Dockerfile) and the nginx endpoint (docker/nginx-endpoint), which
// serves a backend registered in a real etcd through nginx and follows its changes with in-place reloads.
import { request } from 'node:http';
import type Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_UID, buildImages, mb, sizeReport, type BuiltImages } from '../../scripts/docker-image.js';
import { startBackend, type Backend } from '../support/backends.js';
import { TEST_LABEL, startDockerd, type DockerdHandle } from '../support/docker.js';
import { startEtcd, type EtcdHandle } from '../support/etcd.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/procs.js';

const SIDEKICK = 'sidekick:test';
const ENDPOINT = 'sidekick-nginx-endpoint:test';

let dockerd: DockerdHandle;
let etcd: EtcdHandle;
let built: BuiltImages;
const backends: Backend[] = [];

beforeAll(async () => {
  [dockerd, etcd] = await Promise.all([startDockerd(), startEtcd()]);
  const started = Date.now();
  // dist/ is current: the suite's global setup compiled it.
  built = await buildImages(dockerd.docker, { build: false, sidekickTags: [SIDEKICK], endpointTags: [ENDPOINT] });
  process.stdout.write(`docker-image: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n${sizeReport(built)}\n`);
}, 240_000);

afterAll(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
  await dockerd?.cleanup();
  await etcd?.cleanup();
});

/** Splits a non-TTY container log (8-byte frame headers: stream, 0, 0, 0, length) into stdout and stderr. */
function demux(buf: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let at = 0;
  while (at + 8 <= buf.length) {
    const size = buf.readUInt32BE(at + 4);
    (buf[at] === 2 ? err : out).push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

async function logsOf(container: Dockerode.Container): Promise<{ stdout: string; stderr: string }> {
  const raw = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
  return demux(raw);
}

/**
 * True once every file the endpoint's `render --watch` swapped in has been reloaded: its `reloaded` lines have caught
 * up with its `destination updated` ones. A reload is logged once it has taken effect (the old workers gone or
 * shutting down), so from then on every fresh connection meets the new config; one answer from a new worker alone
 * does not say that.
 */
async function reloadsSettled(container: Dockerode.Container): Promise<boolean> {
  const lines = (await logsOf(container)).stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; pid?: number; sidekick?: number });
  const daemon = lines.find((l) => l.msg === 'started' && l.sidekick !== undefined)?.sidekick;
  if (daemon === undefined) return false;
  const own = lines.filter((l) => l.pid === daemon);
  const count = (test: (msg: string) => boolean): number => own.filter((l) => test(l.msg ?? '')).length;
  return count((m) => m.startsWith('reloaded')) >= count((m) => m === 'destination updated');
}

interface RunOptions {
  image: string;
  cmd?: string[];
  entrypoint?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  stopTimeoutS?: number;
}

/** Creates and starts a labelled container on the host network (the private dockerd has no bridge). */
async function start(opts: RunOptions): Promise<Dockerode.Container> {
  const container = await dockerd.docker.createContainer({
    Image: opts.image,
    ...(opts.cmd ? { Cmd: opts.cmd } : {}),
    ...(opts.entrypoint ? { Entrypoint: opts.entrypoint } : {}),
    ...(opts.workingDir ? { WorkingDir: opts.workingDir } : {}),
    Env: Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
    Labels: { [TEST_LABEL]: '1' },
    StopTimeout: opts.stopTimeoutS ?? 10,
    HostConfig: { NetworkMode: 'host' },
  });
  await container.start();
  return container;
}

/** Runs a container to its end: exit code and output. */
async function runToEnd(opts: RunOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  const container = await start(opts);
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  return { code: StatusCode, ...(await logsOf(container)) };
}

/** GET on loopback with an optional Host header; no keep-alive, so every request sees nginx's current config. */
function get(port: number, path: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 2000, headers: { connection: 'close', ...(host ? { host } : {}) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Runs `node -p expr` inside a running container (there is no shell) and returns what it printed. */
async function nodeExec(container: Dockerode.Container, expr: string): Promise<string> {
  const exec = await container.exec({ Cmd: ['node', '-p', expr], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((r) => stream.on('end', r));
  return demux(Buffer.concat(chunks)).stdout.trim();
}

const record = (id: string, b: Backend): string => JSON.stringify({ name: 'web', id, host: '127.0.0.1', port: b.port, tags: [], meta: {} });

/** Fails with the container's output attached, which is what one needs to see when the endpoint misbehaves. */
async function withLogs<T>(container: Dockerode.Container, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const { stdout, stderr } = await logsOf(container).catch(() => ({ stdout: '', stderr: '' }));
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- container stdout:\n${stdout.slice(-3000)}\n--- container stderr:\n${stderr.slice(-6000)}`, { cause: err });
  }
}

// Every test has its own containers, ports and keys: they run side by side (dockerd.cleanup() removes the containers).
describe.concurrent('images', () => {
  it('sidekick layers stay under 15 MB on top of the node base', () => {
    expect(built.base?.size).toBeGreaterThan(0);
    expect(built.sidekick?.layer).toBeLessThan(15e6);
    expect(built.endpoint?.layer).toBeLessThan(15e6);
    process.stdout.write(`base ${mb(built.base?.size ?? 0)}, sidekick layers ${mb(built.sidekick?.layer ?? 0)}, endpoint layers ${mb(built.endpoint?.layer ?? 0)}\n`);
  });

  it('`docker run sidekick --help` prints the usage, as a non-root user', async () => {
    const info = await dockerd.docker.getImage(SIDEKICK).inspect();
    expect(info.Config.Entrypoint).toEqual(['sidekick']);
    expect(info.Config.User).toBe(`${APP_UID}:${APP_UID}`);
    const [help, id] = await Promise.all([
      runToEnd({ image: SIDEKICK, cmd: ['--help'] }),
      runToEnd({ image: SIDEKICK, entrypoint: ['node', '-p', '[process.getuid(), process.getgid()].join(":")'] }),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: sidekick');
    expect(id.stdout.trim()).toBe(`${APP_UID}:${APP_UID}`);
  }, 60_000);

  it('every production dependency loads from the trimmed node_modules (the AWS SDK clients send a request)', async () => {
    const smoke = `
      import { readFileSync } from 'node:fs';
      const pj = JSON.parse(readFileSync('package.json', 'utf8'));
      for (const d of Object.keys(pj.dependencies)) await import(d);
      const hb = (await import('handlebars')).default;
      if (hb.compile('{{#each x}}{{this}}{{/each}}')({ x: [1, 2] }) !== '12') throw new Error('handlebars');
      for (const name of ['client-elastic-load-balancing-v2', 'client-elastic-load-balancing']) {
        const m = await import('@aws-sdk/' + name);
        const Client = Object.values(m).find((v) => typeof v === 'function' && /^ElasticLoadBalancing(V2)?Client$/.test(v.name));
        const c = new Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
        try { await c.send(new m.DescribeLoadBalancersCommand({})); throw new Error('no error'); }
        catch (e) { if (!/ECONNREFUSED/.test(e.code + ' ' + e.message)) throw e; }
        c.destroy();
      }
      console.log('loaded ' + Object.keys(pj.dependencies).length);`;
    const r = await runToEnd({ image: SIDEKICK, entrypoint: ['node', '--no-deprecation', '--input-type=module', '-e', smoke], workingDir: '/opt/sidekick' });
    expect(r.stderr.replace(/\(node:\d+\) Warning: NodeVersionSupportWarning[\s\S]*?trace-warnings[^\n]*\n/g, '')).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^loaded \d+/);
  }, 60_000);
});

describe.concurrent('nginx endpoint', () => {
  it('serves a backend registered in etcd, follows changes with in-place reloads, stops cleanly on SIGTERM', async () => {
    const [a, b] = [await startBackend('a'), await startBackend('b')];
    backends.push(a, b);
    const port = await freePort();
    const container = await start({
      image: ENDPOINT,
      env: { SIDEKICK_NODE: etcd.endpoint, LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: String(port) },
    });
    await withLogs(container, async () => {
      // Nothing registered: every request gets 503.
      const empty = await waitFor(() => get(port, '/web/'), 60_000, 100);
      expect(empty.status).toBe(503);
      const master = await nodeExec(container, 'require("fs").readFileSync("/tmp/nginx-endpoint/nginx.pid", "utf8").trim()');
      expect(Number(master)).toBeGreaterThan(1);
      expect(await nodeExec(container, 'process.getuid()')).toBe(String(APP_UID));

      await etcd.put('/services/web/a', record('a', a));
      await waitFor(async () => (await get(port, '/web/')).body === 'a\n' && (await reloadsSettled(container)), 15_000, 100);
      expect(await get(port, '/', 'web')).toEqual({ status: 200, body: 'a\n' });
      expect((await get(port, '/', 'web.example.com')).body).toBe('a\n');
      expect((await get(port, '/', 'other')).status).toBe(503);

      await etcd.put('/services/web/b', record('b', b));
      await etcd.del('/services/web/a');
      await waitFor(async () => (await get(port, '/web/')).body === 'b\n' && (await reloadsSettled(container)), 15_000, 100);

      await etcd.del('/services/web/b');
      await waitFor(async () => (await get(port, '/web/')).status === 503 && (await reloadsSettled(container)), 15_000, 100);
      // Reloaded in place: the same nginx master all along.
      expect(await nodeExec(container, 'require("fs").readFileSync("/tmp/nginx-endpoint/nginx.pid", "utf8").trim()')).toBe(master);

      const stopping = Date.now();
      await container.stop({ t: 10 });
      expect(Date.now() - stopping).toBeLessThan(8000);
      const state = (await container.inspect()).State;
      expect(state.ExitCode).toBe(0);
      const { stderr } = await logsOf(container);
      expect(stderr).toContain('"msg":"stopping"');
    });
  }, 150_000);

  it('starts with no services while etcd is unreachable, and exits 1 when nginx dies', async () => {
    const port = await freePort();
    const container = await start({
      image: ENDPOINT,
      cmd: ['--log-level', 'warn'],
      env: { SIDEKICK_NODE: 'http://127.0.0.1:1', LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: String(port), NGINX_ENDPOINT_FIRST_RENDER_TIMEOUT: '10' },
    });
    await withLogs(container, async () => {
      const r = await waitFor(() => get(port, '/web/'), 60_000, 100);
      expect(r.status).toBe(503);
      expect((await logsOf(container)).stderr).toContain('no usable config from the store yet');
      await nodeExec(container, 'process.kill(Number(require("fs").readFileSync("/tmp/nginx-endpoint/nginx.pid", "utf8")), "SIGKILL")');
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      expect(StatusCode).toBe(1);
      expect((await logsOf(container)).stderr).toContain('nginx exited; stopping the endpoint');
    });
  }, 120_000);
});

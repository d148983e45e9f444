// `sidekick announce` as a user runs it: the real binary, a real etcd, and real services on loopback (busybox httpd,
// a host command, a test HTTP server whose answers the test scripts).
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { IKeyValue } from 'etcd3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sidekick } from '../support/cli.js';
import { startEtcd, type EtcdHandle } from '../support/etcd.js';
import { freePort } from '../support/ports.js';
import { stopProc, tcpOpen, waitFor } from '../support/procs.js';
import { issueCert, makeCa, startHttpsProbe } from '../support/tls.js';
import { tempDir } from '../support/tmp.js';

type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** A running `sidekick announce` with its stderr collected as it comes. */
interface Announce {
  proc: ResultPromise;
  /** stderr so far. */
  stderr(): string;
  /** The complete JSON log lines written so far. */
  logs(): LogLine[];
  /** Lines whose msg is exactly `msg`. */
  count(msg: string): number;
  readonly running: boolean;
}

let etcd: EtcdHandle;
let dir: string;
let cleanupDir: () => Promise<void>;
const announces: Announce[] = [];
const children: ResultPromise[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
}, 60_000);

beforeEach(async () => {
  ({ dir, cleanup: cleanupDir } = await tempDir('sidekick-announce-'));
});

afterEach(async () => {
  // SIGTERM first so leases are revoked (no stale keys for the next test), SIGKILL if that does not end it.
  await Promise.all(announces.splice(0).map((a) => stopProc(a.proc)));
  await Promise.all(children.splice(0).map((c) => (c.kill('SIGKILL'), c.catch(() => undefined))));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  if (!etcd.running) await etcd.start();
  await etcd.delPrefix('/');
  await cleanupDir();
});

afterAll(async () => {
  await etcd?.cleanup();
});

/** Waits for a process that should exit by itself; SIGKILLs it after `ms` (the assertions then fail). */
async function exitOf(proc: ResultPromise, ms = 15_000) {
  const t = setTimeout(() => proc.kill('SIGKILL'), ms);
  try {
    return await proc;
  } finally {
    clearTimeout(t);
  }
}

/**
 * Parses JSON log lines. While the process runs (`partial`), a trailing incomplete line is left for later; a
 * finished run's stderr (execa strips the final newline) is parsed whole.
 */
function parseLines(text: string, partial = false): LogLine[] {
  const complete = partial ? text.slice(0, text.lastIndexOf('\n') + 1) : text;
  return complete
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** Starts `sidekick announce` with the test etcd and node name n1 (`--etcd` repeats add members: `opts.bare` for none). */
function announce(args: string[], env: Record<string, string> = {}, opts: { bare?: boolean } = {}): Announce {
  const base = opts.bare ? [] : ['--etcd', etcd.endpoint, '--node-name', 'n1'];
  const proc = sidekick(['announce', ...base, ...args], env);
  let text = '';
  let running = true;
  proc.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  void proc.finally(() => {
    running = false;
  });
  const a: Announce = {
    proc,
    stderr: () => text,
    logs: () => parseLines(text, true),
    count: (msg) => parseLines(text, true).filter((l) => l.msg === msg).length,
    get running() {
      return running;
    },
  };
  announces.push(a);
  return a;
}

/** busybox httpd serving `root` on 127.0.0.1:port (404 for / without index.html). */
async function startHttpd(root: string, port?: number): Promise<number> {
  const p = port ?? (await freePort());
  const proc = execa('/usr/bin/busybox', ['httpd', '-f', '-p', `127.0.0.1:${p}`, '-h', root], { reject: false, stdin: 'ignore' });
  children.push(proc);
  await waitFor(() => tcpOpen(p), 10_000);
  return p;
}

/** An HTTP server whose status for the n-th request (0-based, counted since the last setPlan) the test chooses. */
async function scriptedServer(): Promise<{ port: number; setPlan(plan: (n: number) => number): void; served(): number; statuses: number[]; paths: Set<string> }> {
  let plan: (n: number) => number = () => 200;
  let n = 0;
  const statuses: number[] = [];
  const paths = new Set<string>();
  const server = createServer((req, res) => {
    const status = plan(n++);
    statuses.push(status);
    paths.add(`${req.method ?? ''} ${req.url ?? ''}`);
    res.writeHead(status, { connection: 'close' }).end(status === 200 ? 'ok' : 'no');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    setPlan(next) {
      plan = next;
      n = 0;
    },
    served: () => n,
    statuses,
    paths,
  };
}

/** The key-value at `key`, or undefined. */
async function kvAt(key: string, client = etcd.client): Promise<IKeyValue | undefined> {
  const res = await client.get(key).exec();
  return res.kvs[0];
}

/** Waits for `key` to exist and returns it. */
async function waitKv(key: string, timeoutMs: number, client = etcd.client): Promise<IKeyValue> {
  return waitFor(async () => {
    const kv = await kvAt(key, client);
    if (!kv) throw new Error(`${key} not in etcd`);
    return kv;
  }, timeoutMs);
}

/** Every key under a prefix. */
async function keysUnder(prefix = '/'): Promise<string[]> {
  const res = await etcd.client.getAll().prefix(prefix).keys();
  return res.sort();
}

/** Lease ids currently known to etcd. */
async function leaseIds(): Promise<Set<string>> {
  const res = await etcd.client.leaseClient.leaseLeases();
  return new Set(res.leases.map((l) => String(l.ID)));
}

/** { ttl left, granted ttl } of a lease; ttl -1 when the lease no longer exists. */
async function leaseTtl(id: string, client = etcd.client): Promise<{ ttl: number; granted: number }> {
  const r = await client.leaseClient.leaseTimeToLive({ ID: id });
  return { ttl: Number(r.TTL), granted: Number(r.grantedTTL) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('sidekick announce (binary)', () => {
  it('registers an http-checked service: exact JSON record at /services/<name>/<id> on a lease of --ttl', async () => {
    await writeFile(join(dir, 'index.html'), 'ok\n');
    const port = await startHttpd(dir);
    const a = announce([
      '--name', 'web', '--address', `127.0.0.1:${port}`, '--check', 'http:/', '--interval', '300ms', '--timeout', '250ms',
      '--ttl', '5s', '--tags', 'blue,v2', '--tags', 'canary', '--meta', 'version=1.4', '--meta', 'zone=a',
    ]);
    const key = `/services/web/n1:web:${port}`;
    const kv = await waitKv(key, 15_000);
    // Exact bytes: fixed field order, sorted meta, node from --node-name, default id <node>:<name>:<port>.
    expect(kv.value.toString()).toBe(
      JSON.stringify({
        name: 'web', id: `n1:web:${port}`, host: '127.0.0.1', port, tags: ['blue', 'v2', 'canary'], meta: { version: '1.4', zone: 'a' }, node: 'n1',
      }),
    );
    expect(kv.lease).not.toBe('0');
    const lease = await leaseTtl(kv.lease);
    expect(lease.granted).toBe(5);
    expect(lease.ttl).toBeGreaterThan(0);
    expect(lease.ttl).toBeLessThanOrEqual(5);
    // Nothing else was written.
    expect(await keysUnder('/')).toEqual([key]);

    await waitFor(() => a.count('registered') === 1);
    const logs = a.logs();
    const reg = logs.find((l) => l.msg === 'registered');
    expect(reg).toMatchObject({ service: `n1:web:${port}`, address: `127.0.0.1:${port}`, level: 30 });
    expect(logs.find((l) => l.msg === 'etcd lease granted')).toMatchObject({ ttl: 5 });

    const run = await stopProc(a.proc);
    expect(run.exitCode).toBe(0);
    expect(String(run.stdout)).toBe('');
    // stderr is JSON lines only (pretty logs only on a TTY).
    const lines = String(run.stderr).split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
  });

  it('--id, --prefix (normalised) and a host name are used as given', async () => {
    const a = announce(['--name', 'api', '--address', 'localhost:9000', '--id', 'api-blue-1', '--check', 'none', '--ttl', '3s', '--prefix', 'apps/']);
    const key = '/apps/api/api-blue-1';
    const kv = await waitKv(key, 15_000);
    expect(JSON.parse(kv.value.toString())).toEqual({ name: 'api', id: 'api-blue-1', host: 'localhost', port: 9000, tags: [], meta: {}, node: 'n1' });
    expect(await keysUnder('/')).toEqual([key]);
    expect(a.running).toBe(true);
  });

  it('deregisters after --fall failures (404: index.html deleted), keeps the lease, and registers again when it passes', async () => {
    await writeFile(join(dir, 'index.html'), 'ok\n');
    const port = await startHttpd(dir);
    const a = announce(['--name', 'web', '--address', `127.0.0.1:${port}`, '--check', 'http:/', '--interval', '300ms', '--timeout', '250ms', '--fall', '2', '--ttl', '5s']);
    const key = `/services/web/n1:web:${port}`;
    const first = await waitKv(key, 15_000);

    await rm(join(dir, 'index.html'));
    await waitFor(async () => (await kvAt(key)) === undefined, 15_000);
    // The key was deleted, not its lease: the process still holds (and keeps alive) the same lease.
    expect((await leaseTtl(first.lease)).ttl).toBeGreaterThan(0);
    // Several more failing checks change nothing: one deregistration, logged once.
    await sleep(1200);
    expect(a.count('health check failing; deregistered')).toBe(1);
    const failing = a.logs().filter((l) => l.msg === 'health check failing');
    expect(failing).toHaveLength(1);
    expect(failing[0]).toMatchObject({ detail: 'HTTP 404', failures: 2 });
    expect(await kvAt(key)).toBeUndefined();

    await writeFile(join(dir, 'index.html'), 'ok again\n');
    const again = await waitKv(key, 15_000);
    expect(again.value.toString()).toBe(first.value.toString());
    expect(again.lease).toBe(first.lease);
    // "registered" is logged once etcd confirmed the write, which may be just after the key is visible here.
    await waitFor(() => a.count('registered') === 2, 5000);
    expect(a.running).toBe(true);
  });

  it('honours --rise and --fall: alternating pass/fail never registers (rise 2) nor, once up, deregisters (fall 2)', async () => {
    const srv = await scriptedServer();
    const alternate = (firstStatus: number) => (n: number) => (n % 2 === 0 ? firstStatus : firstStatus === 200 ? 404 : 200);
    srv.setPlan(alternate(200));
    const a = announce([
      '--name', 'flappy', '--address', `127.0.0.1:${srv.port}`, '--check', 'http:/health', '--interval', '400ms', '--timeout', '350ms',
      '--rise', '2', '--fall', '2', '--ttl', '5s',
    ]);
    const key = `/services/flappy/n1:flappy:${srv.port}`;
    // pass, fail, pass, fail…: never two passes in a row, so never registered, however the checks are timed.
    await waitFor(() => srv.served() >= 7, 20_000);
    expect(await kvAt(key)).toBeUndefined();
    expect(a.count('registered')).toBe(0);

    srv.setPlan(() => 200);
    const kv = await waitKv(key, 15_000);
    await waitFor(() => a.count('registered') === 1, 5000); // logged once etcd confirmed the write

    // fail, pass, fail, pass…: never two failures in a row, so the record stays, never rewritten.
    srv.setPlan(alternate(404));
    await waitFor(() => srv.served() >= 7, 20_000);
    const still = await kvAt(key);
    expect(still?.mod_revision).toBe(kv.mod_revision);
    expect(a.count('health check failing; deregistered')).toBe(0);

    srv.setPlan(() => 404);
    await waitFor(async () => (await kvAt(key)) === undefined, 15_000);
    expect(a.count('health check failing; deregistered')).toBe(1);
    expect(srv.statuses.length).toBeGreaterThan(14);
    expect([...srv.paths]).toEqual(['GET /health']);
  });

  it('--check tcp: never registered while nothing listens; registered once the service starts', async () => {
    const port = await freePort();
    const a = announce(['--name', 'late', '--address', `127.0.0.1:${port}`, '--check', 'tcp', '--interval', '300ms', '--timeout', '250ms', '--ttl', '5s']);
    const key = `/services/late/n1:late:${port}`;
    // The monitor reports a service that never came up once, after its first interval.
    await waitFor(() => a.count('health check failing') === 1, 15_000);
    expect(a.logs().find((l) => l.msg === 'health check failing')).toMatchObject({ detail: 'ECONNREFUSED', check: 'tcp' });
    await sleep(900);
    expect(await kvAt(key)).toBeUndefined();
    expect(await keysUnder('/')).toEqual([]);
    expect(a.count('registered')).toBe(0);
    // Withdrawing a record that was never written is not a deregistration.
    expect(a.logs().filter((l) => String(l.msg).includes('deregistered'))).toEqual([]);

    await startHttpd(dir, port);
    const kv = await waitKv(key, 15_000);
    expect(JSON.parse(kv.value.toString())).toMatchObject({ name: 'late', host: '127.0.0.1', port });
    await waitFor(() => a.count('registered') === 1, 5000); // logged once etcd confirmed the write
  });

  it("--check in elb's URL form checks the address it names; --interval 1s alone starts (the default timeout follows it)", async () => {
    const svc = await scriptedServer();
    // Nothing listens on 127.0.0.2: only a check sent to the URL's address can pass.
    const a = announce(['--name', 'web', '--address', `127.0.0.2:${svc.port}`, '--check', `http://127.0.0.1:${svc.port}/health?full=1`, '--interval', '1s', '--ttl', '5s']);
    const kv = await waitKv(`/services/web/n1:web:${svc.port}`, 15_000);
    expect(JSON.parse(kv.value.toString())).toMatchObject({ host: '127.0.0.2', port: svc.port });
    expect([...svc.paths]).toEqual(['GET /health?full=1']);
    expect(a.logs().find((l) => l.msg === 'announcing')).toMatchObject({ check: 'http', checked: `127.0.0.1:${svc.port}` });
  });

  it('https checks with --check-ca and --check-host (SNI), and a second --check: announced only while both pass', async () => {
    const ca = await makeCa(dir);
    const probe = await startHttpsProbe(await issueCert(dir, ca, 'ip', ['IP:127.0.0.1']), { 'svc.test': await issueCert(dir, ca, 'svc', ['DNS:svc.test']) });
    const closers: Array<() => Promise<void>> = [() => probe.close()];
    try {
      const second = await freePort();
      const args = ['--name', 'api', '--address', `127.0.0.1:${probe.port}`, '--check', 'https:/health', '--check', `tcp://127.0.0.1:${second}`];
      const a = announce([...args, '--check-ca', ca.cert, '--check-host', 'svc.test', '--check-status', '200-299', '--interval', '300ms', '--timeout', '250ms', '--ttl', '5s']);
      const key = `/services/api/n1:api:${probe.port}`;
      await waitFor(() => a.count('health check failing') === 1, 15_000);
      expect(a.logs().find((l) => l.msg === 'health check failing')).toMatchObject({ check: 'https+tcp', detail: `tcp 127.0.0.1:${second}: ECONNREFUSED` });
      expect(await kvAt(key)).toBeUndefined();
      expect(probe.seen.at(-1)).toMatchObject({ servername: 'svc.test', host: 'svc.test', path: '/health' });
      // The second check's service comes up: both pass.
      const listener = createNetServer((s: Socket) => s.destroy());
      await new Promise<void>((r) => listener.listen(second, '127.0.0.1', r));
      closers.push(() => new Promise((r) => listener.close(() => r())));
      const kv = await waitKv(key, 15_000);
      expect(JSON.parse(kv.value.toString())).toMatchObject({ name: 'api', port: probe.port });
      // Without the CA the certificate is not trusted; skip-verify accepts it.
      const strict = announce(['--name', 'strict', '--address', `127.0.0.1:${probe.port}`, '--check', 'https:/strict', '--interval', '300ms', '--timeout', '250ms', '--ttl', '5s']);
      announce(['--name', 'lax', '--address', `127.0.0.1:${probe.port}`, '--check', 'https:/lax', '--check-skip-verify', '--interval', '300ms', '--timeout', '250ms', '--ttl', '5s']);
      await waitKv(`/services/lax/n1:lax:${probe.port}`, 15_000);
      await waitFor(() => strict.count('health check failing') === 1, 15_000);
      expect(strict.logs().find((l) => l.msg === 'health check failing')).toMatchObject({ check: 'https', detail: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
      expect(await kvAt(`/services/strict/n1:strict:${probe.port}`)).toBeUndefined();
    } finally {
      await Promise.all(closers.map((c) => c()));
    }
  });

  it('--log-format text: one readable line an entry, with level names', async () => {
    const a = announce(['--name', 'web', '--address', '127.0.0.1:8080', '--check', 'none', '--ttl', '3s', '--log-format', 'text']);
    await waitFor(() => a.stderr().includes('INFO: (announce) registered service=n1:web:8080 address=127.0.0.1:8080\n'), 15_000);
    expect(a.stderr()).toContain('INFO: announcing service=n1:web:8080 address=127.0.0.1:8080 check=none checked=127.0.0.1:8080\n');
    expect(a.stderr()).not.toContain('{');
  });

  it('--check exec:CMD runs a host command; its exit status toggles the record', async () => {
    const flag = join(dir, 'up');
    const a = announce(['--name', 'db', '--address', '127.0.0.1:5432', '--check', `exec:test -f ${flag}`, '--interval', '300ms', '--timeout', '250ms', '--ttl', '5s']);
    const key = '/services/db/n1:db:5432';
    await waitFor(() => a.count('health check failing') === 1, 15_000);
    expect(a.logs().find((l) => l.msg === 'health check failing')).toMatchObject({ detail: 'exit 1', check: 'exec' });
    expect(await kvAt(key)).toBeUndefined();

    await writeFile(flag, '');
    await waitFor(async () => (await kvAt(key)) !== undefined, 15_000);
    await rm(flag);
    await waitFor(async () => (await kvAt(key)) === undefined, 15_000);
    await writeFile(flag, '');
    await waitFor(async () => (await kvAt(key)) !== undefined, 15_000);
    await waitFor(() => a.count('registered') === 2, 5000); // logged once etcd confirmed the write
    expect(a.count('health check failing; deregistered')).toBe(1);
  });

  it('--check exec: a shell line (&&) runs through /bin/sh', async () => {
    const [f1, f2] = [join(dir, 'a'), join(dir, 'b')];
    await writeFile(f1, '');
    const a = announce(['--name', 'sh', '--address', '127.0.0.1:7000', '--check', `exec:test -f ${f1} && test -f ${f2}`, '--interval', '300ms', '--timeout', '250ms', '--ttl', '5s']);
    await waitFor(() => a.count('health check failing') === 1, 15_000);
    await writeFile(f2, '');
    await waitFor(async () => (await kvAt('/services/sh/n1:sh:7000')) !== undefined, 15_000);
  });

  it('SIGTERM drains (no renderer here: nothing to wait for), revokes the lease: exit 0 and the key is gone at once, long before its 10 s TTL', async () => {
    const a = announce(['--name', 'web', '--address', '127.0.0.1:8080', '--check', 'none', '--ttl', '10s']);
    const key = '/services/web/n1:web:8080';
    const kv = await waitKv(key, 15_000);
    const sent = Date.now();
    const run = await stopProc(a.proc, 'SIGTERM');
    expect(run.exitCode).toBe(0);
    // closeSidecar awaits the revoke before exiting: the key is already gone, and the lease no longer exists
    // (expiry cannot explain it: it had ~10 s left and was kept alive).
    expect(await kvAt(key)).toBeUndefined();
    expect((await leaseTtl(kv.lease)).ttl).toBe(-1);
    expect(Date.now() - sent).toBeLessThan(8000);
    const logs = parseLines(String(run.stderr));
    expect(logs.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SIGTERM' });
    // The drain deletes the record before the lease goes: the revoke finds none left.
    expect(logs.find((l) => l.msg === 'drained: no renderer reads the record')).toMatchObject({ services: 'n1:web:8080', pending: [] });
    expect(logs.find((l) => l.msg === 'lease revoked; records removed')).toMatchObject({ records: 0 });
  });

  it('SIGINT (Ctrl-C) stops the same way', async () => {
    const a = announce(['--name', 'web', '--address', '127.0.0.1:8081', '--check', 'none', '--ttl', '10s']);
    const key = '/services/web/n1:web:8081';
    const kv = await waitKv(key, 15_000);
    const run = await stopProc(a.proc, 'SIGINT');
    expect(run.exitCode).toBe(0);
    expect(await kvAt(key)).toBeUndefined();
    expect((await leaseTtl(kv.lease)).ttl).toBe(-1);
  });

  it('SIGKILL leaves the key until the lease expires (within --ttl 2s)', async () => {
    const a = announce(['--name', 'web', '--address', '127.0.0.1:8082', '--check', 'none', '--ttl', '2s']);
    const key = '/services/web/n1:web:8082';
    const kv = await waitKv(key, 15_000);
    const run = await stopProc(a.proc, 'SIGKILL');
    expect(run.signal).toBe('SIGKILL');
    const killedAt = Date.now();
    // Nobody revoked anything: the key and its lease are still there right after the kill.
    const after = await kvAt(key);
    expect(after?.lease).toBe(kv.lease);
    expect((await leaseTtl(kv.lease)).ttl).toBeGreaterThanOrEqual(0);
    await waitFor(async () => (await kvAt(key)) === undefined, 10_000);
    // Gone by expiry: roughly the TTL after the last keepalive (generous bound for a loaded machine).
    expect(Date.now() - killedAt).toBeLessThan(8000);
    expect((await leaseTtl(kv.lease)).ttl).toBe(-1);
  });

  it('bad flags: non-zero exit, the flag named on stderr, nothing written to etcd', async () => {
    const ok = ['--name', 'web', '--address', '127.0.0.1:8080'];
    const cases: Array<[string, string[], RegExp]> = [
      ['missing --name', ['--address', '127.0.0.1:8080'], /--name/],
      ['missing --address', ['--name', 'web'], /--address/],
      ['--address without a port', ['--name', 'web', '--address', '127.0.0.1'], /--address/],
      ['--address with port 99999', ['--name', 'web', '--address', '127.0.0.1:99999'], /--address/],
      ['--address with an IPv6 literal not in brackets', ['--name', 'web', '--address', '::1:80'], /--address/],
      ['--name with a slash', ['--name', 'a/b', '--address', '127.0.0.1:8080'], /--name/],
      ['unknown --check kind', [...ok, '--check', 'ftp:/'], /--check/],
      ['--check http without a path', [...ok, '--check', 'http:health'], /--check/],
      ['--check exec: without a command', [...ok, '--check', 'exec:'], /--check/],
      ['--timeout above --interval', [...ok, '--interval', '1s', '--timeout', '2s'], /--timeout/],
      ['--interval not a duration', [...ok, '--interval', 'often'], /--interval/],
      ['--ttl below 2s', [...ok, '--ttl', '1s'], /--ttl/],
      ['--ttl not whole seconds', [...ok, '--ttl', '2500ms'], /--ttl/],
      ['--rise 0', [...ok, '--rise', '0'], /--rise/],
      ['--fall not a number', [...ok, '--fall', 'two'], /--fall/],
      ['--meta without =', [...ok, '--meta', 'version'], /--meta/],
      ['--tags with a space', [...ok, '--tags', 'a b'], /--tags/],
      ['--id with a slash', [...ok, '--id', 'a/b'], /--id/],
      ['--layout unknown', [...ok, '--layout', 'consul'], /--layout/],
      ['--log-format unknown', [...ok, '--log-format', 'xml'], /--log-format: expected json or text/],
      ['--check-status upside down', [...ok, '--check', 'https:/h', '--check-status', '299-200'], /--check-status: expected statuses 100-599/],
      ['--check-host with a space', [...ok, '--check', 'https:/h', '--check-host', 'a b'], /--check-host: expected a host name/],
      ['--check-skip-verify not a boolean', [...ok, '--check', 'https:/h', '--check-skip-verify', 'yes'], /--check-skip-verify: expected true or false/],
      ['--check-ca unreadable', [...ok, '--check', 'https:/h', '--check-ca', '/nonexistent.pem'], /--check-ca: cannot read/],
      ['--check-status without an http check', [...ok, '--check', 'tcp', '--check-status', '200'], /--check-status: applies to http\(s\) checks/],
    ];
    const before = await leaseIds();
    const failures: string[] = [];
    // Four at a time: each is a node start-up (~1 s on two cores).
    const queue = [...cases];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let c = queue.shift(); c; c = queue.shift()) {
          const [what, args, flag] = c;
          const proc = sidekick(['announce', '--etcd', etcd.endpoint, '--node-name', 'n1', ...args]);
          children.push(proc);
          const run = await exitOf(proc);
          const stderr = String(run.stderr);
          if (run.exitCode === undefined || run.exitCode === 0) failures.push(`${what}: exit ${run.exitCode} (signal ${run.signal})`);
          if (!flag.test(stderr) || !/^sidekick: /m.test(stderr)) failures.push(`${what}: stderr does not name ${flag.source}: ${stderr}`);
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(await keysUnder('/')).toEqual([]);
    const after = await leaseIds();
    expect([...after].filter((id) => !before.has(id))).toEqual([]);
  }, 120_000);

  it('--etcd that is not a URL is refused naming --etcd', async () => {
    const proc = sidekick(['announce', '--etcd', 'ftp://x', '--name', 'web', '--address', '127.0.0.1:8080']);
    children.push(proc);
    const run = await exitOf(proc);
    expect(run.exitCode).not.toBe(0);
    expect(String(run.stderr)).toMatch(/^sidekick: --etcd: /m);
  });

  it('etcd down at start: keeps running, warns once, says the registration is pending, registers once etcd is back', async () => {
    const own = await startEtcd();
    try {
      await own.stop();
      const a = announce(['--etcd', own.endpoint, '--node-name', 'n1', '--name', 'web', '--address', '127.0.0.1:8080', '--check', 'none', '--ttl', '3s'], {}, { bare: true });
      await waitFor(() => a.count('etcd unreachable; retrying with backoff') === 1, 15_000).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${JSON.stringify(a.logs())}`);
      });
      // A few retries later: still running, still one warning.
      await sleep(2500);
      expect(a.running).toBe(true);
      expect(a.logs().filter((l) => (l.level ?? 0) >= 40)).toHaveLength(1);
      // Nothing was written: not "registered", but pending.
      expect(a.count('registered')).toBe(0);
      expect(a.logs().find((l) => l.msg === 'registration pending: etcd unreachable')).toMatchObject({ service: 'n1:web:8080', level: 30 });

      await own.start();
      const key = '/services/web/n1:web:8080';
      const kv = await waitKv(key, 30_000, own.client);
      expect(JSON.parse(kv.value.toString())).toMatchObject({ name: 'web', id: 'n1:web:8080' });
      expect((await leaseTtl(kv.lease, own.client)).granted).toBe(3);
      await waitFor(() => a.count('etcd reachable again') === 1, 5000);
      await waitFor(() => a.count('registered') === 1, 5000);
      expect(a.count('registration pending: etcd unreachable')).toBe(1);
      expect(a.count('etcd unreachable; retrying with backoff')).toBe(1);

      const run = await stopProc(a.proc);
      expect(run.exitCode).toBe(0);
      expect(await kvAt(key, own.client)).toBeUndefined();
    } finally {
      await own.cleanup();
    }
  });

  it('SIGTERM while etcd is unreachable exits 0 promptly', async () => {
    const port = await freePort();
    const a = announce(['--etcd', `http://127.0.0.1:${port}`, '--name', 'web', '--address', '127.0.0.1:8080', '--check', 'none', '--ttl', '3s'], {}, { bare: true });
    await waitFor(() => a.count('etcd unreachable; retrying with backoff') === 1, 15_000);
    // 'announcing' is logged just before the SIGTERM handler is installed (see the test below for that window).
    await waitFor(() => a.count('announcing') === 1, 15_000);
    const run = await stopProc(a.proc);
    expect(run.exitCode, String(run.stderr)).toBe(0);
    expect(parseLines(String(run.stderr)).some((l) => l.msg === 'stopping')).toBe(true);
  });

  // The SIGTERM handler is installed before the first lease grant, which can wait up to the request deadline.
  it('SIGTERM during the first lease grant (etcd accepts but never answers) still stops gracefully', async () => {
    const sockets = new Set<Socket>();
    const blackhole = createNetServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const addr = blackhole.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    try {
      const a = announce(['--etcd', `http://127.0.0.1:${port}`, '--name', 'web', '--address', '127.0.0.1:8080', '--check', 'none', '--ttl', '3s'], {}, { bare: true });
      await waitFor(() => sockets.size > 0, 10_000);
      const run = await stopProc(a.proc);
      expect(run.signal).toBeUndefined();
      expect(run.exitCode).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => blackhole.close(r));
    }
  });

  it('reads every setting from SIDEKICK_* environment variables; a flag beats its variable', async () => {
    const env = {
      SIDEKICK_ETCD: etcd.endpoint,
      SIDEKICK_NAME: 'envsvc',
      SIDEKICK_ADDRESS: '127.0.0.1:6000',
      SIDEKICK_ID: 'env-1',
      SIDEKICK_CHECK: 'none',
      SIDEKICK_TTL: '3s',
      SIDEKICK_TAGS: 'a,b',
      SIDEKICK_META: 'k=v,x=y',
      SIDEKICK_NODE_NAME: 'envnode',
      SIDEKICK_PREFIX: '/envsvcs',
    };
    announce([], env, { bare: true });
    const key = '/envsvcs/envsvc/env-1';
    const kv = await waitKv(key, 15_000);
    expect(JSON.parse(kv.value.toString())).toEqual({ name: 'envsvc', id: 'env-1', host: '127.0.0.1', port: 6000, tags: ['a', 'b'], meta: { k: 'v', x: 'y' }, node: 'envnode' });
    expect((await leaseTtl(kv.lease)).granted).toBe(3);

    announce(['--name', 'flagsvc', '--ttl', '4s'], { ...env, SIDEKICK_ID: 'flag-1' }, { bare: true });
    const kv2 = await waitKv('/envsvcs/flagsvc/flag-1', 15_000);
    expect(JSON.parse(kv2.value.toString())).toMatchObject({ name: 'flagsvc', node: 'envnode' });
    expect((await leaseTtl(kv2.lease)).granted).toBe(4);
  });

  it('a bad value from the environment is refused like the flag', async () => {
    const proc = sidekick(['announce', '--name', 'web', '--address', '127.0.0.1:8080'], { SIDEKICK_ETCD: etcd.endpoint, SIDEKICK_TTL: '1s' });
    children.push(proc);
    const run = await exitOf(proc);
    expect(run.exitCode).not.toBe(0);
    expect(String(run.stderr)).toMatch(/--ttl/);
    expect(await keysUnder('/')).toEqual([]);
  });
});

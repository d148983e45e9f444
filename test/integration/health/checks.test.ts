// Checkers against real loopback servers and real commands.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkerFor, commandChecker, httpChecker, tcpChecker } from '../../../src/health/checks.js';
import { HealthMonitor, type HealthChange } from '../../../src/health/monitor.js';
import type { CheckResult, Checker } from '../../../src/health/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { freePort } from '../../support/ports.js';
import { waitFor } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';

/** Generous bound for "the abort worked": far below the hang, far above any scheduling noise. */
const ABORT_BOUND_MS = 2_000;

/** Runs a checker with a deadline, timing it. */
async function timed(checker: Checker, timeoutMs = 5_000): Promise<{ result: CheckResult; ms: number }> {
  const started = performance.now();
  const result = await checker(AbortSignal.timeout(timeoutMs));
  return { result, ms: performance.now() - started };
}

/** Listens on host:0 and returns the port. */
async function listen(server: HttpServer | NetServer, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const addr = server.address();
  if (typeof addr !== 'object' || addr === null) throw new Error('no address');
  return addr.port;
}

/** Server-side sockets still open. */
function tracked(server: HttpServer | NetServer): Set<Socket> {
  const open = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  return open;
}

async function close(server: HttpServer | NetServer, open: Set<Socket>): Promise<void> {
  for (const s of open) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('httpChecker', () => {
  const server = createHttpServer((req, res) => {
    switch (req.url) {
      case '/ok':
        res.end('fine');
        return;
      case '/redirect':
        res.writeHead(302, { location: '/elsewhere' }).end();
        return;
      case '/fail':
        res.writeHead(503).end('down');
        return;
      case '/missing':
        res.writeHead(404).end();
        return;
      case '/big': {
        // A body that never ends: the checker must not read it.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
        return;
      }
      case '/headers':
        res.end(JSON.stringify(req.headers));
        return;
      case '/hang':
        // Never answers.
        return;
      default:
        res.writeHead(404).end();
    }
  });
  const open = tracked(server);
  let port: number;
  const seen: string[] = [];
  server.on('request', (req: { url?: string; headers: Record<string, unknown> }) =>
    seen.push(`${req.url} ${String(req.headers.connection)}`),
  );

  beforeAll(async () => {
    port = await listen(server, '127.0.0.1');
  });
  afterAll(async () => close(server, open));

  it.each([
    ['/ok', true, 'HTTP 200'],
    ['/redirect', true, 'HTTP 302'],
    ['/fail', false, 'HTTP 503'],
    ['/missing', false, 'HTTP 404'],
    ['/big', true, 'HTTP 200'],
  ])('%s → %s %s', async (path, ok, detail) => {
    const { result } = await timed(httpChecker('127.0.0.1', port, path));
    expect(result).toEqual({ ok, detail });
  });

  it('adds the leading slash and asks for Connection: close', async () => {
    seen.length = 0;
    const { result } = await timed(httpChecker('127.0.0.1', port, 'ok'));
    expect(result).toEqual({ ok: true, detail: 'HTTP 200' });
    expect(seen).toEqual(['/ok close']);
  });

  it('leaves no socket open behind it', async () => {
    for (const path of ['/ok', '/fail', '/big', '/redirect']) await timed(httpChecker('127.0.0.1', port, path));
    await waitFor(() => open.size === 0, 2_000);
  });

  it('gives up on a hanging server when the signal aborts', async () => {
    const { result, ms } = await timed(httpChecker('127.0.0.1', port, '/hang'), 300);
    expect(result).toEqual({ ok: false, detail: 'timeout' });
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(ABORT_BOUND_MS);
    await waitFor(() => open.size === 0, 2_000);
  });

  it('does not even connect with an aborted signal', async () => {
    const before = seen.length;
    const result = await httpChecker('127.0.0.1', port, '/ok')(AbortSignal.abort());
    expect(result).toEqual({ ok: false, detail: 'timeout' });
    expect(seen.length).toBe(before);
  });

  it('reports ECONNREFUSED on a closed port', async () => {
    const closed = await freePort();
    const { result } = await timed(httpChecker('127.0.0.1', closed, '/'));
    expect(result).toEqual({ ok: false, detail: 'ECONNREFUSED' });
  });

  it('reports a path it cannot send instead of throwing, and sends nothing', async () => {
    const before = seen.length;
    for (const path of ['/a b', '/a\r\nX-Injected: 1', '/\u0000']) {
      const { result } = await timed(httpChecker('127.0.0.1', port, path));
      expect(result.ok).toBe(false);
      expect(result.detail).toMatch(/^invalid path .*spaces and control characters/);
    }
    expect(seen.length).toBe(before);
  });

  it('percent-encodes a non-ASCII path', async () => {
    seen.length = 0;
    const { result } = await timed(httpChecker('127.0.0.1', port, '/héalth?x=ü'));
    expect(result).toEqual({ ok: false, detail: 'HTTP 404' });
    expect(seen).toEqual(['/h%C3%A9alth?x=%C3%BC close']);
  });

  it('reports a server that closes without answering', async () => {
    const rude = createNetServer((s) => s.destroy());
    const rudeOpen = tracked(rude);
    const rudePort = await listen(rude, '127.0.0.1');
    try {
      const { result } = await timed(httpChecker('127.0.0.1', rudePort, '/'));
      // A FIN or a RST, depending on whether the request was still in flight when the server hung up.
      expect(['connection closed before a response', 'ECONNRESET']).toContain(result.detail);
      expect(result.ok).toBe(false);
    } finally {
      await close(rude, rudeOpen);
    }
  });
});

describe('httpChecker on IPv6', () => {
  const server = createHttpServer((req, res) => res.end(req.headers.host));
  const open = tracked(server);
  let port: number;
  beforeAll(async () => {
    port = await listen(server, '::1');
  });
  afterAll(async () => close(server, open));

  it.each(['::1', '[::1]'])('%s', async (host) => {
    const { result } = await timed(httpChecker(host, port, '/'));
    expect(result).toEqual({ ok: true, detail: 'HTTP 200' });
  });
});

describe('httpChecker against a scripted server', () => {
  /** A server that records the raw request and answers with `chunks`, written `gapMs` apart, then maybe hangs up. */
  async function scripted(chunks: string[], opts: { gapMs?: number; hangUp?: boolean } = {}): Promise<{ result: CheckResult; request: string; halfClosed: boolean }> {
    let request = '';
    let ended = false;
    let halfClosed = false;
    const server = createNetServer({ allowHalfOpen: true }, (s) => {
      s.setEncoding('latin1');
      s.on('data', (d: string) => (request += d));
      s.on('end', () => (ended = true));
      s.on('error', () => undefined);
      void (async () => {
        // Give a FIN after the request time to arrive before answering.
        await new Promise((r) => setTimeout(r, 50));
        halfClosed = ended;
        for (const c of chunks) {
          if (s.destroyed) return;
          s.write(c);
          await new Promise((r) => setTimeout(r, opts.gapMs ?? 0));
        }
        if (opts.hangUp) s.end();
      })();
    });
    const open = tracked(server);
    const p = await listen(server, '127.0.0.1');
    try {
      const { result } = await timed(httpChecker('127.0.0.1', p, '/health'), 2_000);
      await new Promise((r) => setTimeout(r, 20));
      return { result, request, halfClosed };
    } finally {
      await close(server, open);
    }
  }

  it('sends one HTTP/1.1 GET with Host and Connection: close, and does not half-close before the answer', async () => {
    const { result, request, halfClosed } = await scripted(['HTTP/1.1 204 No Content\r\n\r\n']);
    expect(result).toEqual({ ok: true, detail: 'HTTP 204' });
    expect(request).toMatch(/^GET \/health HTTP\/1\.1\r\n/);
    expect(request).toMatch(/\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    expect(request).toMatch(/\r\nConnection: close\r\n\r\n$/);
    expect(halfClosed).toBe(false);
  });

  it.each<[string, string[], CheckResult]>([
    ['an HTTP/1.0 answer', ['HTTP/1.0 200 OK\r\n\r\n'], { ok: true, detail: 'HTTP 200' }],
    ['a status line without reason or CR', ['HTTP/1.1 500\n\n'], { ok: false, detail: 'HTTP 500' }],
    ['a status line split byte by byte', [...'HTTP/1.1 301 Moved\r\n'], { ok: true, detail: 'HTTP 301' }],
    ['103 Early Hints before the answer', ['HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n', 'HTTP/1.1 503 Busy\r\n\r\n'], { ok: false, detail: 'HTTP 503' }],
    ['an SSH banner', ['SSH-2.0-OpenSSH_9.2\r\n'], { ok: false, detail: 'not an HTTP response' }],
    ['a redis error', ['-ERR unknown command\r\n'], { ok: false, detail: 'not an HTTP response' }],
    ['a status of 99', ['HTTP/1.1 099 Odd\r\n\r\n'], { ok: false, detail: 'not an HTTP response' }],
    ['a hang-up mid status line', ['HTTP/1.1 2'], { ok: false, detail: 'connection closed before a response' }],
  ])('%s', async (_what, chunks, expected) => {
    const { result } = await scripted(chunks, { gapMs: 2, hangUp: true });
    expect(result).toEqual(expected);
  });

  it('gives up on endless bytes without a line break', async () => {
    const { result } = await scripted(['HTTP/1.1 ', 'x'.repeat(16 * 1024)]);
    expect(result).toEqual({ ok: false, detail: 'not an HTTP response' });
  });
});

describe('tcpChecker', () => {
  const server = createNetServer(() => undefined);
  const open = tracked(server);
  let port: number;
  beforeAll(async () => {
    port = await listen(server, '127.0.0.1');
  });
  afterAll(async () => close(server, open));

  it('passes on connect and closes the socket at once', async () => {
    const { result } = await timed(tcpChecker('127.0.0.1', port));
    expect(result).toEqual({ ok: true, detail: 'connected' });
    await waitFor(() => open.size === 0, 2_000);
  });

  it('reports ECONNREFUSED on a closed port', async () => {
    const { result } = await timed(tcpChecker('127.0.0.1', await freePort()));
    expect(result).toEqual({ ok: false, detail: 'ECONNREFUSED' });
  });

  it('settles as a timeout when the signal aborts mid-connect', async () => {
    const controller = new AbortController();
    const pending = tcpChecker('127.0.0.1', port)(controller.signal);
    controller.abort();
    expect(await pending).toEqual({ ok: false, detail: 'timeout' });
    expect(await tcpChecker('127.0.0.1', port)(AbortSignal.abort())).toEqual({ ok: false, detail: 'timeout' });
  });

  it('connects over IPv6', async () => {
    const v6 = createNetServer(() => undefined);
    const v6Open = tracked(v6);
    const v6Port = await listen(v6, '::1');
    try {
      expect((await timed(tcpChecker('[::1]', v6Port))).result).toEqual({ ok: true, detail: 'connected' });
    } finally {
      await close(v6, v6Open);
    }
  });
});

describe('commandChecker', () => {
  it.each([
    [['true'], { ok: true, detail: 'exit 0' }],
    [['false'], { ok: false, detail: 'exit 1' }],
    [['sh', '-c', 'echo; echo "  first line  "; echo second; exit 3'], { ok: false, detail: 'exit 3: first line' }],
    [['sh', '-c', 'echo on stderr >&2; exit 2'], { ok: false, detail: 'exit 2: on stderr' }],
    [['sh', '-c', 'echo "$0 $1"; exit 4', 'a b', '$HOME'], { ok: false, detail: 'exit 4: a b $HOME' }],
    [['/nonexistent/check'], { ok: false, detail: 'ENOENT' }],
    [['sh', '-c', 'kill -9 $$'], { ok: false, detail: 'killed by SIGKILL' }],
  ])('%j', async (argv, expected) => {
    expect((await timed(commandChecker(argv))).result).toEqual(expected);
  });

  it('cuts long output to ~200 characters', async () => {
    const { result } = await timed(commandChecker(['sh', '-c', 'printf "%0500d\\n" 0; exit 1']));
    expect(result.detail).toBe(`exit 1: ${'0'.repeat(200)}…`);
  });

  it('kills the command when the signal aborts', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const pidFile = join(dir, 'pid');
      const checker = commandChecker(['sh', '-c', `echo $$ > ${pidFile}; exec sleep 5`]);
      const { result, ms } = await timed(checker, 300);
      expect(result).toEqual({ ok: false, detail: 'timeout' });
      expect(ms).toBeLessThan(ABORT_BOUND_MS);
      const pid = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
      await waitFor(() => !alive(pid), 3_000);
    } finally {
      await cleanup();
    }
  });

  it('rejects an empty command up front', () => {
    expect(() => commandChecker([])).toThrow(/needs a command/);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('checkerFor', () => {
  it('builds working http, tcp and host exec checkers', async () => {
    const server = createHttpServer((_req, res) => res.end());
    const open = tracked(server);
    const port = await listen(server, '127.0.0.1');
    try {
      const target = { host: '127.0.0.1', port };
      const http = checkerFor({ kind: 'http', path: '/' }, target);
      const tcp = checkerFor({ kind: 'tcp' }, target);
      const exec = checkerFor({ kind: 'exec', argv: ['true'], where: 'host' }, target);
      expect(await http?.(AbortSignal.timeout(5_000))).toEqual({ ok: true, detail: 'HTTP 200' });
      expect(await tcp?.(AbortSignal.timeout(5_000))).toEqual({ ok: true, detail: 'connected' });
      expect(await exec?.(AbortSignal.timeout(5_000))).toEqual({ ok: true, detail: 'exit 0' });
    } finally {
      await close(server, open);
    }
  });
});

describe('HealthMonitor with a real http check', () => {
  it('turns healthy once the server answers 200, and unhealthy after two 503s', async () => {
    let status = 503;
    const server = createHttpServer((_req, res) => res.writeHead(status).end());
    const open = tracked(server);
    const port = await listen(server, '127.0.0.1');
    const changes: HealthChange[] = [];
    const m = new HealthMonitor({
      settings: { check: { kind: 'http', path: '/' }, intervalMs: 200, timeoutMs: 100, rise: 1, fall: 2 },
      checker: httpChecker('127.0.0.1', port, '/'),
      log: silentLogger,
      name: 'web',
      onChange: (c) => changes.push(c),
    });
    try {
      m.start();
      await waitFor(() => m.lastResult?.detail === 'HTTP 503', 5_000);
      status = 200;
      await waitFor(() => m.state === 'healthy', 5_000);
      status = 503;
      await waitFor(() => m.state === 'unhealthy', 5_000);
      expect(changes.map((c) => [c.state, c.result.detail])).toEqual([
        ['healthy', 'HTTP 200'],
        ['unhealthy', 'HTTP 503'],
      ]);
    } finally {
      m.stop();
      await close(server, open);
    }
  });
});

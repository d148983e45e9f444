// Benchmark: the CPU one health check attempt costs sidekick, http against https, in isolation: the checker the
// register and announce daemons run (src/health/checks.ts), attempts made one after the other against a server in
// another process on loopback, CPU read with process.cpuUsage (user + system, this process only).
// Prints the cost per attempt and what it means for the register bench's idle-CPU target (≤ 1 % of a core with
// 100 services on 10 s checks, i.e. 10 attempts a second: at most 1 ms per attempt, everything else included).
// Run: npm run bench:check-cost   (BENCH_ATTEMPTS, default 2000)
import { fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { httpChecker } from '../src/health/checks.js';
import type { Checker } from '../src/health/types.js';
import { issueCert, makeCa } from '../test/support/tls.js';
import { tempDir } from '../test/support/tmp.js';

const ATTEMPTS = Number(process.env.BENCH_ATTEMPTS ?? 2000);
const BUDGET_MS = 1; // ≤ 1 % of a core at 10 attempts a second

/** The server side, in a child process so its CPU is not counted: prints its http and https ports. */
async function serve(dir: string): Promise<void> {
  const tls = { cert: await readFile(`${dir}/server.pem`), key: await readFile(`${dir}/server.key`) };
  const answer = (_req: unknown, res: { end(body: string): void }): void => res.end('ok\n');
  const plain = createHttpServer(answer);
  const secure = createHttpsServer(tls, answer);
  await Promise.all([plain, secure].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  process.send?.({ http: (plain.address() as AddressInfo).port, https: (secure.address() as AddressInfo).port });
}

/** Mean CPU per attempt in ms, after a warm-up; each attempt must pass. */
async function costOf(check: Checker): Promise<number> {
  const attempt = async (): Promise<void> => {
    const result = await check(AbortSignal.timeout(2000));
    if (!result.ok) throw new Error(`check failed: ${result.detail}`);
  };
  for (let i = 0; i < 200; i++) await attempt();
  const before = process.cpuUsage();
  for (let i = 0; i < ATTEMPTS; i++) {
    await attempt();
    // Attempts spaced by a timer, as the daemons' are, not back to back.
    await new Promise((r) => setTimeout(r, 1));
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / ATTEMPTS;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve(process.argv[3] as string);
  const { dir, cleanup } = await tempDir('sidekick-bench-check-cost-');
  const ca = await makeCa(dir);
  await issueCert(dir, ca, 'server', ['IP:127.0.0.1']);
  const server = fork(process.argv[1] as string, ['serve', dir], { execArgv: process.execArgv });
  try {
    const ports = await new Promise<{ http: number; https: number }>((resolve) => server.once('message', (m) => resolve(m as { http: number; https: number })));
    const http = await costOf(httpChecker('127.0.0.1', ports.http, '/health'));
    const https = await costOf(httpChecker('127.0.0.1', ports.https, '/health', { tls: { skipVerify: false, ca: await readFile(ca.cert, 'utf8') } }));
    // 10 attempts a second × ms each = ms of CPU per second; over 1,000 ms that is ms / 10 of a core, ms %.
    const line = (what: string, ms: number): string =>
      `  ${what.padEnd(52)} ${ms.toFixed(2)} ms CPU per attempt; 100 services on 10 s checks: ${ms.toFixed(2)} % of a core (${(ms / BUDGET_MS).toFixed(2)}× the 1 % budget)`;
    console.log(`health check attempt cost (${ATTEMPTS} attempts each, checker in this process, server in another)`);
    console.log(line('http: new connection, GET, status line', http));
    console.log(line('https: new TLS connection (session resumed), GET', https));
  } finally {
    server.kill();
    await cleanup();
  }
}

await main();

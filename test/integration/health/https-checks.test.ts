// https checks, Host headers, status ranges and several checks at once, against real TLS servers on loopback with
// certificates from a throw-away CA made by openssl.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkerFor, httpChecker } from '../../../src/health/checks.js';
import { HealthMonitor, type HealthChange } from '../../../src/health/monitor.js';
import type { CheckSpec, HttpCheckSpec } from '../../../src/health/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { freePort } from '../../support/ports.js';
import { issueCert, makeCa, startHttpsProbe, type HttpsProbe } from '../../support/tls.js';
import { tempDir } from '../../support/tmp.js';

let cleanup: () => Promise<void>;
let ca: string;
/** Serves a certificate for IP:127.0.0.1 to clients without SNI, and one for svc.test to those asking for it. */
let good: HttpsProbe;
/** Serves a certificate for 127.0.0.1 signed by another CA (a bad certificate, as far as `ca` goes). */
let rogue: HttpsProbe;

beforeAll(async () => {
  const made = await tempDir('sidekick-https-');
  cleanup = made.cleanup;
  const trusted = await makeCa(made.dir);
  const other = await makeCa(made.dir, 'other-ca', 'someone-else');
  const ip = await issueCert(made.dir, trusted, 'ip', ['IP:127.0.0.1']);
  const named = await issueCert(made.dir, trusted, 'svc', ['DNS:svc.test']);
  const stranger = await issueCert(made.dir, other, 'stranger', ['IP:127.0.0.1', 'DNS:svc.test']);
  ca = await readFile(trusted.cert, 'utf8');
  good = await startHttpsProbe(ip, { 'svc.test': named });
  rogue = await startHttpsProbe(stranger);
}, 60_000);

afterAll(async () => {
  await good?.close();
  await rogue?.close();
  await cleanup?.();
});

const attempt = (port: number, path: string, opts: Parameters<typeof httpChecker>[3]) => httpChecker('127.0.0.1', port, path, opts)(AbortSignal.timeout(5_000));

describe('https checks', () => {
  it('pass with the CA that signed the certificate (checked against the address connected to)', async () => {
    expect(await attempt(good.port, '/ok', { tls: { skipVerify: false, ca } })).toEqual({ ok: true, detail: 'HTTP 200' });
    expect(good.seen.at(-1)).toMatchObject({ servername: undefined, host: `127.0.0.1:${good.port}`, path: '/ok' });
  });

  it("fail on a certificate no trusted CA signed: Node's roots, or another CA", async () => {
    expect(await attempt(good.port, '/ok', { tls: { skipVerify: false } })).toEqual({ ok: false, detail: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(await attempt(rogue.port, '/ok', { tls: { skipVerify: false, ca } })).toEqual({ ok: false, detail: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(rogue.seen).toEqual([]);
  });

  it('skip-verify accepts any certificate', async () => {
    expect(await attempt(rogue.port, '/ok', { tls: { skipVerify: true } })).toEqual({ ok: true, detail: 'HTTP 200' });
    expect(rogue.seen.at(-1)?.path).toBe('/ok');
  });

  it('a Host name is sent as SNI and as the Host header, and the certificate must match it', async () => {
    expect(await attempt(good.port, '/named', { tls: { skipVerify: false, ca }, host: 'svc.test' })).toEqual({ ok: true, detail: 'HTTP 200' });
    expect(good.seen.at(-1)).toMatchObject({ servername: 'svc.test', host: 'svc.test', path: '/named' });
    // other.test gets the fallback certificate (for 127.0.0.1): a name mismatch, unless verification is skipped.
    expect(await attempt(good.port, '/other', { tls: { skipVerify: false, ca }, host: 'other.test:8443' })).toEqual({ ok: false, detail: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(await attempt(good.port, '/other', { tls: { skipVerify: true }, host: 'other.test:8443' })).toEqual({ ok: true, detail: 'HTTP 200' });
    expect(good.seen.at(-1)).toMatchObject({ servername: 'other.test', host: 'other.test:8443', path: '/other' });
  });

  it('the next attempt resumes the TLS session', async () => {
    const check = httpChecker('127.0.0.1', good.port, '/resume', { tls: { skipVerify: false, ca } });
    for (let i = 0; i < 3; i++) expect(await check(AbortSignal.timeout(5_000))).toEqual({ ok: true, detail: 'HTTP 200' });
    expect(good.seen.filter((r) => r.path === '/resume').map((r) => r.resumed)).toEqual([false, true, true]);
  });

  it('statuses: 2xx and 3xx by default, the given ranges otherwise', async () => {
    const tls = { skipVerify: false, ca };
    expect(await attempt(good.port, '/302', { tls })).toEqual({ ok: true, detail: 'HTTP 302' });
    expect(await attempt(good.port, '/302', { tls, status: [[200, 299]] })).toEqual({ ok: false, detail: 'HTTP 302' });
    expect(await attempt(good.port, '/204', { tls, status: [[200, 200], [204, 204]] })).toEqual({ ok: true, detail: 'HTTP 204' });
    expect(await attempt(good.port, '/200', { tls, status: [[204, 204]] })).toEqual({ ok: false, detail: 'HTTP 200' });
  });
});

describe('several checks at once', () => {
  const https = (path: string): HttpCheckSpec => ({ kind: 'http', path, tls: { skipVerify: false, ca } });

  it('pass only when every one passes; a failure names the check that failed', async () => {
    const closed = await freePort();
    const target = { host: '127.0.0.1', port: good.port };
    const both = checkerFor({ kind: 'all', checks: [https('/both'), { kind: 'tcp' }] }, target);
    expect(await both?.(AbortSignal.timeout(5_000))).toEqual({ ok: true, detail: 'https /both: HTTP 200; tcp: connected' });
    const oneDown = checkerFor({ kind: 'all', checks: [https('/both'), { kind: 'tcp', target: { host: '127.0.0.1', port: closed } }] }, target);
    expect(await oneDown?.(AbortSignal.timeout(5_000))).toEqual({ ok: false, detail: `tcp 127.0.0.1:${closed}: ECONNREFUSED` });
  });

  it('a monitor of two checks where one fails never turns healthy, and says which one fails', async () => {
    const changes: HealthChange[] = [];
    const spec: CheckSpec = { kind: 'all', checks: [{ kind: 'http', path: '/ok', tls: { skipVerify: false, ca } }, { kind: 'http', path: '/503', tls: { skipVerify: true }, status: [[200, 299]] }] };
    const settings = { check: spec, intervalMs: 200, timeoutMs: 150, rise: 1, fall: 2 };
    const checker = checkerFor(spec, { host: '127.0.0.1', port: good.port });
    const monitor = new HealthMonitor({ settings, ...(checker && { checker }), log: silentLogger, name: 'web', onChange: (c) => changes.push(c) });
    monitor.start();
    try {
      await expect.poll(() => changes.length, { timeout: 5_000 }).toBe(1);
    } finally {
      monitor.stop();
    }
    expect(changes[0]).toMatchObject({ state: 'unhealthy', result: { ok: false, detail: 'https /503: HTTP 503' } });
  });

  it('a timeout names the checks still running when it struck', async () => {
    const changes: HealthChange[] = [];
    const spec: CheckSpec = { kind: 'all', checks: [https('/quick'), { kind: 'exec', where: 'host', argv: ['sleep', '5'] }] };
    const settings = { check: spec, intervalMs: 400, timeoutMs: 300, rise: 1, fall: 1 };
    const checker = checkerFor(spec, { host: '127.0.0.1', port: good.port });
    const monitor = new HealthMonitor({ settings, ...(checker && { checker }), log: silentLogger, name: 'slow', onChange: (c) => changes.push(c) });
    monitor.start();
    try {
      await expect.poll(() => changes.length, { timeout: 5_000 }).toBe(1);
    } finally {
      monitor.stop();
    }
    expect(changes[0]).toMatchObject({ state: 'unhealthy', result: { ok: false, detail: 'timeout after 300 ms: exec sleep 5: timeout' } });
  });
});

// The values that refine http(s) checks, from labels and flags alike: statuses, Host, booleans; and the check flags
// of announce and elb (repeated --check, --check-host, --check-status, --check-skip-verify, --check-ca).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announceSettings } from '../../../src/config/announce-config.js';
import type { CheckFlags } from '../../../src/config/check-url.js';
import { elbSettings } from '../../../src/config/elb-config.js';
import { checkKinds, describeCheck, parseBoolean, parseCheckHost, parseStatusRanges, serverName, statusPasses } from '../../../src/health/check-options.js';
import { statusVerdict } from '../../../src/health/checks.js';
import { ConfigError } from '../../../src/util/errors.js';
import { tempDir } from '../../support/tmp.js';

const registry = { ttlSec: 15, prefix: '/services', layouts: [], domain: 'skydns.local', nodeName: 'h1' };

describe('parseStatusRanges', () => {
  it.each([
    ['200', [[200, 200]]],
    ['200-299', [[200, 299]]],
    ['200,204,301-302', [[200, 200], [204, 204], [301, 302]]],
    [' 200 - 204 , 418 ', [[200, 204], [418, 418]]],
    ['100-599', [[100, 599]]],
  ])('%s', (text, ranges) => expect(parseStatusRanges(text)).toEqual({ ok: true, value: ranges }));
  it.each(['', ',', '200,', '2xx', '299-200', '99', '600', '200-600', '0200', '200;204', '200 204', '1e2'])('refuses %j, saying what would do', (text) => {
    const v = parseStatusRanges(text);
    expect(v.ok).toBe(false);
    expect(!v.ok && v.reason).toContain('e.g. 200-299 or 200,204,301-302');
  });
  it('statusPasses', () => {
    const ranges = [[200, 204], [301, 302]] as const;
    expect([199, 200, 204, 205, 301, 302, 303].map((s) => statusPasses(s, ranges))).toEqual([false, true, true, false, true, true, false]);
  });
  it('statusVerdict: 2xx and 3xx by default, the given ranges otherwise', () => {
    expect(statusVerdict('HTTP/1.1 302 Found\r\n')).toEqual({ ok: true, detail: 'HTTP 302' });
    expect(statusVerdict('HTTP/1.1 404 Not Found\r\n')).toEqual({ ok: false, detail: 'HTTP 404' });
    expect(statusVerdict('HTTP/1.1 302 Found\r\n', [[200, 299]])).toEqual({ ok: false, detail: 'HTTP 302' });
    expect(statusVerdict('HTTP/1.1 404 Not Found\r\n', [[200, 200], [404, 404]])).toEqual({ ok: true, detail: 'HTTP 404' });
  });
});

describe('parseBoolean', () => {
  it.each([['true', true], ['TRUE', true], [' false ', false], ['False', false]])('%j', (text, value) => expect(parseBoolean(text)).toEqual({ ok: true, value }));
  it.each(['', 'yes', '1', 'on', 'tru'])('refuses %j', (text) => expect(parseBoolean(text)).toEqual({ ok: false, reason: `expected true or false, got ${JSON.stringify(text)}` }));
});

describe('parseCheckHost and serverName', () => {
  it.each([
    ['api.example.com', 'api.example.com'],
    ['api.example.com:8443', 'api.example.com'],
    ['my_svc', 'my_svc'],
    ['localhost', 'localhost'],
    ['10.0.0.1', undefined],
    ['10.0.0.1:8443', undefined],
    ['[::1]', undefined],
    ['[::1]:8443', undefined],
  ])('%s is a Host; its SNI name is %s', (text, sni) => {
    expect(parseCheckHost(text)).toEqual({ ok: true, value: text });
    expect(serverName(text)).toBe(sni);
  });
  it.each(['', 'a b', 'api\r\nX: 1', 'api\t', 'api\u0000', 'api:', 'api:0', 'api:65536', 'api:x', '::1', '[nope]', 'a/b', 'a@b', '-api', 'ä.example'])(
    'refuses %j, saying what would do',
    (text) => {
      const v = parseCheckHost(text);
      expect(v.ok).toBe(false);
      expect(!v.ok && v.reason).toContain('a host name or address, optionally with :port');
    },
  );
});

describe('describeCheck and checkKinds', () => {
  it('names each check as logs and /healthz show it', () => {
    expect(describeCheck({ kind: 'http', path: '/health' })).toBe('http /health');
    expect(describeCheck({ kind: 'http', path: '/h', tls: { skipVerify: true }, target: { host: '::1', port: 8443 } })).toBe('https [::1]:8443/h');
    expect(describeCheck({ kind: 'tcp', target: { host: '127.0.0.1', port: 5432 } })).toBe('tcp 127.0.0.1:5432');
    expect(describeCheck({ kind: 'exec', where: 'host', argv: ['pg_isready', '-q'] })).toBe('exec pg_isready -q');
    expect(checkKinds({ kind: 'all', checks: [{ kind: 'http', path: '/', tls: { skipVerify: false } }, { kind: 'tcp' }] })).toBe('https+tcp');
    expect(checkKinds({ kind: 'docker' })).toBe('docker');
  });
});

describe('check flags of announce and elb', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: string;
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('sidekick-check-flags-'));
    ca = join(dir, 'ca.pem');
    await writeFile(ca, PEM);
    await writeFile(join(dir, 'empty.pem'), 'not a certificate');
  });
  afterAll(() => cleanup());

  const announce = (extra: CheckFlags) => announceSettings({ name: 'web', address: '127.0.0.1:8443', ...extra }, registry);

  it('announce https:/PATH on --address, refined by --check-host, --check-status, --check-skip-verify and --check-ca', () => {
    const s = announce({ check: ['https:/health'], checkHost: 'api.example', checkStatus: '200-299', checkSkipVerify: 'false', checkCa: ca });
    expect(s.health.check).toEqual({ kind: 'http', path: '/health', host: 'api.example', status: [[200, 299]], tls: { skipVerify: false, ca: PEM } });
    expect(s.checkTarget).toEqual({ host: '127.0.0.1', port: 8443 });
    expect(announce({ check: 'https:/h', checkSkipVerify: true }).health.check).toEqual({ kind: 'http', path: '/h', tls: { skipVerify: true } });
    expect(announce({ check: 'https:' }).health.check).toEqual({ kind: 'http', path: '/', tls: { skipVerify: false } });
    expect(announce({ check: 'https:/h', checkSkipVerify: 'TRUE' }).health.check).toEqual({ kind: 'http', path: '/h', tls: { skipVerify: true } });
  });

  it('repeated --check: every check runs on its own address, and all must pass', () => {
    const s = announce({ check: ['https://127.0.0.2:9443/health', 'tcp', 'exec:test -f /ready'], checkStatus: '204' });
    expect(s.health.check).toEqual({
      kind: 'all',
      checks: [
        { kind: 'http', path: '/health', tls: { skipVerify: false }, status: [[204, 204]], target: { host: '127.0.0.2', port: 9443 } },
        { kind: 'tcp', target: { host: '127.0.0.1', port: 8443 } },
        { kind: 'exec', where: 'host', argv: ['test', '-f', '/ready'] },
      ],
    });
    expect(s.checkTarget).toEqual({ host: '127.0.0.2', port: 9443 });
  });

  it('elb takes https URLs (port 443 by default) and repeated --check the same way', () => {
    const s = elbSettings({ loadBalancer: 'web', check: ['https://localhost/health', 'tcp://127.0.0.1:5432'], checkHost: 'web.internal' }, { AWS_REGION: 'us-east-1' });
    expect(s.health.check).toEqual({
      kind: 'all',
      checks: [
        { kind: 'http', path: '/health', tls: { skipVerify: false }, host: 'web.internal', target: { host: 'localhost', port: 443 } },
        { kind: 'tcp', target: { host: '127.0.0.1', port: 5432 } },
      ],
    });
  });

  it.each<[CheckFlags, RegExp]>([
    [{ check: ['https:/h'], checkStatus: '2xx' }, /^--check-status: expected statuses 100-599 as N or N-M/],
    [{ check: ['https:/h'], checkHost: 'a b' }, /^--check-host: expected a host name or address/],
    [{ check: ['https:/h'], checkSkipVerify: 'yes' }, /^--check-skip-verify: expected true or false, got "yes"/],
    [{ check: ['https:/h'], checkCa: '/nonexistent/ca.pem' }, /^--check-ca: cannot read \/nonexistent\/ca.pem/],
    [{ check: ['https:/h'], checkCa: 'EMPTY' }, /^--check-ca: .*empty.pem holds no PEM certificate/],
    [{ check: ['tcp'], checkStatus: '200' }, /^--check-status: applies to http\(s\) checks, and no --check is one/],
    [{ check: ['tcp'], checkHost: 'api' }, /^--check-host: applies to http\(s\) checks/],
    [{ check: ['http:/h'], checkSkipVerify: true }, /^--check-skip-verify: applies to https checks/],
    [{ check: ['http:/h'], checkCa: 'CA' }, /^--check-ca: applies to https checks/],
    [{ check: ['http:/h', 'none'] }, /^--check: none cannot be combined with other checks/],
    [{ check: ['https:health'] }, /^--check: an https check needs a path like https:\/health/],
    [{ check: ['https:/a\tb'] }, /^--check: an https check needs a path/],
  ])('refuses %j naming the flag', (extra, message) => {
    const flags = { ...extra, ...(extra.checkCa === 'EMPTY' && { checkCa: join(dir, 'empty.pem') }), ...(extra.checkCa === 'CA' && { checkCa: ca }) };
    expect(() => announce(flags)).toThrow(ConfigError);
    expect(() => announce(flags)).toThrow(message);
  });
});

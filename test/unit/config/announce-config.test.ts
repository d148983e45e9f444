import { describe, expect, it } from 'vitest';
import { announceSettings, parseAddress, parseAnnounceCheck, parseCheck, parseMeta } from '../../../src/config/announce-config.js';
import { etcdConnection, registrySettings, scheduleSettings } from '../../../src/config/sidecar-config.js';
import { ConfigError } from '../../../src/util/errors.js';

const registry = { ttlSec: 15, prefix: '/services', layouts: ['native' as const], domain: 'sidekick.local', nodeName: 'host1' };

describe('parseAddress', () => {
  it.each([
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    ['[::1]:80', { host: '::1', port: 80 }],
    ['web.internal:443', { host: 'web.internal', port: 443 }],
  ])('%s', (text, expected) => expect(parseAddress(text)).toEqual(expected));

  it.each(['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'a;b:80', '::1:80', 'host name:80', '[example.com]:80', '[10.0.0.1]:80', '[]:80', ':80'])('refuses %s naming --address', (text) => {
    expect(() => parseAddress(text)).toThrow(/--address/);
  });
});

describe('parseCheck', () => {
  it('defaults to a TCP connect', () => expect(parseCheck(undefined)).toEqual({ kind: 'tcp' }));
  it('reads http paths, none, and exec commands as argv without a shell', () => {
    expect(parseCheck('http:/health?full=1')).toEqual({ kind: 'http', path: '/health?full=1' });
    expect(parseCheck('http:')).toEqual({ kind: 'http', path: '/' });
    expect(parseCheck('none')).toEqual({ kind: 'none' });
    expect(parseCheck('exec:pg_isready -h 127.0.0.1')).toEqual({ kind: 'exec', where: 'host', argv: ['pg_isready', '-h', '127.0.0.1'] });
  });
  it('runs a shell line through /bin/sh -c only when it uses shell syntax', () => {
    expect(parseCheck('exec:curl -sf localhost | grep ok')).toEqual({ kind: 'exec', where: 'host', argv: ['/bin/sh', '-c', 'curl -sf localhost | grep ok'] });
  });
  it.each(['udp', 'http:health', 'exec:', 'http:/a b'])('refuses %s naming --check', (text) => {
    expect(() => parseCheck(text)).toThrow(ConfigError);
    expect(() => parseCheck(text)).toThrow(/--check/);
  });
});

describe('parseAnnounceCheck', () => {
  const address = { host: '10.0.0.5', port: 8080 };
  it.each([
    ['http://127.0.0.1:8081/', { spec: { kind: 'http', path: '/' }, target: { host: '127.0.0.1', port: 8081 } }],
    ['http://127.0.0.1:8081', { spec: { kind: 'http', path: '/' }, target: { host: '127.0.0.1', port: 8081 } }],
    ['http://[::1]/up?x=1', { spec: { kind: 'http', path: '/up?x=1' }, target: { host: '::1', port: 80 } }],
    ['tcp://127.0.0.1:5432', { spec: { kind: 'tcp' }, target: { host: '127.0.0.1', port: 5432 } }],
  ])("takes elb's URL form %s, checked on the URL's address", (text, expected) => expect(parseAnnounceCheck(text, address)).toEqual(expected));
  it.each([
    [undefined, { kind: 'tcp' }],
    ['http:/health', { kind: 'http', path: '/health' }],
    ['none', { kind: 'none' }],
  ])('checks the other forms (%s) on --address', (text, spec) => expect(parseAnnounceCheck(text, address)).toEqual({ spec, target: address }));
  it.each([
    ['tcp://127.0.0.1', /a tcp check needs a port/],
    ['ftp://127.0.0.1/', /--check: expected http:\/PATH, https:\/PATH, http\(s\):\/\/HOST\[:PORT\]\/PATH, tcp, tcp:\/\/HOST:PORT, exec:CMD or none/],
    ['http://user:pw@127.0.0.1/', /credentials/],
  ])('refuses %s naming --check', (text, message) => expect(() => parseAnnounceCheck(text, address)).toThrow(message));
  it('announceSettings: the check target is --address unless the check names another', () => {
    expect(announceSettings({ name: 'web', address: '127.0.0.2:8081' }, registry).checkTarget).toEqual({ host: '127.0.0.2', port: 8081 });
    const s = announceSettings({ name: 'web', address: '127.0.0.2:8081', check: 'http://127.0.0.1:8081/health' }, registry);
    expect(s.checkTarget).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(s.health.check).toEqual({ kind: 'http', path: '/health' });
    expect(s.record).toMatchObject({ host: '127.0.0.2', port: 8081 });
  });
});

describe('parseMeta', () => {
  it('reads k=v pairs; a value may hold =', () => expect(parseMeta(['version=1.4', 'q=a=b'])).toEqual({ version: '1.4', q: 'a=b' }));
  it.each([['novalue'], ['=x'], ['k=a;b']])('refuses %s', (pair) => expect(() => parseMeta([pair])).toThrow(/--meta/));
});

describe('announceSettings', () => {
  it('builds the record with a registrator-style default id and the default schedule', () => {
    const s = announceSettings({ name: 'web', address: '127.0.0.1:8080', tags: ['a,b', 'c'], meta: ['v=1'] }, registry);
    expect(s.record).toEqual({ name: 'web', id: 'host1:web:8080', host: '127.0.0.1', port: 8080, tags: ['a', 'b', 'c'], meta: { v: '1' }, node: 'host1' });
    expect(s.health).toEqual({ check: { kind: 'tcp' }, intervalMs: 10_000, timeoutMs: 2_000, rise: 1, fall: 2 });
  });
  it('takes the schedule and id from flags', () => {
    const s = announceSettings({ name: 'db', address: '[::1]:5432', id: 'db-1', check: 'http:/up', interval: '1s', timeout: '250ms', rise: '3', fall: '4' }, registry);
    expect(s.record.id).toBe('db-1');
    expect(s.health).toEqual({ check: { kind: 'http', path: '/up' }, intervalMs: 1000, timeoutMs: 250, rise: 3, fall: 4 });
  });
  it.each([
    ['100ms', 100],
    ['1s', 1000],
    ['2s', 2000],
    ['1m', 2000],
  ])('--interval %s alone starts: the default timeout is 2s or the interval when shorter (%d ms)', (interval, timeoutMs) => {
    const s = announceSettings({ name: 'web', address: '127.0.0.1:8080', interval }, registry);
    expect(s.health.timeoutMs).toBe(timeoutMs);
  });
  it('a timeout given longer than the interval is refused, naming both flags and the way out', () => {
    expect(() => announceSettings({ name: 'web', address: '127.0.0.1:1', interval: '1s', timeout: '1500ms' }, registry)).toThrow(
      '--timeout: must not exceed --interval (1500 ms > 1000 ms); give a shorter --timeout, or leave it out (default: 2s, or the interval when that is shorter)',
    );
  });
  it("register's flags: --check-interval alone starts; --check-timeout longer than it is refused under its own name", () => {
    const names = { interval: '--check-interval', timeout: '--check-timeout' };
    expect(scheduleSettings({ interval: '500ms' }, names)).toEqual({ intervalMs: 500, timeoutMs: 500, rise: 1, fall: 2 });
    expect(() => scheduleSettings({ interval: '500ms', timeout: '1s' }, names)).toThrow(/^--check-timeout: must not exceed --check-interval/);
  });
  it.each([
    [{ address: '127.0.0.1:1' }, /--name: required/],
    [{ name: 'web' }, /--address: required/],
    [{ name: 'we b', address: '127.0.0.1:1' }, /--name/],
    [{ name: 'web', address: '127.0.0.1:1', id: 'a b' }, /--id/],
    [{ name: 'web', address: '127.0.0.1:1', tags: ['ok,no way'] }, /--tags/],
    [{ name: 'web', address: '127.0.0.1:1', interval: 'soon' }, /--interval/],
    [{ name: 'web', address: '127.0.0.1:1', interval: '1s', timeout: '2s' }, /--timeout: must not exceed --interval/],
    [{ name: 'web', address: '127.0.0.1:1', rise: '0' }, /--rise/],
    [{ name: 'web', address: '127.0.0.1:1', fall: 'x' }, /--fall/],
  ])('refuses %j', (flags, message) => expect(() => announceSettings(flags, registry)).toThrow(message));
});

describe('registrySettings and etcdConnection', () => {
  it('has operator defaults', () => {
    const s = registrySettings({ nodeName: 'h1' });
    expect(s).toEqual({ ttlSec: 15, prefix: '/services', layouts: ['native'], domain: 'sidekick.local', nodeName: 'h1' });
    expect(etcdConnection({}).nodes).toEqual(['http://127.0.0.1:2379']);
  });
  it('normalises the prefix and takes --node as an alias of --etcd', () => {
    expect(registrySettings({ prefix: 'svc//x/', nodeName: 'h1' }).prefix).toBe('/svc/x');
    expect(etcdConnection({ etcd: ['127.0.0.1:1'], node: ['http://127.0.0.1:2/'] }).nodes).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    expect(etcdConnection({ etcd: ['127.0.0.1:1'], clientCaKeys: 'ca.pem' }).nodes).toEqual(['https://127.0.0.1:1']);
  });
  it.each([
    [{ ttl: '1s' }, /--ttl: must be at least/],
    [{ ttl: '2500ms' }, /--ttl: etcd leases count whole seconds/],
    [{ layout: ['dns'] }, /--layout/],
    [{ nodeName: 'a b' }, /--node-name/],
  ])('refuses %j', (flags, message) => expect(() => registrySettings(flags)).toThrow(message));
  it('refuses a bad etcd URL without echoing credentials', () => {
    expect(() => etcdConnection({ etcd: ['ftp://user:secret@host:1'] })).toThrow(/--etcd/);
    expect(() => etcdConnection({ etcd: ['ftp://user:secret@host:1'] })).not.toThrow(/secret/);
  });
});

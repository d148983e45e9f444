// The native service record: strict parsing (JSON and registrator's host:port), validators, formatting.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatServiceRecord,
  parseServiceRecord,
  validateHost,
  validatePort,
  validateServiceName,
  type ServiceRecord,
} from '../../../src/registry/record.js';
import { formatAddress } from '../../../src/util/address.js';

const KEY = '/services/web/host1:web-1:80';
const base = { name: 'web', id: 'host1:web-1:80', host: '10.0.0.5', port: 32768 };
const json = (over: Record<string, unknown>): string => JSON.stringify({ ...base, ...over });

describe('parseServiceRecord: valid', () => {
  it.each<[string, string, string, Partial<ServiceRecord>]>([
    ['minimal JSON', KEY, json({}), { ...base, tags: [], meta: {} }],
    [
      'docs/records.md example',
      KEY,
      '{"name":"web","id":"host1:web-1:80","host":"10.0.0.5","port":32768,"tags":["v2"],"meta":{"version":"1.4"},"node":"host1"}',
      { ...base, tags: ['v2'], meta: { version: '1.4' }, node: 'host1' },
    ],
    ['host name', KEY, json({ host: 'web-1.example.com' }), { host: 'web-1.example.com' }],
    ['FQDN with trailing dot', KEY, json({ host: 'web.example.com.' }), { host: 'web.example.com.' }],
    ['IPv6', KEY, json({ host: 'fd00::5' }), { host: 'fd00::5' }],
    ['IPv4-mapped IPv6, canonical text', KEY, json({ host: '::ffff:10.0.0.1' }), { host: '::ffff:a00:1' }],
    ['IPv6 upper case and a trailing "::" (nginx refuses that text), canonical', KEY, json({ host: '1:2:3:4:5:6:7::' }), { host: '1:2:3:4:5:6:7:0' }],
    ['IPv6 with zero runs, canonical', KEY, json({ host: 'FD00:0:0:0:0:0:0:5' }), { host: 'fd00::5' }],
    ['tags charset', KEY, json({ tags: ['a.b_c:d=e/f@g+h-i'] }), { tags: ['a.b_c:d=e/f@g+h-i'] }],
    ['meta value with spaces', KEY, json({ meta: { desc: 'blue green', url: 'http://x/y?z=1' } }), { meta: { desc: 'blue green', url: 'http://x/y?z=1' } }],
    ['unknown fields ignored', KEY, json({ extra: { a: 1 } }), { ...base }],
    ['port bounds', KEY, json({ port: 65535 }), { port: 65535 }],
    ['registrator host:port', '/services/web/host1:web:80', '10.0.0.5:8080', { name: 'web', id: 'host1:web:80', host: '10.0.0.5', port: 8080, tags: [], meta: {} }],
    ['registrator IPv6', '/services/web/h:c:80', '[fd00::1]:80', { host: 'fd00::1', port: 80 }],
    ['registrator host name', '/prefix/deep/web/x', 'web.local:80', { name: 'web', id: 'x', host: 'web.local' }],
    ['hand-written: name and id from the key', '/services/web/a', '{"host":"127.0.0.1","port":8081}', { name: 'web', id: 'a', host: '127.0.0.1', port: 8081, tags: [], meta: {} }],
    ['hand-written: id from the key, name given', '/services/web/a', '{"name":"web","host":"127.0.0.1","port":8081}', { name: 'web', id: 'a' }],
    ['hand-written: name from the key, id given', KEY, JSON.stringify({ id: base.id, host: '10.0.0.1', port: 1 }), { name: 'web', id: base.id }],
  ])('%s', (_name, key, value, expected) => {
    const r = parseServiceRecord(key, value);
    expect(r).toEqual({ ok: true, record: expect.objectContaining(expected) as unknown });
  });
});

describe('parseServiceRecord: invalid', () => {
  it.each<[string, string, string, RegExp]>([
    ['not JSON', KEY, '{"name":', /not valid JSON/],
    ['JSON array', KEY, '["web"]', /neither a JSON object nor host:port/],
    ['host with ;', KEY, json({ host: '10.0.0.5; include /etc/passwd' }), /host .* neither an IP address nor/],
    ['host with newline', KEY, json({ host: 'a\nb' }), /host/],
    ['host with braces', KEY, json({ host: 'a}b' }), /host/],
    ['host with quote', KEY, json({ host: "a'b" }), /host/],
    ['host with #', KEY, json({ host: 'a#b' }), /host/],
    ['host with space', KEY, json({ host: 'a b' }), /host/],
    ['host bracketed IPv6', KEY, json({ host: '[::1]' }), /without brackets/],
    ['host empty', KEY, json({ host: '' }), /host must not be empty/],
    ['host label too long', KEY, json({ host: `${'a'.repeat(64)}.com` }), /RFC 1123/],
    ['host label starting with -', KEY, json({ host: '-web.local' }), /RFC 1123/],
    ['host underscore', KEY, json({ host: 'my_host' }), /RFC 1123/],
    ['host numeric but not IPv4', KEY, json({ host: '10.0.0.256' }), /not a valid IPv4/],
    ['host not a string', KEY, json({ host: 167772165 }), /host must be a string/],
    ['port 0', KEY, json({ port: 0 }), /port must be an integer 1-65535/],
    ['port too big', KEY, json({ port: 65536 }), /port/],
    ['port float', KEY, json({ port: 80.5 }), /port/],
    ['port as string', KEY, json({ port: '80' }), /port must be a JSON number/],
    ['name bad chars', '/services/we b/1', json({ name: 'we b' }), /name "we b" must match/],
    ['name too long', KEY, json({ name: 'a'.repeat(64) }), /name/],
    ['name null (present, not a string)', KEY, json({ name: null }), /name must be a string, got object/],
    ['name absent, id differs from the key', KEY, JSON.stringify({ id: 'x', host: '10.0.0.1', port: 1 }), /id "x" does not match the key's last segment/],
    ['name absent, key segment not a service name', '/services/Web/a', '{"host":"127.0.0.1","port":8081}', /key segment name "Web" must match/],
    ['id absent, key segment not an id', '/services/web/a(b', '{"host":"127.0.0.1","port":8081}', /key segment id "a\(b" may only hold/],
    ['name differs from key', KEY, json({ name: 'api' }), /does not match the key's service segment "web"/],
    ['id empty', KEY, json({ id: '' }), /id must not be empty/],
    ['id with space', KEY, json({ id: 'a b' }), /id "a b" may only hold letters/],
    ['id haproxy refuses in a server name', KEY, json({ id: 'a(b' }), /id "a\(b" may only hold letters/],
    ['id differs from the key (two keys, one server name)', KEY, json({ id: 'host1:web-2:80' }), /id "host1:web-2:80" does not match the key's last segment/],
    ['upper-case name (nginx upstream names fold case)', '/services/Web/host1:web-1:80', json({ name: 'Web' }), /name "Web" must match/],
    ['IPv6 zone id', KEY, json({ host: 'fe80::1%eth0' }), /zone id/],
    ['JSON: key with a trailing slash', '/services/web/', json({ id: 'web' }), /is not <prefix>\/<name>\/<id>/],
    ['id with ;', KEY, json({ id: 'a;b' }), /id/],
    ['id with /', KEY, json({ id: 'a/b' }), /id/],
    ['id with backtick', KEY, json({ id: 'a`b' }), /id/],
    ['tag with space', KEY, json({ tags: ['a b'] }), /tag "a b" must match/],
    ['tag with ;', KEY, json({ tags: ['a;'] }), /tag/],
    ['tags not a list', KEY, json({ tags: 'v2' }), /tags must be an array/],
    ['meta value with ;', KEY, json({ meta: { v: '1; x' } }), /meta\.v has a control character/],
    ['meta value with newline', KEY, json({ meta: { v: 'a\nb' } }), /meta\.v/],
    ['meta value with quote', KEY, json({ meta: { v: 'a"b' } }), /meta\.v/],
    ['meta value with brace', KEY, json({ meta: { v: '{' } }), /meta\.v/],
    ['meta value not a string', KEY, json({ meta: { v: 1 } }), /meta\.v must be a string/],
    ['meta bad key', KEY, json({ meta: { 'a b': 'x' } }), /meta key "a b"/],
    ['node with space', KEY, json({ node: 'a b' }), /node "a b" may only hold letters/],
    ['plain: trailing newline', KEY, '10.0.0.5:80\n', /port/],
    ['plain: missing port', KEY, '10.0.0.5', /neither a JSON object nor host:port/],
    ['plain: bad port', KEY, '10.0.0.5:0', /port/],
    ['plain: unbracketed IPv6', KEY, 'fd00::1:80', /neither a JSON object nor host:port/],
    ['plain: brackets around IPv4', KEY, '[10.0.0.1]:80', /not an IPv6 address/],
    ['plain: injection', KEY, '10.0.0.5:80;}', /port/],
    ['plain: short key', '/web', '10.0.0.5:80', /is not <prefix>\/<name>\/<id>/],
    ['plain: trailing slash', '/services/web/', '10.0.0.5:80', /is not <prefix>\/<name>\/<id>/],
    ['plain: empty name segment', '/services//x', '10.0.0.5:80', /is not <prefix>\/<name>\/<id>/],
    ['plain: bad name in key', '/services/w%b/1', '10.0.0.5:80', /key segment name/],
    ['oversized value', KEY, json({ meta: { v: 'x'.repeat(70_000) } }), /larger than/],
  ])('%s', (_name, key, value, reason) => {
    const r = parseServiceRecord(key, value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe('parseServiceRecord: one refusal shows the whole accepted shape', () => {
  const shape = /; expected \{"host":"<IP or host name>","port":<1-65535>\}, optional "name":"web" and "id":"a" \(the key's last two segments\), "tags":\["<tag>",…\], "meta":\{"<key>":"<value>",…\}, "node":"<node>"; or plain host:port$/;
  it.each<[string, string, RegExp]>([
    ['port missing', '{"host":"127.0.0.1"}', /^port must be a JSON number, got undefined/],
    ['host missing', '{"port":8081}', /^host must be a string, got undefined/],
    ['name of another service', '{"name":"api","host":"127.0.0.1","port":8081}', /^name "api" does not match/],
    ['not JSON', '{"host":', /^value is not valid JSON/],
  ])('%s', (_name, value, reason) => {
    const r = parseServiceRecord('/services/web/a', value);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(reason);
      expect(r.reason).toMatch(shape);
    }
  });
});

describe('validators', () => {
  it.each<[unknown, boolean]>([
    ['web', true],
    ['web.v2_x-1', true],
    ['Web', false],
    ['_web', false],
    ['', false],
    [5, false],
  ])('validateServiceName(%j) → %s', (v, ok) => {
    expect(validateServiceName(v).ok).toBe(ok);
  });

  it.each<[unknown, number | false]>([
    [80, 80],
    ['8080', 8080],
    ['080', false],
    ['+80', false],
    [' 80', false],
    [0, false],
    [70000, false],
    [NaN, false],
    [null, false],
  ])('validatePort(%j) → %s', (v, want) => {
    const r = validatePort(v);
    expect(r.ok ? r.value : false).toBe(want);
  });

  it.each<[string, boolean]>([
    ['127.0.0.1', true],
    ['::1', true],
    ['fe80::1%eth0', false],
    ['localhost', true],
    ['a-b.c', true],
    ['a..b', false],
    ['a.-b', false],
    ['1.2.3', false],
    ['host:80', false],
  ])('validateHost(%j) → %s', (v, ok) => {
    expect(validateHost(v).ok).toBe(ok);
  });
});

describe('formatServiceRecord', () => {
  it('round-trips with a stable field order and sorted meta', () => {
    const rec: ServiceRecord = { name: 'web', id: 'h:c:80', host: '10.0.0.5', port: 80, tags: ['v2'], meta: { z: '1', a: '2' }, node: 'h' };
    const text = formatServiceRecord(rec);
    expect(text).toBe('{"name":"web","id":"h:c:80","host":"10.0.0.5","port":80,"tags":["v2"],"meta":{"a":"2","z":"1"},"node":"h"}');
    expect(parseServiceRecord('/services/web/h:c:80', text)).toEqual({ ok: true, record: { ...rec, meta: { a: '2', z: '1' } } });
    expect(formatServiceRecord({ ...rec, node: undefined })).not.toContain('node');
  });

  it('formatAddress brackets IPv6 only', () => {
    expect(formatAddress('fd00::1', 80)).toBe('[fd00::1]:80');
    expect(formatAddress('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(formatAddress('web.local', 80)).toBe('web.local:80');
  });
});

describe('property: an accepted host can never break a config line', () => {
  const unsafe = /[\s;{}#"'`]/u;
  const hostile = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.string({ unit: fc.constantFrom('a', '1', '.', ':', '-', ';', '{', '}', '#', '"', "'", ' ', '\n', '\r', '\t', '\u2028', '[', ']', '%', 'f') }),
    fc.tuple(fc.constantFrom('10.0.0.1', 'fd00::1', 'web.local', 'fe80::1%'), fc.string()).map(([a, b]) => a + b),
  );

  it('JSON records', () => {
    fc.assert(
      fc.property(hostile, (host) => {
        const r = parseServiceRecord(KEY, json({ host }));
        return !r.ok || (!unsafe.test(r.record.host) && !r.record.host.includes('\n'));
      }),
      { numRuns: 2000 },
    );
  });

  it('registrator host:port values', () => {
    fc.assert(
      fc.property(hostile, fc.integer({ min: 1, max: 65535 }), (host, port) => {
        const r = parseServiceRecord(KEY, `${host}:${port}`);
        return !r.ok || !unsafe.test(r.record.host);
      }),
      { numRuns: 2000 },
    );
  });
});

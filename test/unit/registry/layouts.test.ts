// Key layouts: native, registrator, skydns, traefik — keys, values, label sanitising, --layout parsing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  entriesFor,
  layoutPrefixes,
  normalizeDomain,
  parseLayouts,
  skydnsInstanceLabel,
  skydnsServiceLabel,
  traefikServerIndex,
  type Layout,
  type LayoutOptions,
} from '../../../src/registry/layouts.js';
import { validateInstanceId, type ServiceRecord } from '../../../src/registry/record.js';
import { sampleRecord } from '../../support/records.js';

const rec = sampleRecord;
const opts = (layouts: Layout[], over: Partial<LayoutOptions> = {}): LayoutOptions => ({
  layouts,
  prefix: '/services',
  domain: 'sidekick.local',
  ttlSec: 15,
  ...over,
});
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TRAEFIK_KEY = /^traefik\/http\/services\/web\/loadbalancer\/servers\/(\d+)\/url$/;

describe('entriesFor: one entry per layout', () => {
  it.each<[string, Layout, Partial<ServiceRecord>, Partial<LayoutOptions>, string | RegExp, string]>([
    [
      'native (docs/records.md example)',
      'native',
      {},
      {},
      '/services/web/host1:web-1:80',
      '{"name":"web","id":"host1:web-1:80","host":"10.0.0.5","port":32768,"tags":["v2"],"meta":{"version":"1.4"},"node":"host1"}',
    ],
    ['native, prefix without leading slash', 'native', { tags: [], meta: {}, node: undefined }, { prefix: 'services/' },
      '/services/web/host1:web-1:80', '{"name":"web","id":"host1:web-1:80","host":"10.0.0.5","port":32768,"tags":[],"meta":{}}'],
    ['native, nested prefix with doubled slashes', 'native', {}, { prefix: '//a//b/' }, '/a/b/web/host1:web-1:80', expect.any(String) as unknown as string],
    ['registrator', 'registrator', {}, {}, '/services/web/host1:web-1:80', '10.0.0.5:32768'],
    ['registrator, IPv6 bracketed', 'registrator', { host: 'fd00::5' }, {}, '/services/web/host1:web-1:80', '[fd00::5]:32768'],
    ['registrator, host name', 'registrator', { host: 'web-1.example.com' }, {}, '/services/web/host1:web-1:80', 'web-1.example.com:32768'],
    ['registrator, root prefix', 'registrator', {}, { prefix: '/' }, '/web/host1:web-1:80', '10.0.0.5:32768'],
    ['skydns, default domain', 'skydns', { id: 'web-1' }, {}, '/skydns/local/sidekick/web/web-1', '{"host":"10.0.0.5","port":32768,"ttl":15}'],
    ['skydns, domain reversed and lower-cased', 'skydns', { id: 'web-1' }, { domain: 'Prod.Example.COM.', ttlSec: 30 },
      '/skydns/com/example/prod/web/web-1', '{"host":"10.0.0.5","port":32768,"ttl":30}'],
    ['skydns, registrator id sanitised', 'skydns', {}, {}, /^\/skydns\/local\/sidekick\/web\/host1-web-1-80-[0-9a-f]{8}$/,
      '{"host":"10.0.0.5","port":32768,"ttl":15}'],
    ['skydns, IPv6 host', 'skydns', { id: 'a', host: 'fd00::5' }, {}, '/skydns/local/sidekick/web/a', '{"host":"fd00::5","port":32768,"ttl":15}'],
    ['skydns, name with dot and underscore', 'skydns', { name: 'Web_API.v2', id: 'x1' }, {}, '/skydns/local/sidekick/web-api-v2/x1', expect.any(String) as unknown as string],
    ['traefik', 'traefik', {}, {}, TRAEFIK_KEY, 'http://10.0.0.5:32768/'],
    ['traefik, IPv6 bracketed', 'traefik', { host: 'fd00::5' }, {}, TRAEFIK_KEY, 'http://[fd00::5]:32768/'],
    ['traefik, host name', 'traefik', { host: 'web.internal' }, {}, TRAEFIK_KEY, 'http://web.internal:32768/'],
    ['traefik ignores prefix and domain', 'traefik', {}, { prefix: '/x', domain: 'a.b' }, TRAEFIK_KEY, 'http://10.0.0.5:32768/'],
  ])('%s', (_title, layout, recOver, optOver, key, value) => {
    const entries = entriesFor(rec(recOver), opts([layout], optOver));
    expect(entries).toHaveLength(1);
    const [e] = entries;
    if (typeof key === 'string') expect(e?.key).toBe(key);
    else expect(e?.key).toMatch(key);
    expect(e?.value).toEqual(value);
  });

  it('writes every selected layout, in order, traefik without a leading slash', () => {
    const entries = entriesFor(rec({ id: 'web-1' }), opts(['native', 'skydns', 'traefik']));
    expect(entries.map((e) => e.key)).toEqual([
      '/services/web/web-1',
      '/skydns/local/sidekick/web/web-1',
      `traefik/http/services/web/loadbalancer/servers/${traefikServerIndex('web-1')}/url`,
    ]);
    expect(entries[2]?.key.startsWith('/')).toBe(false);
  });

  it('is deterministic: equal records give equal entries (no churn)', () => {
    const a = entriesFor(rec({ meta: { b: '2', a: '1' } }), opts(['native', 'skydns', 'traefik']));
    const b = entriesFor(rec({ meta: { a: '1', b: '2' } }), opts(['native', 'skydns', 'traefik']));
    expect(a).toEqual(b);
  });

  it('rejects a bad skydns domain', () => {
    expect(() => entriesFor(rec(), opts(['skydns'], { domain: 'bad_domain.local' }))).toThrow(/domain "bad_domain.local"/);
    expect(() => entriesFor(rec(), opts(['skydns'], { domain: '' }))).toThrow(/not a DNS name/);
  });
});

describe('skydnsInstanceLabel', () => {
  it.each<[string, string | RegExp]>([
    ['web-1', 'web-1'],
    ['abc123', 'abc123'],
    ['host1:web-1:80', /^host1-web-1-80-[0-9a-f]{8}$/],
    ['host1:web-1:80:udp', /^host1-web-1-80-udp-[0-9a-f]{8}$/],
    ['Web-1', /^web-1-[0-9a-f]{8}$/],
    ['-lead', /^lead-[0-9a-f]{8}$/],
    ['a::b__c', /^a-b-c-[0-9a-f]{8}$/],
    [':::', /^[0-9a-f]{8}$/],
    ['x'.repeat(100), /^x{54}-[0-9a-f]{8}$/],
    ['ünïcödé', /^n-c-d-[0-9a-f]{8}$/],
  ])('%s', (id, expected) => {
    const label = skydnsInstanceLabel(id);
    if (typeof expected === 'string') expect(label).toBe(expected);
    else expect(label).toMatch(expected);
    expect(label).toMatch(DNS_LABEL);
  });

  it('keeps ids that squash alike apart', () => {
    const ids = ['a:b', 'a.b', 'a_b', 'A-b', 'a-b', 'a--b'];
    const labels = ids.map(skydnsInstanceLabel);
    expect(new Set(labels).size).toBe(ids.length);
  });

  it('is a DNS label ≤ 63 characters for any valid instance id, and stable', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 300 }), (id) => {
        fc.pre(validateInstanceId(id).ok);
        const label = skydnsInstanceLabel(id);
        expect(label).toMatch(DNS_LABEL);
        expect(label.length).toBeLessThanOrEqual(63);
        expect(skydnsInstanceLabel(id)).toBe(label);
      }),
    );
  });
});

describe('skydnsServiceLabel', () => {
  it.each<[string, string]>([
    ['web', 'web'],
    ['Web', 'web'],
    ['web_api', 'web-api'],
    ['web.v2', 'web-v2'],
    ['a__b..c', 'a-b-c'],
    ['web_', 'web'],
    ['x'.repeat(63), 'x'.repeat(63)],
  ])('%s → %s', (name, expected) => {
    expect(skydnsServiceLabel(name)).toBe(expected);
  });
});

describe('traefikServerIndex', () => {
  it('is a stable decimal number below 2^48', () => {
    const n = traefikServerIndex('host1:web-1:80');
    expect(n).toMatch(/^\d+$/);
    expect(traefikServerIndex('host1:web-1:80')).toBe(n);
    expect(Number(n)).toBeLessThan(2 ** 48);
    expect(Number.isSafeInteger(Number(n))).toBe(true);
  });

  it('differs between instances (no collision among 10,000 ids)', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `host${i % 50}:web-${i}:80`);
    expect(new Set(ids.map(traefikServerIndex)).size).toBe(ids.length);
  });
});

describe('parseLayouts', () => {
  it.each<[string[], Layout[]]>([
    [['native'], ['native']],
    [['NATIVE', ' traefik '], ['native', 'traefik']],
    [['native,skydns', 'traefik'], ['native', 'skydns', 'traefik']],
    [['skydns', 'skydns'], ['skydns']],
    [['registrator', 'traefik'], ['registrator', 'traefik']],
    [['native', ''], ['native']],
  ])('%j', (values, expected) => {
    expect(parseLayouts(values)).toEqual(expected);
  });

  it.each<[string[], RegExp]>([
    [['etcd'], /unknown layout "etcd" \(expected native, registrator, skydns, traefik\)/],
    [['native', 'consul'], /unknown layout "consul"/],
    [[], /no layout given/],
    [[' , '], /no layout given/],
    [['native', 'registrator'], /native and registrator both write \/services\/<name>\/<id>.*choose one/],
  ])('%j is refused', (values, message) => {
    expect(() => parseLayouts(values)).toThrow(message);
  });

  it('names the prefix in the collision error', () => {
    expect(() => parseLayouts(['registrator,native'], 'svc/')).toThrow(/both write \/svc\/<name>\/<id>/);
  });
});

describe('helpers', () => {
  it.each(['sidekick.local', 'Sidekick.Local.', 'a-b.c'])('normalizeDomain accepts %s', (d) => {
    expect(normalizeDomain(d)).toBe(d.toLowerCase().replace(/\.$/, ''));
  });

  it.each(['', '.', 'a..b', '-a.b', 'a_b.c', 'a b', `${'x'.repeat(64)}.local`])('normalizeDomain refuses %j', (d) => {
    expect(() => normalizeDomain(d)).toThrow(/not a DNS name/);
  });

  it('lists the prefixes each layout writes under', () => {
    expect(layoutPrefixes(opts(['native', 'skydns', 'traefik']))).toEqual([
      '/services/',
      '/skydns/local/sidekick/',
      'traefik/http/services/',
    ]);
    expect(layoutPrefixes(opts(['registrator'], { prefix: '/' }))).toEqual(['/']);
  });
});

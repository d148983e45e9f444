// fast-check arbitraries for the store → render path: keys and values as an attacker (or a broken writer) could
// put them into etcd. Every generated entry carries the generator's own verdict (`intent`), independent of
// record.ts: "valid" values must be accepted, "invalid" ones refused; "unknown" ones (random bytes, random JSON,
// odd keys) are only checked for safety. The rules the verdicts encode: a record lives at `/services/<name>/<id>`
// with both segments non-empty, a lower-case service name equal to the folder, an id of [A-Za-z0-9._:-] (≤ 512)
// equal to the key's last segment, a host that is IPv4, IPv6 without a zone id (any valid text: it comes back
// canonical) or an RFC 1123 name, and at most 64 KiB. Most generated values are valid, so that renders are full.
import fc from 'fast-check';
import { BREAKERS } from './common.js';

export type Intent = 'valid' | 'invalid' | 'unknown';

/** One generated store entry. `why` names the generator branch (shown in counterexamples). */
export interface GenEntry {
  key: string;
  value: string;
  intent: Intent;
  why: string;
}

const pick = <T>(xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
const insertAt = (s: string, ch: string, at: number): string => {
  const i = at % (s.length + 1);
  return s.slice(0, i) + ch + s.slice(i);
};

// ---------------------------------------------------------------- hosts

/**
 * Hosts validateHost accepts. IPv6 in any valid text (upper case, IPv4 tail, seven groups and "::" that nginx
 * itself refuses): the record carries its canonical RFC 5952 form, which the renders must show.
 */
export const validHostArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.ipV4() },
  { weight: 3, arbitrary: fc.ipV6() },
  { weight: 1, arbitrary: fc.ipV6().map((h) => h.toUpperCase()) },
  { weight: 4, arbitrary: fc.constant('localhost') },
  { weight: 2, arbitrary: fc.domain({ size: 'small' }) },
  {
    weight: 2,
    arbitrary: pick(['localhost.', 'db-1.internal', 'a', '0a.example', `${'a'.repeat(63)}.example`, '::', '::1', '::ffff:127.0.0.1', '0.0.0.0', '255.255.255.255', '127.0.0.1']),
  },
  {
    weight: 1,
    arbitrary: pick(['1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', 'FE80::1', '2001:DB8:0:0:0:0:0:1', '0:0:0:0:0:0:0:1', '::FFFF:10.0.0.1', '1:0:0:1:0:0:0:1', '64:ff9b::192.0.2.33']),
  },
);

/** Hosts that must be refused: statement breakers, brackets, bad IPs, bad host names, unicode. */
export const HOSTILE_HOSTS: readonly string[] = [
  '1.2.3.4; }', '1.2.3.4;', '1.2.3.4 }', 'evil.com;\n}', 'a b', '1.2.3.4\n', '\n', ' ', '', '{', '}', '#', "'", '"',
  'localhost;', '127.0.0.1#', '${HOME}', '{{x}}', '%0a', '1.2.3.4\u2028', 'a\u2029b', 'x\u0085', 'a\u0000', '[::1]',
  '[::1]:80', '::1]:80;', 'fe80::1%eth0;x', 'fe80::1%eth 0', 'fe80::1%', 'fe80::1%eth0\n', 'fe80::1%eth0}', '-a.com', 'a-.com',
  'a..b', '.', '..', '.a', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}aa`, '999.1.1.1', '1.2.3.4.', '1.2.3', '01.02.03.04',
  '0x7f.0.0.1', '2130706433', 'example.123', 'ünïcode.com', 'xn--; evil', 'a_b.com', 'a*b', 'a/b', 'a\\b', 'a@b', 'unix:/tmp/x',
  'ipv4@1.2.3.4', '1.2.3.4:80', 'a\u200bb', '\ufeffa', 'backup weight=100', '127.0.0.1 backup', '1.2.3.4\tx', 'host\r',
  // Zone ids: valid for isIP, refused by nginx and haproxy, so by validateHost.
  'fe80::1%eth0', 'fe80::a%lo', 'fe80::1%en0.5', '::1%1', 'FE80::1%ETH0',
];

/** Characters that break any host when inserted anywhere (":", ".", "-" excluded: they can keep one valid; "%" makes a zone id at best). */
const HOST_POISON = [...BREAKERS, '/', '@', '*', '|', '<', '>', '(', ')', ',', '!', '&', '=', '?', '[', ']', '~', '^', 'é', '\u200b', '_', '%'];

export const hostileHostArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: pick(HOSTILE_HOSTS) },
  { weight: 3, arbitrary: fc.tuple(validHostArb, pick(HOST_POISON), fc.nat()).map(([h, ch, at]) => insertAt(h, ch, at)) },
);

// ---------------------------------------------------------------- ports

export const validPortArb = fc.oneof(fc.integer({ min: 1, max: 65535 }), pick([1, 80, 443, 8080, 65535]));
/** JSON port values that must be refused (NaN and Infinity serialize as null). */
export const BAD_JSON_PORTS: readonly unknown[] = [-1, 0, 65536, 1e10, 80.5, 65535.1, -0, '80', '', null, true, [80], {}, 1e21, Number.NaN, -80];
/** Raw JSON number texts that must be refused (Infinity, -0 after underflow). */
export const BAD_RAW_PORTS: readonly string[] = ['1e400', '-1e-400', '65536.0', '0.0', '-1', '6.5536e4'];
/** host:port texts with a bad port. */
export const BAD_PORT_TEXTS: readonly string[] = [
  '0', '65536', '080', '-1', '1e3', '80 ', ' 80', '８０', '', '99999999999999999999', '0x50', '80.0', '+80', '70000', '65535a', '٨٠', '80;', '80\n', '80}',
];

// ---------------------------------------------------------------- ids, names, tags, meta, node

/** Instance ids: registrator's `host:container:port[:udp]` charset, which is haproxy's server-name charset. */
const SAFE_ID = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,24}$/);
/** Instance ids validateInstanceId accepts: that charset, 1-512 characters. */
export const validIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: SAFE_ID },
  { weight: 1, arbitrary: pick(['..', '.', '-', ':', '_', 'same', 'host1:web-1:80', 'host1:web-1:53:udp', 'x'.repeat(512)]) },
);
/** Printable characters outside the id charset: haproxy refuses them in a server name. */
const ID_FOREIGN = ['(', ')', ',', '!', '@', '%', '&', '=', '?', '[', ']', '~', '^', '*', '|', '<', '>', '+', 'é', 'ß', '\u200b', '😀', '\ud800'];
/** Characters validateInstanceId must refuse (no "/": these ids also become key segments). */
const ID_POISON = [...BREAKERS, '\u2028', '\u0001', '\u009f', '\u2003', ...ID_FOREIGN];
const WIDE_ID_UNIT = pick([...'abcXYZ019.:-_', ...ID_FOREIGN]);
/** Ids (and key segments) that must be refused. */
export const hostileIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(SAFE_ID, pick(ID_POISON), fc.nat()).map(([s, ch, at]) => insertAt(s, ch, at)) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.string({ unit: WIDE_ID_UNIT, maxLength: 16 }), pick(ID_FOREIGN), fc.nat()).map(([s, ch, at]) => insertAt(s, ch, at)),
  },
  { weight: 1, arbitrary: pick(['x'.repeat(513), ' ', '\n', 'a;b', '{x}', "'", '"', '#', '$x', '\\', '`id`', 'a\u2029b', 'a(b', 'é']) },
);

/** Service names: lower case only (nginx upstream names are case-insensitive: "Web" would collide with "web"). */
const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const VALID_NAMES = ['web', 'api', 'web-api', 'web.v2', 'web_x', 'a', '0', 'db', 'web-api.v2', '0web', 'a'.repeat(63)] as const;
/** Folder names that must never become a service (no "/": they are key segments). */
export const HOSTILE_NAMES: readonly string[] = [
  'we b', 'web;', '-web', '.web', '..', '.', 'a'.repeat(64), 'wéb', 'web\n', '{web}', 'web#', '_web', 'web\u2028', "web'", 'w$b',
  'Web', 'WEB', 'wEb', 'Api', 'DB', 'Web-Api.V2', 'web:1',
];
export const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: pick(VALID_NAMES) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,12}$/) },
  { weight: 1, arbitrary: pick(HOSTILE_NAMES) },
  // One upper-case letter in an otherwise valid name.
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,8}[A-Z][a-z0-9._-]{0,3}$/) },
);
export const nameIsValid = (n: string): boolean => NAME_RE.test(n);

const validTagsArb = fc.array(fc.stringMatching(/^[A-Za-z0-9._:=/@+,-]{1,16}$/), { maxLength: 4 });
export const BAD_TAGS: readonly unknown[] = [
  ['a b'], ['x;'], [''], 'web', {}, [1], [null], [['a']], Array.from({ length: 65 }, () => 'a'), ['a'.repeat(257)], ['é'], ['{'], ['}'], ['\n'], ['#'],
  ["'"], ['"'], ['a\u2028'], ['$x'], ['a\\b'], null, true,
];
const META_VALUE_UNIT = pick([...'abc XYZ 019#$\\/é😀=:,.@!?()[]<>|&*+-~^%']);
const validMetaArb = fc.dictionary(fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/), fc.string({ unit: META_VALUE_UNIT, maxLength: 30 }), { maxKeys: 4 });
export const BAD_META: readonly unknown[] = [
  [], 'x', null, 1, { 'a b': 'x' }, { '': 'x' }, { k: 1 }, { k: null }, { k: {} }, { k: ['x'] }, { k: 'a\nb' }, { k: 'a;b' }, { k: 'a{b' },
  { k: 'a}b' }, { k: '"' }, { k: "'" }, { k: '`' }, { k: '\u2028' }, { k: '\u0085' }, { k: '\u0000' }, { k: 'x'.repeat(1025) },
  Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])), { ['k'.repeat(129)]: 'x' }, { 'ké': 'x' }, { 'k/1': 'x' },
];
export const BAD_NODES: readonly unknown[] = ['', 'a b', 'x;', 1, null, false, 'x/y', '#', 'n\n', 'x'.repeat(513), 'a(b', 'nöde', 'n,1'];
const BAD_IDS_TYPED: readonly unknown[] = [1, null, true, [], {}, ['a'], ''];
const BAD_HOSTS_TYPED: readonly unknown[] = [123, null, true, [], {}, ['1.2.3.4'], { host: '1.2.3.4' }];

// ---------------------------------------------------------------- values

/** A valid record object for service `name` stored at `/services/<name>/<id>` (extra unknown fields sometimes: ignored). */
export function recordObjArb(name: string, id: string): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record({
      host: validHostArb,
      port: validPortArb,
      tags: fc.option(validTagsArb, { nil: undefined }),
      meta: fc.option(validMetaArb, { nil: undefined }),
      node: fc.option(SAFE_ID, { nil: undefined }),
      extra: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined, freq: 4 }),
    })
    .map((r) => {
      const o: Record<string, unknown> = { name, id, host: r.host, port: r.port };
      if (r.tags !== undefined) o.tags = r.tags;
      if (r.meta !== undefined) o.meta = r.meta;
      if (r.node !== undefined) o.node = r.node;
      if (r.extra !== undefined) o['x-extra'] = r.extra;
      return o;
    });
}

const formatAddr = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
/** Rewrites every character of `set` in JSON text as a \uXXXX escape (only safe where they occur inside strings). */
const escapeChars = (json: string, set: RegExp): string =>
  json.replace(set, (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, '0')}`);

/** A generated value with its verdict at a key whose segments are valid (name and id the ones it was made for). */
interface GenValue {
  value: string;
  intent: Intent;
  why: string;
}

/** Values that must be accepted at `/services/<name>/<id>` (name and id valid). */
export function validValueArb(name: string, id: string): fc.Arbitrary<GenValue> {
  const json = recordObjArb(name, id);
  const valid = (why: string) => (value: string): GenValue => ({ value, intent: 'valid', why });
  return fc.oneof(
    { weight: 5, arbitrary: json.map((o) => JSON.stringify(o)).map(valid('json')) },
    { weight: 1, arbitrary: json.map((o) => JSON.stringify(o, null, 2)).map(valid('json-pretty')) },
    { weight: 1, arbitrary: json.map((o) => JSON.stringify(o).replace(/"port":(\d+)/, '"port":$1.0')).map(valid('json-port-float-text')) },
    {
      // Every letter and dot \u-escaped: the same record. Only without x-extra (no true/false/null literal to
      // break) and without escapes already in the text (a name like "web\n"); otherwise the plain JSON. No
      // filter here: a filter that rejects everything for one folder name never terminates.
      weight: 1,
      arbitrary: json.map((o) => {
        const text = JSON.stringify(o);
        const escapable = o['x-extra'] === undefined && !text.includes('\\');
        return { value: escapable ? escapeChars(text, /[a-z.]/g) : text, intent: 'valid' as const, why: escapable ? 'json-escaped' : 'json' };
      }),
    },
    {
      // A hostile host (or another id) first, overridden by the valid one (JSON.parse keeps the last).
      weight: 1,
      arbitrary: fc
        .tuple(json, fc.oneof(hostileHostArb.map((h) => ['host', h] as const), fc.oneof(validIdArb, hostileIdArb).map((i) => ['id', i] as const)))
        .map(([o, [field, bad]]) => `{${JSON.stringify(field)}:${JSON.stringify(bad)},${JSON.stringify(o).slice(1)}`)
        .map(valid('json-dup-field-good-last')),
    },
    { weight: 3, arbitrary: fc.tuple(validHostArb, validPortArb).map(([h, p]) => formatAddr(h, p)).map(valid('plain')) },
    {
      // Exactly at the 64 KiB limit (1- and 2-byte padding): still accepted. Rare.
      weight: 1,
      arbitrary: fc.oneof(
        { weight: 30, arbitrary: fc.tuple(validHostArb, validPortArb).map(([h, p]) => formatAddr(h, p)).map(valid('plain')) },
        { weight: 1, arbitrary: fc.constantFrom('x', 'é').map((unit) => ({ value: paddedRecord(name, 65_536, unit, id), intent: 'valid' as const, why: `at-limit-${unit}` })) },
      ),
    },
  );
}

type Field = 'name' | 'id' | 'host' | 'port' | 'tags' | 'meta' | 'node';
/** An id that is not `id` (the key's segment): valid on its own, refused in a JSON record at that key. */
function otherIdArb(id: string): fc.Arbitrary<string> {
  const variants = [id.toUpperCase(), id.toLowerCase(), `${id}:80`, `${id}.`, 'same'].filter((v) => v !== id);
  return fc.oneof(validIdArb, pick(variants)).map((v) => (v === id ? `${id}-2` : v));
}
/** One field replaced by a bad value (for a record of service `name` at id segment `id`). */
export function badFieldArb(name: string, id: string): fc.Arbitrary<[Field, unknown]> {
  const badNames: unknown[] = [`${name}x`, 'other', '', 'we b', 'web;', 123, null, ['web'], 'wéb', 'a'.repeat(64), 'Web', name.toUpperCase(), ` ${name}`];
  return fc.oneof(
    fc.tuple(fc.constant<Field>('host'), fc.oneof(hostileHostArb, pick(BAD_HOSTS_TYPED))),
    fc.tuple(fc.constant<Field>('port'), pick(BAD_JSON_PORTS)),
    fc.tuple(fc.constant<Field>('name'), pick(badNames.filter((n) => n !== name))),
    fc.tuple(fc.constant<Field>('id'), fc.oneof(hostileIdArb, pick(BAD_IDS_TYPED), otherIdArb(id))),
    fc.tuple(fc.constant<Field>('tags'), pick(BAD_TAGS)),
    fc.tuple(fc.constant<Field>('meta'), pick(BAD_META)),
    fc.tuple(fc.constant<Field>('node'), pick(BAD_NODES)),
  );
}

/** Structurally broken values (all refused). */
const BROKEN: readonly string[] = [
  '{', '{}', '{"name":"web"', "{'name':'web'}", '{name:web}', '{"name":"web",}', 'null', '[]', '"1.2.3.4:80"', '{"name":"web"}garbage', 'true', '0',
  '[{"name":"web","id":"a","host":"1.2.3.4","port":80}]', ' {"name":"web","id":"a","host":"1.2.3.4","port":80}',
  '{"__proto__":{"name":"web","id":"a","host":"1.2.3.4","port":80}}', '{"name":"web","id":"a","host":"1.2.3.4","port":80', '\u0000{}',
  '1.2.3.4', '1.2.3.4:80:90', '[1.2.3.4]:80', '::1:80', '[::1]80', '[::1]:', ':80', '', ' 1.2.3.4:80', '1.2.3.4:80 ', '1.2.3.4:80\n', 'localhost:80;',
  '[fe80::1%eth0 x]:80', '[::1]:80]', '[[::1]]:80', 'localhost:80 backup', 'localhost:80;server 6.6.6.6:80', '1.2.3.4:80\u2028', '1.2.3.4:80#',
  '[fe80::1%eth0]:80', '[FE80::1%1]:80',
];

let hugeCache: Record<string, string> | undefined;
/** Big values, built once: 1 MiB plain and JSON, and 64 KiB boundary cases. */
function huge(): Record<string, string> {
  if (hugeCache) return hugeCache;
  const mib = 'x'.repeat(1 << 20);
  hugeCache = {
    plain1m: `${mib}:80`,
    json1m: JSON.stringify({ name: 'web', id: 'big', host: '1.2.3.4', port: 80, meta: { m: mib } }),
    hosts1m: JSON.stringify({ name: 'web', id: 'big', host: `${mib}.com`, port: 80 }),
  };
  return hugeCache;
}
/** A valid record padded with an ignored field to exactly `bytes` UTF-8 bytes (`unit` is 1 or 2 bytes). */
export function paddedRecord(name: string, bytes: number, unit = 'x', id = 'padded'): string {
  const head = JSON.stringify({ name, id, host: '10.9.8.7', port: 8080, pad: '' });
  const unitBytes = Buffer.byteLength(unit);
  const need = bytes - Buffer.byteLength(head);
  const pad = unit.repeat(Math.floor(need / unitBytes)) + 'x'.repeat(need % unitBytes);
  return head.replace('"pad":""', `"pad":"${pad}"`);
}

/** Values that must be refused at `/services/<name>/<id>` (at an odd key a JSON id may match it after all). */
export function invalidValueArb(name: string, id: string): fc.Arbitrary<GenValue> {
  const json = recordObjArb(name, id);
  const invalid = (why: string) => (value: string): GenValue => ({ value, intent: 'invalid', why });
  const mutated = fc.tuple(json, badFieldArb(name, id)).map(([o, [field, bad]]) => ({ ...o, [field]: bad }));
  return fc.oneof(
    { weight: 12, arbitrary: mutated.map((o) => JSON.stringify(o)).map(invalid('json-bad-field')) },
    // The same, with the breakers written as \u escapes (JSON.parse restores them).
    { weight: 3, arbitrary: mutated.map((o) => escapeChars(JSON.stringify(o), /[;#' $`\u2028\u2029]/g)).map(invalid('json-bad-field-escaped')) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(json, badFieldArb(name, id))
        .map(([o, [field, bad]]) => `${JSON.stringify(o).slice(0, -1)},${JSON.stringify(field)}:${JSON.stringify(bad) ?? 'null'}}`)
        .map(invalid('json-dup-field-bad-last')),
    },
    // A whole valid record but for its id: another key's id (two keys, one id: duplicate server names).
    { weight: 2, arbitrary: fc.tuple(json, otherIdArb(id)).map(([o, other]) => JSON.stringify({ ...o, id: other })).map(invalid('json-id-not-key')) },
    { weight: 1, arbitrary: fc.tuple(json, pick(BAD_RAW_PORTS)).map(([o, raw]) => JSON.stringify(o).replace(/"port":\d+/, `"port":${raw}`)).map(invalid('json-raw-port')) },
    { weight: 3, arbitrary: pick(BROKEN).map(invalid('broken')) },
    {
      weight: 4,
      // "[::1]" unbracketed is registrator's own IPv6 form: bracket it once more to keep it hostile.
      arbitrary: fc.tuple(hostileHostArb, validPortArb, fc.boolean()).map(([h, p, br]) => (br || /^\[.*\]$/.test(h) ? `[${h}]:${p}` : `${h}:${p}`)).map(invalid('plain-bad-host')),
    },
    { weight: 2, arbitrary: fc.tuple(validHostArb, pick(BAD_PORT_TEXTS)).map(([h, p]) => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`)).map(invalid('plain-bad-port')) },
    {
      weight: 1,
      arbitrary: pick(['plain1m', 'json1m', 'hosts1m', 'over', 'over-multibyte']).map((k) => {
        const value = k === 'over' ? paddedRecord(name, 65_537, 'x', id) : k === 'over-multibyte' ? paddedRecord(name, 65_537, 'é', id) : (huge()[k] as string);
        return { value, intent: 'invalid' as const, why: `huge-${k}` };
      }),
    },
  );
}

/** Values nobody vouches for: random bytes (utf8/latin1), random JSON, random "host:port", random records. */
export function unknownValueArb(name: string, id: string): fc.Arbitrary<GenValue> {
  const u = (why: string) => (value: string): GenValue => ({ value, intent: 'unknown', why });
  const anyJson = fc.jsonValue({ maxDepth: 2 });
  return fc.oneof(
    fc.tuple(fc.uint8Array({ maxLength: 256 }), fc.boolean()).map(([b, utf8]) => Buffer.from(b).toString(utf8 ? 'utf8' : 'latin1')).map(u('bytes')),
    fc.uint8Array({ maxLength: 128 }).map((b) => `{${Buffer.from(b).toString('utf8')}`).map(u('brace-bytes')),
    fc.json({ maxDepth: 3 }).map(u('json')),
    fc
      .record(
        {
          name: fc.oneof(fc.constant(name), anyJson),
          id: fc.oneof(fc.constant(id), validIdArb, hostileIdArb, anyJson),
          host: fc.oneof(validHostArb, hostileHostArb, anyJson),
          port: fc.oneof(validPortArb, pick(BAD_JSON_PORTS), anyJson),
          tags: fc.oneof(validTagsArb, pick(BAD_TAGS), anyJson),
          meta: fc.oneof(validMetaArb, pick(BAD_META), anyJson),
          node: fc.oneof(SAFE_ID, pick(BAD_NODES), anyJson),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o))
      .map(u('random-record')),
    fc.tuple(fc.string({ unit: 'binary', maxLength: 24 }), fc.string({ unit: 'binary-ascii', maxLength: 6 })).map(([h, p]) => `${h}:${p}`).map(u('random-plain')),
    fc.string({ unit: 'binary', maxLength: 64 }).map(u('random-string')),
  );
}

function valueArb(name: string, id: string): fc.Arbitrary<GenValue> {
  return fc.oneof({ weight: 8, arbitrary: validValueArb(name, id) }, { weight: 5, arbitrary: invalidValueArb(name, id) }, { weight: 2, arbitrary: unknownValueArb(name, id) });
}

/**
 * An entry at `/services/<name>/<segment>`, its value made for that segment (a JSON record's id is the key's
 * last segment): a valid value stays valid only when both the name and the segment are.
 */
export function folderEntryArb(name: string): fc.Arbitrary<GenEntry> {
  const seg = fc.oneof(
    { weight: 17, arbitrary: validIdArb.map((s) => ({ seg: s, ok: true })) },
    { weight: 3, arbitrary: hostileIdArb.map((s) => ({ seg: s, ok: false })) },
  );
  return seg.chain((s) =>
    valueArb(name, s.seg).map((v): GenEntry => {
      const intent = v.intent === 'valid' && (!s.ok || !nameIsValid(name)) ? 'invalid' : v.intent;
      return { key: `/services/${name}/${s.seg}`, value: v.value, intent, why: `${v.why}${s.ok ? '' : '+bad-key-segment'}` };
    }),
  );
}

/**
 * Keys of odd shape: empty segments, dot segments, no leading slash, deeper, NUL, very long, leaf keys. `refused`:
 * no value is accepted there (an empty name or id segment, or an id segment outside the charset or too long).
 */
const ODD_KEYS: ReadonlyArray<{ key: (id: string, name: string) => string; refused?: true }> = [
  { key: (id, n) => `/services/${n}//${id}`, refused: true },
  { key: (id, n) => `/services/${n}/${id}/deeper` },
  { key: (_id, n) => `/services/${n}/`, refused: true },
  { key: (_id, n) => `/services/${n}` },
  { key: (id, n) => `/services//${n}/${id}` },
  { key: (id, n) => `/services/../services/${n}/${id}` },
  { key: (id, n) => `/services/./${n}/${id}` },
  { key: (id, n) => `services/${n}/${id}` },
  { key: (id, n) => `/services/${n}/${id}/..` },
  { key: (id, n) => `/services/${n}/../${id}` },
  { key: (id, n) => `/other/${n}/${id}` },
  { key: (_id, n) => `/services/${n}/${'k'.repeat(5000)}`, refused: true },
  { key: (id, n) => `/services/${n}/${id}\u0000`, refused: true },
  { key: (id, n) => `/services/${n}/${id}\n`, refused: true },
  { key: (_id, n) => `/services/${n}/%2e%2e`, refused: true },
  { key: (_id, n) => `/services/${n}/..` },
  { key: (_id, n) => `/services/${n}/.` },
  { key: (id, n) => `/services/${n}/${id}/../../../etc/passwd` },
  { key: (id, n) => `//services/${n}/${id}` },
  { key: (id, n) => `/services/${n}/\u2028${id}`, refused: true },
  { key: (id, n) => `/SERVICES/${n}/${id}` },
  { key: (id, n) => `/services/${n}/${id}/`, refused: true },
];
export const oddEntryArb: fc.Arbitrary<GenEntry> = fc.tuple(fc.nat(ODD_KEYS.length - 1), SAFE_ID, pick(VALID_NAMES)).chain(([form, id, name]) => {
  const odd = ODD_KEYS[form] as (typeof ODD_KEYS)[number];
  return fc.oneof(validValueArb(name, id), unknownValueArb(name, id), invalidValueArb(name, id)).map(
    (v): GenEntry => ({ key: odd.key(id, name), value: v.value, intent: odd.refused ? 'invalid' : 'unknown', why: `odd-key-${form}:${v.why}` }),
  );
});

const short = (s: string): string => (s.length > 160 ? `${JSON.stringify(s.slice(0, 160))}…(${s.length} chars)` : JSON.stringify(s));
/** Counterexamples print entries shortened: a 1 MiB value printed whole would drown the report (and the runner). */
function printable(e: GenEntry): GenEntry {
  return Object.assign(e, { [fc.toStringMethod]: () => `{key:${short(e.key)},value:${short(e.value)},intent:${e.intent},why:${e.why}}` });
}

/** One store entry: mostly service web (what the fixture templates read), other folders, odd keys. */
export const entryArb: fc.Arbitrary<GenEntry> = fc
  .oneof({ weight: 10, arbitrary: folderEntryArb('web') }, { weight: 5, arbitrary: nameArb.chain((n) => folderEntryArb(n)) }, { weight: 2, arbitrary: oddEntryArb })
  .map(printable);

/** A run's store: 50-70 entries, and a second round of changes (edit, delete, add). */
export const storeArb = fc.record({
  entries: fc.array(entryArb, { minLength: 50, maxLength: 70 }),
  changes: fc.array(fc.record({ at: fc.nat(), op: fc.constantFrom('edit' as const, 'delete' as const, 'add' as const), entry: entryArb }), { maxLength: 12 }),
  view: fc.constantFrom('mirror-set' as const, 'mirror-bulk' as const, 'mapview' as const),
});
export type StoreInput = typeof storeArb extends fc.Arbitrary<infer T> ? T : never;

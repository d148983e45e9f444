// fast-check arbitraries for the store → render path: keys and values as an attacker (or a broken writer) could
// put them into etcd. Every generated entry carries the generator's own verdict (`intent`), independent of
// record.ts: "valid" values must be accepted, "invalid" ones refused; "unknown" ones (random bytes, random JSON,
// odd keys) are only checked for safety.
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

/** Hosts validateHost accepts. Zone ids are accepted too (a known bug: nginx and haproxy refuse them). */
export const validHostArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.ipV4() },
  { weight: 3, arbitrary: fc.ipV6() },
  { weight: 4, arbitrary: fc.constant('localhost') },
  { weight: 2, arbitrary: fc.domain({ size: 'small' }) },
  {
    weight: 2,
    arbitrary: pick(['localhost.', 'db-1.internal', 'a', '0a.example', `${'a'.repeat(63)}.example`, '::', '::1', '::ffff:127.0.0.1', '0.0.0.0', '255.255.255.255', '127.0.0.1']),
  },
  { weight: 1, arbitrary: pick(['fe80::1%eth0', 'fe80::a%lo', 'fe80::1%en0.5']) },
);

/** Hosts that must be refused: statement breakers, brackets, bad IPs, bad host names, unicode. */
export const HOSTILE_HOSTS: readonly string[] = [
  '1.2.3.4; }', '1.2.3.4;', '1.2.3.4 }', 'evil.com;\n}', 'a b', '1.2.3.4\n', '\n', ' ', '', '{', '}', '#', "'", '"',
  'localhost;', '127.0.0.1#', '${HOME}', '{{x}}', '%0a', '1.2.3.4\u2028', 'a\u2029b', 'x\u0085', 'a\u0000', '[::1]',
  '[::1]:80', '::1]:80;', 'fe80::1%eth0;x', 'fe80::1%eth 0', 'fe80::1%', 'fe80::1%eth0\n', 'fe80::1%eth0}', '-a.com', 'a-.com',
  'a..b', '.', '..', '.a', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}aa`, '999.1.1.1', '1.2.3.4.', '1.2.3', '01.02.03.04',
  '0x7f.0.0.1', '2130706433', 'example.123', 'ünïcode.com', 'xn--; evil', 'a_b.com', 'a*b', 'a/b', 'a\\b', 'a@b', 'unix:/tmp/x',
  'ipv4@1.2.3.4', '1.2.3.4:80', 'a\u200bb', '\ufeffa', 'backup weight=100', '127.0.0.1 backup', '1.2.3.4\tx', 'host\r',
];

/** Characters that break any host when inserted anywhere ("%", ":", ".", "-" excluded: they can keep one valid). */
const HOST_POISON = [...BREAKERS, '/', '@', '*', '|', '<', '>', '(', ')', ',', '!', '&', '=', '?', '[', ']', '~', '^', 'é', '\u200b', '_'];

export const hostileHostArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: pick(HOSTILE_HOSTS) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(validHostArb.filter((h) => !h.includes('%')), pick(HOST_POISON), fc.nat())
      .map(([h, ch, at]) => insertAt(h, ch, at)),
  },
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

const SAFE_ID = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,24}$/);
const WIDE_ID_UNIT = pick([
  ...'abcXYZ019.:-_', '(', ')', ',', '!', '@', '%', '&', '=', '?', '[', ']', '~', '^', '*', '|', '<', '>', '+', 'é', 'ß', '\u200b', '😀', '\ud800',
]);
/** Instance ids validateInstanceId accepts: mostly haproxy-safe, some with characters haproxy refuses (a known gap). */
export const validIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: SAFE_ID },
  { weight: 2, arbitrary: fc.string({ unit: WIDE_ID_UNIT, minLength: 1, maxLength: 16 }) },
  { weight: 1, arbitrary: pick(['..', '.', 'host1:web-1:80', 'host1:web-1:53:udp', 'x'.repeat(512)]) },
);
/** Characters validateInstanceId must refuse (no "/": these ids also become key segments). */
const ID_POISON = [...BREAKERS, '\u2028', '\u0001', '\u009f', '\u2003'];
/** Ids (and key segments) that must be refused. */
export const hostileIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(SAFE_ID, pick(ID_POISON), fc.nat()).map(([s, ch, at]) => insertAt(s, ch, at)) },
  { weight: 1, arbitrary: pick(['x'.repeat(513), ' ', '\n', 'a;b', '{x}', "'", '"', '#', '$x', '\\', '`id`', 'a\u2029b']) },
);

export const VALID_NAMES = ['web', 'api', 'web-api', 'web.v2', 'web_x', 'Web', 'WEB', 'a', '0', 'db', 'web-api.v2'] as const;
/** Folder names that must never become a service (no "/": they are key segments). */
export const HOSTILE_NAMES: readonly string[] = ['we b', 'web;', '-web', '.web', '..', '.', 'a'.repeat(64), 'wéb', 'web\n', '{web}', 'web#', '_web', 'web\u2028', "web'", 'w$b'];
export const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: pick(VALID_NAMES) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,12}$/) },
  { weight: 1, arbitrary: pick(HOSTILE_NAMES) },
);
export const nameIsValid = (n: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(n);

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
export const BAD_NODES: readonly unknown[] = ['', 'a b', 'x;', 1, null, false, 'x/y', '#', 'n\n', 'x'.repeat(513)];
const BAD_IDS_TYPED: readonly unknown[] = [1, null, true, [], {}, ['a'], ''];
const BAD_HOSTS_TYPED: readonly unknown[] = [123, null, true, [], {}, ['1.2.3.4'], { host: '1.2.3.4' }];

// ---------------------------------------------------------------- values

/** A valid record object for service `name` (extra unknown fields included sometimes: they are ignored). */
export function recordObjArb(name: string): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record({
      id: validIdArb,
      host: validHostArb,
      port: validPortArb,
      tags: fc.option(validTagsArb, { nil: undefined }),
      meta: fc.option(validMetaArb, { nil: undefined }),
      node: fc.option(SAFE_ID, { nil: undefined }),
      extra: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined, freq: 4 }),
    })
    .map((r) => {
      const o: Record<string, unknown> = { name, id: r.id, host: r.host, port: r.port };
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

/** A generated value plus whether it is plain host:port (plain values also need a valid key id segment). */
interface GenValue {
  value: string;
  intent: Intent;
  why: string;
  plain: boolean;
}

/** Values that must be accepted at `/services/<name>/<valid id>`. */
export function validValueArb(name: string): fc.Arbitrary<GenValue> {
  const json = recordObjArb(name);
  return fc.oneof(
    { weight: 5, arbitrary: json.map((o) => ({ value: JSON.stringify(o), intent: 'valid' as const, why: 'json', plain: false })) },
    { weight: 1, arbitrary: json.map((o) => ({ value: JSON.stringify(o, null, 2), intent: 'valid' as const, why: 'json-pretty', plain: false })) },
    {
      weight: 1,
      arbitrary: json.map((o) => ({
        value: JSON.stringify(o).replace(/"port":(\d+)/, '"port":$1.0'),
        intent: 'valid' as const,
        why: 'json-port-float-text',
        plain: false,
      })),
    },
    {
      // Every letter and dot \u-escaped: the same record. Only without x-extra (no true/false/null literal to
      // break) and without escapes already in the text (a name like "web\n"); otherwise the plain JSON. No
      // filter here: a filter that rejects everything for one folder name never terminates.
      weight: 1,
      arbitrary: json.map((o) => {
        const text = JSON.stringify(o);
        const escapable = o['x-extra'] === undefined && !text.includes('\\');
        return { value: escapable ? escapeChars(text, /[a-z.]/g) : text, intent: 'valid' as const, why: escapable ? 'json-escaped' : 'json', plain: false };
      }),
    },
    {
      // A hostile host first, overridden by the valid one (JSON.parse keeps the last).
      weight: 1,
      arbitrary: fc.tuple(json, hostileHostArb).map(([o, bad]) => ({
        value: `{"host":${JSON.stringify(bad)},${JSON.stringify(o).slice(1)}`,
        intent: 'valid' as const,
        why: 'json-dup-field-good-last',
        plain: false,
      })),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(validHostArb, validPortArb).map(([h, p]) => ({ value: formatAddr(h, p), intent: 'valid' as const, why: 'plain', plain: true })),
    },
    {
      // Exactly at the 64 KiB limit (1- and 2-byte padding): still accepted. Rare.
      weight: 1,
      arbitrary: fc.oneof(
        { weight: 30, arbitrary: fc.tuple(validHostArb, validPortArb).map(([h, p]) => ({ value: formatAddr(h, p), intent: 'valid' as const, why: 'plain', plain: true })) },
        { weight: 1, arbitrary: fc.tuple(SAFE_ID, fc.constantFrom('x', 'é')).map(([id, unit]) => ({ value: paddedRecord(name, 65_536, unit, id), intent: 'valid' as const, why: `at-limit-${unit}`, plain: false })) },
      ),
    },
  );
}

type Field = 'name' | 'id' | 'host' | 'port' | 'tags' | 'meta' | 'node';
/** One field replaced by a bad value. */
export function badFieldArb(name: string): fc.Arbitrary<[Field, unknown]> {
  return fc.oneof(
    fc.tuple(fc.constant<Field>('host'), fc.oneof(hostileHostArb, pick(BAD_HOSTS_TYPED))),
    fc.tuple(fc.constant<Field>('port'), pick(BAD_JSON_PORTS)),
    fc.tuple(fc.constant<Field>('name'), pick<unknown>([`${name}x`, 'other', '', 'we b', 'web;', 123, null, ['web'], 'wéb', 'a'.repeat(64)])),
    fc.tuple(fc.constant<Field>('id'), fc.oneof(hostileIdArb, pick(BAD_IDS_TYPED))),
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

/** Values that must be refused at `/services/<name>/<valid id>`. */
export function invalidValueArb(name: string): fc.Arbitrary<GenValue> {
  const json = recordObjArb(name);
  const mutated = fc.tuple(json, badFieldArb(name)).map(([o, [field, bad]]) => ({ ...o, [field]: bad }));
  return fc.oneof(
    { weight: 12, arbitrary: mutated.map((o) => ({ value: JSON.stringify(o), intent: 'invalid' as const, why: 'json-bad-field', plain: false })) },
    {
      // The same, with the breakers written as \u escapes (JSON.parse restores them).
      weight: 3,
      arbitrary: mutated.map((o) => ({
        value: escapeChars(JSON.stringify(o), /[;#' $`\u2028\u2029]/g),
        intent: 'invalid' as const,
        why: 'json-bad-field-escaped',
        plain: false,
      })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(json, badFieldArb(name)).map(([o, [field, bad]]) => ({
        value: `${JSON.stringify(o).slice(0, -1)},${JSON.stringify(field)}:${JSON.stringify(bad) ?? 'null'}}`,
        intent: 'invalid' as const,
        why: 'json-dup-field-bad-last',
        plain: false,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(json, pick(BAD_RAW_PORTS)).map(([o, raw]) => ({
        value: JSON.stringify(o).replace(/"port":\d+/, `"port":${raw}`),
        intent: 'invalid' as const,
        why: 'json-raw-port',
        plain: false,
      })),
    },
    { weight: 3, arbitrary: pick(BROKEN).map((value) => ({ value, intent: 'invalid' as const, why: 'broken', plain: false })) },
    {
      weight: 4,
      arbitrary: fc.tuple(hostileHostArb, validPortArb, fc.boolean()).map(([h, p, br]) => ({
        // "[::1]" unbracketed is registrator's own IPv6 form: bracket it once more to keep it hostile.
        value: br || /^\[.*\]$/.test(h) ? `[${h}]:${p}` : `${h}:${p}`,
        intent: 'invalid' as const,
        why: 'plain-bad-host',
        plain: true,
      })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(validHostArb, pick(BAD_PORT_TEXTS)).map(([h, p]) => ({
        value: h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`,
        intent: 'invalid' as const,
        why: 'plain-bad-port',
        plain: true,
      })),
    },
    {
      weight: 1,
      arbitrary: pick(['plain1m', 'json1m', 'hosts1m', 'over', 'over-multibyte']).map((k) => {
        const value = k === 'over' ? paddedRecord(name, 65_537) : k === 'over-multibyte' ? paddedRecord(name, 65_537, 'é') : (huge()[k] as string);
        return { value, intent: 'invalid' as const, why: `huge-${k}`, plain: false };
      }),
    },
  );
}

/** Values nobody vouches for: random bytes (utf8/latin1), random JSON, random "host:port", random records. */
export function unknownValueArb(name: string): fc.Arbitrary<GenValue> {
  const u = (why: string) => (value: string): GenValue => ({ value, intent: 'unknown', why, plain: false });
  const anyJson = fc.jsonValue({ maxDepth: 2 });
  return fc.oneof(
    fc.tuple(fc.uint8Array({ maxLength: 256 }), fc.boolean()).map(([b, utf8]) => Buffer.from(b).toString(utf8 ? 'utf8' : 'latin1')).map(u('bytes')),
    fc.uint8Array({ maxLength: 128 }).map((b) => `{${Buffer.from(b).toString('utf8')}`).map(u('brace-bytes')),
    fc.json({ maxDepth: 3 }).map(u('json')),
    fc
      .record(
        {
          name: fc.oneof(fc.constant(name), anyJson),
          id: fc.oneof(validIdArb, hostileIdArb, anyJson),
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

function valueArb(name: string): fc.Arbitrary<GenValue> {
  return fc.oneof({ weight: 6, arbitrary: validValueArb(name) }, { weight: 5, arbitrary: invalidValueArb(name) }, { weight: 2, arbitrary: unknownValueArb(name) });
}

/** An entry at `/services/<name>/<segment>`; a plain value is refused when the key's id segment is. */
export function folderEntryArb(name: string): fc.Arbitrary<GenEntry> {
  const seg = fc.oneof(
    { weight: 8, arbitrary: validIdArb.map((s) => ({ seg: s, ok: true })) },
    { weight: 2, arbitrary: hostileIdArb.map((s) => ({ seg: s, ok: false })) },
  );
  return fc.tuple(seg, valueArb(name)).map(([s, v]) => {
    let intent = v.intent;
    if (intent === 'valid' && ((v.plain && !s.ok) || !nameIsValid(name))) intent = 'invalid';
    return { key: `/services/${name}/${s.seg}`, value: v.value, intent, why: `${v.why}${s.ok ? '' : '+bad-key-segment'}` };
  });
}

/** Keys of odd shape: empty segments, dot segments, no leading slash, deeper, NUL, very long, leaf keys. */
const ODD_KEYS: ReadonlyArray<(id: string, name: string) => string> = [
  (id, n) => `/services/${n}//${id}`,
  (id, n) => `/services/${n}/${id}/deeper`,
  (_id, n) => `/services/${n}/`,
  (_id, n) => `/services/${n}`,
  (id, n) => `/services//${n}/${id}`,
  (id, n) => `/services/../services/${n}/${id}`,
  (id, n) => `/services/./${n}/${id}`,
  (id, n) => `services/${n}/${id}`,
  (id, n) => `/services/${n}/${id}/..`,
  (id, n) => `/services/${n}/../${id}`,
  (id, n) => `/other/${n}/${id}`,
  (_id, n) => `/services/${n}/${'k'.repeat(5000)}`,
  (id, n) => `/services/${n}/${id}\u0000`,
  (id, n) => `/services/${n}/${id}\n`,
  (_id, n) => `/services/${n}/%2e%2e`,
  (_id, n) => `/services/${n}/..`,
  (_id, n) => `/services/${n}/.`,
  (id, n) => `/services/${n}/${id}/../../../etc/passwd`,
  (id, n) => `//services/${n}/${id}`,
  (id, n) => `/services/${n}/\u2028${id}`,
  (id, n) => `/SERVICES/${n}/${id}`,
];
export const oddEntryArb: fc.Arbitrary<GenEntry> = fc
  .tuple(fc.nat(ODD_KEYS.length - 1), SAFE_ID, pick(VALID_NAMES), fc.oneof(validValueArb('web'), unknownValueArb('web'), invalidValueArb('web')))
  .map(([form, id, name, v]) => ({ key: (ODD_KEYS[form] as (id: string, n: string) => string)(id, name), value: v.value, intent: 'unknown', why: `odd-key-${form}:${v.why}` }));

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

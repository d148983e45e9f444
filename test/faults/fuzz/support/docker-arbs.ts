// fast-check arbitraries for `docker inspect` data as a hostile or sloppy image author could shape it: SERVICE_*
// labels and env vars with odd names, per-port keys with impossible ports, bad durations and check kinds, huge
// and multi-byte values, broken port maps and addresses; plus registrator's command-line options.
import fc from 'fast-check';
import type { InspectedContainer, PortBinding } from '../../../../src/docker/services.js';
import type { MappingOptions } from '../../../../src/docker/types.js';
import { BREAKERS } from './common.js';

const pick = <T>(xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);

/** Values by what the key means: a few good ones, many bad ones. */
export const VALUES = {
  duration: ['10s', '1m30s', '500ms', '1', '2.5', '0', '0s', '0.0001ms', '-1s', '1e3', 'abc', ' ', '10S', '1d', '1h1h', ' 5s ', '9'.repeat(400), '597h', '600h', '1.5s'],
  http: ['/', '/health', 'health', '/a b', '/\n', '/ok?x=1#f', '/é', '/\u2028', '/%00', '//x'],
  tcp: ['true', 'false', 'TRUE', ' true ', 'yes', '1', 'maybe'],
  script: ['curl -f localhost', "echo 'unbalanced", 'a | b', '   ', '"a b" c', 'x=1 cmd', '\n', '$(reboot)', 'echo "x'],
  count: ['1', '2', '0', '-1', '1.5', 'abc', '9007199254740993', ' 3 ', '03', '1e2'],
  name: ['web', 'api-1', 'we b', 'web;', 'a'.repeat(64), 'wéb', '-x', 'web\n', 'Web', 'web.v2'],
  id: ['my-id', 'a b', 'x;', 'x'.repeat(600), 'a/b', 'host:web:80', '\u2028', '..'],
  tags: ['a,b', 'a\\,b', 'a b', 'x;y', '  ,  ,', 'é', 'udp', 'a'.repeat(300), 'vhost=x.example', '{', "'"],
  meta: ['v', 'a;b', 'a\nb', '"', 'x'.repeat(1025), '€'.repeat(1024), '#$\\ ok', 'a}b', 'ok value', '\u0085'],
  flag: ['1', 'true', 'false', 'no'],
  ip: ['10.0.0.5', 'fd00::5', ' 10.0.0.6 ', '', 'web.internal', '0.0.0.0', '::', '1.2.3.4;', 'fe80::1%eth0', '10.0.0.256'],
  network: ['backend', 'front', '', 'nowhere', 'a;b', '0123456789ab'],
} as const;

const hostileValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.tuple(fc.string({ maxLength: 10 }), pick(BREAKERS), fc.string({ maxLength: 10 })).map(([a, b, c]) => a + b + c),
  pick(['', ' ', '\u0000', 'x'.repeat(70_000), '€'.repeat(30_000)]),
);

/** SERVICE_<key> suffixes with the kind of value they take. */
const KEYS: ReadonlyArray<[string, keyof typeof VALUES | 'meta']> = [
  ['NAME', 'name'], ['ID', 'id'], ['TAGS', 'tags'], ['IGNORE', 'flag'], ['CHECK_HTTP', 'http'], ['CHECK_TCP', 'tcp'], ['CHECK_SCRIPT', 'script'],
  ['CHECK_INTERVAL', 'duration'], ['CHECK_TIMEOUT', 'duration'], ['CHECK_RISE', 'count'], ['CHECK_FALL', 'count'], ['CHECK_FOO', 'tcp'],
  ['CHECK_', 'tcp'], ['WEIGHT', 'meta'], ['VHOST', 'meta'], ['check_path', 'meta'], ['a b', 'meta'], ['é', 'meta'], ['__proto__', 'meta'],
  ['İ', 'meta'], ['X'.repeat(200), 'meta'], ['constructor', 'meta'], ['Name', 'name'], ['IP', 'ip'], ['NETWORK', 'network'],
];
const PORT_PREFIXES = ['', '', '', '80_', '443_', '53_', '8080_', '0_', '65536_', '99999_', '080_', `${'1'.repeat(25)}_`, '-1_'];

/** One SERVICE_* (or look-alike) name and its value. */
export const serviceSettingArb: fc.Arbitrary<[string, string]> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.tuple(pick(KEYS), pick(PORT_PREFIXES), fc.boolean()).chain(([[key, kind], port, good]) =>
      (good ? pick(VALUES[kind] as readonly string[]) : hostileValue).map((v): [string, string] => [`SERVICE_${port}${key}`, v]),
    ),
  },
  { weight: 1, arbitrary: fc.tuple(pick(['service_name', 'SERVICE', 'SERVICE_', 'PATH', 'com.docker.compose.project', 'SERVICEX_NAME']), hostileValue) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ unit: 'binary', maxLength: 20 }).map((s) => `SERVICE_${s}`), hostileValue) },
);

export const PORT_KEYS = ['80/tcp', '443/tcp', '53/udp', '80', '8080/tcp', '0/tcp', '65536/tcp', 'abc', '80/TCP', '80/sctp', '-1/tcp', '99999', '1/tcp', '65535/udp', '080/tcp', '80/tcp/x', ''];
const bindingArb: fc.Arbitrary<PortBinding> = fc.record(
  {
    HostIp: pick(['', '0.0.0.0', '::', '10.0.0.1', 'fe80::1%eth0', '1.2.3.4;', 'a b', 'localhost', '::1', '1.2.3.4\n']),
    HostPort: pick(['32768', '80', '0', '65536', '', '80x', '-1', '080', ' 80', '1e3', '65535', '49153']),
  },
  { requiredKeys: [] },
);
const ADDRESSES = ['', '172.17.0.2', 'fe80::1%eth0', '1.2.3.4;', 'a b', '::1', '10.1.2.3', 'x'.repeat(300)];

/** A whole inspected container, every field possibly odd or missing (nulls as the Engine API sends them). */
export const containerArb: fc.Arbitrary<InspectedContainer> = fc
  .record({
    id: fc.stringMatching(/^[0-9a-f]{64}$/),
    name: fc.option(fc.oneof(pick(['/web-1', '', '/', '/a b', '/x;y', '/é', '/x\ny']), fc.string({ unit: 'binary', maxLength: 20 }).map((s) => `/${s}`)), { nil: undefined }),
    image: fc.oneof(pick(['web:1.0', 'registry:5000/team/web:1.2', 'web@sha256:abc', '', 'we b', 'é:1', 'a'.repeat(70), 'web;x', ':tag', 'reg/:x']), fc.string({ maxLength: 20 })),
    env: fc.option(fc.array(fc.oneof({ weight: 4, arbitrary: serviceSettingArb.map(([k, v]) => `${k}=${v}`) }, { weight: 1, arbitrary: pick(['=x', 'NOEQ', 'SERVICE_NAME', 'SERVICE_NAME==x', 'PATH=/bin']) }), { maxLength: 8 }), { nil: null }),
    labels: fc.option(fc.array(serviceSettingArb, { maxLength: 10 }).map((kv) => Object.fromEntries(kv)), { nil: null }),
    exposed: fc.option(fc.uniqueArray(pick(PORT_KEYS), { maxLength: 4 }), { nil: null }),
    ports: fc.option(fc.dictionary(pick(PORT_KEYS), fc.option(fc.array(bindingArb, { maxLength: 2 }), { nil: null }), { maxKeys: 4 }), { nil: null }),
    networkMode: fc.option(pick(['bridge', 'host', 'none', 'container:x', 'default']), { nil: undefined }),
    ip: fc.option(pick(ADDRESSES), { nil: undefined }),
    networks: fc.option(
      fc.dictionary(
        fc.oneof(pick(['backend', 'front']), fc.string({ maxLength: 8 })),
        fc.record({ IPAddress: pick(ADDRESSES), GlobalIPv6Address: pick(['', 'fd00::9', 'x;']), NetworkID: pick(['0123456789abcdef', '']) }, { requiredKeys: ['IPAddress'] }),
        { maxKeys: 2 },
      ),
      { nil: null },
    ),
    healthcheck: fc.option(pick([['NONE'], ['CMD', 'true'], [], ['CMD-SHELL', 'exit 0']]), { nil: undefined }),
    health: fc.boolean(),
  })
  .map(
    (c): InspectedContainer => ({
      Id: c.id,
      ...(c.name !== undefined && { Name: c.name }),
      Config: {
        Image: c.image,
        Env: c.env,
        Labels: c.labels,
        ExposedPorts: c.exposed === null ? null : Object.fromEntries(c.exposed.map((k) => [k, {}])),
        ...(c.healthcheck && { Healthcheck: { Test: c.healthcheck } }),
      },
      State: c.health ? { Health: { Status: 'starting' } } : {},
      HostConfig: c.networkMode === undefined ? {} : { NetworkMode: c.networkMode },
      NetworkSettings: { ...(c.ip !== undefined && { IPAddress: c.ip }), Ports: c.ports, Networks: c.networks },
    }),
  );

/** Mostly-good SERVICE_* settings (so that services do register and odd-but-accepted values show up in records). */
const mostlyGoodSettingArb: fc.Arbitrary<[string, string]> = fc
  .tuple(pick(KEYS.filter(([k]) => !k.startsWith('CHECK_FOO') && k !== 'CHECK_' && k !== 'IGNORE')), pick(['', '', '', '80_', '443_']), fc.nat(9))
  .chain(([[key, kind], port, dice]) => (dice > 0 ? pick(VALUES[kind] as readonly string[]) : hostileValue).map((v): [string, string] => [`SERVICE_${port}${key}`, v]));

/** Up to 70 meta labels of up to 1024 one- to three-byte characters: records near and above 64 KiB. */
const bigMetaArb: fc.Arbitrary<Array<[string, string]>> = fc
  .tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 1, max: 1024 }), pick(['x', 'é', '€']))
  .map(([n, len, ch]) => Array.from({ length: n }, (_, i): [string, string] => [`SERVICE_M${i}`, ch.repeat(len)]));

/** A published, registrable container whose labels are mostly good: reaches deep into buildService. */
export const registrableContainerArb: fc.Arbitrary<InspectedContainer> = fc
  .record({
    id: fc.stringMatching(/^[0-9a-f]{64}$/),
    settings: fc.oneof(fc.array(mostlyGoodSettingArb, { maxLength: 8 }), bigMetaArb),
    env: fc.array(mostlyGoodSettingArb, { maxLength: 3 }),
    ports: fc.uniqueArray(pick(['80/tcp', '443/tcp', '53/udp', '8080']), { minLength: 1, maxLength: 3 }),
    hostNetwork: fc.boolean(),
  })
  .map(
    (c): InspectedContainer => ({
      Id: c.id,
      Name: '/app-1',
      Config: {
        Image: 'registry:5000/team/app:1.2',
        Env: c.env.map(([k, v]) => `${k}=${v}`),
        Labels: Object.fromEntries(c.settings),
        ExposedPorts: Object.fromEntries(c.ports.map((k) => [k, {}])),
      },
      State: {},
      HostConfig: { NetworkMode: c.hostNetwork ? 'host' : 'bridge' },
      NetworkSettings: { IPAddress: '172.17.0.9', Ports: Object.fromEntries(c.ports.map((k, i) => [k, [{ HostIp: '0.0.0.0', HostPort: String(32768 + i) }]])), Networks: {} },
    }),
  );

/** registrator's flags: mostly sane, sometimes hostile. */
export const optsArb: fc.Arbitrary<MappingOptions> = fc.record({
  hostIp: fc.oneof({ weight: 8, arbitrary: pick(['192.168.1.10', '10.0.0.5', '::1', 'node1.internal']) }, { weight: 1, arbitrary: pick(['', 'a b', '1.2.3.4;', 'fe80::1%eth0', '[::1]']) }),
  internal: fc.boolean(),
  network: fc.option(pick(['backend', 'front', 'nowhere']), { nil: undefined }),
  explicit: fc.boolean(),
  tags: fc.oneof({ weight: 6, arbitrary: pick([[], ['prod'], ['a', 'b']]) }, { weight: 1, arbitrary: pick([['a b'], ['x;'], ['']]) }),
  node: fc.oneof({ weight: 8, arbitrary: pick(['host1', 'node-2.dc1']) }, { weight: 1, arbitrary: pick(['', 'a b', 'x;', 'n/1']) }),
  healthDefaults: fc.constant({ intervalMs: 10_000, timeoutMs: 2_000, rise: 1, fall: 2 }),
});

// Docker → services: registrator's SERVICE_* conventions on small literal inspect fixtures (no Docker).
import type { ContainerInspectInfo } from 'dockerode';
import { describe, expect, it } from 'vitest';
import {
  containerServices,
  imageBaseName,
  splitTags,
  type ContainerMapping,
  type InspectedContainer,
} from '../../../src/docker/services.js';
import type { MappingOptions, ServiceSpec } from '../../../src/docker/types.js';
import type { CheckSpec } from '../../../src/health/types.js';
import { bind, container, ID, opts, twoPorts, type Fixture } from './fixtures.js';

// Compile-time check (tsc covers test/): dockerode's inspect result is accepted as it is.
const _acceptsDockerode = (info: ContainerInspectInfo): InspectedContainer => info;

const map = (f: Fixture | InspectedContainer = {}, o: Partial<MappingOptions> = {}): ContainerMapping =>
  containerServices('Id' in f ? f : container(f), opts(o));

/** name/id/host/port of each service, in result order. */
const addrs = (m: ContainerMapping): Array<[string, string, string, number]> =>
  m.services.map((s) => [s.record.name, s.record.id, s.record.host, s.record.port]);

/** The one service of a mapping that must raise no warnings. */
function only(m: ContainerMapping): ServiceSpec {
  expect(m.warnings).toEqual([]);
  expect(m.services).toHaveLength(1);
  return m.services[0] as ServiceSpec;
}

describe('imageBaseName', () => {
  it.each([
    ['web', 'web'],
    ['web:1.2', 'web'],
    ['library/nginx', 'nginx'],
    ['registry.local:5000/team/web:1.2', 'web'],
    ['registry.local:5000/web', 'web'],
    ['web@sha256:4f2a9c0e', 'web'],
    ['ghcr.io/org/web:1.2@sha256:4f2a9c0e', 'web'],
    ['localhost:5000/a/b/c', 'c'],
  ])('%s → %s', (image, base) => {
    expect(imageBaseName(image)).toBe(base);
  });
});

describe('splitTags', () => {
  it.each<[string, string[]]>([
    ['a,b', ['a', 'b']],
    [' a , b ,, c ,', ['a', 'b', 'c']],
    ['a\\,b,c', ['a,b', 'c']],
    ['', []],
    [' , ', []],
  ])('%j → %j', (value, tags) => {
    expect(splitTags(value)).toEqual(tags);
  });
});

describe('containerServices: the service spec', () => {
  it('maps a published port to a full spec with defaults', () => {
    const m = map();
    expect(m).toEqual({
      services: [
        {
          record: { name: 'web', id: 'host1:web-1:80', host: '192.168.1.10', port: 32768, tags: [], meta: {}, node: 'host1' },
          containerId: ID,
          containerName: 'web-1',
          checkHost: '192.168.1.10',
          checkPort: 32768,
          health: { check: { kind: 'none' }, intervalMs: 10_000, timeoutMs: 2_000, rise: 1, fall: 2 },
        },
      ],
      warnings: [],
    });
  });

  it('uses the short id when the container has no name', () => {
    const s = only(map({ name: '' }));
    expect(s.containerName).toBe('f00dfeed1234');
    expect(s.record.id).toBe('host1:f00dfeed1234:80');
  });

  it('sorts services by id', () => {
    const m = map({ ports: { '9000/tcp': bind(1), '10000/tcp': bind(2), '80/tcp': bind(3) } });
    expect(m.services.map((s) => s.record.id)).toEqual(['host1:web-1:10000', 'host1:web-1:80', 'host1:web-1:9000']);
  });
});

describe('containerServices: addresses', () => {
  it.each<[string, Fixture, Partial<MappingOptions>, Array<[string, string, string, number]>]>([
    ['published on 0.0.0.0 → --ip and the host port', {}, {}, [['web', 'host1:web-1:80', '192.168.1.10', 32768]]],
    ['published on :: → --ip', { ports: { '80/tcp': bind(32768, '::') } }, {}, [['web', 'host1:web-1:80', '192.168.1.10', 32768]]],
    ['published with an empty HostIp → --ip', { ports: { '80/tcp': bind(32768, '') } }, {}, [['web', 'host1:web-1:80', '192.168.1.10', 32768]]],
    ['published on a specific address → that address', { ports: { '80/tcp': bind(8080, '10.0.0.7') } }, {}, [['web', 'host1:web-1:80', '10.0.0.7', 8080]]],
    [
      'exposed but unpublished ports are not registered (and do not make a group)',
      { exposed: ['80/tcp', '443/tcp', '9000/tcp'], ports: { '80/tcp': bind(32768), '443/tcp': null, '9000/tcp': [] } },
      {},
      [['web', 'host1:web-1:80', '192.168.1.10', 32768]],
    ],
    [
      'several published ports: names suffixed -<port>',
      { ports: { '80/tcp': bind(32768), '443/tcp': bind(32769) } },
      {},
      [
        ['web-443', 'host1:web-1:443', '192.168.1.10', 32769],
        ['web-80', 'host1:web-1:80', '192.168.1.10', 32768],
      ],
    ],
    ['udp: id suffixed :udp, from the exposed port', { name: '/dns-1', image: 'dns', ports: { '53/udp': bind(5353) } }, {}, [['dns', 'host1:dns-1:53:udp', '192.168.1.10', 5353]]],
    [
      'tcp and udp on the same port: two ids',
      { name: '/dns-1', image: 'dns', ports: { '53/tcp': bind(53), '53/udp': bind(53) } },
      {},
      [
        ['dns-53', 'host1:dns-1:53', '192.168.1.10', 53],
        ['dns-53', 'host1:dns-1:53:udp', '192.168.1.10', 53],
      ],
    ],
    [
      '--internal: NetworkSettings.IPAddress and the exposed port, published or not',
      { ip: '172.17.0.5', exposed: ['80/tcp', '8080/tcp'], ports: { '80/tcp': bind(32768) } },
      { internal: true },
      [
        ['web-80', 'host1:web-1:80', '172.17.0.5', 80],
        ['web-8080', 'host1:web-1:8080', '172.17.0.5', 8080],
      ],
    ],
    [
      '--internal: the first network with an IP when IPAddress is empty',
      { networks: { aaa: { IPAddress: '' }, backend: { IPAddress: '10.10.0.3' }, front: { IPAddress: '10.20.0.3' } } },
      { internal: true },
      [['web', 'host1:web-1:80', '10.10.0.3', 80]],
    ],
    [
      'host network: every exposed port on --ip',
      { networkMode: 'host', exposed: ['8080/tcp', '9090/tcp'] },
      {},
      [
        ['web-8080', 'host1:web-1:8080', '192.168.1.10', 8080],
        ['web-9090', 'host1:web-1:9090', '192.168.1.10', 9090],
      ],
    ],
    [
      'host network: only the ports named by SERVICE_<port>_NAME',
      { networkMode: 'host', exposed: ['8080/tcp', '9090/tcp'], labels: { SERVICE_8080_NAME: 'api' } },
      {},
      [['api', 'host1:web-1:8080', '192.168.1.10', 8080]],
    ],
    [
      'host network: a named port that is not exposed (busybox httpd)',
      { networkMode: 'host', image: 'busybox', exposed: [], labels: { SERVICE_8080_NAME: 'web' } },
      {},
      [['web', 'host1:web-1:8080', '192.168.1.10', 8080]],
    ],
    [
      'host network: a named udp port keeps its protocol',
      { networkMode: 'host', exposed: ['53/udp', '8080/tcp'], labels: { SERVICE_53_NAME: 'dns' } },
      {},
      [['dns', 'host1:web-1:53:udp', '192.168.1.10', 53]],
    ],
    ['host network with --internal: still --ip', { networkMode: 'host', exposed: ['8080/tcp'] }, { internal: true }, [['web', 'host1:web-1:8080', '192.168.1.10', 8080]]],
    ['host network exposing nothing: no services', { networkMode: 'host', exposed: [] }, {}, []],
    ['no ports at all: no services, no warning', { ports: {} }, {}, []],
  ])('%s', (_name, f, o, expected) => {
    const m = map(f, o);
    expect(m.warnings).toEqual([]);
    expect(addrs(m)).toEqual(expected);
  });

  it('--internal without any container IP: one warning, no services', () => {
    const m = map({ ip: '', networks: {} }, { internal: true });
    expect(m.services).toEqual([]);
    expect(m.warnings).toEqual([{ container: 'web-1', label: 'NetworkSettings.IPAddress', message: expect.stringContaining('no IP') as unknown }]);
  });

  it('udp services get the udp tag, as registrator does', () => {
    const s = only(map({ ports: { '53/udp': bind(53) }, labels: { SERVICE_TAGS: 'dns' } }, { tags: ['prod'] }));
    expect(s.record.tags).toEqual(['dns', 'prod', 'udp']);
  });
});

describe('containerServices: names, ids, labels and env', () => {
  it.each<[string, Fixture, Array<[string, string]>]>([
    ['SERVICE_NAME', { labels: { SERVICE_NAME: 'api' } }, [['api', 'host1:web-1:80']]],
    ['SERVICE_NAME from env', { env: ['PATH=/bin', 'SERVICE_NAME=api'] }, [['api', 'host1:web-1:80']]],
    ['label wins over env', { env: ['SERVICE_NAME=from-env'], labels: { SERVICE_NAME: 'from-label' } }, [['from-label', 'host1:web-1:80']]],
    ['an empty label unsets the env var', { env: ['SERVICE_NAME=from-env'], labels: { SERVICE_NAME: '' } }, [['web', 'host1:web-1:80']]],
    ['env without "=" and other env vars are ignored', { env: ['SERVICE_NAME', 'NAME=x', 'SERVICE_NAME_X=y'] }, [['web', 'host1:web-1:80']]],
    [
      'SERVICE_<port>_NAME beats SERVICE_NAME for that port only',
      { ports: { '80/tcp': bind(1), '443/tcp': bind(2) }, labels: { SERVICE_NAME: 'site', SERVICE_80_NAME: 'site-http' } },
      [
        ['site', 'host1:web-1:443'],
        ['site-http', 'host1:web-1:80'],
      ],
    ],
    [
      'a per-port env var beats a container-wide label',
      { env: ['SERVICE_80_NAME=from-env'], labels: { SERVICE_NAME: 'from-label' } },
      [['from-env', 'host1:web-1:80']],
    ],
    ['an empty SERVICE_<port>_NAME falls back to SERVICE_NAME', { labels: { SERVICE_NAME: 'api', SERVICE_80_NAME: '' } }, [['api', 'host1:web-1:80']]],
    ['SERVICE_<port>_NAME applies to the udp port too', { ports: { '53/udp': bind(53) }, labels: { SERVICE_53_NAME: 'dns' } }, [['dns', 'host1:web-1:53:udp']]],
    ['SERVICE_ID on one port: as written', { labels: { SERVICE_ID: 'web-a' } }, [['web', 'web-a']]],
    [
      'SERVICE_ID on several ports: :<port> appended',
      { ports: { '80/tcp': bind(1), '443/tcp': bind(2) }, labels: { SERVICE_ID: 'web-a' } },
      [
        ['web-443', 'web-a:443'],
        ['web-80', 'web-a:80'],
      ],
    ],
    [
      'SERVICE_ID on tcp and udp of one port: :<port>[:udp] appended',
      { ports: { '53/tcp': bind(53), '53/udp': bind(53) }, labels: { SERVICE_ID: 'dns-a' } },
      [
        ['web-53', 'dns-a:53'],
        ['web-53', 'dns-a:53:udp'],
      ],
    ],
    [
      'SERVICE_<port>_ID: as written, beats SERVICE_ID',
      { ports: { '80/tcp': bind(1), '443/tcp': bind(2) }, labels: { SERVICE_ID: 'web-a', SERVICE_443_ID: 'tls-a' } },
      [
        ['web-443', 'tls-a'],
        ['web-80', 'web-a:80'],
      ],
    ],
    ['SERVICE_Name: keys are case-insensitive after the prefix (registrator lowercases)', { labels: { SERVICE_Name: 'api' } }, [['api', 'host1:web-1:80']]],
  ])('%s', (_name, f, expected) => {
    const m = map(f);
    expect(m.warnings).toEqual([]);
    expect(m.services.map((s) => [s.record.name, s.record.id])).toEqual(expected);
  });

  it('a duplicate SERVICE_<port>_ID skips the later port with a warning', () => {
    const m = map(twoPorts({ labels: { SERVICE_80_ID: 'same', SERVICE_443_ID: 'same' } }));
    expect(m.services.map((s) => s.record.id)).toEqual(['same']);
    expect(m.services[0]?.record.port).toBe(32768); // 80 comes first
    expect(m.warnings).toEqual([{ container: 'web-1', label: 'SERVICE_443_ID', message: expect.stringContaining('already used') as unknown }]);
  });
});

describe('containerServices: tags and meta', () => {
  it.each<[string, Fixture, Partial<MappingOptions>, string[]]>([
    ['SERVICE_TAGS: trimmed, empties dropped', { labels: { SERVICE_TAGS: ' v2 , blue,, ' } }, {}, ['v2', 'blue']],
    ['--tags added and deduplicated', { labels: { SERVICE_TAGS: 'v2,prod' } }, { tags: ['prod', 'eu'] }, ['v2', 'prod', 'eu']],
    ['an escaped comma stays inside one tag', { labels: { SERVICE_TAGS: 'a\\,b,c' } }, {}, ['a,b', 'c']],
    ['--tags alone', {}, { tags: ['eu'] }, ['eu']],
    ['SERVICE_<port>_TAGS beats SERVICE_TAGS', { labels: { SERVICE_TAGS: 'a', SERVICE_80_TAGS: 'b,c' } }, {}, ['b', 'c']],
    ['label tags win over env tags', { env: ['SERVICE_TAGS=env'], labels: { SERVICE_TAGS: 'label' } }, {}, ['label']],
  ])('%s', (_name, f, o, tags) => {
    expect(only(map(f, o)).record.tags).toEqual(tags);
  });

  it('other SERVICE_<key> become meta, lowercased, per port; names, ids, tags, ignore and checks do not', () => {
    const m = map(
      twoPorts({
        env: ['SERVICE_VERSION=1.3', 'SERVICE_OWNER=team-a'],
        labels: {
          SERVICE_VERSION: '1.4',
          SERVICE_80_VERSION: '2.0',
          SERVICE_443_Region: 'eu',
          SERVICE_Desc: 'blue green',
          SERVICE_EMPTY: '',
          SERVICE_NAME: 'site',
          SERVICE_ID: 'x',
          SERVICE_TAGS: 't',
          SERVICE_IGNORE: '',
          SERVICE_CHECK_TCP: 'true',
          SERVICE_CHECK_INTERVAL: '5s',
          SERVICE_80_CHECK_RISE: '2',
        },
      }),
    );
    expect(m.warnings).toEqual([]);
    expect(m.services.map((s) => [s.record.id, s.record.meta])).toEqual([
      ['x:443', { desc: 'blue green', owner: 'team-a', region: 'eu', version: '1.4' }],
      ['x:80', { desc: 'blue green', owner: 'team-a', version: '2.0' }],
    ]);
  });
});

describe('containerServices: ignore and --explicit', () => {
  it.each<[string, Fixture | InspectedContainer, Partial<MappingOptions>, string[]]>([
    ['SERVICE_IGNORE=true skips the container', { labels: { SERVICE_IGNORE: 'true' } }, {}, []],
    ['SERVICE_IGNORE=false also skips (any non-empty value)', { labels: { SERVICE_IGNORE: 'false' } }, {}, []],
    ['SERVICE_IGNORE from env', { env: ['SERVICE_IGNORE=1'] }, {}, []],
    ['an empty SERVICE_IGNORE does not', { labels: { SERVICE_IGNORE: '' } }, {}, ['host1:web-1:80']],
    ['an ignored container raises no warnings for its bad labels', { labels: { SERVICE_IGNORE: '1', SERVICE_99999_NAME: 'x', SERVICE_CHECK_FOO: '1' } }, {}, []],
    ['SERVICE_<port>_IGNORE skips that port; the other keeps its group name', twoPorts({ labels: { SERVICE_443_IGNORE: 'true' } }), {}, ['host1:web-1:80']],
    ['--explicit: no name, nothing', {}, { explicit: true }, []],
    ['--explicit: no name, no warnings for bad labels either', { labels: { SERVICE_CHECK_FOO: '1' } }, { explicit: true }, []],
    ['--explicit: SERVICE_NAME registers every port', twoPorts({ labels: { SERVICE_NAME: 'site' } }), { explicit: true }, ['host1:web-1:443', 'host1:web-1:80']],
    ['--explicit: SERVICE_<port>_NAME registers that port only', twoPorts({ labels: { SERVICE_443_NAME: 'tls' } }), { explicit: true }, ['host1:web-1:443']],
    ['--explicit: SERVICE_NAME from env counts', { env: ['SERVICE_NAME=api'] }, { explicit: true }, ['host1:web-1:80']],
  ])('%s', (_name, f, o, ids) => {
    const m = map(f, o);
    expect(m.warnings).toEqual([]);
    expect(m.services.map((s) => s.record.id)).toEqual(ids);
  });

  it('a port ignored by SERVICE_<port>_IGNORE does not rename the other (registrator counts it)', () => {
    expect(map(twoPorts({ labels: { SERVICE_443_IGNORE: '1' } })).services[0]?.record.name).toBe('web-80');
  });
});

describe('containerServices: checks', () => {
  it.each<[string, Fixture, CheckSpec]>([
    ['none configured, no HEALTHCHECK → none', {}, { kind: 'none' }],
    ['Docker HEALTHCHECK in the config → docker', { healthcheck: ['CMD-SHELL', 'curl -f localhost'] }, { kind: 'docker' }],
    ['HEALTHCHECK NONE → none', { healthcheck: ['NONE'] }, { kind: 'none' }],
    ['empty HEALTHCHECK test → none', { healthcheck: [] }, { kind: 'none' }],
    ['State.Health present → docker', { health: true }, { kind: 'docker' }],
    ['SERVICE_CHECK_HTTP', { labels: { SERVICE_CHECK_HTTP: '/health?full=1' } }, { kind: 'http', path: '/health?full=1' }],
    ['SERVICE_CHECK_HTTP beats a HEALTHCHECK', { labels: { SERVICE_CHECK_HTTP: '/h' }, healthcheck: ['CMD', 'true'] }, { kind: 'http', path: '/h' }],
    ['SERVICE_CHECK_TCP=true', { labels: { SERVICE_CHECK_TCP: 'true' } }, { kind: 'tcp' }],
    ['SERVICE_CHECK_TCP=TRUE', { env: ['SERVICE_CHECK_TCP=TRUE'] }, { kind: 'tcp' }],
    ['SERVICE_CHECK_TCP=false → no check', { labels: { SERVICE_CHECK_TCP: 'false' } }, { kind: 'none' }],
    [
      'SERVICE_CHECK_SCRIPT, plain: split into argv',
      { labels: { SERVICE_CHECK_SCRIPT: 'pg_isready -U postgres' } },
      { kind: 'exec', where: 'container', argv: ['pg_isready', '-U', 'postgres'] },
    ],
    [
      'SERVICE_CHECK_SCRIPT with shell syntax: sh -c inside the container',
      { labels: { SERVICE_CHECK_SCRIPT: 'curl -f localhost/ || exit 1' } },
      { kind: 'exec', where: 'container', argv: ['/bin/sh', '-c', 'curl -f localhost/ || exit 1'] },
    ],
    ['SERVICE_80_CHECK_HTTP', { labels: { SERVICE_80_CHECK_HTTP: '/ping' } }, { kind: 'http', path: '/ping' }],
    ['SERVICE_CHECK_HTTPS: certificates verified', { labels: { SERVICE_CHECK_HTTPS: '/health' } }, { kind: 'http', path: '/health', tls: { skipVerify: false } }],
    ['SERVICE_80_CHECK_HTTPS', { labels: { SERVICE_80_CHECK_HTTPS: '/ping' } }, { kind: 'http', path: '/ping', tls: { skipVerify: false } }],
    [
      'SERVICE_CHECK_HTTPS with SERVICE_CHECK_TLS_SKIP_VERIFY=TRUE, SERVICE_CHECK_HOST and a per-port SERVICE_80_CHECK_STATUS',
      { labels: { SERVICE_CHECK_HTTPS: '/h', SERVICE_CHECK_TLS_SKIP_VERIFY: 'TRUE', SERVICE_CHECK_HOST: 'api.example:8443', SERVICE_CHECK_STATUS: '200', SERVICE_80_CHECK_STATUS: '200-299, 301' } },
      { kind: 'http', path: '/h', tls: { skipVerify: true }, host: 'api.example:8443', status: [[200, 299], [301, 301]] },
    ],
    [
      'SERVICE_CHECK_HOST and SERVICE_CHECK_STATUS refine plain http; SERVICE_CHECK_TLS_SKIP_VERIFY=false is no change',
      { labels: { SERVICE_CHECK_HTTP: '/h', SERVICE_CHECK_HOST: '[::1]', SERVICE_CHECK_STATUS: '204', SERVICE_CHECK_TLS_SKIP_VERIFY: 'false' } },
      { kind: 'http', path: '/h', host: '[::1]', status: [[204, 204]] },
    ],
    [
      'the http settings are not read without an http(s) check (a bad one is no reason to skip a tcp check)',
      { labels: { SERVICE_CHECK_TCP: 'true', SERVICE_CHECK_STATUS: 'ok', SERVICE_CHECK_HOST: 'a b', SERVICE_CHECK_TLS_SKIP_VERIFY: 'maybe' } },
      { kind: 'tcp' },
    ],
    [
      'several kinds: all of them run',
      { labels: { SERVICE_80_CHECK_HTTPS: '/health', SERVICE_80_CHECK_TCP: 'true' } },
      { kind: 'all', checks: [{ kind: 'http', path: '/health', tls: { skipVerify: false } }, { kind: 'tcp' }] },
    ],
    [
      'several kinds across env and labels, in a fixed order (http, https, script, tcp)',
      { env: ['SERVICE_80_CHECK_SCRIPT=test -f /ready'], labels: { SERVICE_80_CHECK_HTTP: '/h', SERVICE_80_CHECK_HTTPS: '/s', SERVICE_80_CHECK_TCP: 'true' } },
      {
        kind: 'all',
        checks: [
          { kind: 'http', path: '/h' },
          { kind: 'http', path: '/s', tls: { skipVerify: false } },
          { kind: 'exec', where: 'container', argv: ['test', '-f', '/ready'] },
          { kind: 'tcp' },
        ],
      },
    ],
    ['several kinds, one of them SERVICE_CHECK_TCP=false: the other alone', { labels: { SERVICE_CHECK_HTTP: '/h', SERVICE_CHECK_TCP: 'false' } }, { kind: 'http', path: '/h' }],
  ])('%s', (_name, f, check) => {
    expect(only(map(f)).health.check).toEqual(check);
  });

  it('a per-port check kind replaces the container-wide one for that port', () => {
    const m = map(
      container({
        ports: { '80/tcp': bind(1), '443/tcp': bind(2), '8080/tcp': bind(3) },
        labels: { SERVICE_CHECK_HTTP: '/health', SERVICE_443_CHECK_TCP: 'true', SERVICE_8080_CHECK_TCP: 'false' },
        healthcheck: ['CMD', 'true'],
      }),
    );
    expect(m.warnings).toEqual([]);
    expect(m.services.map((s) => [s.record.id, s.health.check])).toEqual([
      ['host1:web-1:443', { kind: 'tcp' }],
      ['host1:web-1:80', { kind: 'http', path: '/health' }],
      ['host1:web-1:8080', { kind: 'docker' }],
    ]);
  });

  it('reads interval, timeout, rise and fall; per port over container-wide', () => {
    const m = map(
      twoPorts({
        labels: {
          SERVICE_CHECK_INTERVAL: '5s',
          SERVICE_CHECK_TIMEOUT: '1500ms',
          SERVICE_CHECK_RISE: '3',
          SERVICE_CHECK_FALL: '4',
          SERVICE_80_CHECK_INTERVAL: '1m',
          SERVICE_80_CHECK_TIMEOUT: '3',
        },
      }),
    );
    expect(m.warnings).toEqual([]);
    expect(m.services.map((s) => [s.record.id, s.health])).toEqual([
      ['host1:web-1:443', { check: { kind: 'none' }, intervalMs: 5_000, timeoutMs: 1_500, rise: 3, fall: 4 }],
      ['host1:web-1:80', { check: { kind: 'none' }, intervalMs: 60_000, timeoutMs: 3_000, rise: 3, fall: 4 }],
    ]);
  });

  it('takes unset settings from opts.healthDefaults', () => {
    const healthDefaults = { intervalMs: 30_000, timeoutMs: 5_000, rise: 2, fall: 5 };
    const s = only(map({ labels: { SERVICE_CHECK_RISE: '1' } }, { healthDefaults }));
    expect(s.health).toEqual({ check: { kind: 'none' }, intervalMs: 30_000, timeoutMs: 5_000, rise: 1, fall: 5 });
  });

  it('a default timeout longer than a label-set interval is shortened to the interval', () => {
    const s = only(map({ labels: { SERVICE_CHECK_INTERVAL: '1s' } }));
    expect([s.health.intervalMs, s.health.timeoutMs]).toEqual([1_000, 1_000]);
  });

  it('a timeout equal to the interval is accepted', () => {
    const s = only(map({ labels: { SERVICE_CHECK_INTERVAL: '2s', SERVICE_CHECK_TIMEOUT: '2s' } }));
    expect([s.health.intervalMs, s.health.timeoutMs]).toEqual([2_000, 2_000]);
  });
});

describe('containerServices: malformed labels and fields give one warning and skip only their service', () => {
  // Container web-1 with 80 → 32768 and 443 → 32769; the fault is on port 80, so 443 must still register.
  it.each<[string, Fixture, string, string]>([
    ['port out of range in SERVICE_<port>_NAME', { labels: { SERVICE_99999_NAME: 'x' } }, 'SERVICE_99999_NAME', '1-65535'],
    ['port 0 in SERVICE_<port>_TAGS', { labels: { SERVICE_0_TAGS: 'x' } }, 'SERVICE_0_TAGS', '1-65535'],
    ['bad duration', { labels: { SERVICE_80_CHECK_INTERVAL: 'soon' } }, 'SERVICE_80_CHECK_INTERVAL', 'duration'],
    ['zero duration', { labels: { SERVICE_80_CHECK_INTERVAL: '0s' } }, 'SERVICE_80_CHECK_INTERVAL', 'longer than 0'],
    ['timeout set longer than the interval', { labels: { SERVICE_80_CHECK_TIMEOUT: '20s' } }, 'SERVICE_80_CHECK_TIMEOUT', 'longer than the interval'],
    ['rise not a positive integer', { labels: { SERVICE_80_CHECK_RISE: '0' } }, 'SERVICE_80_CHECK_RISE', 'positive integer'],
    ['fall not an integer', { env: ['SERVICE_80_CHECK_FALL=2.5'] }, 'SERVICE_80_CHECK_FALL', 'positive integer'],
    ['unknown check kind', { labels: { SERVICE_80_CHECK_FOO: '1' } }, 'SERVICE_80_CHECK_FOO', 'unknown check kind "FOO"'],
    ['https path without a leading slash', { labels: { SERVICE_80_CHECK_HTTPS: 'health' } }, 'SERVICE_80_CHECK_HTTPS', 'starting with "/"'],
    ['https path of spaces', { labels: { SERVICE_80_CHECK_HTTPS: '   ' } }, 'SERVICE_80_CHECK_HTTPS', 'starting with "/"'],
    ['status range upside down', { labels: { SERVICE_80_CHECK_HTTP: '/h', SERVICE_80_CHECK_STATUS: '299-200' } }, 'SERVICE_80_CHECK_STATUS', 'e.g. 200-299 or 200,204,301-302'],
    ['status out of range', { labels: { SERVICE_80_CHECK_HTTPS: '/h', SERVICE_CHECK_STATUS: '200,700' } }, 'SERVICE_CHECK_STATUS', 'statuses 100-599'],
    ['status list with an empty item', { labels: { SERVICE_80_CHECK_HTTP: '/h', SERVICE_80_CHECK_STATUS: '200,' } }, 'SERVICE_80_CHECK_STATUS', 'got "200,"'],
    ['skip-verify neither true nor false', { labels: { SERVICE_80_CHECK_HTTPS: '/h', SERVICE_80_CHECK_TLS_SKIP_VERIFY: 'yes' } }, 'SERVICE_80_CHECK_TLS_SKIP_VERIFY', 'expected true or false, got "yes"'],
    ['Host with a space', { labels: { SERVICE_80_CHECK_HTTP: '/h', SERVICE_80_CHECK_HOST: 'api example' } }, 'SERVICE_80_CHECK_HOST', 'a host name or address'],
    ['Host with a control character', { labels: { SERVICE_80_CHECK_HTTPS: '/h', SERVICE_80_CHECK_HOST: 'api\r\nX-Evil: 1' } }, 'SERVICE_80_CHECK_HOST', 'optionally with :port'],
    ['Host with a bad port', { labels: { SERVICE_80_CHECK_HTTP: '/h', SERVICE_80_CHECK_HOST: 'api:0' } }, 'SERVICE_80_CHECK_HOST', 'got "api:0"'],
    ['http path without a leading slash', { labels: { SERVICE_80_CHECK_HTTP: 'health' } }, 'SERVICE_80_CHECK_HTTP', 'starting with "/"'],
    ['http path with a space', { labels: { SERVICE_80_CHECK_HTTP: '/a b' } }, 'SERVICE_80_CHECK_HTTP', 'without spaces'],
    ['tcp neither true nor false', { labels: { SERVICE_80_CHECK_TCP: 'yes please' } }, 'SERVICE_80_CHECK_TCP', 'true or false'],
    ['script with an unbalanced quote', { labels: { SERVICE_80_CHECK_SCRIPT: "check 'x" } }, 'SERVICE_80_CHECK_SCRIPT', 'unterminated'],
    ['name outside the charset', { labels: { SERVICE_80_NAME: 'my web' } }, 'SERVICE_80_NAME', 'must match'],
    ['name with a ;', { env: ['SERVICE_80_NAME=web;evil'] }, 'SERVICE_80_NAME', 'must match'],
    ['tag with a space', { labels: { SERVICE_80_TAGS: 'ok,blue green' } }, 'SERVICE_80_TAGS', 'tag "blue green"'],
    ['id with a space', { labels: { SERVICE_80_ID: 'a b' } }, 'SERVICE_80_ID', 'id'],
    ['id haproxy would refuse as a server name', { labels: { SERVICE_80_ID: 'web@1' } }, 'SERVICE_80_ID', 'may only hold letters'],
    ['upper-case name (nginx folds upstream names)', { labels: { SERVICE_80_NAME: 'Web' } }, 'SERVICE_80_NAME', 'must match'],
    [
      'meta making the record larger than the renderer reads',
      { labels: Object.fromEntries(Array.from({ length: 22 }, (_, i) => [`SERVICE_80_M${i}`, '€'.repeat(1024)])) },
      'SERVICE_* labels',
      'larger than 65536',
    ],
    ['meta value with a ;', { labels: { SERVICE_80_OWNER: 'x;y' } }, 'SERVICE_80_OWNER', 'meta.owner'],
    ['meta key outside the charset', { labels: { 'SERVICE_80_A/B': '1' } }, 'SERVICE_80_A/B', 'meta key "a/b"'],
    [
      'host with a ; in the port binding',
      { ports: { '80/tcp': bind(32768, '10.0.0.1;'), '443/tcp': bind(32769) } },
      'NetworkSettings.Ports[80/tcp].HostIp',
      'host "10.0.0.1;"',
    ],
    ['host port not a number', { ports: { '80/tcp': bind('http'), '443/tcp': bind(32769) } }, 'NetworkSettings.Ports[80/tcp].HostPort', 'port'],
  ])('%s', (_name, f, label, message) => {
    const m = map(twoPorts(f));
    expect(m.warnings).toEqual([{ container: 'web-1', label, message: expect.stringContaining(message) as unknown }]);
    expect(addrs(m)).toContainEqual(['web-443', 'host1:web-1:443', '192.168.1.10', 32769]);
    const port80 = m.services.find((s) => s.record.id === 'host1:web-1:80');
    // A bad per-port label for a port that does not exist (99999, 0) leaves port 80 alone.
    expect(port80 !== undefined).toBe(/SERVICE_(99999|0)_/.test(label));
  });

  it.each<[string, Fixture, Partial<MappingOptions>, string]>([
    ['a container-wide bad label: one warning for all its services', { labels: { SERVICE_CHECK_FOO: '1' } }, {}, 'SERVICE_CHECK_FOO'],
    ['a bad container-wide duration', { env: ['SERVICE_CHECK_TIMEOUT=2 seconds'] }, {}, 'SERVICE_CHECK_TIMEOUT'],
    ['--ip with a ;', {}, { hostIp: '10.0.0.1;' }, '--ip'],
    ['--tags with a space', {}, { tags: ['a b'] }, '--tags'],
    ['--node with a /', {}, { node: 'a/b' }, '--node'],
    ['an image whose base name is not a service name', { image: 'registry:5000/' }, {}, 'Config.Image'],
  ])('%s', (_name, f, o, label) => {
    const m = map(twoPorts(f), o);
    expect(m.services).toEqual([]);
    expect(m.warnings).toEqual([{ container: 'web-1', label, message: expect.any(String) as unknown }]);
  });

  it('the warning names the container without its slash, or its short id', () => {
    expect(map({ name: '/shop-api', labels: { SERVICE_80_CHECK_FOO: '1' } }).warnings[0]?.container).toBe('shop-api');
    expect(map({ name: '', labels: { SERVICE_80_CHECK_FOO: '1' } }).warnings[0]?.container).toBe('f00dfeed1234');
  });

  it('a bad port in a per-port key set by both env and label is reported once', () => {
    const m = map({ env: ['SERVICE_70000_NAME=x'], labels: { SERVICE_70000_NAME: 'y' } });
    expect(m.warnings).toHaveLength(1);
    expect(m.services.map((s) => s.record.id)).toEqual(['host1:web-1:80']);
  });
});

// Which address a service registers: --network, SERVICE_NETWORK and SERVICE_IP over the network mode's own
// address, on inspect data shaped as Docker sends it for a compose container on two networks (no Docker).
import { describe, expect, it } from 'vitest';
import { ipLiteral } from '../../../src/docker/container-address.js';
import { containerServices, type ContainerMapping } from '../../../src/docker/services.js';
import type { MappingOptions } from '../../../src/docker/types.js';
import { bind, container, opts, type Fixture } from './fixtures.js';

const FRONT_ID = '3f9c1e2d4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0';
const BACK_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

/**
 * `docker compose` web on shop_front and shop_back (Docker sorts Networks by name: shop_back comes first), exposing
 * 80 and 443 and publishing 80 on 0.0.0.0:32768; NetworkSettings.IPAddress is empty off the default bridge.
 */
const composed = (f: Fixture = {}): Fixture => ({
  name: '/shop-web-1',
  image: 'shop/web:2',
  exposed: ['80/tcp', '443/tcp'],
  ports: { '80/tcp': bind(32768), '443/tcp': null },
  networks: {
    shop_back: { NetworkID: BACK_ID, IPAddress: '172.19.0.4', GlobalIPv6Address: '' },
    shop_front: { NetworkID: FRONT_ID, IPAddress: '172.18.0.3', GlobalIPv6Address: 'fd00:18::3' },
  },
  ...f,
});

const map = (f: Fixture, o: Partial<MappingOptions> = {}): ContainerMapping => containerServices(container(composed(f)), opts(o));

/** id → host of every service, in result order. */
const hosts = (m: ContainerMapping): Array<[string, string, number]> => m.services.map((s) => [s.record.id, s.record.host, s.record.port]);

const INTERNAL = { internal: true };

describe('registered address: --network and the address labels', () => {
  it.each<[string, Fixture, Partial<MappingOptions>, Array<[string, string, number]>]>([
    ['--internal alone: the first network by name', {}, INTERNAL, [['host1:shop-web-1:443', '172.19.0.4', 443], ['host1:shop-web-1:80', '172.19.0.4', 80]]],
    ['--network by name', {}, { ...INTERNAL, network: 'shop_front' }, [['host1:shop-web-1:443', '172.18.0.3', 443], ['host1:shop-web-1:80', '172.18.0.3', 80]]],
    ['--network by full id', {}, { ...INTERNAL, network: FRONT_ID }, [['host1:shop-web-1:443', '172.18.0.3', 443], ['host1:shop-web-1:80', '172.18.0.3', 80]]],
    ['--network by short id', {}, { ...INTERNAL, network: FRONT_ID.slice(0, 12) }, [['host1:shop-web-1:443', '172.18.0.3', 443], ['host1:shop-web-1:80', '172.18.0.3', 80]]],
    ['--network beats NetworkSettings.IPAddress', { ip: '172.17.0.9' }, { ...INTERNAL, network: 'shop_front' }, [['host1:shop-web-1:443', '172.18.0.3', 443], ['host1:shop-web-1:80', '172.18.0.3', 80]]],
    [
      'SERVICE_NETWORK overrides --network',
      { labels: { SERVICE_NETWORK: 'shop_back' } },
      { ...INTERNAL, network: 'shop_front' },
      [['host1:shop-web-1:443', '172.19.0.4', 443], ['host1:shop-web-1:80', '172.19.0.4', 80]],
    ],
    [
      'SERVICE_<port>_NETWORK overrides SERVICE_NETWORK for its port only',
      { labels: { SERVICE_NETWORK: 'shop_back', SERVICE_443_NETWORK: 'shop_front' } },
      INTERNAL,
      [['host1:shop-web-1:443', '172.18.0.3', 443], ['host1:shop-web-1:80', '172.19.0.4', 80]],
    ],
    [
      'SERVICE_NETWORK as an env var',
      { env: ['SERVICE_NETWORK=shop_front'] },
      INTERNAL,
      [['host1:shop-web-1:443', '172.18.0.3', 443], ['host1:shop-web-1:80', '172.18.0.3', 80]],
    ],
    [
      'a network with only an IPv6 address registers it',
      { networks: { v6only: { NetworkID: BACK_ID, IPAddress: '', GlobalIPv6Address: 'FD00:0:0::7' } } },
      { ...INTERNAL, network: 'v6only' },
      [['host1:shop-web-1:443', 'fd00::7', 443], ['host1:shop-web-1:80', 'fd00::7', 80]],
    ],
    [
      'SERVICE_IP replaces the container address, the exposed port stays',
      { labels: { SERVICE_IP: '10.1.2.3' } },
      { ...INTERNAL, network: 'shop_front' },
      [['host1:shop-web-1:443', '10.1.2.3', 443], ['host1:shop-web-1:80', '10.1.2.3', 80]],
    ],
    [
      'SERVICE_IP replaces --ip for a published port, the host port stays',
      { labels: { SERVICE_IP: '10.1.2.3' } },
      {},
      [['host1:shop-web-1:80', '10.1.2.3', 32768]],
    ],
    [
      'SERVICE_IP replaces --ip on the host network',
      { networkMode: 'host', networks: { host: {} }, exposed: ['8080/tcp'], labels: { SERVICE_IP: '10.1.2.3' } },
      {},
      [['host1:shop-web-1:8080', '10.1.2.3', 8080]],
    ],
    [
      'SERVICE_IP written as IPv6 is stored in canonical text, spaces dropped',
      { labels: { SERVICE_IP: ' FD00:0:0:0:0:0:0:5 ' } },
      {},
      [['host1:shop-web-1:80', 'fd00::5', 32768]],
    ],
    [
      'SERVICE_<port>_IP beats SERVICE_<port>_NETWORK, which beats SERVICE_IP',
      { labels: { SERVICE_IP: '10.9.9.9', SERVICE_80_NETWORK: 'shop_front', SERVICE_80_IP: '10.1.2.3', SERVICE_443_NETWORK: 'shop_front' } },
      INTERNAL,
      [['host1:shop-web-1:443', '172.18.0.3', 443], ['host1:shop-web-1:80', '10.1.2.3', 80]],
    ],
    [
      'SERVICE_IP gives an address to a container without one (network none)',
      { networks: { none: {} }, labels: { SERVICE_IP: '10.1.2.3' } },
      INTERNAL,
      [['host1:shop-web-1:443', '10.1.2.3', 443], ['host1:shop-web-1:80', '10.1.2.3', 80]],
    ],
    [
      '--network leaves host-network containers on --ip',
      { networkMode: 'host', networks: { host: {} }, exposed: ['8080/tcp'] },
      { ...INTERNAL, network: 'shop_front' },
      [['host1:shop-web-1:8080', '192.168.1.10', 8080]],
    ],
  ])('%s', (_name, f, o, expected) => {
    const m = map(f, o);
    expect(m.warnings).toEqual([]);
    expect(hosts(m)).toEqual(expected);
    for (const s of m.services) expect(s.checkHost).toBe(s.record.host);
  });

  it('SERVICE_IP and SERVICE_NETWORK choose the address and are not meta', () => {
    const m = map({ labels: { SERVICE_80_IP: '10.1.2.3', SERVICE_NETWORK: 'shop_back', SERVICE_OWNER: 'team' } }, INTERNAL);
    expect(m.warnings).toEqual([]);
    expect(m.services.map((s) => s.record.meta)).toEqual([{ owner: 'team' }, { owner: 'team' }]);
  });
});

describe('registered address: refused values give one warning naming the container and the label', () => {
  // The fault is on port 80 (or on the container); port 443 registers unless the fault covers it too.
  it.each<[string, Fixture, Partial<MappingOptions>, string, string, Array<[string, string, number]>]>([
    ['SERVICE_IP not an IP', { labels: { SERVICE_80_IP: 'web.internal' } }, INTERNAL, 'SERVICE_80_IP', 'expected an IPv4 or IPv6 address', [['host1:shop-web-1:443', '172.19.0.4', 443]]],
    ['SERVICE_IP with a ; after the address', { labels: { SERVICE_80_IP: '10.0.0.1;' } }, INTERNAL, 'SERVICE_80_IP', 'got "10.0.0.1;"', [['host1:shop-web-1:443', '172.19.0.4', 443]]],
    ['SERVICE_IP with a zone id', { labels: { SERVICE_80_IP: 'fe80::1%eth0' } }, INTERNAL, 'SERVICE_80_IP', 'zone id', [['host1:shop-web-1:443', '172.19.0.4', 443]]],
    ['SERVICE_IP unspecified', { labels: { SERVICE_80_IP: '0.0.0.0' } }, INTERNAL, 'SERVICE_80_IP', 'unspecified address', [['host1:shop-web-1:443', '172.19.0.4', 443]]],
    ['SERVICE_IP empty (an unexpanded variable)', { labels: { SERVICE_80_IP: '' } }, INTERNAL, 'SERVICE_80_IP', 'empty; expected an IPv4', [['host1:shop-web-1:443', '172.19.0.4', 443]]],
    [
      'an empty SERVICE_<port>_IP does not fall back to SERVICE_IP',
      { labels: { SERVICE_IP: '10.1.2.3', SERVICE_80_IP: '' } },
      INTERNAL,
      'SERVICE_80_IP',
      'empty',
      [['host1:shop-web-1:443', '10.1.2.3', 443]],
    ],
    [
      'SERVICE_<port>_NETWORK the container is not on: the networks it is on are listed',
      { labels: { SERVICE_80_NETWORK: 'shop_frnt' } },
      INTERNAL,
      'SERVICE_80_NETWORK',
      'not on network "shop_frnt"; expected the name or id of one of the container\'s networks: "shop_back", "shop_front"',
      [['host1:shop-web-1:443', '172.19.0.4', 443]],
    ],
    ['SERVICE_<port>_NETWORK empty', { labels: { SERVICE_80_NETWORK: '' } }, INTERNAL, 'SERVICE_80_NETWORK', 'empty; expected the name or id', [['host1:shop-web-1:443', '172.19.0.4', 443]]],
    [
      'SERVICE_<port>_NETWORK on which the container has no IP',
      { networks: { shop_back: { IPAddress: '172.19.0.4' }, shop_front: { IPAddress: '' } }, labels: { SERVICE_80_NETWORK: 'shop_front' } },
      INTERNAL,
      'SERVICE_80_NETWORK',
      'no IP address on network "shop_front"',
      [['host1:shop-web-1:443', '172.19.0.4', 443]],
    ],
    ['a container-wide SERVICE_NETWORK it is not on: every service, one warning', { labels: { SERVICE_NETWORK: 'other' } }, INTERNAL, 'SERVICE_NETWORK', 'not on network "other"', []],
    ['a container-wide bad SERVICE_IP: every service, one warning', { labels: { SERVICE_IP: '10.0.0.256' } }, INTERNAL, 'SERVICE_IP', 'got "10.0.0.256"', []],
    [
      '--network the container is not on: its services are skipped, not registered on another network',
      {},
      { ...INTERNAL, network: 'ingress' },
      '--network',
      'not on network "ingress"',
      [],
    ],
    ['--network on a container without networks', { networks: {} }, { ...INTERNAL, network: 'shop_front' }, '--network', 'it is on none', []],
    ['a short id prefix (under 12 digits) is not an id', {}, { ...INTERNAL, network: FRONT_ID.slice(0, 8) }, '--network', 'not on network', []],
    [
      'a malformed IP from Docker names its field',
      { networks: { shop_back: { IPAddress: '172.19.0.4;' } } },
      { ...INTERNAL, network: 'shop_back' },
      'NetworkSettings.Networks.shop_back.IPAddress',
      'host "172.19.0.4;"',
      [],
    ],
  ])('%s', (_name, f, o, label, message, expected) => {
    const m = map(f, o);
    expect(m.warnings).toEqual([{ container: 'shop-web-1', label, message: expect.stringContaining(message) as unknown }]);
    expect(m.warnings[0]?.message.startsWith(`${label}: `)).toBe(true);
    expect(hosts(m)).toEqual(expected);
  });

  it.each<[string, Fixture]>([
    ['published ports', { labels: { SERVICE_NETWORK: 'shop_front' } }],
    ['the host network', { networkMode: 'host', networks: { host: {} }, exposed: ['8080/tcp', '9090/tcp'], labels: { SERVICE_NETWORK: 'shop_front' } }],
  ])('SERVICE_NETWORK without a container address (%s): ignored with one warning, the host address registers', (_name, f) => {
    const m = map(f);
    expect(m.warnings).toEqual([{ container: 'shop-web-1', label: 'SERVICE_NETWORK', message: expect.stringContaining('ignored') as unknown, ignored: true }]);
    expect(m.services.length).toBeGreaterThan(0);
    for (const s of m.services) expect(s.record.host).toBe('192.168.1.10');
  });
});

describe('ipLiteral', () => {
  it.each([
    ['10.0.0.5', '10.0.0.5'],
    ['127.0.0.1', '127.0.0.1'],
    ['fd00::5', 'fd00::5'],
    ['FD00:0::5', 'fd00::5'],
    [' 10.0.0.5\t', '10.0.0.5'],
  ])('%j → %s', (value, host) => {
    expect(ipLiteral(value)).toEqual({ ok: true, value: host });
  });

  it.each(['', ' ', 'localhost', 'web.internal', '10.0.0', '10.0.0.5:80', '[fd00::5]', 'fe80::1%eth0', '0.0.0.0', '::', '0:0::0', '10.0.0.5\n'.repeat(2), '1.2.3.4 5.6.7.8'])(
    '%j is refused',
    (value) => {
      expect(ipLiteral(value).ok).toBe(false);
    },
  );
});

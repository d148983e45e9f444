// The address one service registers: the one its network mode gives (published: `--ip` or the binding's HostIp;
// `--internal`: the container's IP), the IP on a network chosen by `--network` or SERVICE_NETWORK, or SERVICE_IP.
// Pure, like the rest of the label mapping; services.ts turns a refusal into its warning.
import { isIP } from 'node:net';
import { validateHost } from '../registry/record.js';
import type { Validation } from '../util/validation.js';

/** One network of a container, as in `NetworkSettings.Networks[<name>]`. */
export interface NetworkEndpoint {
  IPAddress?: string;
  GlobalIPv6Address?: string;
  NetworkID?: string;
}

/** `NetworkSettings.Networks`: network name → the container's endpoint on it. */
export type Networks = Readonly<Record<string, NetworkEndpoint>>;

/** An address and where it came from (a label, a flag or a Docker field), for warnings. */
export interface Address {
  host: string;
  source: string;
}

/** The address label nearest to a port (SERVICE_<port>_IP, SERVICE_<port>_NETWORK, SERVICE_IP, SERVICE_NETWORK). */
export interface AddressSetting {
  key: 'ip' | 'network';
  value: string;
  label: string;
}

/** A value that cannot be used, and the label, flag or field it came from. */
export interface Refusal {
  label: string;
  message: string;
}

/** What decides one service's address. */
export interface AddressRequest {
  /** The network mode's address; absent when the container has none (`--internal` without an IP). */
  modeAddress?: Address | undefined;
  /** The container's own address is registered (`--internal`, not on the host network): a network can be chosen. */
  containerAddress: boolean;
  networks: Networks;
  setting?: AddressSetting | undefined;
  /** `--network`. */
  network?: string | undefined;
}

/** The address to register, with a label that had no effect; or why the service cannot be registered. */
export type AddressOutcome = { ok: true; address: Address; ignored?: Refusal } | { ok: false; refusal: Refusal };

/** Where the refusal of a container without an address points, the field `--internal` reads. */
export const NO_IP: Refusal = { label: 'NetworkSettings.IPAddress', message: 'the container has no IP address to register with --internal' };

/**
 * The address of one service. SERVICE_IP wins outright; a network (SERVICE_NETWORK, else `--network`) chooses among
 * the container's own addresses, so it applies only where the mode registers one. A network the container is not
 * on, or has no IP on, refuses the service rather than falling back: the fallback is the address the operator
 * chose not to publish, and a wrong address sends traffic to a backend that cannot answer.
 */
export function chooseAddress(req: AddressRequest): AddressOutcome {
  const { setting, modeAddress } = req;
  if (setting?.key === 'ip') {
    const ip = ipLiteral(setting.value);
    return ip.ok ? { ok: true, address: { host: ip.value, source: setting.label } } : refuse(setting.label, ip.reason);
  }
  if (setting && !req.containerAddress && modeAddress) {
    const why = "a network chooses among the container's own addresses, registered only with --internal and not on the host network";
    return { ok: true, address: modeAddress, ignored: { label: setting.label, message: `${setting.label}: ignored: ${why}; the host address is registered` } };
  }
  const wanted = setting ?? (req.containerAddress && req.network !== undefined ? { value: req.network, label: '--network' } : undefined);
  if (wanted) return networkAddress(req.networks, wanted.value, wanted.label);
  return modeAddress ? { ok: true, address: modeAddress } : { ok: false, refusal: NO_IP };
}

/** `--internal` without a network chosen: NetworkSettings.IPAddress, else the first network with an IP (Docker sorts them by name). */
export function containerIp(ip: string | undefined, networks: Networks): Address | undefined {
  if (ip) return { host: ip, source: 'NetworkSettings.IPAddress' };
  for (const [network, settings] of Object.entries(networks)) {
    if (settings.IPAddress) return { host: settings.IPAddress, source: `NetworkSettings.Networks.${network}.IPAddress` };
  }
  return undefined;
}

/** The container's IP on one network, by name or id (full, or a unique prefix of at least 12 digits). */
function networkAddress(networks: Networks, wanted: string, label: string): AddressOutcome {
  const accepted = `expected the name or id of one of the container's networks: ${networkList(networks)}`;
  if (wanted.trim() === '') return refuse(label, `empty; ${accepted}`);
  const name = findNetwork(networks, wanted);
  if (name === undefined) return refuse(label, `the container is not on network ${show(wanted)}; ${accepted}`);
  const endpoint = networks[name] as NetworkEndpoint;
  const field = `NetworkSettings.Networks.${name}`;
  if (endpoint.IPAddress) return { ok: true, address: { host: endpoint.IPAddress, source: `${field}.IPAddress` } };
  if (endpoint.GlobalIPv6Address) return { ok: true, address: { host: endpoint.GlobalIPv6Address, source: `${field}.GlobalIPv6Address` } };
  return refuse(label, `the container has no IP address on network ${show(name)}`);
}

function findNetwork(networks: Networks, wanted: string): string | undefined {
  if (Object.hasOwn(networks, wanted)) return wanted;
  if (!/^[0-9a-f]{12,64}$/.test(wanted)) return undefined;
  const byId = Object.keys(networks).filter((name) => networks[name]?.NetworkID?.startsWith(wanted));
  return byId.length === 1 ? byId[0] : undefined;
}

/** The container's network names, quoted, for a refusal. */
function networkList(networks: Networks): string {
  const names = Object.keys(networks).sort();
  return names.length === 0 ? 'it is on none (network mode "none" or another container\'s network)' : names.map(show).join(', ');
}

/**
 * SERVICE_IP: an IPv4 or IPv6 literal (surrounding spaces dropped), checked as records check hosts (an IPv6
 * address in canonical text, no zone id). A host name is refused: it would be resolved by every renderer, not here.
 * The unspecified address is refused: no client reaches a backend at 0.0.0.0 or ::.
 */
export function ipLiteral(value: string): Validation<string> {
  const text = value.trim();
  const expected = 'expected an IPv4 or IPv6 address such as 10.0.0.5 or fd00::5';
  if (text === '') return { ok: false, reason: `empty; ${expected}` };
  if (isIP(text) === 0) return { ok: false, reason: `${expected}, got ${show(value)}` };
  const host = validateHost(text);
  if (!host.ok) return host;
  if (host.value === '0.0.0.0' || host.value === '::') return { ok: false, reason: `${show(value)} is the unspecified address, which no client can reach; ${expected}` };
  return host;
}

function refuse(label: string, reason: string): AddressOutcome {
  return { ok: false, refusal: { label, message: `${label}: ${reason}` } };
}

const show = (v: string): string => JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);

// `sidekick register` settings: its options (a setting table) and their parsing into the Docker mapping, the resync
// period and the deregistration rule; every mistake is a ConfigError naming its flag.
import { networkInterfaces } from 'node:os';
import type { MappingOptions } from '../docker/types.js';
import { validateHost, validateTags } from '../registry/record.js';
import { ConfigError } from '../util/errors.js';
import { listFlag, scheduleSettings, TIMEOUT_DEFAULT_HELP, type DrainFlags, type SidecarFlags } from './sidecar-config.js';
import { durationOf, sidekickSetting, type FlagsOf, type SettingSpec } from './settings-table.js';

const sidekick = sidekickSetting;

/** `--resync`: its default and least value; `0` (off) is read before it. */
const RESYNC = sidekick({
  flag: 'resync',
  value: '<duration>',
  help: 'list containers and repair etcd this often',
  defaultHelp: '60s; 0 disables',
  default: '60s',
  minMs: 1000,
  kind: 'duration',
});

/** register's own options; the etcd, registry, listen and drain ones follow them. */
export const REGISTER_OPTIONS = [
  sidekick({ flag: 'docker', value: '<address>', help: 'Docker API: unix:///var/run/docker.sock or tcp://host:port', defaultHelp: '$DOCKER_HOST, then the local socket', kind: 'string' }),
  sidekick({
    flag: 'ip',
    value: '<address>',
    help: 'address written for published ports and host-network containers',
    defaultHelp: "this host's first non-loopback IPv4",
    kind: 'string',
  }),
  sidekick({ flag: 'internal', help: "register the container's own IP and exposed ports instead of published ones", kind: 'bool' }),
  sidekick({
    flag: 'network',
    value: '<name>',
    help: 'with --internal: the Docker network (name or id) whose IP is registered; SERVICE_NETWORK and SERVICE_IP override it',
    defaultHelp: "the container's IPAddress, else its first network by name",
    kind: 'string',
  }),
  sidekick({ flag: 'explicit', help: 'register only containers that set SERVICE_NAME or SERVICE_<port>_NAME', kind: 'bool' }),
  sidekick({ flag: 'tags', value: '<list>', help: 'tags added to every service; comma-separated, repeatable', kind: 'list' }),
  RESYNC,
  sidekick({
    flag: 'deregister',
    value: '<when>',
    help: 'remove the records of exited containers: always, or on-success (only exit status 0)',
    defaultHelp: 'always',
    kind: 'string',
  }),
  sidekick({ flag: 'check-interval', value: '<duration>', help: 'default SERVICE_CHECK_INTERVAL', defaultHelp: '10s', kind: 'duration' }),
  sidekick({ flag: 'check-timeout', value: '<duration>', help: `default SERVICE_CHECK_TIMEOUT (${TIMEOUT_DEFAULT_HELP})`, kind: 'duration' }),
  sidekick({ flag: 'rise', value: '<n>', help: 'default passes in a row before a service is registered', defaultHelp: 1, kind: 'string' }),
  sidekick({ flag: 'fall', value: '<n>', help: 'default failures in a row before it is removed', defaultHelp: 2, kind: 'string' }),
] as const satisfies readonly SettingSpec[];

/** The options of `register`, as commander returns them. */
export type RegisterFlags = FlagsOf<typeof REGISTER_OPTIONS> & SidecarFlags & DrainFlags;

/** What register's own options set. */
export interface RegisterSettings {
  mapping: MappingOptions;
  /** 0: no periodic resync. */
  resyncMs: number;
  deregister: 'always' | 'on-success';
}

/** register's own settings from the flags; `node` is the registry's node name. Throws ConfigError naming the flag. */
export function registerSettings(flags: RegisterFlags, node: string): RegisterSettings {
  const mapping = mappingOptions(flags, node);
  const resyncMs = flags.resync === '0' ? 0 : durationOf(RESYNC, flags);
  const deregister = flags.deregister ?? 'always';
  if (deregister !== 'always' && deregister !== 'on-success') throw new ConfigError(`--deregister: expected always or on-success, got "${deregister}"`);
  return { mapping, resyncMs, deregister };
}

/** The mapping settings from the flags; throws ConfigError naming the flag. */
function mappingOptions(flags: RegisterFlags, node: string): MappingOptions {
  const ip = validateHost(flags.ip ?? defaultIp());
  if (!ip.ok) throw new ConfigError(`--ip: ${ip.reason}`);
  const tags = validateTags(listFlag(flags.tags));
  if (!tags.ok) throw new ConfigError(`--tags: ${tags.reason}`);
  const internal = flags.internal === true;
  return {
    hostIp: ip.value,
    internal,
    ...(flags.network !== undefined && { network: networkFlag(flags.network, internal) }),
    explicit: flags.explicit === true,
    tags: tags.value,
    node,
    healthDefaults: scheduleSettings(
      { interval: flags.checkInterval, timeout: flags.checkTimeout, rise: flags.rise, fall: flags.fall },
      { interval: '--check-interval', timeout: '--check-timeout' },
    ),
  };
}

/**
 * `--network`: a non-empty network name or id, only with `--internal`. Published ports register the host's address
 * and host-network containers have no network of their own, so without `--internal` the flag would choose nothing.
 */
function networkFlag(network: string, internal: boolean): string {
  if (network.trim() === '') throw new ConfigError('--network: must not be empty; expected the name or id of a Docker network');
  if (!internal) {
    throw new ConfigError(`--network ${JSON.stringify(network)}: applies only with --internal (published ports register --ip and the host port); add --internal or drop --network`);
  }
  return network;
}

/** registrator's default: the host's address. The first non-internal IPv4, else loopback. */
function defaultIp(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

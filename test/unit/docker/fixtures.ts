// Small literal `docker inspect` fixtures for the Docker → services mapping tests.
import type { NetworkEndpoint } from '../../../src/docker/container-address.js';
import type { InspectedContainer, PortBinding } from '../../../src/docker/services.js';
import type { MappingOptions } from '../../../src/docker/types.js';

const OPTS: MappingOptions = {
  hostIp: '192.168.1.10',
  internal: false,
  explicit: false,
  tags: [],
  node: 'host1',
  healthDefaults: { intervalMs: 10_000, timeoutMs: 2_000, rise: 1, fall: 2 },
};

export const opts = (over: Partial<MappingOptions> = {}): MappingOptions => ({ ...OPTS, ...over });

/** The parts of a container a test cares about; everything else gets a plain default. */
export interface Fixture {
  id?: string;
  name?: string;
  image?: string;
  env?: string[];
  labels?: Record<string, string>;
  /** Config.ExposedPorts keys, e.g. "80/tcp". Default: the keys of `ports`. */
  exposed?: string[];
  /** NetworkSettings.Ports. Default: 80/tcp published on 0.0.0.0:32768. */
  ports?: Record<string, PortBinding[] | null>;
  networkMode?: string;
  ip?: string;
  networks?: Record<string, NetworkEndpoint>;
  healthcheck?: string[];
  health?: boolean;
}

/** A published binding on all interfaces (or on `hostIp`). */
export const bind = (hostPort: number | string, hostIp = '0.0.0.0'): PortBinding[] => [{ HostIp: hostIp, HostPort: String(hostPort) }];

export const ID = 'f00dfeed1234567890abcdef';

/** An inspected container: `web-1` from image `web:1.0`, 80/tcp published on 0.0.0.0:32768 unless told. */
export function container(f: Fixture = {}): InspectedContainer {
  const ports = f.ports ?? { '80/tcp': bind(32768) };
  const exposed = f.exposed ?? Object.keys(ports);
  return {
    Id: f.id ?? ID,
    Name: f.name ?? '/web-1',
    Config: {
      Image: f.image ?? 'web:1.0',
      Env: f.env ?? ['PATH=/usr/bin:/bin'],
      Labels: f.labels ?? {},
      ExposedPorts: Object.fromEntries(exposed.map((k) => [k, {}])),
      ...(f.healthcheck ? { Healthcheck: { Test: f.healthcheck } } : {}),
    },
    State: f.health ? { Health: { Status: 'starting', FailingStreak: 0, Log: [] } } : {},
    HostConfig: { NetworkMode: f.networkMode ?? 'bridge' },
    NetworkSettings: {
      IPAddress: f.ip ?? '',
      Ports: f.networkMode === 'host' ? {} : ports,
      Networks: f.networks ?? {},
    },
  };
}

/** Two published ports, 80 → 32768 and 443 → 32769: the usual "other service still registers" setup. */
export const twoPorts = (f: Fixture = {}): InspectedContainer =>
  container({ ports: { '80/tcp': bind(32768), '443/tcp': bind(32769) }, ...f });

// What the Docker side hands to the registry: services found on a container, with their checks.
import type { HealthSettings } from '../health/types.js';
import type { ServiceRecord } from '../registry/record.js';

/** One service of one container, ready to be checked and, once healthy, written. */
export interface ServiceSpec {
  /** The record to write (validated: name, id, host, port, tags, meta, node). */
  record: ServiceRecord;
  /** Full container id, for exec checks, events and logs. */
  containerId: string;
  /** Container name without the leading "/". */
  containerName: string;
  /** Where http/tcp checks connect: usually the record's address. */
  checkHost: string;
  checkPort: number;
  health: HealthSettings;
}

/**
 * A label or env var that could not be used: the service it belonged to is skipped, the rest register. With
 * `ignored`, only the label is left out: the service registers without it.
 */
export interface MappingWarning {
  /** Container name (or short id when it has none). */
  container: string;
  /** The label or env var at fault, e.g. "SERVICE_80_CHECK_INTERVAL". */
  label: string;
  message: string;
  /** The service registered all the same; only this label had no effect. */
  ignored?: true;
}

/** Settings of `sidekick register` that shape the mapping (registrator's flags). */
export interface MappingOptions {
  /** Address written for published ports and host-network containers (`--ip`). */
  hostIp: string;
  /** Use the container's own IP and exposed ports (`--internal`). */
  internal: boolean;
  /**
   * With `internal`: the network (name or id) whose IP is registered (`--network`); SERVICE_NETWORK and
   * SERVICE_IP override it. Unset: NetworkSettings.IPAddress, else the first network with an IP.
   */
  network?: string;
  /** Only containers that set SERVICE_NAME (`--explicit`). */
  explicit: boolean;
  /** Tags added to every service (`--tags`). */
  tags: string[];
  /** This node's name: goes into the record's `node` and the default id `<node>:<container>:<port>[:udp]`. */
  node: string;
  /** Defaults for checks not configured per container (`--check-interval` etc.). */
  healthDefaults: Omit<HealthSettings, 'check'>;
}

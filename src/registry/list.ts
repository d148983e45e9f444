// Reads the registered services back from etcd, with the time left on each record's lease (`sidekick ls`).
import type { Etcd3 } from 'etcd3';
import { absolutePrefix } from '../util/key-path.js';
import { parseServiceRecord, type ServiceRecord } from './record.js';

/** One registered instance as `ls` shows it. */
export interface ListedService extends ServiceRecord {
  key: string;
  /** Lease id ("0": the key has no lease and never expires). */
  lease: string;
  /** Seconds left on the lease; null without a lease (JSON keeps the field), -1 when it already expired. */
  ttlLeft: number | null;
}

/** A key under the prefix that is not a valid record, and why. */
export interface ListProblem {
  key: string;
  reason: string;
}

/** Every record under `prefix` (native JSON or registrator's host:port), sorted by service and id. */
export async function listServices(client: Etcd3, prefix: string): Promise<{ services: ListedService[]; problems: ListProblem[] }> {
  const base = `${absolutePrefix(prefix)}/`; // as the registry writes under --prefix
  const res = await client.getAll().prefix(base).exec();
  const leases = new Map<string, Promise<number>>();
  const ttlOf = (lease: string): Promise<number> => {
    let ttl = leases.get(lease);
    if (!ttl) {
      ttl = client.leaseClient.leaseTimeToLive({ ID: lease }).then((r) => Number(r.TTL));
      leases.set(lease, ttl);
    }
    return ttl;
  };
  const services: ListedService[] = [];
  const problems: ListProblem[] = [];
  for (const kv of res.kvs) {
    const key = kv.key.toString('utf8');
    const parsed = parseServiceRecord(key, kv.value.toString('utf8'));
    if (!parsed.ok) {
      problems.push({ key, reason: parsed.reason });
      continue;
    }
    const hasLease = kv.lease !== '0' && kv.lease !== '';
    services.push({ ...parsed.record, key, lease: kv.lease, ttlLeft: hasLease ? await ttlOf(kv.lease) : null });
  }
  services.sort((a, b) => (a.name === b.name ? (a.id < b.id ? -1 : 1) : a.name < b.name ? -1 : 1));
  return { services, problems };
}

// When keys come and go in etcd, as etcd reports it: a watch on a prefix that timestamps every put and delete on
// arrival (Date.now()), for "key gone N ms after the signal" figures without polling error.
import type { Etcd3, Watcher } from 'etcd3';

/** One event seen by a {@link KeyTimeline}. */
export interface KeyEvent {
  type: 'put' | 'delete';
  key: string;
  /** Lease of the put ('0' for none; the deleted key's lease is not reported). */
  lease: string;
  at: number;
}

/** A running watch and what it saw. */
export interface KeyTimeline {
  readonly events: KeyEvent[];
  /** Time of the first delete of `key` at or after `since`. */
  deletedAt(key: string, since?: number): number | undefined;
  /** Time of the first put of `key` at or after `since`. */
  putAt(key: string, since?: number): number | undefined;
  close(): Promise<void>;
}

/** Watches every key under `prefix` from now on. */
export async function keyTimeline(client: Etcd3, prefix: string): Promise<KeyTimeline> {
  const events: KeyEvent[] = [];
  const watcher: Watcher = await client.watch().prefix(prefix).create();
  watcher.on('put', (kv) => events.push({ type: 'put', key: kv.key.toString(), lease: String(kv.lease), at: Date.now() }));
  watcher.on('delete', (kv) => events.push({ type: 'delete', key: kv.key.toString(), lease: '0', at: Date.now() }));
  const first = (type: KeyEvent['type'], key: string, since: number) => events.find((e) => e.type === type && e.key === key && e.at >= since)?.at;
  return {
    events,
    deletedAt: (key, since = 0) => first('delete', key, since),
    putAt: (key, since = 0) => first('put', key, since),
    close: () => watcher.cancel(),
  };
}

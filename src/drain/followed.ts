// The parsed values below one etcd prefix, kept current: what a drain reads acknowledgements through, and what a
// sidecar reads maintenance requests through.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from '../util/log.js';

/** Options for {@link FollowedPrefix}. */
export interface FollowedPrefixOptions<T> {
  client: Etcd3;
  /** The folder followed, without its trailing "/" ("/sidekick/renderers"). */
  prefix: string;
  /** A value, or why it is refused. */
  parse: (key: string, value: string) => T | string;
  /** What one value is, for the warning ("renderer acknowledgement"). */
  what: string;
  log: Logger;
  /** Called after each change the watch delivers (not for the first read). */
  onChange: () => void;
}

/**
 * One full read, then a watch from the read's revision; `values` holds every key's parsed value. A value `parse`
 * refuses is left out, with one warning naming its key.
 */
export class FollowedPrefix<T> {
  readonly values = new Map<string, T>();
  private readonly warned = new Set<string>();
  private watcher: Watcher | undefined;
  private closed = false;

  constructor(private readonly opts: FollowedPrefixOptions<T>) {}

  /** Reads the folder and starts watching it; rejects when etcd cannot be read (call again to retry). */
  async open(): Promise<void> {
    const { client, prefix } = this.opts;
    const res = await client.getAll().prefix(`${prefix}/`).exec();
    this.values.clear();
    for (const kv of res.kvs) this.put(kv);
    const watcher = await client.watch().prefix(`${prefix}/`).startRevision(String(Number(res.header.revision) + 1)).create();
    if (this.closed) return void (await watcher.cancel().catch(() => undefined));
    this.watcher = watcher;
    watcher.on('put', (kv) => {
      this.put(kv);
      this.opts.onChange();
    });
    watcher.on('delete', (kv) => {
      this.values.delete(kv.key.toString());
      this.opts.onChange();
    });
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.closed = true;
    await this.watcher?.cancel().catch(() => undefined);
  }

  private put(kv: IKeyValue): void {
    const key = kv.key.toString();
    const parsed = this.opts.parse(key, kv.value.toString());
    if (typeof parsed === 'string') {
      this.values.delete(key);
      if (!this.warned.has(key)) this.opts.log.warn({ storeKey: key, reason: parsed }, `ignoring a malformed ${this.opts.what}`);
      this.warned.add(key);
      return;
    }
    this.values.set(key, parsed);
  }
}

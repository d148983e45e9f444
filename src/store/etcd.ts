// etcd v3 source: one full read, then one watch per collapsed prefix applied incrementally to the mirror.
import { EventEmitter } from 'node:events';
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import { nextDelay, sleep } from '../util/backoff.js';
import { StoreError, errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { createEtcdClient, etcdSourceId, DEFAULT_REQUEST_TIMEOUT_MS, type EtcdConnectOptions } from './etcd-client.js';
import { Mirror } from './mirror.js';
import { collapsePrefixes, keyUnder, prefixRange } from '../util/key-path.js';
import type { Entry, Source, SourceEvents, SourceState } from './types.js';

/** Options for {@link EtcdSource}: connection settings, the prefixes to mirror, and a logger. */
export interface EtcdSourceOptions extends EtcdConnectOptions {
  /** Absolute prefixes ("/services"); overlapping ones collapse into one watch; "/" means everything. */
  prefixes: string[];
  log?: Logger;
}

/** Keys per range request of a full read. */
const READ_PAGE = 5000;

/** One watched prefix and how far the mirror has applied it. */
interface Watch {
  readonly prefix: string;
  watcher: Watcher | undefined;
  /** Last store revision whose events for this prefix are in the mirror. */
  applied: number;
  /** Mirror complete and current for this prefix, watch established. */
  synced: boolean;
  /** Revision the re-established watch must reach before it counts as caught up. */
  target: number;
  /** Bumped whenever the watch is lost, so late async results from an older connection are dropped. */
  gen: number;
}


/** Mirrors etcd prefixes through watches: incremental updates, resume after disconnects, re-read after compaction. */
export class EtcdSource extends EventEmitter<SourceEvents> implements Source {
  readonly id: string;
  readonly view = new Mirror();
  private _state: SourceState = 'connecting';
  private client: Etcd3 | undefined;
  private readonly watches: Watch[];
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private closed = false;
  /** Set by start() while it waits for every watch to be established. */
  private onWatchSynced: (() => void) | undefined;

  constructor(private readonly opts: EtcdSourceOptions) {
    super();
    this.id = etcdSourceId(opts.nodes);
    this.log = (opts.log ?? silentLogger).child({ component: 'store', source: this.id });
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.watches = collapsePrefixes(opts.prefixes).map((prefix) => ({
      prefix,
      watcher: undefined,
      applied: 0,
      synced: false,
      target: 0,
      gen: 0,
    }));
  }

  /** Current connection state (see SourceState). */
  get state(): SourceState {
    return this._state;
  }

  /**
   * The newest etcd revision the mirror holds: every change under the watched prefixes up to it is applied. etcd
   * sends the events of all the watches of one client stream in revision order once they are caught up, and
   * renders only run while every watch is, so the highest revision any watch has applied bounds them all.
   */
  get revision(): number {
    return Math.max(0, ...this.watches.map((w) => w.applied));
  }

  /** The collapsed prefixes this source watches, one watch each ("" is the whole key space). */
  get watchedPrefixes(): string[] {
    return this.watches.map((w) => w.prefix);
  }

  /** Reads every prefix at one revision, starts the watches, resolves once all are established and caught up. */
  async start(): Promise<void> {
    if (this.client) throw new StoreError('etcd source already started', { where: this.id });
    this.closed = false; // start() may be retried after a failure
    for (const w of this.watches) Object.assign(w, { watcher: undefined, applied: 0, synced: false, target: 0 });
    try {
      const client = await createEtcdClient(this.opts);
      this.client = client;
      // One snapshot: the first read fixes the revision, the others read at that same revision.
      const [first, ...rest] = this.watches;
      const reads: { entries: Entry[]; revision: number }[] = [];
      if (first) reads.push(await this.readPrefix(first.prefix));
      const rev = reads[0]?.revision ?? 0;
      reads.push(...(await Promise.all(rest.map((w) => this.readPrefix(w.prefix, rev)))));
      this.watches.forEach((w, i) => {
        this.view.replacePrefix(w.prefix, reads[i]?.entries ?? []);
        w.applied = rev;
      });
      this.log.info({ prefixes: this.watchedPrefixes, keys: this.view.size, revision: rev }, 'initial read done');
      const allSynced = new Promise<void>((resolve) => {
        this.onWatchSynced = () => {
          if (this.watches.every((w) => w.synced)) resolve();
        };
      });
      for (const w of this.watches) this.openWatch(w);
      this.onWatchSynced?.(); // no prefixes: nothing to wait for
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`watch not established within ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      await Promise.race([allSynced, timeout]).finally(() => {
        clearTimeout(timer);
        this.onWatchSynced = undefined;
      });
      this.setState('synced');
    } catch (err) {
      await this.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot read etcd: ${errorMessage(err)}`, { cause: err, where: this.id });
    }
  }

  /** Cancels the watches and closes the client. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    const cancels = this.watches.map((w) => {
      const watcher = w.watcher;
      w.watcher = undefined;
      return watcher?.cancel().catch(() => undefined);
    });
    await Promise.race([Promise.all(cancels), sleep(1000, undefined, { unref: true })]);
    client?.close();
  }

  /**
   * Full read of one prefix (optionally at a revision); entries outside the path prefix are dropped. Read in pages
   * of READ_PAGE keys at one revision: a decoded response holds several objects and buffers per key, so one
   * response for 100,000 keys would raise the process's memory for good by far more than the mirror needs.
   */
  private async readPrefix(prefix: string, revision?: number): Promise<{ entries: Entry[]; revision: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readPages(prefix, revision);
      } catch (err) {
        // The revision of the first page compacted before the last one was read: read again, at a new revision.
        if (revision !== undefined || attempt >= 3 || !/compacted/i.test(errorMessage(err))) throw err;
      }
    }
  }

  private async readPages(prefix: string, revision?: number): Promise<{ entries: Entry[]; revision: number }> {
    const client = this.requireClient();
    const range = prefixRange(prefix);
    const entries: Entry[] = [];
    let rev = revision;
    let start: string | Buffer = range.start;
    for (;;) {
      const builder = client.getAll().inRange({ start, end: range.end }).limit(READ_PAGE);
      if (rev) builder.revision(rev);
      const res = await builder.exec();
      rev ??= Number(res.header.revision);
      for (const kv of res.kvs) {
        const key = kv.key.toString();
        if (keyUnder(key, prefix)) entries.push([key, kv.value.toString()]);
      }
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) return { entries, revision: rev };
      start = Buffer.concat([last.key, Buffer.from([0])]); // the next key after the last one read
    }
  }

  private requireClient(): Etcd3 {
    if (!this.client || this.closed) throw new StoreError('etcd source is closed', { where: this.id });
    return this.client;
  }

  /** Attaches a watcher resuming after `w.applied`; all listeners go on before any event can fire. */
  private openWatch(w: Watch): void {
    const client = this.requireClient();
    const range = prefixRange(w.prefix);
    const watcher = client.watch().inRange(range).startRevision(String(w.applied + 1)).watcher();
    w.watcher = watcher;
    const mine = () => w.watcher === watcher && !this.closed;
    const pin = () => this.pin(w, watcher);
    watcher.on('connected', (res: IWatchResponse) => {
      pin();
      if (mine()) this.onConnected(w, Number(res.header.revision));
    });
    watcher.on('data', (res: IWatchResponse) => {
      if (mine()) this.onData(w, res);
      pin();
    });
    watcher.on('disconnected', (err: Error) => {
      pin();
      if (mine()) this.lose(w, err, 'etcd watch lost');
    });
    // A cancel from the server (history compacted past our revision, or a permission change): the watcher is
    // dead and the gap cannot be replayed, so re-read the prefix and watch again from there.
    watcher.on('error', (err: Error) => {
      if (!mine()) return;
      w.watcher = undefined;
      this.lose(w, err, 'etcd watch canceled by etcd (compacted?), re-reading the prefix');
      void this.resync(w);
    });
  }

  private onConnected(w: Watch, createdRev: number): void {
    w.target = createdRev;
    if (w.applied >= createdRev) return this.markSynced(w);
    void this.verifyCaughtUp(w, w.gen, createdRev);
  }

  /** Applies one watch response as one batch; emits `change` with the keys whose value actually changed. */
  private onData(w: Watch, res: IWatchResponse): void {
    const before = new Map<string, string | undefined>();
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      if (!keyUnder(key, w.prefix)) continue;
      if (!before.has(key)) before.set(key, this.view.get(key));
      if (ev.type === 'Put') this.view.set(key, ev.kv.value.toString());
      else this.view.delete(key);
    }
    w.applied = Math.max(w.applied, Number(res.header.revision));
    const changed = [...before].filter(([k, old]) => this.view.get(k) !== old).map(([k]) => k);
    if (changed.length > 0) {
      this.log.debug({ prefix: w.prefix, keys: changed.length, revision: w.applied }, 'change');
      this.emit('change', changed.sort());
    }
    if (!w.synced && w.watcher && w.target > 0 && w.applied >= w.target) this.markSynced(w);
  }

  /**
   * After a reconnect the server replays (applied, createdRev] but sends nothing when none of it touched our
   * range. Two cheap reads tell which case we are in: same key count and no key modified after `applied`.
   */
  private async verifyCaughtUp(w: Watch, gen: number, createdRev: number): Promise<void> {
    const range = prefixRange(w.prefix);
    while (gen === w.gen && !w.synced && !this.closed) {
      try {
        const client = this.requireClient();
        const [now, then] = await Promise.all([
          client.getAll().inRange(range).revision(createdRev).sort('Mod', 'Descend').limit(1).exec(),
          client.getAll().inRange(range).revision(w.applied).count(),
        ]);
        if (gen !== w.gen || w.synced || this.closed) return;
        const maxMod = Number(now.kvs[0]?.mod_revision ?? 0);
        if (Number(now.count) === then && maxMod <= w.applied) {
          w.applied = createdRev;
          this.pin(w);
          this.markSynced(w);
        }
        // Otherwise events are on their way; onData marks the watch synced when it reaches createdRev.
        return;
      } catch (err) {
        // A compacted `applied` lands here too; the watch's cancel then triggers the re-read.
        if (gen === w.gen && !this.closed) {
          this.log.debug({ prefix: w.prefix, err: errorMessage(err) }, 'catch-up check failed; retrying');
        }
        await sleep(250, undefined, { unref: true });
      }
    }
  }

  /** Full re-read of one prefix after its watch was canceled; retries with backoff until it works or we close. */
  private async resync(w: Watch): Promise<void> {
    let delay = 100;
    for (let attempt = 0; !this.closed; attempt++) {
      const gen = w.gen;
      try {
        const { entries, revision } = await this.readPrefix(w.prefix);
        if (this.closed || gen !== w.gen) return;
        const changed = this.view.replacePrefix(w.prefix, entries);
        w.applied = revision;
        this.log.info({ prefix: w.prefix, revision, changed: changed.length }, 're-read prefix after watch gap');
        if (changed.length > 0) this.emit('change', changed);
        this.openWatch(w);
        return;
      } catch (err) {
        if (this.closed) return;
        if (attempt === 0) this.log.warn({ prefix: w.prefix, err: errorMessage(err) }, 're-read failed; retrying');
        await sleep(Math.min(delay, this.opts.maxBackoffMs ?? 2000), undefined, { unref: true });
        delay = nextDelay(delay, this.opts.maxBackoffMs ?? 2000);
      }
    }
  }

  /**
   * etcd3 moves start_revision to the created response's revision + 1 on every (re)connect, which would skip
   * events not yet delivered if the stream drops again; resume from what the mirror actually holds.
   */
  private pin(w: Watch, watcher = w.watcher): void {
    if (watcher) watcher.request.start_revision = String(w.applied + 1);
  }

  /**
   * Marks a watch lost. The source logs at debug only: its consumer gets the state change with the reason and
   * logs the outage once (render: "store unreachable…"), so an outage is one warning, not one per component.
   */
  private lose(w: Watch, err: Error, what: string): void {
    w.gen++;
    w.target = 0;
    if (!w.synced) return;
    w.synced = false;
    if (this._state === 'synced') this.log.debug({ prefix: w.prefix, err: errorMessage(err) }, what);
    this.setState('stale', new StoreError(`${what}: ${errorMessage(err)}`, { cause: err, where: this.id }));
  }

  private markSynced(w: Watch): void {
    if (w.synced) return;
    w.synced = true;
    this.onWatchSynced?.();
    if (this._state === 'stale' && this.watches.every((x) => x.synced)) {
      this.log.debug({ revision: w.applied }, 'etcd watches caught up');
      this.setState('synced');
    }
  }

  private setState(state: SourceState, error?: Error): void {
    if (this._state === state) return;
    this._state = state;
    this.emit('state', state, error);
  }
}

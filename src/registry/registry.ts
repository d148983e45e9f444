// The lease-bound writer behind `sidekick register` (many records) and `sidekick announce` (one record).
//
// The caller states the desired records (set/remove); the registry makes etcd match, on one lease it owns:
// - changes made in the same few milliseconds are flushed together, in transactions of ≤ 128 operations
//   (etcd's default --max-txn-ops), every put carrying the lease; unchanged bytes are never rewritten;
// - a failed flush keeps the desired state and retries with backoff, logging once per outage;
// - a lost lease (partition or etcd outage longer than the TTL, lease revoked by someone) is replaced by a new one
//   and every desired record is rewritten on it; the old lease is then revoked, best effort, so records removed
//   during the outage go at once instead of after the TTL;
// - reconcile() repairs manual edits: it reads the layout prefixes, rewrites desired keys that are missing or
//   different and deletes keys attached to our lease that are not desired.
// Nothing here throws into a daemon on a store failure; only an invalid record (an input error) throws, at set().
//
// etcd3's Lease (lib/lease.js in etcd3 1.1.2), as relied on here: the constructor sends LeaseGrant at once (not
// lazily); a failed grant emits 'lost' and rejects grant(). With autoKeepAlive it keeps a keepalive stream, sending
// every TTL/3; a stream error is retried every 100 ms; a keepalive answer with TTL 0 (lease expired or revoked on
// the server, seen as soon as etcd is reachable again) emits 'lost'; so does being unable to keep alive for
// 2 × TTL while etcd stays unreachable (the lease is certainly gone by then, unless an etcd restart refreshed it,
// which is why we revoke the old lease once its records moved). A put with an unknown lease fails with
// EtcdLeaseInvalidError, which we also treat as a loss.
import { EventEmitter } from 'node:events';
import { EtcdLeaseInvalidError, type Etcd3, type IRequestOp, type Lease } from 'etcd3';
import { nextDelay, sleep } from '../util/backoff.js';
import { StoreError, errorMessage, logEtcdFailure } from '../util/errors.js';
import { perAttemptDeadline } from '../store/etcd-client.js';
import type { Logger } from '../util/log.js';
import { entriesFor, layoutPrefixes, normalizeDomain, parseLayouts, type Layout, type LayoutOptions } from './layouts.js';
import { InvalidRecordError, checkRecord, copyRecord, type ServiceRecord } from './record.js';

export { InvalidRecordError };

/** etcd's default `--max-txn-ops`: the most operations one transaction may carry. */
export const MAX_TXN_OPS = 128;
/** Byte budget of one transaction (keys + values), under etcd's default 1.5 MiB request limit. */
const MAX_TXN_BYTES = 1024 * 1024;
/** Transactions in flight at once during a large flush. */
const TXN_CONCURRENCY = 4;

export interface RegistryOptions {
  client: Etcd3;
  /** Lease TTL in whole seconds (≥ 1). */
  ttlSec: number;
  layouts: Layout[];
  /** Prefix of the native/registrator layouts. */
  prefix: string;
  /** Domain of the skydns layout. */
  domain: string;
  log: Logger;
  /** First retry delay after a failed grant or flush, in ms (default 500). */
  retryInitialMs?: number;
  /** Retry delay cap, in ms (default 1 s: a retry is one small request, and writes must land within a second or two
   * of etcd answering again, so no long sleep is allowed to outlast an outage). */
  retryMaxMs?: number;
  /** How long set()/remove() changes gather before a flush, in ms (default 5). */
  batchMs?: number;
  /** Deadline of each etcd write the registry makes (grant, txn, revoke), in ms (default 1000: etcd holds a write that
   * reaches it while the leader is dead or being elected until the client gives up, so a short deadline lets the
   * retry land on the new leader within 2 s (the bound test/faults/cluster/leader-failover.test.ts asserts); writes on our lease are idempotent). Reconcile reads get
   * five times this: a full read of a large prefix may legitimately take longer, and nothing waits on it. */
  requestTimeoutMs?: number;
}

/**
 * Where the registry stands: `connecting` (no lease yet, or lost: granting), `syncing` (writes pending),
 * `synced` (etcd matches the desired state), `failing` (writes fail; retrying with backoff), `closed`.
 */
export type RegistryState = 'connecting' | 'syncing' | 'synced' | 'failing' | 'closed';

/** Counters for the benchmark and /metrics: etcd write operations (puts + deletes) and transactions issued. */
export interface RegistryStats {
  writes: number;
  txns: number;
  leaseGrants: number;
}

export interface LeaseGrantedEvent {
  /** The new lease id (decimal, as etcd3 reports it). */
  leaseId: string;
  /** The lease it replaces after a loss; undefined for the first grant. */
  previous: string | undefined;
}

export interface LeaseLostEvent {
  leaseId: string;
  reason: string;
}

export interface LeaseRenewedEvent {
  /** The lease etcd just kept alive (a keepalive answered with a live TTL). */
  leaseId: string;
}

/** The events a Registry emits (it never emits 'error'). */
export interface RegistryEvents {
  'lease-granted': [LeaseGrantedEvent];
  'lease-lost': [LeaseLostEvent];
  /** A keepalive of the current lease succeeded (every TTL/3 while etcd answers; /metrics counts them). */
  'lease-renewed': [LeaseRenewedEvent];
  state: [RegistryState];
}

interface DesiredRecord {
  record: ServiceRecord;
  /** key → value of every layout. */
  entries: Map<string, string>;
}

/** One key written in a flush: a put, or a delete. */
interface KeyWrite {
  key: string;
  /** undefined: delete. */
  value: string | undefined;
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
  /** Rejected at the first failed flush or lost lease (reconcile), instead of waiting for recovery. */
  failFast: boolean;
}

type PassResult = 'ok' | 'failed' | 'lease-changed';

/** Decimal lease id → hex, as `etcdctl lease list` shows it. */
const hexLease = (id: string | undefined): string | undefined => {
  if (id === undefined) return undefined;
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
};

/** Splits operations into transactions of ≤ MAX_TXN_OPS operations and ≤ MAX_TXN_BYTES bytes. */
function chunkOps(ops: KeyWrite[]): KeyWrite[][] {
  const chunks: KeyWrite[][] = [];
  let current: KeyWrite[] = [];
  let bytes = 0;
  for (const op of ops) {
    const size = Buffer.byteLength(op.key) + (op.value === undefined ? 0 : Buffer.byteLength(op.value));
    if (current.length > 0 && (current.length >= MAX_TXN_OPS || bytes + size > MAX_TXN_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * The lease-bound record writer. Lifecycle: `new Registry(opts)` → `start()` → set()/remove() at will → `close()`.
 * set()/remove() may be called before start(); they are written once a lease exists.
 */
export class Registry extends EventEmitter<RegistryEvents> {
  readonly stats: RegistryStats = { writes: 0, txns: 0, leaseGrants: 0 };

  private readonly client: Etcd3;
  private readonly log: Logger;
  private readonly ttlSec: number;
  private readonly layoutOpts: LayoutOptions;
  private readonly prefixes: string[];
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly batchMs: number;
  private readonly requestTimeoutMs: number;

  /** Desired state: instance id → record and its entries; key → owning id and value. */
  private readonly desired = new Map<string, DesiredRecord>();
  private readonly desiredKV = new Map<string, { id: string; value: string }>();
  /** What we wrote under the current lease (and believe is in etcd). Cleared when the lease changes. */
  private readonly written = new Map<string, string>();
  /** Keys whose desired value may differ from the written one. */
  private readonly dirty = new Set<string>();
  /** Keys a deregister() waits on → the revision of the transaction that deleted them (0 until it lands). */
  private readonly deletions = new Map<string, number>();

  private lease: Lease | undefined;
  private currentLeaseId: string | undefined;
  /** Bumped whenever the lease changes: results of requests sent under an older lease are dropped. */
  private epoch = 0;
  /** Leases lost (by us) whose records were moved: revoked, best effort, once the new lease is in sync. */
  private readonly oldLeases: string[] = [];
  private lastLostLeaseId: string | undefined;

  /** Bumped by every change of the desired state (and by a lease change); `syncedSeq` trails it. */
  private changeSeq = 0;
  private syncedSeq = 0;
  private waiters: Waiter[] = [];

  private closed = false;
  private startPromise: Promise<void> | undefined;
  private firstAttemptDone: (() => void) | undefined;
  private closePromise: Promise<void> | undefined;
  private acquiring = false;
  private loopRunning = false;
  private timer: NodeJS.Timeout | undefined;
  /** Aborted (and replaced) to end every retry wait at once: on close and on a new lease. */
  private wakeup = new AbortController();
  private reconciling: Promise<void> | undefined;
  /** etcd failing (grant or write): logged once when it starts, once when it recovers. */
  private failing = false;
  private lastState: RegistryState = 'connecting';

  constructor(opts: RegistryOptions) {
    super();
    if (!Number.isInteger(opts.ttlSec) || opts.ttlSec < 1) throw new RangeError(`lease TTL must be a whole number of seconds ≥ 1, got ${opts.ttlSec}`);
    const layouts = parseLayouts(opts.layouts, opts.prefix);
    const domain = layouts.includes('skydns') ? normalizeDomain(opts.domain) : opts.domain;
    this.client = opts.client;
    this.log = opts.log.child({ component: 'registry' });
    this.ttlSec = opts.ttlSec;
    this.layoutOpts = { layouts, prefix: opts.prefix, domain, ttlSec: opts.ttlSec };
    this.prefixes = layoutPrefixes(this.layoutOpts);
    this.retryInitialMs = opts.retryInitialMs ?? 500;
    this.retryMaxMs = opts.retryMaxMs ?? 1_000;
    this.batchMs = opts.batchMs ?? 5;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 1000;
  }

  /**
   * Starts granting the lease. Resolves once the first grant attempt is over, whether it succeeded or not: when
   * etcd is unreachable the registry keeps retrying in the background (one warning when it starts failing, one
   * info when it recovers) and writes every desired record once a lease exists. Never rejects on a store failure;
   * close() stops the retries. Check leaseId(), the 'lease-granted' event, or await flushed() to wait for etcd.
   */
  start(): Promise<void> {
    if (this.startPromise) return this.startPromise;
    if (this.closed) return Promise.resolve();
    this.startPromise = new Promise<void>((resolve) => {
      this.firstAttemptDone = resolve;
    });
    this.acquire();
    return this.startPromise;
  }

  /**
   * Desired state: this record is registered (replacing the one with the same id). Idempotent: nothing is written
   * when the same bytes are already written or pending. Throws InvalidRecordError, synchronously, for a record
   * that fails validation or whose keys another instance already holds (a traefik index or skydns label clash).
   */
  set(record: ServiceRecord): void {
    const valid = checkRecord(record);
    const entries = new Map(entriesFor(valid, this.layoutOpts).map((e) => [e.key, e.value] as const));
    for (const key of entries.keys()) {
      const owner = this.desiredKV.get(key);
      if (owner && owner.id !== valid.id) {
        throw new InvalidRecordError(`key ${key} is already written for instance ${owner.id}`, { where: `instance ${valid.id}` });
      }
    }
    if (this.closed) {
      this.log.debug({ id: valid.id }, 'registry closed; record not written');
      return;
    }
    const prev = this.desired.get(valid.id);
    this.desired.set(valid.id, { record: valid, entries });
    let changed = false;
    if (prev) {
      for (const key of prev.entries.keys()) {
        if (entries.has(key)) continue;
        this.desiredKV.delete(key);
        this.dirty.add(key);
        changed = true;
      }
    }
    for (const [key, value] of entries) {
      if (this.desiredKV.get(key)?.value === value) continue;
      this.desiredKV.set(key, { id: valid.id, value });
      this.dirty.add(key);
      changed = true;
    }
    if (changed) this.changed();
  }

  /** Desired state: no record for this instance id; every layout key of it is deleted. Unknown ids are ignored. */
  remove(id: string): void {
    const prev = this.desired.get(id);
    if (!prev || this.closed) return;
    this.desired.delete(id);
    for (const key of prev.entries.keys()) {
      this.desiredKV.delete(key);
      this.dirty.add(key);
    }
    this.changed();
  }

  /**
   * Removes the instance (as remove()) and resolves once its keys are deleted in etcd, with those keys and the
   * revision of the deletion: what a drain waits for renderers to reach. Revision 0 when nothing of it was written
   * under the current lease (never registered, or the lease was lost meanwhile): there is no deletion to wait for.
   * Waits through outages like flushed(); the caller bounds the wait.
   */
  async deregister(id: string): Promise<{ keys: string[]; revision: number }> {
    const prev = this.desired.get(id);
    if (!prev) return { keys: [], revision: 0 };
    const keys = [...prev.entries.keys()];
    const tracked = keys.filter((k) => this.written.has(k));
    for (const key of tracked) this.deletions.set(key, 0);
    try {
      this.remove(id);
      await this.flushed();
      return { keys, revision: Math.max(0, ...tracked.map((k) => this.deletions.get(k) ?? 0)) };
    } finally {
      for (const key of tracked) this.deletions.delete(key);
    }
  }

  has(id: string): boolean {
    return this.desired.has(id);
  }

  /** How many records are desired (what records().length would say, without the copies). */
  get size(): number {
    return this.desired.size;
  }

  /** Copies of the desired records, in the order they were first set. */
  records(): ServiceRecord[] {
    return [...this.desired.values()].map((d) => copyRecord(d.record));
  }

  /** The current lease id (decimal), or undefined while none is held. */
  leaseId(): string | undefined {
    return this.currentLeaseId;
  }

  get state(): RegistryState {
    return this.lastState;
  }

  /**
   * Resolves once etcd matches the desired state as it is at the call (on a live lease); waits through outages.
   * Rejects only when the registry is closed first.
   */
  flushed(): Promise<void> {
    return this.waitSynced(false);
  }

  /**
   * Repair pass: reads every layout prefix; keys attached to our lease that are not desired are deleted, desired keys
   * that are missing, different, or on another lease are rewritten. Resolves once the repairs are written. Rejects
   * (StoreError) when etcd cannot be read, or when writing the repairs fails (the registry keeps retrying them in
   * the background). Without a lease it does nothing: the next grant rewrites every record anyway.
   * Concurrent calls share one pass.
   */
  reconcile(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.reconciling ??= this.doReconcile().finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  /**
   * Stops. By default revokes the lease, so every key vanishes at once (graceful stop, SIGTERM). With
   * `revoke: false` the lease is only released (no more keepalives) and the keys expire after the TTL, as if the
   * process had been killed. Pending writes are dropped; waiting flushed() calls reject. Never rejects.
   */
  close(opts: { revoke?: boolean } = {}): Promise<void> {
    this.closePromise ??= this.doClose(opts.revoke ?? true);
    return this.closePromise;
  }

  // ---- desired-state bookkeeping ----

  private changed(): void {
    this.changeSeq++;
    this.schedule(this.batchMs);
    this.updateState();
  }

  private waitSynced(failFast: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new Error('registry is closed'));
    const target = this.changeSeq;
    if (this.syncedSeq >= target) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject, failFast });
    });
  }

  private markSynced(seq: number): void {
    if (seq > this.syncedSeq) this.syncedSeq = seq;
    const ready = this.waiters.filter((w) => w.target <= this.syncedSeq);
    if (ready.length > 0) {
      this.waiters = this.waiters.filter((w) => w.target > this.syncedSeq);
      for (const w of ready) w.resolve();
    }
    if (this.dirty.size === 0 && this.oldLeases.length > 0) this.revokeOldLeases();
  }

  private failWaiters(err: Error, onlyFailFast: boolean): void {
    const failed = this.waiters.filter((w) => !onlyFailFast || w.failFast);
    if (failed.length === 0) return;
    this.waiters = this.waiters.filter((w) => onlyFailFast && !w.failFast);
    for (const w of failed) w.reject(err);
  }

  // ---- lease ----

  private acquire(): void {
    if (this.acquiring || this.closed || this.lease || !this.startPromise) return;
    this.acquiring = true;
    void this.acquireLoop();
  }

  private async acquireLoop(): Promise<void> {
    let delay = this.retryInitialMs;
    try {
      while (!this.closed && !this.lease) {
        let failure: { err: unknown } | undefined;
        try {
          await this.grantOnce();
        } catch (err) {
          failure = { err };
        }
        this.firstAttemptDone?.();
        this.firstAttemptDone = undefined;
        if (failure) {
          this.noteFailure(failure.err, 'lease grant');
          await this.sleep(delay);
          delay = nextDelay(delay, this.retryMaxMs);
        }
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'lease loop failed unexpectedly');
    } finally {
      this.acquiring = false;
    }
  }

  private async grantOnce(): Promise<void> {
    const lease = this.client.lease(this.ttlSec, perAttemptDeadline(this.requestTimeoutMs, { autoKeepAlive: true }));
    lease.on('lost', (err) => this.onLeaseLost(lease, err));
    lease.on('keepaliveSucceeded', () => {
      if (lease === this.lease && this.currentLeaseId !== undefined) this.emitSafe('lease-renewed', { leaseId: this.currentLeaseId });
    });
    lease.on('keepaliveFailed', (err) => this.log.debug({ lease: hexLease(this.currentLeaseId), err: errorMessage(err) }, 'lease keepalive failed'));
    let id: string;
    try {
      id = await lease.grant();
    } catch (err) {
      lease.removeAllListeners();
      throw err;
    }
    if (this.closed) {
      // close() ran while the grant was in flight: nothing is attached to this lease; drop it.
      lease.removeAllListeners();
      await lease.revoke(perAttemptDeadline(this.requestTimeoutMs)).catch(() => undefined);
      return;
    }
    const previous = this.lastLostLeaseId;
    this.lease = lease;
    this.currentLeaseId = id;
    this.epoch++;
    this.stats.leaseGrants++;
    this.written.clear();
    for (const key of this.desiredKV.keys()) this.dirty.add(key);
    this.changeSeq++;
    this.noteSuccess();
    this.log.info(
      { lease: hexLease(id), ttl: this.ttlSec, records: this.desired.size, previous: hexLease(previous) },
      previous === undefined ? 'etcd lease granted' : 'new etcd lease granted; rewriting every record on it',
    );
    this.emitSafe('lease-granted', { leaseId: id, previous });
    this.wakeAll();
    this.schedule(0);
    this.updateState();
  }

  private onLeaseLost(lease: Lease, reason: unknown): void {
    if (lease !== this.lease || this.closed) return;
    const old = this.currentLeaseId as string;
    lease.removeAllListeners();
    lease.release();
    this.lease = undefined;
    this.currentLeaseId = undefined;
    this.lastLostLeaseId = old;
    this.oldLeases.push(old);
    this.epoch++;
    this.written.clear();
    this.changeSeq++;
    const why = errorMessage(reason);
    this.log.warn(
      { lease: hexLease(old), reason: why, records: this.desired.size },
      'etcd lease lost; granting a new lease and rewriting every record',
    );
    this.failWaiters(new StoreError(`etcd lease ${hexLease(old)} lost: ${why}`), true);
    this.emitSafe('lease-lost', { leaseId: old, reason: why });
    this.updateState();
    this.acquire();
  }

  /** Revokes leases we lost and replaced, now that every desired record is on the new one (best effort). */
  private revokeOldLeases(): void {
    const ids = this.oldLeases.splice(0);
    for (const id of ids) {
      this.client.leaseClient
        .leaseRevoke({ ID: id }, perAttemptDeadline(this.requestTimeoutMs))
        .then(() => this.log.info({ lease: hexLease(id) }, 'revoked the replaced lease (its remaining keys are gone)'))
        .catch((err: unknown) => {
          // Expected: the lease expired on the server, which is why we lost it.
          if (!(err instanceof EtcdLeaseInvalidError)) this.log.debug({ lease: hexLease(id), err: errorMessage(err) }, 'cannot revoke the replaced lease');
        });
    }
  }

  // ---- flushing ----

  private schedule(delayMs: number): void {
    if (this.closed || !this.lease || this.loopRunning) return;
    if (this.timer) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runLoop();
    }, delayMs);
  }

  private needsPass(): boolean {
    return !this.closed && this.lease !== undefined && (this.dirty.size > 0 || this.syncedSeq < this.changeSeq);
  }

  private async runLoop(): Promise<void> {
    if (this.loopRunning) return;
    this.loopRunning = true;
    let delay = this.retryInitialMs;
    try {
      while (this.needsPass()) {
        const result = await this.pass();
        if (result === 'ok') {
          delay = this.retryInitialMs;
        } else if (result === 'failed') {
          await this.sleep(delay);
          delay = nextDelay(delay, this.retryMaxMs);
        }
        this.updateState();
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'flush loop failed unexpectedly');
    } finally {
      this.loopRunning = false;
      this.updateState();
    }
  }

  /** One pass: everything dirty now, in chunked transactions. */
  private async pass(): Promise<PassResult> {
    const lease = this.lease as Lease;
    const leaseId = this.currentLeaseId as string;
    const epoch = this.epoch;
    const seq = this.changeSeq;
    const ops: KeyWrite[] = [];
    for (const key of this.dirty) {
      const want = this.desiredKV.get(key)?.value;
      if (want === this.written.get(key)) {
        this.dirty.delete(key);
        continue;
      }
      ops.push({ key, value: want });
    }
    if (ops.length === 0) {
      this.markSynced(seq);
      return 'ok';
    }
    const chunks = chunkOps(ops);
    let failure: unknown;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < chunks.length && epoch === this.epoch && !this.closed) {
        const batch = chunks[next++] as KeyWrite[];
        let revision: number;
        try {
          revision = await this.sendTxn(batch, leaseId);
        } catch (err) {
          failure ??= err;
          return;
        }
        if (epoch !== this.epoch) return;
        for (const op of batch) {
          if (op.value === undefined && this.deletions.has(op.key)) this.deletions.set(op.key, revision);
          if (op.value === undefined) this.written.delete(op.key);
          else this.written.set(op.key, op.value);
          if (this.desiredKV.get(op.key)?.value === this.written.get(op.key)) this.dirty.delete(op.key);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(TXN_CONCURRENCY, chunks.length) }, () => worker()));
    if (this.closed || epoch !== this.epoch) return 'lease-changed';
    if (failure !== undefined) {
      if (failure instanceof EtcdLeaseInvalidError) {
        this.onLeaseLost(lease, failure);
        return 'lease-changed';
      }
      this.noteFailure(failure, 'write');
      this.failWaiters(new StoreError(`cannot write to etcd: ${errorMessage(failure)}`, { cause: failure }), true);
      return 'failed';
    }
    this.noteSuccess();
    this.log.debug({ ops: ops.length, txns: chunks.length }, 'flushed');
    this.markSynced(seq);
    return 'ok';
  }

  /** Sends one transaction; resolves with its revision. */
  private async sendTxn(batch: KeyWrite[], leaseId: string): Promise<number> {
    const success: IRequestOp[] = batch.map((op) =>
      op.value === undefined
        ? { request_delete_range: { key: Buffer.from(op.key) } }
        : { request_put: { key: Buffer.from(op.key), value: Buffer.from(op.value), lease: leaseId } },
    );
    this.stats.txns++;
    this.stats.writes += batch.length;
    const res = await this.client.kv.txn({ compare: [], success, failure: [] }, perAttemptDeadline(this.requestTimeoutMs));
    return Number(res.header.revision);
  }

  // ---- reconcile ----

  private async doReconcile(): Promise<void> {
    const leaseId = this.currentLeaseId;
    const epoch = this.epoch;
    if (leaseId === undefined) return;
    const found = new Map<string, { value: string; lease: string }>();
    for (const prefix of this.prefixes) {
      let kvs;
      try {
        ({ kvs } = await this.client.getAll().prefix(prefix).options({ deadline: Date.now() + 5 * this.requestTimeoutMs }).exec());
      } catch (err) {
        throw new StoreError(`cannot read the registry's keys for a reconcile: ${errorMessage(err)}`, { cause: err, where: prefix });
      }
      for (const kv of kvs) found.set(kv.key.toString(), { value: kv.value.toString(), lease: String(kv.lease) });
    }
    if (this.closed || epoch !== this.epoch) return;
    let repaired = 0;
    let removed = 0;
    for (const [key, want] of this.desiredKV) {
      const have = found.get(key);
      if (have && have.value === want.value && have.lease === leaseId) continue;
      if (this.dirty.has(key) && this.written.get(key) !== want.value) continue; // already pending
      this.written.delete(key);
      this.dirty.add(key);
      repaired++;
      this.log.debug({ storeKey: key, id: want.id, found: have ? 'different' : 'missing' }, 'reconcile: rewriting');
    }
    for (const [key, have] of found) {
      if (have.lease !== leaseId || this.desiredKV.has(key)) continue;
      this.written.set(key, have.value);
      this.dirty.add(key);
      removed++;
      this.log.debug({ storeKey: key }, 'reconcile: deleting a key of our lease that is not desired');
    }
    if (repaired + removed === 0) return;
    this.log.info({ repaired, removed }, 'reconcile: repairing etcd');
    this.changed();
    this.schedule(0);
    await this.waitSynced(true);
  }

  // ---- close ----

  private async doClose(revoke: boolean): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wakeAll();
    this.firstAttemptDone?.();
    this.firstAttemptDone = undefined;
    this.failWaiters(new Error('registry is closed'), false);
    const lease = this.lease;
    const id = this.currentLeaseId;
    this.lease = undefined;
    this.currentLeaseId = undefined;
    this.epoch++;
    if (lease) {
      lease.removeAllListeners();
      if (revoke) {
        try {
          await lease.revoke(perAttemptDeadline(this.requestTimeoutMs));
          this.log.info({ lease: hexLease(id), records: this.desired.size }, 'lease revoked; records removed');
        } catch (err) {
          this.log.warn({ lease: hexLease(id), err: errorMessage(err) }, `cannot revoke the lease; records expire within ${this.ttlSec} s`);
        }
      } else {
        lease.release();
        this.log.info({ lease: hexLease(id), records: this.desired.size }, `lease released; records expire within ${this.ttlSec} s`);
      }
    }
    this.updateState();
  }

  // ---- plumbing ----

  /** One warning when etcd starts failing (grant or write), not one per attempt. */
  private noteFailure(err: unknown, what: string): void {
    if (this.failing) return;
    this.failing = true;
    const fields = { err: errorMessage(err), op: what, pending: this.dirty.size, lease: hexLease(this.currentLeaseId) };
    logEtcdFailure(this.log, fields, err, 'etcd unreachable; retrying with backoff');
  }

  private noteSuccess(): void {
    if (!this.failing) return;
    this.failing = false;
    this.log.info({ lease: hexLease(this.currentLeaseId) }, 'etcd reachable again');
  }

  /** Sleeps, waking early on close or a new lease. */
  private sleep(ms: number): Promise<void> {
    return this.closed ? Promise.resolve() : sleep(ms, this.wakeup.signal);
  }

  private wakeAll(): void {
    this.wakeup.abort();
    this.wakeup = new AbortController();
  }

  private computeState(): RegistryState {
    if (this.closed) return 'closed';
    if (!this.lease) return 'connecting';
    if (this.failing) return 'failing';
    if (this.dirty.size > 0 || this.syncedSeq < this.changeSeq) return 'syncing';
    return 'synced';
  }

  private updateState(): void {
    const state = this.computeState();
    if (state === this.lastState) return;
    this.lastState = state;
    this.emitSafe('state', state);
  }

  private emitSafe<K extends keyof RegistryEvents>(event: K, ...args: RegistryEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: RegistryEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error({ event, err: errorMessage(err) }, 'registry event listener threw');
    }
  }
}

// The renderer's side of acknowledged deregistration: after each apply, one lease-bound key per resource says
// which etcd revision that resource has applied (see acks.ts). Best effort and never in the render path's way:
// a failed write is retried with backoff, a lost lease is replaced and every acknowledgement written again.
import type { Etcd3, Lease } from 'etcd3';
import { perAttemptDeadline } from '../store/etcd-client.js';
import { nextDelay, sleep } from '../util/backoff.js';
import { errorMessage, isAccessDenied } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { ackKey, ackValue } from './acks.js';

/** Options for {@link AckPublisher}. */
export interface AckPublisherOptions {
  client: Etcd3;
  /** This renderer's name: the `<node>` key segment. */
  node: string;
  log: Logger;
  /** Lease TTL in whole seconds: a dead renderer stops being waited for this long after it died. Default 10. */
  ttlSec?: number;
  /** Deadline of each write, in ms. Default 2000. */
  requestTimeoutMs?: number;
}

interface Pending {
  key: string;
  revision: number;
  keys: string[];
}

/** Publishes per-resource applied revisions on one lease; close() revokes it so the keys vanish at once. */
export class AckPublisher {
  private readonly log: Logger;
  private readonly ttlSec: number;
  private readonly timeoutMs: number;
  /** resource → the newest acknowledgement wanted. */
  private readonly wanted = new Map<string, Pending>();
  /** resource → revision written under the current lease. */
  private readonly written = new Map<string, number>();
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  /** Keys another renderer's lease holds (same node and resource name): reported once each. */
  private readonly clashes = new Set<string>();
  private flushing: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private failing = false;
  /** Aborted by close(): a retry wait ends at once. */
  private readonly stopping = new AbortController();

  constructor(private readonly opts: AckPublisherOptions) {
    this.log = opts.log.child({ component: 'acks' });
    this.ttlSec = opts.ttlSec ?? 10;
    this.timeoutMs = opts.requestTimeoutMs ?? 2000;
  }

  /** Records that `resource` (reading `keys`) has applied `revision`; written soon, never moved backwards. */
  publish(resource: string, revision: number, keys: string[]): void {
    if (this.closed) return;
    const prev = this.wanted.get(resource);
    if (prev && prev.revision >= revision) return;
    this.wanted.set(resource, { key: ackKey(this.opts.node, resource), revision, keys });
    this.kick();
  }

  /** Resolves once every acknowledgement published so far is written (or the publisher is closed). */
  async flushed(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Revokes the lease: this renderer's acknowledgements vanish, so no sidecar waits for it any more. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    await this.flushing;
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    lease.removeAllListeners();
    await lease.revoke(perAttemptDeadline(this.timeoutMs)).catch((err: unknown) => {
      this.log.debug({ err: errorMessage(err) }, `cannot revoke the acknowledgement lease; keys expire within ${this.ttlSec} s`);
    });
  }

  private kick(): void {
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = this.loop().finally(() => {
      this.flushing = undefined;
    });
  }

  private async loop(): Promise<void> {
    let delay = 250;
    do {
      this.again = false;
      try {
        await this.writeAll();
        delay = 250;
        if (this.failing) this.log.debug('acknowledgements written again');
        this.failing = false;
      } catch (err) {
        if (!this.failing) {
          if (isAccessDenied(err)) this.log.error({ err: errorMessage(err) }, 'etcd refused writing drain acknowledgements (the role needs read-write access to /sidekick/renderers/); retrying with backoff');
          // An unreachable etcd is the store's to report (one warning per outage); this would only repeat it.
          else this.log.debug({ err: errorMessage(err) }, 'cannot publish acknowledgements; retrying with backoff');
        }
        this.failing = true;
        this.again = true;
        await sleep(delay, this.stopping.signal);
        delay = nextDelay(delay, 2000);
      }
    } while (this.again && !this.closed);
  }

  private async writeAll(): Promise<void> {
    const lease = await this.ensureLease();
    const leaseId = this.leaseId as string;
    for (const [resource, p] of this.wanted) {
      if (this.closed) return;
      if (this.written.get(resource) === p.revision) continue;
      const mine = await this.putOwn(p.key, ackValue(p.revision, p.keys), leaseId);
      if (this.lease !== lease) return;
      this.written.set(resource, p.revision);
      if (mine) this.clashes.delete(p.key);
      else if (!this.clashes.has(p.key)) {
        this.clashes.add(p.key);
        this.log.error(
          { storeKey: p.key, resource },
          'another renderer publishes acknowledgements under this key (same --node-name and resource name); give each renderer its own --node-name — drains cannot count on this one',
        );
      }
    }
  }

  /** Writes `key` on our lease unless another lease holds it (two renderers with one name); false then. */
  private async putOwn(key: string, value: string, leaseId: string): Promise<boolean> {
    const put = { request_put: { key: Buffer.from(key), value: Buffer.from(value), lease: leaseId } };
    const options = perAttemptDeadline(this.timeoutMs);
    for (const compare of [
      { key: Buffer.from(key), target: 'Lease' as const, result: 'Equal' as const, lease: leaseId },
      { key: Buffer.from(key), target: 'Create' as const, result: 'Equal' as const, create_revision: 0 },
    ]) {
      const res = await this.opts.client.kv.txn({ compare: [compare], success: [put], failure: [] }, options);
      if (res.succeeded) return true;
    }
    return false;
  }

  private async ensureLease(): Promise<Lease> {
    if (this.lease) return this.lease;
    const lease = this.opts.client.lease(this.ttlSec, { autoKeepAlive: true });
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.lease = undefined;
      this.written.clear();
      this.log.debug({ err: errorMessage(err) }, 'acknowledgement lease lost; granting a new one');
      if (!this.closed) this.kick();
    });
    let id: string;
    try {
      id = await lease.grant();
    } catch (err) {
      lease.removeAllListeners();
      throw err;
    }
    this.lease = lease;
    this.leaseId = id;
    this.written.clear();
    return lease;
  }

}

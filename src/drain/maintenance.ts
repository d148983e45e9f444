// Maintenance: an instance taken out of rotation without stopping it (`sidekick drain`).
//
// Request:  /sidekick/maintenance/<name>  → {"at":"<time>","reason":"…"}   (written by `sidekick drain`, no lease)
// Answer:   /sidekick/drained/<name>      → {"revision":R,"keys":[…]}      (lease-bound, by the sidecar holding it)
//
// <name> is an instance id (`h1:web:8080`) or, for `register`, `docker:<full container id>` meaning every service
// of that container. The sidecar that owns the instance deregisters it, keeps it out while the request exists, and
// answers with the deletion's revision and keys, so `sidekick drain` can wait for the renderers' acknowledgements
// (wait.ts). Deleting the request puts the instance back once its check passes, and removes the answer.
import type { Etcd3 } from 'etcd3';
import { validateInstanceId } from '../registry/record.js';
import { keyUnder } from '../util/key-path.js';
import { nextDelay, sleep } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { jsonObject } from './acks.js';
import { deleteInstances, type Deletion } from './drain.js';
import { FollowedPrefix } from './followed.js';

/** Where maintenance requests live. */
export const MAINTENANCE_PREFIX = '/sidekick/maintenance';
/** Where the sidecars answer them. */
export const DRAINED_PREFIX = '/sidekick/drained';

/** Largest request or answer value accepted. */
const MAX_VALUE_BYTES = 64 * 1024;
const MAX_REASON = 200;

/** The name of every service of a container, for `register`. */
export function containerTarget(containerId: string): string {
  return `docker:${containerId}`;
}

/** The request key for `name`. */
export function maintenanceKey(name: string): string {
  return `${MAINTENANCE_PREFIX}/${name}`;
}

/** The answer key for `name`. */
export function drainedKey(name: string): string {
  return `${DRAINED_PREFIX}/${name}`;
}

/** The request value. */
export function maintenanceValue(reason: string, at = new Date()): string {
  return JSON.stringify({ at: at.toISOString(), reason });
}

/** Checks a name (instance id or docker:<id>); a string says why it is refused. */
export function checkName(name: string): string | undefined {
  const valid = validateInstanceId(name, 'instance id');
  return valid.ok ? undefined : valid.reason;
}

/** Parses a request read at `key`: the instance's name, or a string saying why it is refused. */
export function parseMaintenance(key: string, value: string): { name: string; reason: string } | string {
  if (!keyUnder(key, MAINTENANCE_PREFIX)) return `not below ${MAINTENANCE_PREFIX}/`;
  const name = key.slice(MAINTENANCE_PREFIX.length + 1);
  const bad = checkName(name);
  if (bad) return `expected ${MAINTENANCE_PREFIX}/<instance id>: ${bad}`;
  const data = jsonObject(value, MAX_VALUE_BYTES, '{"at":"<time>","reason":"…"}');
  if (typeof data === 'string') return data;
  const { reason } = data;
  if (reason !== undefined && typeof reason !== 'string') return 'reason must be a string';
  return { name, reason: (reason ?? '').slice(0, MAX_REASON) };
}

/** Parses an answer value; a string says why it is refused. */
export function parseDrained(value: string): Deletion | string {
  const data = jsonObject(value, MAX_VALUE_BYTES, '{"revision":<n>,"keys":["/key",…]}');
  if (typeof data === 'string') return data;
  const { revision, keys } = data;
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) return 'revision must be a whole number ≥ 0';
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' && k.startsWith('/'))) return 'keys must be a list of absolute keys';
  return { revision, keys: keys as string[] };
}

/** The sidecar side: which names it owns, and how it holds them out of rotation. */
export interface MaintenanceTarget {
  /**
   * Takes `name` out of rotation: its records stop being written but are left for the caller to deregister. Returns
   * the instance ids whose records were written, or undefined when `name` is not this sidecar's.
   */
  hold(name: string): string[] | undefined;
  /** Puts `name` back: its records are written again once their checks pass. */
  release(name: string): void;
}

/** What {@link MaintenanceFollower} needs. */
export interface MaintenanceFollowerOptions {
  client: Etcd3;
  /** The registry that writes the records: deregister, and its lease for the answers. */
  registry: { deregister(id: string): Promise<Deletion>; leaseId(): string | undefined };
  target: MaintenanceTarget;
  log: Logger;
}

/**
 * Follows the maintenance requests and holds this sidecar's instances out while one names them. Never throws:
 * etcd failures are retried with backoff; a malformed request is ignored with one warning naming the key.
 */
export class MaintenanceFollower {
  private readonly log: Logger;
  /** Every well-formed request, by key. */
  private readonly requests: FollowedPrefix<{ name: string }>;
  /** Names held out and answered by this sidecar. */
  private readonly held = new Set<string>();
  /** Names requested at the last sync: the target is told when each request goes. */
  private previous = new Set<string>();
  private closed = false;
  private running: Promise<void> | undefined;
  /** Holds and releases run one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly opts: MaintenanceFollowerOptions) {
    this.log = opts.log.child({ component: 'maintenance' });
    this.requests = new FollowedPrefix({
      client: opts.client,
      prefix: MAINTENANCE_PREFIX,
      parse: parseMaintenance,
      what: 'maintenance request',
      log: this.log,
      onChange: () => this.sync(),
    });
  }

  /** True while a request names `name` (a sidecar consults it for instances that appear later). */
  requested(name: string): boolean {
    for (const r of this.requests.values.values()) if (r.name === name) return true;
    return false;
  }

  /** Starts following in the background (first read, then a watch; retried with backoff). */
  start(): void {
    this.running ??= this.follow();
  }

  /** Resolves once every hold and release so far has run (tests). */
  async idle(): Promise<void> {
    await this.queue;
  }

  /** Stops following. A hold still waiting for etcd is not awaited: the caller's lease revoke ends it anyway. */
  async close(): Promise<void> {
    this.closed = true;
    await this.requests.close();
  }

  private async follow(): Promise<void> {
    let delay = 500;
    while (!this.closed) {
      try {
        await this.requests.open();
        this.sync();
        return;
      } catch (err) {
        // Debug only: the registry, on the same etcd, already warns once when it is unreachable.
        this.log.debug({ err: errorMessage(err) }, 'cannot read maintenance requests; retrying');
        // Unref'd: a retry pending when the sidecar stops must not keep the process alive.
        await sleep(delay, undefined, { unref: true });
        delay = nextDelay(delay, 10_000);
      }
    }
  }

  /** Holds what is newly requested, releases what no longer is. */
  private sync(): void {
    const wanted = new Set([...this.requests.values.values()].map((r) => r.name));
    for (const name of wanted) if (!this.previous.has(name)) this.enqueue(() => this.hold(name));
    for (const name of this.previous) if (!wanted.has(name)) this.enqueue(() => this.release(name));
    this.previous = wanted;
  }

  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue.then(step).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'maintenance step failed'));
  }

  private async hold(name: string): Promise<void> {
    if (this.closed || this.held.has(name) || !this.requested(name)) return;
    const ids = this.opts.target.hold(name);
    if (ids === undefined) return;
    this.held.add(name);
    const { keys, revision } = await deleteInstances(this.opts.registry, ids);
    const lease = this.opts.registry.leaseId();
    const put = this.opts.client.put(drainedKey(name)).value(JSON.stringify({ revision, keys }));
    await (lease ? put.lease(lease) : put).exec();
    this.log.info({ instance: name, services: ids.join(','), revision }, 'in maintenance: out of rotation until the request is deleted');
  }

  private async release(name: string): Promise<void> {
    if (this.requested(name)) return;
    this.opts.target.release(name);
    if (!this.held.delete(name)) return;
    await this.opts.client.delete().key(drainedKey(name)).exec();
    this.log.info({ instance: name }, 'maintenance over: back in rotation once the check passes');
  }
}

// DNS for the lookup* helpers. Handlebars renders synchronously, so helpers only read this cache;
// a miss is recorded, the engine resolves the misses after the pass and renders again (two-pass).
import { promises as dns } from 'node:dns';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';

/** An SRV answer with Go's field names (confd templates use .Target/.Port) and lower-case aliases. */
export interface SrvRecord {
  Target: string;
  Port: number;
  Priority: number;
  Weight: number;
  target: string;
  port: number;
  priority: number;
  weight: number;
}

/** A name a helper needed: `ip` (A+AAAA through the system resolver) or `srv` (`_service._proto.name`). */
export type DnsRequest = { kind: 'ip'; name: string } | { kind: 'srv'; name: string };

/** What the cache needs from a resolver; tests inject a fake to exercise failures without the network. */
export interface DnsResolver {
  /** Addresses of a host name (as getaddrinfo sees it, /etc/hosts included). */
  lookupIP(name: string, timeoutMs: number): Promise<string[]>;
  /** SRV records of a full SRV name like `_http._tcp.example.com`. */
  lookupSRV(name: string, timeoutMs: number): Promise<SrvRecord[]>;
}

/** Options for {@link DnsCache}. */
export interface DnsCacheOptions {
  resolver?: DnsResolver;
  /** How long an answer is reused (default 30 s). */
  ttlMs?: number;
  /** How long a failure is remembered as an empty answer (default 5 s). */
  negativeTtlMs?: number;
  /** Per-lookup deadline (default 2 s). */
  timeoutMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** Resolver over node:dns: getaddrinfo for addresses (like Go's LookupIP), a one-try Resolver for SRV. */
export const systemResolver: DnsResolver = {
  async lookupIP(name, timeoutMs) {
    const answers = await withTimeout(dns.lookup(name, { all: true }), timeoutMs, `lookup ${name}`);
    return answers.map((a) => a.address);
  },
  async lookupSRV(name, timeoutMs) {
    const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 1 });
    const answers = await withTimeout(resolver.resolveSrv(name), timeoutMs + 500, `SRV ${name}`);
    return answers.map((a) => {
      const target = a.name.endsWith('.') ? a.name : `${a.name}.`; // Go's net.SRV.Target is fully qualified
      return { Target: target, Port: a.port, Priority: a.priority, Weight: a.weight, target, port: a.port, priority: a.priority, weight: a.weight };
    });
  },
};

/** The cache key of a request. */
export function requestKey(req: DnsRequest): string {
  return `${req.kind}:${req.name.toLowerCase()}`;
}

/** Host names and SRV names we are willing to send to a resolver (no spaces, no control characters). */
const NAME_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_.:%-]{0,252})$/;

/** True when `name` is worth a lookup; anything else yields an empty answer without touching DNS. */
export function isLookupName(name: string): boolean {
  return NAME_RE.test(name);
}

/** Engine-wide cache of DNS answers with TTLs; shared by every render of one engine. */
export class DnsCache {
  private readonly entries = new Map<string, { value: readonly unknown[]; expires: number }>();
  private readonly resolver: DnsResolver;
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(opts: DnsCacheOptions = {}) {
    this.resolver = opts.resolver ?? systemResolver;
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.negativeTtlMs = opts.negativeTtlMs ?? 5_000;
    this.timeoutMs = opts.timeoutMs ?? 2_000;
    this.now = opts.now ?? Date.now;
  }

  /** The cached answer, or undefined when absent or expired (the caller then records a miss). */
  get(req: DnsRequest): readonly unknown[] | undefined {
    const e = this.entries.get(requestKey(req));
    return e && e.expires > this.now() ? e.value : undefined;
  }

  /** Resolves the given requests in parallel; a failure caches an empty answer briefly and logs a warning. */
  async resolve(requests: Iterable<DnsRequest>, log: Logger): Promise<void> {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
    await Promise.all(
      [...requests].map(async (req) => {
        try {
          const value =
            req.kind === 'ip'
              ? [...new Set(await this.resolver.lookupIP(req.name, this.timeoutMs))].sort()
              : sortSrv(await this.resolver.lookupSRV(req.name, this.timeoutMs));
          this.entries.set(requestKey(req), { value, expires: this.now() + this.ttlMs });
        } catch (err) {
          this.entries.set(requestKey(req), { value: [], expires: this.now() + this.negativeTtlMs });
          log.warn({ name: req.name, kind: req.kind, err: errorMessage(err) }, 'DNS lookup failed; using an empty answer');
        }
      }),
    );
  }
}

/** confd's order: by the concatenation target+port+priority+weight, so reshuffled answers render the same. */
function sortSrv(records: SrvRecord[]): SrvRecord[] {
  const k = (r: SrvRecord): string => `${r.Target}${r.Port}${r.Priority}${r.Weight}`;
  return [...records].sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));
}

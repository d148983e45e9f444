// Key layouts (docs/records.md): pure functions from a ServiceRecord to the etcd entries (key → value) each layout
// writes, so that existing consumers (confd templates written for registrator, CoreDNS, Traefik) read our records.
// No I/O here: the registry (registry.ts) binds the entries to its lease and writes them.
import { createHash } from 'node:crypto';
import { formatServiceRecord, type ServiceRecord } from './record.js';
import { formatAddress } from '../util/address.js';
import { absolutePrefix } from '../util/key-path.js';

/** The layouts `--layout` accepts. */
export type Layout = 'native' | 'registrator' | 'skydns' | 'traefik';

/** Every layout, in the order help texts list them. */
export const LAYOUTS: readonly Layout[] = ['native', 'registrator', 'skydns', 'traefik'];

/** What the layouts need besides the record. */
export interface LayoutOptions {
  layouts: readonly Layout[];
  /** Prefix of the native and registrator layouts (`/services`); slashes are normalised. */
  prefix: string;
  /** DNS domain of the skydns layout (`sidekick.local`). */
  domain: string;
  /** Lease TTL in seconds; the skydns layout repeats it as the DNS `ttl`. */
  ttlSec: number;
}

/** One etcd entry. */
export interface LayoutEntry {
  key: string;
  value: string;
}

export const DEFAULT_PREFIX = '/services';
export const DEFAULT_DOMAIN = 'sidekick.local';
/** Root of the CoreDNS etcd plugin's default `path`. */
export const SKYDNS_ROOT = '/skydns';
/** Where Traefik's KV provider (default `rootKey` "traefik") reads HTTP services; no leading slash. */
export const TRAEFIK_SERVICES_ROOT = 'traefik/http/services';

const isLayout = (v: string): v is Layout => (LAYOUTS as readonly string[]).includes(v);

/**
 * Parses `--layout` values (repeatable, each may be a comma list; case-insensitive) into distinct layouts.
 * Throws an Error naming the bad value; callers prefix the flag. `native` and `registrator` both write
 * `<prefix>/<name>/<id>` (one JSON, one plain `host:port`), so choosing both is refused: one would overwrite the other.
 */
export function parseLayouts(values: readonly string[], prefix: string = DEFAULT_PREFIX): Layout[] {
  const out: Layout[] = [];
  for (const raw of values.flatMap((v) => v.split(','))) {
    const v = raw.trim().toLowerCase();
    if (v === '') continue;
    if (!isLayout(v)) throw new Error(`unknown layout "${raw.trim()}" (expected ${LAYOUTS.join(', ')})`);
    if (!out.includes(v)) out.push(v);
  }
  if (out.length === 0) throw new Error(`no layout given (expected one or more of ${LAYOUTS.join(', ')})`);
  if (out.includes('native') && out.includes('registrator')) {
    throw new Error(
      `native and registrator both write ${absolutePrefix(prefix)}/<name>/<id> (a JSON record vs. plain host:port) ` +
        'and would overwrite each other: choose one',
    );
  }
  return out;
}

const DNS_LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Lower-cases a DNS domain, drops a trailing dot and checks every label; throws an Error naming the domain. */
export function normalizeDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  const labels = d.split('.');
  if (d === '' || d.length > 253 || !labels.every((l) => DNS_LABEL_RE.test(l))) {
    throw new Error(`domain "${domain}" is not a DNS name (labels of a-z, 0-9, "-"; at most 63 characters each)`);
  }
  return d;
}

/** The skydns path of a domain: `sidekick.local` → `/skydns/local/sidekick`. */
export function skydnsDomainPath(domain: string): string {
  return `${SKYDNS_ROOT}/${normalizeDomain(domain).split('.').reverse().join('/')}`;
}

/** The first `hexChars` hex digits of the SHA-256 of `text`: short, stable, well spread. */
function shortHash(text: string, hexChars: number): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, hexChars);
}

/** lower-case; anything outside [a-z0-9-] → '-'; runs of '-' collapsed; '-' trimmed at both ends; cut to `max`. */
function squashLabel(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+/, '')
    .slice(0, max)
    .replace(/-+$/, '');
}

/**
 * The DNS label an instance id is published under in the skydns layout. An id that already is a lower-case DNS
 * label is kept as is; any other (registrator's `host1:web-1:80`, upper case, too long) is squashed to
 * [a-z0-9-] and suffixed with 8 hex digits of its SHA-256 (`host1-web-1-80-1a2b3c4d`), so two ids that squash
 * alike (`a:b` and `a.b`, `Web` and `web`) still get distinct labels, and a squashed label can never equal a
 * kept one by accident short of a hash match. Always ≤ 63 characters.
 */
export function skydnsInstanceLabel(id: string): string {
  if (DNS_LABEL_RE.test(id)) return id;
  const hash = shortHash(id, 8);
  const base = squashLabel(id, 63 - hash.length - 1);
  return base === '' ? hash : `${base}-${hash}`;
}

/**
 * The DNS label a service name is published under in the skydns layout: lower-cased, `.` and `_` (which the
 * record schema allows) turned into `-`, runs collapsed, ends trimmed — `Web_API.v2` → `web-api-v2`. No hash:
 * the name is what DNS clients type (`web.sidekick.local`), so it must stay predictable. Consequence: names that
 * differ only in case (DNS is case-insensitive anyway) or in `.`/`_`/`-` share one DNS name, and their instances
 * are answered together. Throws when nothing is left (cannot happen for a name the record schema accepts).
 */
export function skydnsServiceLabel(name: string): string {
  const label = squashLabel(name, 63);
  if (!DNS_LABEL_RE.test(label)) throw new Error(`service name "${name}" has no DNS label form`);
  return label;
}

/** Bits of the Traefik server index: a JS-safe integer (< 2^53), far from int64 limits, rarely colliding. */
const TRAEFIK_INDEX_BITS = 48;

/**
 * The `<n>` of `traefik/http/services/<name>/loadbalancer/servers/<n>/url` for an instance: a stable decimal
 * number, the first 48 bits of SHA-256(id). Many `register` processes on different hosts write servers of the same
 * service with no coordination, so `<n>` cannot be a counter: it must be a pure function of the instance id.
 *
 * What Traefik accepts for `<n>` (read in traefik/traefik `pkg/config/kv/kv_node.go`, `DecodeToNode` and
 * `filterPairs`, v2 and v3, and traefik/paerser `parser/nodes_metadata.go` and `parser/element_fill.go`):
 * - the KV provider lists every key under the root, sorts them as strings and splits each on `/`; a segment that
 *   matches `^\d+$` becomes a node named `[<digits>]`; the digits are never converted to an integer, so any
 *   length is fine (no int overflow, no bounds check);
 * - paerser fills a slice of structs (`Servers []Server`) with `reflect.MakeSlice(len(node.Children))` and sets
 *   element i from the i-th child in key order: indices are only grouping names, so sparse, non-contiguous and
 *   huge indices simply yield one server each (order = string order of the keys, irrelevant for load balancing);
 * - paerser's metadata pass does not check the child names of a slice either, so a non-numeric `<n>` would also
 *   decode — but Traefik's docs only show numbers, so we stay with the documented, numeric form;
 * - child names are matched case-insensitively (`strings.EqualFold`): services `Web` and `web` merge in Traefik.
 * Why 48 bits and not 32: two instances of one service whose indices collide silently overwrite each other's
 * server across hosts. The birthday bound for 1,000 instances of one service is ~1e-4 at 32 bits but ~2e-9 at
 * 48 bits; 48-bit numbers still fit a JS number and any int64, and Traefik never parses them.
 */
export function traefikServerIndex(id: string): string {
  const hex = shortHash(id, TRAEFIK_INDEX_BITS / 4);
  return BigInt(`0x${hex}`).toString(10);
}

/** `http://host:port/` as Traefik's `servers[n].url` wants it; IPv6 literals in brackets. */
export function traefikServerUrl(host: string, port: number): string {
  return `http://${formatAddress(host, port)}/`;
}

/** The skydns value: CoreDNS reads host, port and (since some releases misread the lease) ttl from the JSON. */
export function skydnsValue(record: ServiceRecord, ttlSec: number): string {
  return JSON.stringify({ host: record.host, port: record.port, ttl: ttlSec });
}

/** The key of one layout for a record (throws for a bad domain or service name). */
export function layoutKey(layout: Layout, record: ServiceRecord, opts: Pick<LayoutOptions, 'prefix' | 'domain'>): string {
  switch (layout) {
    case 'native':
    case 'registrator':
      return `${absolutePrefix(opts.prefix)}/${record.name}/${record.id}`;
    case 'skydns':
      return `${skydnsDomainPath(opts.domain)}/${skydnsServiceLabel(record.name)}/${skydnsInstanceLabel(record.id)}`;
    case 'traefik':
      return `${TRAEFIK_SERVICES_ROOT}/${record.name}/loadbalancer/servers/${traefikServerIndex(record.id)}/url`;
  }
}

/** The value of one layout for a record. */
export function layoutValue(layout: Layout, record: ServiceRecord, ttlSec: number): string {
  switch (layout) {
    case 'native':
      return formatServiceRecord(record);
    case 'registrator':
      return formatAddress(record.host, record.port);
    case 'skydns':
      return skydnsValue(record, ttlSec);
    case 'traefik':
      return traefikServerUrl(record.host, record.port);
  }
}

/**
 * The etcd entries a record is written as, one per selected layout, in the order of `opts.layouts`.
 * The record must already be valid (record.ts validators); throws an Error for a bad domain.
 */
export function entriesFor(record: ServiceRecord, opts: LayoutOptions): LayoutEntry[] {
  return opts.layouts.map((layout) => ({ key: layoutKey(layout, record, opts), value: layoutValue(layout, record, opts.ttlSec) }));
}

/**
 * The key prefixes (each ending in `/`) under which the selected layouts write: what a reconcile pass reads.
 * native/registrator share `<prefix>/`; skydns `/skydns/<reversed domain>/`; traefik `traefik/http/services/`.
 */
export function layoutPrefixes(opts: Pick<LayoutOptions, 'layouts' | 'prefix' | 'domain'>): string[] {
  const out = new Set<string>();
  for (const layout of opts.layouts) {
    if (layout === 'native' || layout === 'registrator') out.add(`${absolutePrefix(opts.prefix)}/`);
    else if (layout === 'skydns') out.add(`${skydnsDomainPath(opts.domain)}/`);
    else out.add(`${TRAEFIK_SERVICES_ROOT}/`);
  }
  return [...out];
}

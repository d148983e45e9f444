// What a render of a fuzzed store must look like, derived from the store itself: which keys the service helpers
// read, which of them are accepted (parseServiceRecord is the oracle for a value; the generators' own verdicts
// are checked against it separately), the instances in render order, and a strict grammar for server addresses.
import { isIP } from 'node:net';
import { parseServiceRecord, type ParseResult, type ServiceRecord } from '../../../../src/registry/record.js';

/** One accepted instance as the templates see it. */
export interface Instance {
  key: string;
  record: ServiceRecord;
  address: string;
}

/** Expected effect of rendering a store. */
export interface Expectation {
  /** Keys `service "web"` reads (the fixture templates). */
  webKeys: Set<string>;
  /** Keys `services` + `service this` read (the multi-service templates): every folder's, listed or not. */
  allKeys: Set<string>;
  /** Accepted web instances in render order. */
  web: Instance[];
  /** Services the multi-service templates list, in order, with their instances. */
  services: Array<{ name: string; instances: Instance[] }>;
  parse(key: string): ParseResult;
}

/**
 * Folder names the multi-service templates list: lower case only (nginx upstream names are case-insensitive, so
 * "Web" beside "web" would be a duplicate upstream). A copy, not record.ts's own: the oracle states the rule.
 */
export const SERVICE_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** `/services/<folder>/<segment>` (segment without "/", possibly empty), else undefined. */
export function folderOf(key: string): string | undefined {
  return /^\/services\/([^/]*)\/[^/]*$/.exec(key)?.[1];
}

const addressOf = (r: ServiceRecord): string => (isIP(r.host) === 6 ? `[${r.host}]:${r.port}` : `${r.host}:${r.port}`);

/**
 * The expectation for `store` (final contents); the same whatever the view (`mirror` is kept for the callers, which
 * check the Mirror's view against the same expectation: a leaf key never hides the folders below it).
 */
export function expectFor(store: ReadonlyMap<string, string>, _mirror: boolean): Expectation {
  const cache = new Map<string, ParseResult>();
  const parse = (key: string): ParseResult => {
    let r = cache.get(key);
    if (!r) {
      r = parseServiceRecord(key, store.get(key) as string);
      cache.set(key, r);
    }
    return r;
  };

  const byFolder = new Map<string, string[]>();
  for (const key of store.keys()) {
    const folder = folderOf(key);
    if (folder === undefined) continue;
    const keys = byFolder.get(folder) ?? [];
    keys.push(key);
    byFolder.set(folder, keys);
  }
  const instances = (keys: string[]): Instance[] =>
    keys
      .flatMap((key): Instance[] => {
        const r = parse(key);
        return r.ok ? [{ key, record: r.record, address: addressOf(r.record) }] : [];
      })
      .sort((a, b) => cmp(a.record.id, b.record.id) || cmp(a.key, b.key));

  const webKeys = new Set(byFolder.get('web') ?? []);
  const allKeys = new Set<string>();
  const services: Expectation['services'] = [];
  for (const [folder, keys] of [...byFolder].sort(([a], [b]) => cmp(a, b))) {
    // `services` reads every folder: records under a name it does not list are refused, each with its warning.
    for (const k of keys) allKeys.add(k);
    if (!SERVICE_NAME_RE.test(folder)) continue;
    const list = instances(keys);
    if (list.length > 0) services.push({ name: folder, instances: list });
  }
  return { webKeys, allKeys, web: instances([...webKeys]), services, parse };
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/**
 * A server address as nginx and haproxy take it: IPv4, bracketed IPv6 or an RFC 1123 host name, then ":" and
 * a port 1-65535 without leading zeros. IPv6 only in its canonical RFC 5952 text (what validateHost hands out,
 * the one form both checkers parse): no zone id, no upper case, no "1:2:3:4:5:6:7::" (NGINX_BAD_V6).
 */
export function strictAddress(addr: string): boolean {
  const m = /^(.*):([1-9]\d{0,4})$/.exec(addr);
  if (!m || Number(m[2]) > 65535) return false;
  const host = m[1] as string;
  const v6 = /^\[([0-9a-f:.]+)\]$/.exec(host);
  if (v6) {
    const inner = v6[1] as string;
    if (isIP(inner) !== 6 || NGINX_BAD_V6.test(inner)) return false;
    return inner === canonicalV6(inner);
  }
  if (IPV4_RE.test(host)) return true;
  if (host.length > 254 || !HOSTNAME_RE.test(host)) return false;
  const labels = host.replace(/\.$/, '').split('.');
  return !/^\d+$/.test(labels[labels.length - 1] as string);
}

/** The RFC 5952 text of an IPv6 literal, as the WHATWG URL parser writes it. */
export const canonicalV6 = (host: string): string => new URL(`http://[${host}]/`).hostname.slice(1, -1);

/** IPv6 texts nginx 1.22 refuses although they are valid: seven groups and a trailing "::". */
export const NGINX_BAD_V6 = /^(?:[0-9A-Fa-f]{1,4}:){7}:$/;

/** haproxy's identifier charset (server, backend names). */
export const HAPROXY_IDENT_RE = /^[A-Za-z0-9_.:-]+$/;

// An haproxy configuration read as sections → backends → servers, and the difference of two of them when it lies
// only in the `server` lines of `backend` sections: what the runtime API can apply without a reload. Pure.
import { isIP } from 'node:net';

/** One `server` line of a backend. */
export interface ServerLine {
  name: string;
  /** The address as written (`10.0.0.5:8080`, `[fd00::6]:8080`). */
  address: string;
  /** IP literal (IPv6 without brackets, canonical) and port, when the address is one the runtime API can set. */
  ip?: string;
  port?: number;
  weight: number;
  /** The line sets `weight` itself (else it comes from default-server, or is 1). */
  weightGiven: boolean;
  /** The keywords after the address, `weight N` left out, in order: what must match for a change to stay at runtime. */
  options: string[];
  /** Why `add server` cannot create this server as the file defines it; undefined when it can. */
  notDynamic?: string;
}

/** One `backend` section. */
export interface BackendSection {
  name: string;
  servers: Map<string, ServerLine>;
  /** Keyword names of the `default-server` lines in effect (its defaults section's, then its own). */
  defaultServer: string[];
  /** Holds `server-template` lines: servers the file does not name, so the backend is never applied at runtime. */
  templated: boolean;
}

/** A parsed configuration: every line but backend `server` lines (the skeleton), and the backends. */
export interface HaproxyConfig {
  skeleton: string[];
  backends: Map<string, BackendSection>;
}

/** A server to add, remove or change in one backend. */
export type ServerChange =
  | { op: 'add'; backend: string; server: ServerLine }
  | { op: 'remove'; backend: string; server: ServerLine }
  | { op: 'change'; backend: string; from: ServerLine; to: ServerLine };

/** The difference between two configurations: membership only (with its changes), or anything else (why). */
export type ConfigDiff = { kind: 'membership'; changes: ServerChange[] } | { kind: 'structural'; reason: string };

/**
 * Server keywords `add server` takes in haproxy 2.6 (management.txt, "add server"), with how many values follow
 * each. `source`/`usesrc` (a variable syntax) and `track` (the tracked server must exist first) are left out:
 * a server using them is applied with a reload.
 */
const DYNAMIC_KEYWORDS: ReadonlyMap<string, number> = new Map([
  ...['agent-check', 'allow-0rtt', 'backup', 'check', 'check-send-proxy', 'check-ssl', 'check-via-socks4', 'disabled', 'enabled', 'no-ssl-reuse', 'no-tls-tickets', 'send-proxy', 'send-proxy-v2', 'send-proxy-v2-ssl', 'send-proxy-v2-ssl-cn', 'ssl', 'tfo', 'tls-tickets']
    .map((k) => [k, 0] as const),
  ...['sslv3', 'tlsv10', 'tlsv11', 'tlsv12', 'tlsv13'].flatMap((v) => [[`force-${v}`, 0] as const, [`no-${v}`, 0] as const]),
  ...['agent-addr', 'agent-inter', 'agent-port', 'agent-send', 'alpn', 'addr', 'ca-file', 'check-alpn', 'check-proto', 'check-sni', 'ciphers', 'ciphersuites', 'crl-file', 'crt', 'downinter', 'error-limit', 'fall', 'fastinter', 'id', 'inter', 'maxconn', 'maxqueue', 'minconn', 'npn', 'observe', 'on-error', 'on-marked-down', 'on-marked-up', 'pool-low-conn', 'pool-max-conn', 'pool-purge-delay', 'port', 'proto', 'proxy-v2-options', 'rise', 'slowstart', 'sni', 'ssl-max-ver', 'ssl-min-ver', 'verify', 'verifyhost', 'weight', 'ws']
    .map((k) => [k, 1] as const),
]);

/** `default-server` keywords a dynamic server can go without: init-addr only matters for a name, never an IP literal. */
const HARMLESS_DEFAULTS = new Set(['init-addr']);

// haproxy reads a section keyword as the first word of a line, indented or not.
const SECTION = /^\s*(global|defaults|frontend|backend|listen|peers|resolvers|userlist|mailers|program|http-errors|ring|cache|fcgi-app)(?=\s|$)\s*(\S*)/;

/** Splits `ip:port` / `[ip6]:port`; undefined unless the host is an IP literal and the port a plain number. */
export function parseAddress(address: string): { ip: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:]+):(\d{1,5})$/.exec(address) ?? /^(.*:.*):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const host = m[1] as string;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  const family = isIP(host);
  if (family === 4) return { ip: host, port };
  if (family === 6) return { ip: new URL(`http://[${host}]/`).hostname.slice(1, -1), port };
  return undefined;
}

/** Reads one `server` line (already split into words); notDynamic says why `add server` cannot make it. */
export function parseServerLine(words: string[]): ServerLine {
  const [, name = '', address = '', ...rest] = words;
  const parsed = parseAddress(address);
  const server: ServerLine = { name, address, weight: 1, weightGiven: false, options: [] };
  const reasons: string[] = [];
  if (parsed) Object.assign(server, parsed);
  else reasons.push(`address "${address}" is not an IP literal with a port`);
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i] as string;
    const arity = DYNAMIC_KEYWORDS.get(word);
    if (arity === undefined) {
      reasons.push(`"${word}" is not a keyword add server takes`);
      server.options.push(word);
      continue;
    }
    const value = rest.slice(i + 1, i + 1 + arity);
    i += arity;
    if (word === 'weight' && /^\d+$/.test(value[0] ?? '')) {
      server.weight = Number(value[0]);
      server.weightGiven = true;
    }
    else server.options.push(word, ...value);
  }
  if (reasons.length > 0) server.notDynamic = reasons.join('; ');
  return server;
}

/** What haproxy would read as the words of a line, or undefined for one whose quoting, escapes or variables it would interpret. */
function plainWords(line: string): string[] | undefined {
  if (/["'\\$]/.test(line)) return undefined;
  const code = line.replace(/#.*$/, '').trim();
  return code === '' ? [] : code.split(/\s+/);
}

/** Parses a configuration into its skeleton and its backends' servers. */
export function parseHaproxyConfig(text: string): HaproxyConfig {
  const skeleton: string[] = [];
  const backends = new Map<string, BackendSection>();
  const defaults = new Map<string, string[]>();
  let lastDefaults: string[] = [];
  let section: { kind: string; name: string; defaultServer: string[] } | undefined;
  let backend: BackendSection | undefined;
  for (const raw of text.split('\n')) {
    const words = plainWords(raw);
    if (words?.length === 0) continue; // blank or comment: nothing haproxy reads
    const head = SECTION.exec(raw);
    if (head) {
      const kind = head[1] as string;
      const name = head[2] as string;
      backend = undefined;
      section = { kind, name, defaultServer: [] };
      if (kind === 'defaults') {
        lastDefaults = section.defaultServer;
        if (name) defaults.set(name, section.defaultServer);
      } else if (kind === 'backend') {
        const from = words?.[2] === 'from' ? defaults.get(words[3] ?? '') : undefined;
        backend = { name, servers: new Map(), defaultServer: [...(from ?? lastDefaults)], templated: false };
        backends.set(name, backend);
      }
      skeleton.push(raw.trim());
      continue;
    }
    if (words?.[0] === 'default-server' && section) {
      (backend?.defaultServer ?? section.defaultServer).push(...defaultServerKeywords(words.slice(1)));
    }
    if (backend && words?.[0] === 'server-template') backend.templated = true;
    if (backend && words?.[0] === 'server') {
      const server = parseServerLine(words);
      if (!backend.servers.has(server.name)) {
        backend.servers.set(server.name, server);
        continue;
      }
    }
    // A line haproxy would interpret (quotes, variables) stays whole: any change to it is structural.
    skeleton.push(raw.trim());
  }
  return { skeleton, backends };
}

/** The keyword names of a default-server line: words that are not the value of the keyword before them. */
function defaultServerKeywords(words: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    out.push(word);
    i += DYNAMIC_KEYWORDS.get(word) ?? (word === 'init-addr' ? 1 : 0);
  }
  return out;
}

/** Why adding `server` at runtime would not give the server the file defines, or undefined when it would. */
function addBlocker(backend: BackendSection, server: ServerLine): string | undefined {
  if (server.notDynamic) return server.notDynamic;
  const own = new Set(server.options);
  const inherited = backend.defaultServer.filter((k) => !HARMLESS_DEFAULTS.has(k) && !(k === 'weight' ? server.weightGiven : own.has(k)));
  if (inherited.length > 0) return `it would inherit default-server ${inherited.join(', ')}, which add server does not apply`;
  return undefined;
}

const sameOptions = (a: ServerLine, b: ServerLine): boolean => a.options.join(' ') === b.options.join(' ');

/**
 * The difference between the live configuration and a new one: `membership` when they differ only in backend
 * `server` lines that the runtime API can apply (added, removed, or a changed address, port or weight), with the
 * changes in order; `structural` with the reason otherwise (anything else changed, or a server add server cannot
 * make as the file defines it).
 */
export function diffConfigs(live: string, next: string): ConfigDiff {
  const a = parseHaproxyConfig(live);
  const b = parseHaproxyConfig(next);
  if (a.skeleton.length !== b.skeleton.length || a.skeleton.some((l, i) => l !== b.skeleton[i])) {
    const i = a.skeleton.findIndex((l, j) => l !== b.skeleton[j]);
    return { kind: 'structural', reason: `a line other than a backend server line changed: "${b.skeleton[i < 0 ? a.skeleton.length : i] ?? a.skeleton[i] ?? ''}"` };
  }
  const changes: ServerChange[] = [];
  for (const [name, after] of b.backends) {
    const before = a.backends.get(name) as BackendSection;
    const reason = backendChanges(before, after, changes);
    if (reason) return { kind: 'structural', reason: `backend ${name}: ${reason}` };
  }
  return { kind: 'membership', changes };
}

/** Appends one backend's changes; returns why they cannot be applied at runtime, if so. */
function backendChanges(before: BackendSection, after: BackendSection, changes: ServerChange[]): string | undefined {
  const own: ServerChange[] = [];
  for (const [name, server] of before.servers) if (!after.servers.has(name)) own.push({ op: 'remove', backend: after.name, server });
  for (const [name, to] of after.servers) {
    const from = before.servers.get(name);
    if (!from) {
      const blocker = addBlocker(after, to);
      if (blocker) return `server ${name} cannot be added at runtime: ${blocker}`;
      own.push({ op: 'add', backend: after.name, server: to });
    } else if (from.address !== to.address || from.weight !== to.weight || !sameOptions(from, to)) {
      if (!sameOptions(from, to)) return `server ${name} changed more than its address and weight`;
      if (from.address !== to.address && to.ip === undefined) return `server ${name}: ${to.notDynamic}`;
      own.push({ op: 'change', backend: after.name, from, to });
    }
  }
  if (own.length > 0 && after.templated) return 'it holds server-template lines';
  changes.push(...own);
  return undefined;
}

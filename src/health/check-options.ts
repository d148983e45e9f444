// The values that refine an http(s) check, parsed the same way from Docker labels (register) and flags (announce,
// elb): the expected statuses, the Host header, yes/no switches. Each parser says what it would accept.
import { isIP } from 'node:net';
import type { Validation } from '../util/validation.js';
import type { ActiveCheckSpec, CheckSpec, StatusRanges } from './types.js';

/** What a status list looks like, for refusals. */
export const STATUS_FORMS = 'statuses 100-599 as N or N-M, comma-separated, e.g. 200-299 or 200,204,301-302';
/** What a Host value looks like, for refusals. */
export const HOST_FORMS = 'a host name or address, optionally with :port (api.example.com, api.example.com:8443, [::1]:8443)';

const ok = <T>(value: T): Validation<T> => ({ ok: true, value });
const no = (reason: string): Validation<never> => ({ ok: false, reason });

/** `200-299`, `200,204,301-302`: inclusive ranges of 100-599, each low ≤ high; spaces around items are allowed. */
export function parseStatusRanges(text: string): Validation<StatusRanges> {
  const items = text.split(',').map((s) => s.trim());
  const ranges: Array<readonly [number, number]> = [];
  for (const item of items) {
    const m = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(item);
    const low = Number(m?.[1]);
    const high = m?.[2] === undefined ? low : Number(m[2]);
    if (!m || low < 100 || high > 599 || low > high) return no(`expected ${STATUS_FORMS}, got ${JSON.stringify(text)}`);
    ranges.push([low, high]);
  }
  return ok(ranges);
}

/** True when `status` is in one of the ranges. */
export function statusPasses(status: number, ranges: StatusRanges): boolean {
  return ranges.some(([low, high]) => status >= low && status <= high);
}

/** `true` or `false` in any case, spaces around allowed. */
export function parseBoolean(text: string): Validation<boolean> {
  const v = text.trim().toLowerCase();
  if (v === 'true') return ok(true);
  if (v === 'false') return ok(false);
  return no(`expected true or false, got ${JSON.stringify(text)}`);
}

const HOST_NAME_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?$/;

/** A Host header value: a name or IPv4 address or [IPv6], optionally `:port`; never spaces or control characters. */
export function parseCheckHost(text: string): Validation<string> {
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d{1,5}))?$/.exec(text);
  const name = m?.[1] ?? '';
  const port = m?.[2];
  const bracketed = name.startsWith('[');
  const nameOk = bracketed ? isIP(name.slice(1, -1)) === 6 : HOST_NAME_RE.test(name);
  const portOk = port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
  return m && nameOk && portOk ? ok(text) : no(`expected ${HOST_FORMS}, got ${JSON.stringify(text)}`);
}

/** The TLS server name (SNI) for a Host value: its name part, unless that is an IP address (SNI carries no IPs). */
export function serverName(host: string): string | undefined {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : (host.split(':')[0] as string);
  return isIP(name) === 0 && name !== '' ? name : undefined;
}

/** Names one check in logs and /healthz: `http /health`, `https 127.0.0.1:8443/health`, `tcp`, `exec pg_isready`. */
export function describeCheck(spec: ActiveCheckSpec): string {
  const at = spec.kind !== 'exec' && spec.target ? ` ${spec.target.host.includes(':') ? `[${spec.target.host}]` : spec.target.host}:${spec.target.port}` : '';
  switch (spec.kind) {
    case 'http':
      return `${spec.tls ? 'https' : 'http'}${at}${at ? '' : ' '}${spec.path}`;
    case 'tcp':
      return `tcp${at}`;
    case 'exec':
      return `exec ${spec.argv.join(' ')}`;
  }
}

/** The kind(s) of a check for log fields: `http`, `https`, `tcp`, `exec`, `docker`, `none`, or `https+tcp`. */
export function checkKinds(spec: CheckSpec): string {
  const one = (s: ActiveCheckSpec): string => (s.kind === 'http' && s.tls ? 'https' : s.kind);
  if (spec.kind === 'all') return spec.checks.map(one).join('+');
  return spec.kind === 'docker' || spec.kind === 'none' ? spec.kind : one(spec);
}

/** The active checks of a spec: its members for `all`, itself for http/tcp/exec, none for docker/none. */
export function activeChecks(spec: CheckSpec): ActiveCheckSpec[] {
  if (spec.kind === 'all') return spec.checks;
  return spec.kind === 'docker' || spec.kind === 'none' ? [] : [spec];
}

/** One check, or `all` of several; undefined for none. */
export function combineChecks(checks: ActiveCheckSpec[]): ActiveCheckSpec | { kind: 'all'; checks: ActiveCheckSpec[] } | undefined {
  if (checks.length <= 1) return checks[0];
  return { kind: 'all', checks };
}

// Error classes: one per kind of failure, each carrying `cause` and where the bad input came from.
import type { Logger } from './log.js';

/**
 * Masks a user and password written in a URL (`http://u:pw@host` → `http://***@host`), also where gRPC shows the
 * authority without its scheme (`dns:u:pw@host:2379`). Applied to every error text, so none can carry them.
 */
export function maskUrlCredentials(text: string): string {
  // Only behind a URL scheme or one of gRPC's target schemes: etcd keys and ids ("/services/api/-:0::@p1") hold
  // colons and at signs of their own and must reach logs as they are.
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@').replace(/(\b(?:dns|ipv4|ipv6|unix):)[^\s/@]+@(?=[\w[])/g, '$1***@');
}

/** gRPC's status prefix: "14 UNAVAILABLE: ", "4 DEADLINE_EXCEEDED: ". */
const GRPC_STATUS = /\b\d{1,2} ([A-Z][A-Z_]{3,}): /;

/**
 * etcd's gRPC errors as one readable line: the status code in words, no "Resolution note", no timestamps, no
 * nested "Error: " prefixes ("14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED
 * 127.0.0.1:2379. Resolution note: " → "unavailable: no connection established (connect ECONNREFUSED 127.0.0.1:2379)").
 */
export function tidyGrpcText(text: string): string {
  if (!GRPC_STATUS.test(text)) return text;
  return text
    .replace(/\.?\s*Resolution note:[\s\S]*$/, '')
    .replace(/,\s*(?:LB pick|waiting for|metadata filters|remote_addr)[^,]*/g, '')
    .replace(/ \(\d{4}-\d\d-\d\dT[^)]*\)/g, '')
    .replace(new RegExp(GRPC_STATUS.source, 'g'), (_, code: string) => `${code.toLowerCase().replace(/_/g, ' ')}: `)
    .replace(/No connection established\. Last error: (?:null|undefined)\.?/, 'no connection established')
    .replace(/No connection established\. Last error: (?:Error: )?(.*?)\.?$/m, 'no connection established ($1)')
    .trim();
}

/** Base class: `where` names the origin (file:line, key, container, resource). */
export class SidekickError extends Error {
  readonly where: string | undefined;
  constructor(message: string, options: { cause?: unknown; where?: string } = {}) {
    super(maskUrlCredentials(options.where ? `${options.where}: ${message}` : message), { cause: options.cause });
    this.name = new.target.name;
    this.where = options.where;
  }
}

/** Bad configuration: a flag, a TOML/YAML file, a resource. Fatal at start, skipped on reload. */
export class ConfigError extends SidekickError {}

/** A template that does not parse, or a helper misused while rendering. */
export class TemplateError extends SidekickError {}

/** The store could not be read (down, partitioned, compacted). Retryable. */
export class StoreError extends SidekickError {}

/** A render refused by a guard (too few endpoints, store not synced). */
export class GuardError extends SidekickError {}

/** A check or reload command that failed, timed out or was killed. */
export class CommandError extends SidekickError {
  readonly exitCode: number | undefined;
  readonly timedOut: boolean;
  readonly signal: string | undefined;
  readonly output: string;
  constructor(
    message: string,
    options: { cause?: unknown; where?: string; exitCode?: number; timedOut?: boolean; signal?: string; output?: string },
  ) {
    super(message, options);
    this.exitCode = options.exitCode;
    this.timedOut = options.timedOut ?? false;
    this.signal = options.signal;
    this.output = options.output ?? '';
  }
}

/** A message for any thrown value: one line, URL credentials masked, gRPC's noise removed. */
export function errorMessage(err: unknown): string {
  return tidyGrpcText(maskUrlCredentials(err instanceof Error ? err.message : String(err)));
}

/** etcd's answers when it knows who we are, or that we may not do this: retrying alone will not fix them. */
const ACCESS_DENIED = /etcdserver: (authentication failed|permission denied|user name (is empty|not found)|role is not granted)/;

/** Logged once when etcd refuses access; the caller keeps retrying, as an operator may fix the user or role live. */
export const ACCESS_DENIED_MSG = 'etcd refused our credentials or permissions (check --username, the password and the role); retrying with backoff';

/** True when err (or an error it wraps as `cause`) is etcd refusing our credentials or permissions. */
export function isAccessDenied(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (ACCESS_DENIED.test(e.message)) return true;
  }
  return false;
}

/** The one line for etcd starting to fail: refused access is an error naming the credentials, anything else `unreachable`. */
export function logEtcdFailure(log: Logger, fields: Record<string, unknown>, err: unknown, unreachable: string): void {
  if (isAccessDenied(err)) log.error(fields, ACCESS_DENIED_MSG);
  else log.warn(fields, unreachable);
}

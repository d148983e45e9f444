// What a health check is, independent of who runs it (register for containers, announce for one unit).

/** Where http/tcp checks connect. */
export interface CheckTarget {
  host: string;
  port: number;
}

/** Inclusive ranges of HTTP statuses that pass, e.g. [[200, 299]]. */
export type StatusRanges = ReadonlyArray<readonly [number, number]>;

/** How an https check trusts the server. */
export interface TlsCheckOptions {
  /** Accept any certificate (self-signed, expired, another name): the connection is still encrypted. */
  skipVerify: boolean;
  /** PEM certificates the server's must chain to, instead of Node's bundled roots. */
  ca?: string;
}

/**
 * GET http(s)://<host>:<port><path>; the statuses in `status` pass (default 200-399: 2xx and 3xx; redirects are not
 * followed). `host` is the Host header and, for https, the TLS server name (SNI) the certificate must match.
 */
export interface HttpCheckSpec {
  kind: 'http';
  path: string;
  /** Present for https. */
  tls?: TlsCheckOptions;
  /** Host header (name or name:port); default the address connected to. */
  host?: string;
  /** Statuses that pass; default {@link DEFAULT_STATUS}. */
  status?: StatusRanges;
  /** Where this check connects, when it is not the service's address (a URL-form check among several). */
  target?: CheckTarget;
}

/** A TCP connect to <host>:<port> (or `target`). */
export interface TcpCheckSpec {
  kind: 'tcp';
  target?: CheckTarget;
}

/** A command whose exit status 0 passes: inside the container (Docker exec API) or on the host (announce). */
export interface ExecCheckSpec {
  kind: 'exec';
  argv: string[];
  where: 'container' | 'host';
}

/** A check sidekick runs itself. */
export type ActiveCheckSpec = HttpCheckSpec | TcpCheckSpec | ExecCheckSpec;

/**
 * How a service is checked. `all`: several active checks, run together at each attempt; the attempt passes only
 * when every one passes. `docker`: the container's own Docker HEALTHCHECK status (pushed by `health_status` events,
 * read on inspect). `none`: being up (a running container, a started announce) counts as healthy.
 */
export type CheckSpec = ActiveCheckSpec | { kind: 'all'; checks: ActiveCheckSpec[] } | { kind: 'docker' } | { kind: 'none' };

/** The statuses an http check passes on unless told otherwise: 2xx and 3xx. */
export const DEFAULT_STATUS: StatusRanges = [[200, 399]];

/** A check and its schedule: interval, per-attempt timeout, and the rise/fall thresholds. */
export interface HealthSettings {
  check: CheckSpec;
  /** Time between attempts, ms. Default 10 s. */
  intervalMs: number;
  /** Deadline of one attempt, ms. Default 2 s. */
  timeoutMs: number;
  /** Consecutive passes before a service is reported healthy. Default 1. */
  rise: number;
  /** Consecutive failures before a healthy service is reported unhealthy. Default 2. */
  fall: number;
}

export const DEFAULT_HEALTH: Omit<HealthSettings, 'check'> = { intervalMs: 10_000, timeoutMs: 2_000, rise: 1, fall: 2 };

/** The outcome of one attempt; `detail` says why it failed ("HTTP 503", "ECONNREFUSED", "exit 1", "timeout after 2000 ms"). */
export interface CheckResult {
  ok: boolean;
  detail: string;
}

/** One runnable attempt; must settle by the given signal (aborted at the timeout) and never throw. */
export type Checker = (signal: AbortSignal) => Promise<CheckResult>;

/** What a status board reads of one service's monitor. */
export interface MonitorView {
  readonly state: 'unknown' | 'healthy' | 'unhealthy';
  readonly lastResult: CheckResult | undefined;
}

/** Where a daemon shows its services' monitors while they run: the `services` component of /healthz. */
export interface MonitorBoard {
  /** Shows `view` under `name` until the returned function is called (when the service's monitor stops). */
  track(name: string, view: MonitorView): () => void;
}

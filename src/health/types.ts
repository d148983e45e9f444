// What a health check is, independent of who runs it (register for containers, announce for one unit).

/** How a service is checked. `none`: being up (a running container, a started announce) counts as healthy. */
export type CheckSpec =
  /** GET http://<host>:<port><path>; 2xx and 3xx pass (redirects are not followed). */
  | { kind: 'http'; path: string }
  /** A TCP connect to <host>:<port>. */
  | { kind: 'tcp' }
  /** A command whose exit status 0 passes: inside the container (Docker exec API) or on the host (announce). */
  | { kind: 'exec'; argv: string[]; where: 'container' | 'host' }
  /** The container's own Docker HEALTHCHECK status (pushed by `health_status` events, read on inspect). */
  | { kind: 'docker' }
  | { kind: 'none' };

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

// /healthz: named checks that each daemon contributes (store, docker, etcd lease, last apply), folded into one answer.
// Check functions run at request time against live state; their text is redacted before it leaves the process.
import { errorMessage, maskUrlCredentials } from '../util/errors.js';

/** One component's verdict. */
export interface CheckStatus {
  ok: boolean;
  /** Why, in a few words: "synced", "stale: etcd watch lost: …", "1 of 2 resources failing". */
  detail: string;
  /** Per-item reasons when several things can fail at once (resource → error). */
  failing?: Record<string, string>;
}

/** A check, evaluated at each /healthz request. */
export type HealthCheck = () => CheckStatus;

/** The /healthz body: `status` is ok only when every check is. */
export interface HealthReport {
  status: 'ok' | 'failing';
  checks: Record<string, CheckStatus>;
}

/** Longest detail or reason shown; command output and stack-like messages are cut there. */
export const MAX_DETAIL = 500;

/**
 * Removes secrets from a text shown over HTTP: userinfo in URLs (`//user:pass@host` → `//***@host`) and every
 * given secret value (the etcd password), wherever it appears; then cuts it to {@link MAX_DETAIL} characters.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = maskUrlCredentials(text);
  for (const secret of secrets) if (secret) out = out.split(secret).join('***');
  return out.length > MAX_DETAIL ? `${out.slice(0, MAX_DETAIL - 1)}…` : out;
}

/** The registry of checks of one process. With no checks, the process is healthy. */
export class Health {
  private readonly checks = new Map<string, HealthCheck>();
  private readonly secrets: string[] = [];

  /** @param secrets values never to show (flag values such as the etcd password). */
  constructor(secrets: readonly (string | undefined)[] = []) {
    for (const s of secrets) this.addSecret(s);
  }

  /** One more value never to show (a password read again after SIGHUP). */
  addSecret(value: string | undefined): void {
    if (value && !this.secrets.includes(value)) this.secrets.push(value);
  }

  /** Adds (or replaces) the check called `name`. */
  add(name: string, check: HealthCheck): this {
    this.checks.set(name, check);
    return this;
  }

  remove(name: string): void {
    this.checks.delete(name);
  }

  /** Evaluates every check, in the order added; a check that throws is failing with its message. */
  report(): HealthReport {
    const checks: Record<string, CheckStatus> = {};
    let ok = true;
    for (const [name, check] of this.checks) {
      let status: CheckStatus;
      try {
        status = check();
      } catch (err) {
        status = { ok: false, detail: `check failed: ${errorMessage(err)}` };
      }
      checks[name] = this.clean(status);
      ok &&= status.ok;
    }
    return { status: ok ? 'ok' : 'failing', checks };
  }

  private clean(status: CheckStatus): CheckStatus {
    const out: CheckStatus = { ok: status.ok === true, detail: redact(String(status.detail), this.secrets) };
    if (status.failing && Object.keys(status.failing).length > 0) {
      out.failing = Object.fromEntries(Object.entries(status.failing).map(([k, v]) => [redact(k, this.secrets), redact(String(v), this.secrets)]));
    }
    return out;
  }
}

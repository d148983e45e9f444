// Builds HealthMonitors for the daemons: the check of a spec wired to its target and, for exec checks, to Docker.
import { checkerFor, type ExecOutcome } from '../health/checks.js';
import { HealthMonitor } from '../health/monitor.js';
import type { CheckResult, Checker, HealthSettings } from '../health/types.js';
import type { ServiceChecks } from '../http/daemon-health.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { MonitorFactory } from './register-daemon.js';

/** What a monitor needs to know about the service it checks. */
export interface MonitorTarget {
  /** Names the service in logs ("web-1 (host1:web-1:80)"). */
  name: string;
  host: string;
  port: number;
  health: HealthSettings;
}

/** Told the outcome of every check attempt (for /metrics); must not throw (a throw is ignored). */
export type CheckObserver = (result: CheckResult) => void;

/** A started-on-demand monitor that calls onChange(true|false) at each state change. */
export function createMonitor(
  target: MonitorTarget,
  onChange: (healthy: boolean) => void,
  log: Logger,
  execInContainer?: (argv: string[], signal: AbortSignal) => Promise<ExecOutcome>,
  onResult?: CheckObserver,
): HealthMonitor {
  const checker = checkerFor(target.health.check, target, execInContainer ? { execInContainer } : {});
  return new HealthMonitor({
    settings: target.health,
    ...(checker && { checker: onResult ? observed(checker, safely(onResult)) : checker }),
    log,
    name: target.name,
    onChange: (change) => onChange(change.state === 'healthy'),
  });
}

/**
 * The checker, telling `onResult` each attempt's outcome. The monitor aborts an attempt at its deadline ("timeout
 * after N ms", a failure) or at stop() (not an attempt result: not reported).
 */
function observed(checker: Checker, onResult: CheckObserver): Checker {
  return async (signal) => {
    const result = await checker(signal);
    const reason = signal.aborted ? errorMessage(signal.reason) : undefined;
    const seen = reason === undefined ? result : reason.startsWith('timeout') ? { ok: false, detail: reason } : undefined;
    if (seen) onResult(seen);
    return result;
  };
}

/** The observer, with its throws swallowed: metrics must never break a check. */
function safely(onResult: CheckObserver): CheckObserver {
  return (result) => {
    try {
      onResult(result);
    } catch {
      // ignored
    }
  };
}

/**
 * register's factory: one monitor per container service; exec checks run inside that container. `onResult` hears
 * each attempt by service name, and Docker's own HEALTHCHECK verdicts (healthy/unhealthy) for `docker` checks;
 * `board` shows each service's state on /healthz while its monitor runs.
 */
export function containerMonitors(
  log: Logger,
  exec: (containerId: string, argv: string[], signal: AbortSignal) => Promise<ExecOutcome>,
  onResult?: (service: string, result: CheckResult) => void,
  board?: ServiceChecks,
): MonitorFactory {
  return (spec, onChange) => {
    const observe = onResult && safely((result) => onResult(spec.record.name, result));
    const name = `${spec.containerName} (${spec.record.id})`;
    const monitor = createMonitor(
      { name, host: spec.checkHost, port: spec.checkPort, health: spec.health },
      onChange,
      log,
      (argv, signal) => exec(spec.containerId, argv, signal),
      observe,
    );
    const untrack = board?.track(name, monitor);
    if (!observe && !untrack) return monitor;
    return {
      start: () => monitor.start(),
      stop: () => {
        untrack?.();
        monitor.stop();
      },
      report: (status) => {
        if (observe && spec.health.check.kind === 'docker' && (status === 'healthy' || status === 'unhealthy')) {
          observe({ ok: status === 'healthy', detail: `docker: ${status}` });
        }
        monitor.report(status);
      },
    };
  };
}

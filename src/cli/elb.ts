// `sidekick elb`: the ELB presence sidekick (replaces CoreOS's elb-presence: register at start, deregister on SIGTERM),
// which on the way out also waits until the load balancer has drained the instance, so the app it sits beside is
// stopped only once no request is left on it.
import { Command } from 'commander';
import { addCheckOptions } from '../config/check-url.js';
import { ELB_OPTIONS, elbSettings, type ElbFlags, type ElbSettings } from '../config/elb-config.js';
import { checkKinds } from '../health/check-options.js';
import { addScheduleOptions } from '../config/sidecar-config.js';
import { addSettings, logLevel } from '../config/settings-table.js';
import { deregisterUntil, ElbPresence } from '../elb/daemon.js';
import { waitForDrain } from '../elb/drain.js';
import { fetchInstanceId } from '../elb/imds.js';
import { createTarget, type TargetSpec } from '../elb/load-balancers.js';
import { createLogger, loggerOptions, type Logger } from '../util/log.js';
import { skipOnSignal, stopSignal, type SkipSignal } from './signals.js';

/** Declares `elb`. */
export function elbCommand(): Command {
  const cmd = new Command('elb')
    .description('Keep this instance registered with a classic ELB or a target group while its check passes; SIGTERM deregisters it and waits until the load balancer has drained it');
  addSettings(cmd, ELB_OPTIONS).action(async (flags: ElbFlags) => {
    const settings = elbSettings(flags);
    const log = createLogger(loggerOptions({ logLevel: logLevel(flags.logLevel), ...(flags.logFormat !== undefined && { logFormat: flags.logFormat }) }));
    const ok = await runElb(settings, log);
    if (!ok) process.exitCode = 1;
  });
  addCheckOptions(cmd, 'http(s)://HOST[:PORT]/PATH (2xx/3xx), tcp://HOST:PORT, exec:CMD (exit 0 passes) or none');
  return addScheduleOptions(cmd, 'the instance');
}

/** The load balancer and instance the settings name, once the instance id is known. */
function targetSpec(settings: ElbSettings, instanceId: string): TargetSpec {
  const { lb } = settings;
  if (lb.kind === 'classic') return { kind: 'classic', loadBalancer: lb.loadBalancer, instanceId };
  return { kind: 'target-group', targetGroupArn: lb.targetGroupArn, id: instanceId, ...(lb.port !== undefined && { port: lb.port }) };
}

/**
 * Runs `elb` until SIGTERM/SIGINT (or, with --deregister, once), then waits for the load balancer's drain: resolves
 * true when the instance ended up deregistered (drained, or not within --drain-timeout), false when deregistration
 * did not succeed within --stop-timeout.
 */
export async function runElb(settings: ElbSettings, log: Logger): Promise<boolean> {
  const instanceId = settings.instanceId ?? (await fetchInstanceId({ endpoint: settings.imdsEndpoint, log }));
  const target = createTarget(targetSpec(settings, instanceId), {
    region: settings.region,
    ...(settings.endpoint !== undefined && { endpoint: settings.endpoint }),
    log,
  });
  const where = { ...target.fields, region: settings.region, ...(settings.endpoint !== undefined && { endpoint: settings.endpoint }) };
  const retry = { retryInitialMs: 500, retryMaxMs: 10_000 };
  let skip: SkipSignal | undefined;
  try {
    let deregistered: boolean;
    if (settings.deregisterOnly) {
      // ExecStopPost= gets SIGTERM when it outlasts TimeoutStopSec=: deregister all the same, then stop waiting.
      skip = skipOnSignal(log);
      deregistered = await deregisterUntil(target, Date.now() + settings.stopTimeoutMs, log, { fields: where, cause: '--deregister', ...retry });
    } else {
      const presence = new ElbPresence({ target, health: settings.health, checkTarget: settings.check.target, log, resyncMs: settings.resyncMs });
      log.child({ component: 'elb' }).info({ ...where, check: checkKinds(settings.health.check), instanceIdFrom: settings.instanceId === undefined ? 'imds' : 'flag' }, 'elb presence starting');
      presence.start();
      await stopSignal(log);
      skip = skipOnSignal(log);
      deregistered = await presence.stop(settings.stopTimeoutMs);
    }
    if (!deregistered) return false;
    const cause = settings.deregisterOnly ? '--deregister' : 'stopping';
    await waitForDrain(target, log, { fields: where, cause, timeoutMs: settings.drainTimeoutMs, skip: skip.signal, ...retry });
    return true;
  } finally {
    skip?.dispose();
    target.close();
  }
}

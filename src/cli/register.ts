// `sidekick register`: the registrator. Docker events and health checks → lease-bound etcd records.
import { Command } from 'commander';
import { REGISTER_OPTIONS, registerSettings, type RegisterFlags } from '../config/register-config.js';
import { addDrainOptions, addEtcdOptions, addListenOption, addRegistryOptions, drainSettings, registrySettings } from '../config/sidecar-config.js';
import { addSettings } from '../config/settings-table.js';
import { dockerFromAddress } from '../docker/address.js';
import { DockerWatcher } from '../docker/client.js';
import { containerMonitors } from '../daemon/monitors.js';
import { RegisterDaemon, type DrainTarget } from '../daemon/register-daemon.js';
import { drainInstances, type DrainSettings } from '../drain/drain.js';
import { MaintenanceFollower } from '../drain/maintenance.js';
import { errorMessage } from '../util/errors.js';
import { dockerCheck, ServiceChecks } from '../http/daemon-health.js';
import { checkMetrics, dockerMetrics } from '../http/metrics.js';
import { closeSidecar, openSidecar, type Sidecar } from './sidecar.js';
import { stopSignal } from './signals.js';

/** Declares `register`. */
export function registerCommand(): Command {
  const cmd = new Command('register')
    .description('Register the services of local Docker containers in etcd while their health checks pass (registrator conventions)');
  addSettings(cmd, REGISTER_OPTIONS);
  addDrainOptions(addListenOption(addRegistryOptions(addEtcdOptions(cmd))), 'when a SERVICE_DRAIN container gets its stop signal');
  cmd.action(async (flags: RegisterFlags) => {
    const settings = registrySettings(flags);
    const { mapping, resyncMs, deregister } = registerSettings(flags, settings.nodeName);
    const drain = drainSettings(flags);
    const docker = dockerFromAddress(flags.docker);
    const sidecar = await openSidecar(flags, settings);
    const { log, registry, obs } = sidecar;
    // Listen for SIGTERM before the first (possibly slow) lease grant, so a stop during start-up is clean too.
    const stopped = stopSignal(log);
    const watcher = new DockerWatcher({ docker, log: log.child({ component: 'docker' }) });
    const board = obs && new ServiceChecks();
    if (obs && board) {
      obs.health.add('docker', dockerCheck(watcher));
      obs.health.add('services', () => board.check());
      dockerMetrics(obs.metrics, watcher);
    }
    const daemon = new RegisterDaemon({
      docker: watcher,
      registry,
      monitors: containerMonitors(log, (id, argv, signal) => watcher.exec(id, argv, signal), obs && checkMetrics(obs.metrics), board),
      mapping,
      resyncMs,
      deregister,
      drain: (target) => drainContainer(sidecar, watcher, target, drain),
      log,
    });
    await Promise.race([registry.start(), stopped]);
    daemon.start();
    watcher.start();
    const maintenance = new MaintenanceFollower({ client: sidecar.client, registry, log, target: daemon });
    maintenance.start();
    log.info({ node: settings.nodeName, ip: mapping.hostIp, layouts: settings.layouts, ttl: settings.ttlSec }, 'registering Docker services');
    await stopped;
    await maintenance.close();
    await watcher.close();
    await daemon.close();
    await closeSidecar(sidecar);
  });
  return cmd;
}

/** Drains an opted-in container's services, then sends it SERVICE_DRAIN so the app stops. Never rejects. */
async function drainContainer(sidecar: Sidecar, watcher: DockerWatcher, target: DrainTarget, settings: DrainSettings): Promise<void> {
  const { client, registry, log } = sidecar;
  const fields = { container: target.container, signal: target.signal };
  await drainInstances({ client, registry, log, ids: target.services, settings, fields });
  try {
    await watcher.kill(target.id, target.signal);
  } catch (err) {
    log.warn({ ...fields, err: errorMessage(err) }, 'cannot send SERVICE_DRAIN; Docker stops the container when `docker stop -t` runs out');
  }
}

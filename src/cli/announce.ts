// `sidekick announce`: the sidekick unit beside one service (replaces `while curl …; etcdctl set --ttl`).
import { Command } from 'commander';
import { ANNOUNCE_OPTIONS, announceSettings, type AnnounceFlags } from '../config/announce-config.js';
import { addCheckOptions } from '../config/check-url.js';
import { checkKinds } from '../health/check-options.js';
import {
  addDrainOptions,
  addEtcdOptions,
  addListenOption,
  addRegistryOptions,
  addScheduleOptions,
  drainSettings,
  registrySettings,
  type DrainFlags,
} from '../config/sidecar-config.js';
import { addSettings } from '../config/settings-table.js';
import { AnnounceDaemon } from '../daemon/announce-daemon.js';
import { MaintenanceFollower } from '../drain/maintenance.js';
import { ServiceChecks } from '../http/daemon-health.js';
import { checkMetrics } from '../http/metrics.js';
import { formatAddress } from '../util/address.js';
import type { CheckResult } from '../health/types.js';
import { closeSidecar, drainRecords, openSidecar } from './sidecar.js';
import { stopSignal } from './signals.js';

/** Declares `announce`. */
export function announceCommand(): Command {
  const cmd = new Command('announce')
    .description('Keep one service registered in etcd while its check passes; SIGTERM drains it: removes it, waits until the load balancers stopped using it');
  addSettings(cmd, ANNOUNCE_OPTIONS);
  addCheckOptions(
    cmd,
    'http:/PATH, https:/PATH (2xx/3xx) or tcp on --address; http(s)://HOST:PORT/PATH or tcp://HOST:PORT elsewhere; exec:CMD (a host command; exit 0 passes) or none (default: tcp)',
  );
  addScheduleOptions(cmd, 'the service');
  addDrainOptions(addListenOption(addRegistryOptions(addEtcdOptions(cmd))));
  cmd.action(async (flags: AnnounceFlags & DrainFlags) => {
    const settings = registrySettings(flags);
    const { record, health, checkTarget } = announceSettings(flags, settings);
    const drain = drainSettings(flags);
    const sidecar = await openSidecar(flags, settings);
    // Listen for SIGTERM before the first (possibly slow) lease grant, so a stop during start-up is clean too.
    const stopped = stopSignal(sidecar.log);
    const observe = sidecar.obs && checkMetrics(sidecar.obs.metrics);
    const board = sidecar.obs && new ServiceChecks();
    if (sidecar.obs && board) sidecar.obs.health.add('services', () => board.check());
    const daemon = new AnnounceDaemon({
      registry: sidecar.registry,
      record,
      health,
      checkTarget,
      log: sidecar.log,
      ...(observe && { onCheck: (result: CheckResult) => observe(record.name, result) }),
      ...(board && { board }),
    });
    await Promise.race([sidecar.registry.start(), stopped]);
    daemon.start();
    const maintenance = new MaintenanceFollower({
      client: sidecar.client,
      registry: sidecar.registry,
      log: sidecar.log,
      target: { hold: (name) => (name === record.id ? (daemon.hold(true) ? [name] : []) : undefined), release: () => void daemon.hold(false) },
    });
    maintenance.start();
    const checked = formatAddress(checkTarget.host, checkTarget.port);
    sidecar.log.info({ service: record.id, address: `${record.host}:${record.port}`, check: checkKinds(health.check), checked }, 'announcing');
    await stopped;
    daemon.stop();
    await maintenance.close();
    await drainRecords(sidecar, [record.id], drain);
    await closeSidecar(sidecar);
  });
  return cmd;
}

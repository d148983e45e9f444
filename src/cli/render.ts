// `sidekick render`: confd's flags and conf.d, rendering from etcd, files or env.
import { Command } from 'commander';
import { isDone } from '../apply/status.js';
import { addRenderOptions, listenAddress, loadRenderConfig, rendererName } from '../config/render-config.js';
import type { RenderConfig } from '../config/types.js';
import { RenderDaemon } from '../daemon/render-daemon.js';
import { templateCacheDir } from '../render/compile-cache.js';
import { AckPublisher } from '../drain/publisher.js';
import { createEtcdClient } from '../store/etcd-client.js';
import type { RenderStatus } from '../http/daemon-health.js';
import { parseListen, startObservability, type Observability } from '../http/server.js';
import { errorMessage } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import { retryForever } from '../util/backoff.js';
import { stopSignal } from './signals.js';

/** Declares `render` with confd-compatible options. */
export function renderCommand(): Command {
  const cmd = new Command('render').description(
    'Render config files from templates whenever the keys they read change; check, swap atomically and reload (confd-compatible)',
  );
  addRenderOptions(cmd);
  cmd.action(async (opts: Record<string, unknown>) => {
    const config = await loadRenderConfig(opts, process.env);
    const log = createLogger({ level: config.logLevel, ...(config.logFormat && { format: config.logFormat }) });
    const listen = listenAddress(opts, process.env);
    if (listen !== undefined) parseListen(listen); // a bad address is a usage error, before anything runs
    const node = rendererName(opts, process.env);
    if (config.onetime && listen !== undefined) log.warn('--listen is ignored with --onetime');
    process.exitCode = config.onetime ? await runOnetime(config, log) : await runDaemon(config, log, opts, node, listen);
  });
  return cmd;
}

/** One render of every resource; exit 1 if any resource failed or was skipped. */
export async function runOnetime(config: RenderConfig, log: Logger): Promise<number> {
  const daemon = new RenderDaemon({ config, log, sandboxDir: config.confdir, templateCache: templateCacheDir(process.env) });
  try {
    await daemon.start();
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'cannot read the store; nothing rendered');
    await daemon.close().catch(() => undefined);
    return 1;
  }
  const outcomes = await daemon.renderAll();
  await daemon.close();
  return outcomes.some((o) => !isDone(o.status)) || config.problems.length > 0 ? 1 : 0;
}

/** Starts a daemon, retrying with backoff until the store can be read; resolves once it follows changes. */
async function startDaemon(
  config: RenderConfig,
  log: Logger,
  signal: AbortSignal,
  status?: RenderStatus,
  acks?: AckPublisher,
): Promise<RenderDaemon | undefined> {
  status?.use(undefined, config);
  return retryForever(
    async () => {
      const daemon = new RenderDaemon({
        config,
        log,
        sandboxDir: config.confdir,
        templateCache: templateCacheDir(process.env),
        ...(status && { observer: status }),
        ...(acks && { acks }),
      });
      try {
        await daemon.start();
      } catch (err) {
        status?.startFailed(err);
        await daemon.close().catch(() => undefined);
        throw err;
      }
      await daemon.renderAll();
      daemon.follow();
      status?.use(daemon, config);
      return daemon;
    },
    { log, what: 'store', signal },
  );
}

/**
 * `--listen`: /healthz (store, apply, config) and /metrics for the daemons this process runs. As the sidecars', its
 * /healthz never shows the etcd password (RenderStatus adds the one read again on SIGHUP).
 */
async function observe(listen: string | undefined, config: RenderConfig, log: Logger): Promise<{ obs: Observability; status: RenderStatus } | undefined> {
  if (listen === undefined || listen === '') return undefined;
  // Loaded before the server answers, so /healthz is never served without its checks; only with --listen (it loads prom-client).
  const { RenderStatus } = await import('../http/daemon-health.js');
  const obs = await startObservability(listen, log, [config.backend.kind === 'etcd' ? config.backend.password : undefined]);
  return obs && { obs, status: new RenderStatus(obs.health, obs.metrics, config) };
}

/**
 * The acknowledgement publisher of an etcd-backed renderer: its own client and lease, kept across SIGHUP reloads so
 * the keys stay put while the configuration is read again.
 */
async function ackPublisher(config: RenderConfig, node: string, log: Logger): Promise<{ acks: AckPublisher; close: () => Promise<void> } | undefined> {
  const { backend } = config;
  if (backend.kind !== 'etcd' || config.noop) return undefined;
  const { kind: _kind, ...connection } = backend;
  const client = await createEtcdClient(connection);
  const acks = new AckPublisher({ client, node, log });
  return {
    acks,
    close: async () => {
      await acks.close();
      client.close();
    },
  };
}

/** Watch or interval mode until SIGTERM/SIGINT; SIGHUP reloads conf.d and the config file. */
async function runDaemon(config: RenderConfig, log: Logger, opts: Record<string, unknown>, node: string, listen?: string): Promise<number> {
  if (config.resources.length === 0) return nothingToRender(config, log);
  const observed = await observe(listen, config, log);
  const published = await ackPublisher(config, node, log);
  const acks = published?.acks;
  const status = observed?.status;
  const stopping = new AbortController();
  // stopSignal: a second SIGTERM while the daemon closes is logged, not fatal (a `once` listener would leave it to Node's default, which kills the process).
  const stopped = stopSignal(log).then(() => stopping.abort());
  let daemon: RenderDaemon | undefined;
  let work: Promise<void> = startDaemon(config, log, stopping.signal, status, acks).then((d) => {
    daemon = d;
  });
  const onHup = (): void => {
    work = work.then(async () => {
      if (stopping.signal.aborted) return;
      let next: RenderConfig;
      try {
        next = await loadRenderConfig(opts, process.env);
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'SIGHUP: config not reloaded; keeping the running one');
        return;
      }
      if (next.resources.length === 0) {
        log.error({ problems: next.problems }, 'SIGHUP: config not reloaded (no template resource would load); keeping the running one');
        return;
      }
      log.info({ resources: next.resources.length }, 'SIGHUP: reloading configuration');
      await daemon?.close();
      daemon = await startDaemon(next, log, stopping.signal, status, acks);
    });
  };
  process.on('SIGHUP', onHup);
  await stopped;
  process.off('SIGHUP', onHup);
  await observed?.obs.close();
  await work;
  await daemon?.close();
  await published?.close();
  return 0;
}

/**
 * Watch and interval mode without a single loadable resource: exit 1 with the reason rather than idle (or end
 * with 0) doing nothing, so a supervisor (systemd Restart=on-failure, a container restart policy) shows a failure.
 */
function nothingToRender(config: RenderConfig, log: Logger): number {
  for (const problem of config.problems) log.error({ problem }, 'resource skipped');
  log.error({ confdir: config.confdir }, 'no template resource to render; exiting (add or fix conf.d/*.toml, then start again)');
  return 1;
}

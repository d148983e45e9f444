// `sidekick drain`: take an instance out of rotation without stopping it, and wait until the load balancers have.
// The work is a conversation through etcd (see drain/maintenance.ts): a request key, the owning sidecar's answer,
// then the renderers' acknowledgements (drain/wait.ts).
import { Command } from 'commander';
import type { Etcd3 } from 'etcd3';
import { addEtcdOptions, etcdConnection, type SidecarFlags } from '../config/sidecar-config.js';
import { addSettings, durationOf, logLevel, sidekickSetting, type FlagsOf, type SettingSpec } from '../config/settings-table.js';
import { dockerFromAddress } from '../docker/address.js';
import { checkName, containerTarget, drainedKey, maintenanceKey, maintenanceValue, parseDrained } from '../drain/maintenance.js';
import { waitForAcks, type DrainResult } from '../drain/wait.js';
import type { Deletion } from '../drain/drain.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { sleep } from '../util/backoff.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { createLogger, loggerOptions } from '../util/log.js';

const MAX_REASON = 200;

/** `--timeout`: its help says the default. */
const TIMEOUT = {
  flag: 'timeout',
  value: '<duration>',
  help: 'longest wait for the sidecar and the renderers (default: 30s); exit 1 when it runs out',
  defaultHelp: false,
  default: '30s',
  kind: 'duration',
} as const satisfies SettingSpec;

/** drain's own options (only --docker reads the environment: a request is one command line), then the etcd ones. */
const DRAIN_OPTIONS = [
  { flag: 'undo', help: 'put the instance back in rotation (its record returns once its check passes)', kind: 'bool' },
  { flag: 'reason', value: '<text>', help: `why, stored with the request (at most ${MAX_REASON} characters)`, kind: 'string' },
  TIMEOUT,
  {
    flag: 'container',
    value: '<name>',
    help: "every service of this container (name or id), as `sidekick register` registered them; needs the container's Docker",
    kind: 'string',
  },
  sidekickSetting({
    flag: 'docker',
    value: '<address>',
    help: 'Docker API of --container: unix:///var/run/docker.sock or tcp://host:port',
    defaultHelp: '$DOCKER_HOST, then the local socket',
    kind: 'string',
  }),
] as const satisfies readonly SettingSpec[];

/** The options of `drain`, as commander returns them. */
type DrainCommandFlags = FlagsOf<typeof DRAIN_OPTIONS> & SidecarFlags;

/** Declares `drain`. */
export function drainCommand(): Command {
  const cmd = new Command('drain')
    .description('Take an instance out of rotation without stopping it and wait until the load balancers stopped using it; --undo puts it back')
    .argument('[instance-id]', 'the instance, as `sidekick ls` shows its ID (e.g. h1:web:8080)');
  addEtcdOptions(addSettings(cmd, DRAIN_OPTIONS));
  cmd.action(async (instance: string | undefined, flags: DrainCommandFlags) => {
    const timeoutMs = durationOf(TIMEOUT, flags);
    const reason = flags.reason ?? '';
    if (reason.length > MAX_REASON) throw new ConfigError(`--reason: at most ${MAX_REASON} characters, got ${reason.length}`);
    const connection = etcdConnection(flags);
    const name = await targetName(instance, flags);
    const label = flags.container === undefined ? name : `container ${flags.container} (${name})`;
    const client = await createEtcdClient(connection);
    try {
      if (flags.undo) {
        await client.delete().key(maintenanceKey(name)).exec();
        process.stdout.write(`${label}: maintenance request deleted; back in rotation once its check passes\n`);
        return;
      }
      const line = await drain(client, name, reason, timeoutMs, flags.logLevel);
      line.text = `${label}: ${line.text}`;
      process.stdout.write(`${line.text}\n`);
      if (!line.ok) process.exitCode = 1;
    } catch (err) {
      process.stderr.write(`sidekick drain: cannot reach etcd: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    } finally {
      client.close();
    }
  });
  return cmd;
}

/** The maintenance name: the instance id, or `docker:<id>` of --container; refuses anything else with a ConfigError. */
async function targetName(instance: string | undefined, flags: DrainCommandFlags): Promise<string> {
  if (flags.container === undefined && flags.docker !== undefined) throw new ConfigError('--docker: only with --container');
  if (flags.container !== undefined) {
    if (instance !== undefined) throw new ConfigError('give an instance id or --container, not both');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(flags.container)) {
      throw new ConfigError(`--container: ${JSON.stringify(flags.container.slice(0, 40))} is not a container name or id`);
    }
    try {
      const info = await dockerFromAddress(flags.docker).getContainer(flags.container).inspect({ abortSignal: AbortSignal.timeout(10_000) });
      return containerTarget(info.Id);
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      throw new ConfigError(`--container: ${code === 404 ? `no container "${flags.container}"` : `cannot inspect "${flags.container}": ${errorMessage(err)}`}`);
    }
  }
  if (instance === undefined) throw new ConfigError('an instance id (see `sidekick ls`) or --container is required');
  const bad = checkName(instance);
  if (bad) throw new ConfigError(`instance id: ${bad}`);
  return instance;
}

/** Polls for the owning sidecar's answer until `deadline`. */
async function answer(client: Etcd3, name: string, deadline: number): Promise<Deletion | undefined> {
  while (Date.now() < deadline) {
    const value = await client.get(drainedKey(name)).string();
    if (value !== null) {
      const parsed = parseDrained(value);
      if (typeof parsed !== 'string') return parsed;
    }
    await sleep(100);
  }
  return undefined;
}

/** Writes the request, waits for the answer and the acknowledgements; the one line to print (after the name). */
async function drain(client: Etcd3, name: string, reason: string, timeoutMs: number, level?: string): Promise<{ ok: boolean; text: string }> {
  const started = Date.now();
  const seconds = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  await client.put(maintenanceKey(name)).value(maintenanceValue(reason)).exec();
  const deletion = await answer(client, name, started + timeoutMs);
  if (!deletion) {
    return { ok: false, text: `no sidecar answered within ${seconds()} (is announce or register running it?); still requested, undo with --undo` };
  }
  if (deletion.revision === 0) return { ok: true, text: `drained in ${seconds()}; it had no record in etcd` };
  const log = createLogger(loggerOptions({ logLevel: logLevel(level) }));
  const result: DrainResult = await waitForAcks({
    client,
    keys: deletion.keys,
    revision: deletion.revision,
    timeoutMs: Math.max(1, started + timeoutMs - Date.now()),
    delayMs: 0,
    log,
  });
  if (result.outcome === 'acknowledged') return { ok: true, text: `drained in ${seconds()}; acknowledged by ${result.acknowledged.join(', ')}` };
  if (result.outcome === 'no-renderers') return { ok: true, text: `drained in ${seconds()}; no renderer reads its keys` };
  return { ok: false, text: `not drained within ${seconds()}; pending ${result.pending.join(', ') || '(etcd unreadable)'}${result.acknowledged.length ? `; acknowledged by ${result.acknowledged.join(', ')}` : ''}` };
}

// Flags shared by the commands that write or read the registry (`register`, `announce`, `ls`): etcd connection,
// lease TTL, key layouts, logging. Every option also reads SIDEKICK_<NAME> from the environment (commander's env()).
import { hostname } from 'node:os';
import { Option, type Command } from 'commander';
import { DEFAULT_HEALTH, type HealthSettings } from '../health/types.js';
import { DEFAULT_DOMAIN, DEFAULT_PREFIX, parseLayouts, type Layout } from '../registry/layouts.js';
import type { EtcdConnectOptions } from '../store/etcd-client.js';
import { parseDuration } from '../util/duration.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { validateInstanceId } from '../registry/record.js';
import { DEFAULT_ETCD_NODE, etcdConnectOptions } from './etcd-connection.js';
import { addSettings, ETCD_SETTINGS, LOG_SETTINGS, sidekickEnv, type SettingSpec } from './settings-table.js';

export const SIDECAR_DEFAULTS = {
  etcd: DEFAULT_ETCD_NODE,
  ttl: '15s',
  prefix: DEFAULT_PREFIX,
  layout: 'native',
  domain: DEFAULT_DOMAIN,
  logLevel: 'info',
} as const;

/** The options declared by {@link addEtcdOptions} and {@link addRegistryOptions}, as commander returns them. */
export interface SidecarFlags {
  etcd?: string[];
  node?: string[];
  clientCert?: string;
  clientKey?: string;
  clientCaKeys?: string;
  username?: string;
  password?: string;
  ttl?: string;
  prefix?: string;
  layout?: string[];
  domain?: string;
  nodeName?: string;
  logLevel?: string;
  logFormat?: string;
  listen?: string;
}

/** Where and how records are written: the registry half of the settings. */
export interface RegistrySettings {
  ttlSec: number;
  prefix: string;
  layouts: Layout[];
  domain: string;
  /** This machine's name in records (`node`) and default ids. */
  nodeName: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
const envList = (raw: string): string[] => raw.split(',').map((v) => v.trim()).filter(Boolean);

/** An option that also reads SIDEKICK_<NAME> (derived from the long flag); list options split on commas. */
export function envOption(flags: string, description: string, list = false): Option {
  const long = /--([a-z][a-z-]*)/.exec(flags)?.[1] ?? '';
  const o = new Option(flags, description).env(`SIDEKICK_${long.replace(/-/g, '_').toUpperCase()}`);
  return list ? o.argParser((v: string, prev: string[] | undefined) => collect(v, prev).flatMap(envList)) : o;
}

/** The check schedule of a single-service sidekick (`announce`, `elb`); `what` names what the check admits. */
export function addScheduleOptions(cmd: Command, what: string): Command {
  return cmd
    .addOption(envOption('--interval <duration>', 'time between checks (default: 10s)'))
    .addOption(envOption('--timeout <duration>', `deadline of one check (${TIMEOUT_DEFAULT_HELP})`))
    .addOption(envOption('--rise <n>', `passes in a row before ${what} is registered (default: 1)`))
    .addOption(envOption('--fall <n>', `failures in a row before it is ${what === 'the service' ? 'removed' : 'deregistered'} (default: 2)`));
}

/** A setting whose environment variable is SIDEKICK_<FLAG>, which commander reads. */
const sidekick = <S extends SettingSpec>(spec: S): S & { env: string[] } => ({ ...spec, env: [sidekickEnv(spec.flag)] });

/** The etcd connection and logging flags of the sidecars, spelled as `render` spells them; `--node` is an alias of `--etcd`. */
export const ETCD_OPTIONS: readonly SettingSpec[] = [
  sidekick({ flag: 'etcd', value: '<url>', help: 'etcd client URL; repeat for each cluster member', defaultHelp: SIDECAR_DEFAULTS.etcd, kind: 'list' }),
  sidekick({ flag: 'node', value: '<url>', help: 'alias of --etcd (confd and render spell it so)', kind: 'list' }),
  ...[...Object.values(ETCD_SETTINGS), ...Object.values(LOG_SETTINGS)].map(sidekick),
];

/** etcd connection flags, spelled as `render` spells them; `--node` is an alias of `--etcd`. */
export function addEtcdOptions(cmd: Command): Command {
  return addSettings(cmd, ETCD_OPTIONS);
}

/** Lease and key-layout flags of the writers (`register`, `announce`); `ls` takes only --prefix. */
export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .addOption(envOption('--ttl <duration>', `lease TTL: keys vanish this long after the process dies (default: ${SIDECAR_DEFAULTS.ttl})`))
    .addOption(envOption('--prefix <path>', `key prefix of the native/registrator layouts (default: ${SIDECAR_DEFAULTS.prefix})`))
    .addOption(
      envOption('--layout <name>', `key layout to write: native, registrator, skydns or traefik; repeatable (default: ${SIDECAR_DEFAULTS.layout})`, true),
    )
    .addOption(envOption('--domain <domain>', `DNS domain of the skydns layout (default: ${SIDECAR_DEFAULTS.domain})`))
    .addOption(envOption('--node-name <name>', "this machine's name in records and default ids (default: the host name)"));
}

/** `--listen` of the long-running commands (`register`, `announce`): where /healthz and /metrics are served. */
export function addListenOption(cmd: Command): Command {
  return cmd.addOption(envOption('--listen <host:port>', 'serve /healthz and /metrics here, e.g. 127.0.0.1:9273 (default: off)'));
}

/** The drain of the sidecars that remove records on stop (`announce`): see src/drain/. */
export interface DrainSettings {
  /** Longest wait for the renderers' acknowledgements, in ms (> 0). */
  timeoutMs: number;
  /** The wait when no renderer reads the record, in ms (0: none). */
  delayMs: number;
}

/** The drain flags as commander returns them. */
export interface DrainFlags {
  drainTimeout?: string;
  drainDelay?: string;
}

export const DRAIN_DEFAULTS = { timeout: '10s', delay: '0s' } as const;

/** `--drain-timeout` and `--drain-delay`, shared by every command that drains; `when` says what starts a drain. */
export function addDrainOptions(cmd: Command, when = 'on SIGTERM/SIGINT'): Command {
  return cmd
    .addOption(
      envOption(
        '--drain-timeout <duration>',
        `${when}, the longest wait after removing the record for every renderer reading it to acknowledge (default: ${DRAIN_DEFAULTS.timeout})`,
      ),
    )
    .addOption(envOption('--drain-delay <duration>', `the wait instead when no renderer reads the record (default: ${DRAIN_DEFAULTS.delay})`));
}

/** Drain settings from the flags; a timeout of 0 or garbage is refused naming the flag. */
export function drainSettings(flags: DrainFlags): DrainSettings {
  const timeoutMs = durationFlag(flags.drainTimeout, DRAIN_DEFAULTS.timeout, '--drain-timeout', 1);
  const delayMs = durationFlag(flags.drainDelay, DRAIN_DEFAULTS.delay, '--drain-delay', 0);
  if (delayMs > timeoutMs) throw new ConfigError(`--drain-delay: must not exceed --drain-timeout (${delayMs} ms > ${timeoutMs} ms)`);
  return { timeoutMs, delayMs };
}

/** The etcd connection the flags describe; throws ConfigError naming the flag. */
export function etcdConnection(flags: SidecarFlags): EtcdConnectOptions {
  const raw = [...(flags.etcd ?? []), ...(flags.node ?? [])];
  return etcdConnectOptions(raw.length > 0 ? raw : [SIDECAR_DEFAULTS.etcd], flags, (msg) => new ConfigError(`--etcd: ${msg}`));
}

/** Parses a duration flag to ms, or throws ConfigError naming the flag. */
export function durationFlag(value: string | undefined, fallback: string, flag: string, minMs = 1): number {
  let ms: number;
  try {
    ms = parseDuration(value ?? fallback, flag);
  } catch (err) {
    throw new ConfigError(errorMessage(err));
  }
  if (ms < minMs) throw new ConfigError(`${flag}: must be ${minMs === 1 ? 'longer than 0' : `at least ${minMs} ms`}, got "${value}"`);
  return ms;
}

/** Parses a positive integer flag, or throws ConfigError naming it. */
export function countFlag(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  if (!/^[1-9]\d{0,3}$/.test(value.trim())) throw new ConfigError(`${flag}: expected a whole number 1-9999, got "${value}"`);
  return Number(value);
}

/** The check schedule flags (`register` spells interval and timeout --check-interval and --check-timeout). */
export interface ScheduleFlags {
  interval?: string;
  timeout?: string;
  rise?: string;
  fall?: string;
}

/** The help text of a timeout flag: its default follows the interval. */
export const TIMEOUT_DEFAULT_HELP = `default: ${DEFAULT_HEALTH.timeoutMs / 1000}s, or the interval when that is shorter`;

/**
 * Interval, timeout, rise and fall from the schedule flags, defaults filled in. The default timeout is 2 s or the
 * interval when that is shorter (a short --interval alone must start); a timeout given longer than the interval
 * is refused.
 */
export function scheduleSettings(f: ScheduleFlags, names = { interval: '--interval', timeout: '--timeout' }): Omit<HealthSettings, 'check'> {
  const intervalMs = durationFlag(f.interval, `${DEFAULT_HEALTH.intervalMs}ms`, names.interval, 100);
  const timeoutMs = durationFlag(f.timeout, `${Math.min(DEFAULT_HEALTH.timeoutMs, intervalMs)}ms`, names.timeout, 10);
  if (timeoutMs > intervalMs) {
    const why = `${names.timeout}: must not exceed ${names.interval} (${timeoutMs} ms > ${intervalMs} ms)`;
    throw new ConfigError(`${why}; give a shorter ${names.timeout}, or leave it out (${TIMEOUT_DEFAULT_HELP})`);
  }
  return { intervalMs, timeoutMs, rise: countFlag(f.rise, DEFAULT_HEALTH.rise, '--rise'), fall: countFlag(f.fall, DEFAULT_HEALTH.fall, '--fall') };
}

/** Splits `a,b` lists given once or repeated. */
export function listFlag(value: string[] | string | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap(envList);
}

/** Lease TTL, prefix, layouts, domain and node name from the flags; throws ConfigError naming the flag. */
export function registrySettings(flags: SidecarFlags): RegistrySettings {
  const ttlMs = durationFlag(flags.ttl, SIDECAR_DEFAULTS.ttl, '--ttl', 2000);
  if (ttlMs % 1000 !== 0) throw new ConfigError(`--ttl: etcd leases count whole seconds, got "${flags.ttl}"`);
  const prefix = `/${(flags.prefix ?? SIDECAR_DEFAULTS.prefix).split('/').filter(Boolean).join('/')}`;
  let layouts: Layout[];
  try {
    layouts = parseLayouts(listFlag(flags.layout ?? [SIDECAR_DEFAULTS.layout]), prefix);
  } catch (err) {
    throw new ConfigError(`--layout: ${errorMessage(err)}`);
  }
  const nodeName = flags.nodeName ?? hostname();
  const valid = validateInstanceId(nodeName, 'node name');
  if (!valid.ok) throw new ConfigError(`--node-name: ${valid.reason}`);
  return { ttlSec: ttlMs / 1000, prefix, layouts, domain: flags.domain ?? SIDECAR_DEFAULTS.domain, nodeName };
}

// Flags shared by the commands that write or read the registry (`register`, `announce`, `ls`): etcd connection,
// lease TTL, key layouts, logging, as setting tables (settings-table.ts). Every option also reads SIDEKICK_<NAME>
// from the environment (commander's env()).
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { DrainSettings } from '../drain/drain.js';
import { DEFAULT_HEALTH, type HealthSettings } from '../health/types.js';
import { DEFAULT_DOMAIN, DEFAULT_PREFIX, parseLayouts, type Layout } from '../registry/layouts.js';
import type { EtcdConnectOptions } from '../store/etcd-client.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { keyPath } from '../util/key-path.js';
import { validateInstanceId } from '../registry/record.js';
import { DEFAULT_ETCD_NODE, etcdConnectOptions } from './etcd-connection.js';
import { addSettings, durationOf, ETCD_SETTINGS, LOG_SETTINGS, parseDurationFlag, sidekickSetting, type FlagsOf, type SettingSpec } from './settings-table.js';

export const SIDECAR_DEFAULTS = {
  etcd: DEFAULT_ETCD_NODE,
  ttl: '15s',
  prefix: DEFAULT_PREFIX,
  layout: 'native',
  domain: DEFAULT_DOMAIN,
  logLevel: 'info',
} as const;

/** Where and how records are written: the registry half of the settings. */
export interface RegistrySettings {
  ttlSec: number;
  prefix: string;
  layouts: Layout[];
  domain: string;
  /** This machine's name in records (`node`) and default ids. */
  nodeName: string;
}

const envList = (raw: string): string[] => raw.split(',').map((v) => v.trim()).filter(Boolean);
const sidekick = sidekickSetting;

/** The check schedule of a single-service sidekick (`announce`, `elb`); `what` names what the check admits. */
export function scheduleOptions(what: string) {
  return [
    sidekick({ flag: 'interval', value: '<duration>', help: 'time between checks', defaultHelp: '10s', kind: 'duration' }),
    sidekick({ flag: 'timeout', value: '<duration>', help: 'deadline of one check', defaultHelp: TIMEOUT_DEFAULT, kind: 'duration' }),
    sidekick({ flag: 'rise', value: '<n>', help: `passes in a row before ${what} is registered`, defaultHelp: 1, kind: 'string' }),
    sidekick({ flag: 'fall', value: '<n>', help: `failures in a row before it is ${what === 'the service' ? 'removed' : 'deregistered'}`, defaultHelp: 2, kind: 'string' }),
  ] as const satisfies readonly SettingSpec[];
}

/** Declares {@link scheduleOptions}. */
export function addScheduleOptions(cmd: Command, what: string): Command {
  return addSettings(cmd, scheduleOptions(what));
}

/** The etcd connection and logging flags of the sidecars, spelled as `render` spells them; `--node` is an alias of `--etcd`. */
export const ETCD_OPTIONS = [
  sidekick({ flag: 'etcd', value: '<url>', help: 'etcd client URL; repeat for each cluster member', defaultHelp: SIDECAR_DEFAULTS.etcd, kind: 'list' }),
  sidekick({ flag: 'node', value: '<url>', help: 'alias of --etcd (confd and render spell it so)', kind: 'list' }),
  ...[...Object.values(ETCD_SETTINGS), ...Object.values(LOG_SETTINGS)].map(sidekick),
] as const satisfies readonly SettingSpec[];

/** etcd connection flags, spelled as `render` spells them; `--node` is an alias of `--etcd`. */
export function addEtcdOptions(cmd: Command): Command {
  return addSettings(cmd, ETCD_OPTIONS);
}

const TTL = sidekick({ flag: 'ttl', value: '<duration>', help: 'lease TTL: keys vanish this long after the process dies', default: SIDECAR_DEFAULTS.ttl, minMs: 2000, kind: 'duration' });

/** Lease and key-layout flags of the writers (`register`, `announce`); `ls` takes only --prefix. */
export const REGISTRY_OPTIONS = [
  TTL,
  sidekick({ flag: 'prefix', value: '<path>', help: 'key prefix of the native/registrator layouts', defaultHelp: SIDECAR_DEFAULTS.prefix, kind: 'string' }),
  sidekick({
    flag: 'layout',
    value: '<name>',
    help: 'key layout to write: native, registrator, skydns or traefik; repeatable',
    defaultHelp: SIDECAR_DEFAULTS.layout,
    kind: 'list',
  }),
  sidekick({ flag: 'domain', value: '<domain>', help: 'DNS domain of the skydns layout', defaultHelp: SIDECAR_DEFAULTS.domain, kind: 'string' }),
  sidekick({ flag: 'node-name', value: '<name>', help: "this machine's name in records and default ids", defaultHelp: 'the host name', kind: 'string' }),
] as const satisfies readonly SettingSpec[];

/** Declares {@link REGISTRY_OPTIONS}. */
export function addRegistryOptions(cmd: Command): Command {
  return addSettings(cmd, REGISTRY_OPTIONS);
}

/** `--listen` of the long-running commands (`register`, `announce`): where /healthz and /metrics are served. */
export const LISTEN_OPTION = sidekick({ flag: 'listen', value: '<host:port>', help: 'serve /healthz and /metrics here, e.g. 127.0.0.1:9273', defaultHelp: 'off', kind: 'string' });

/** The options declared by {@link addEtcdOptions}, {@link addRegistryOptions} and {@link addListenOption}, as commander returns them. */
export type SidecarFlags = FlagsOf<typeof ETCD_OPTIONS> & FlagsOf<typeof REGISTRY_OPTIONS> & FlagsOf<readonly [typeof LISTEN_OPTION]>;

/** Declares {@link LISTEN_OPTION}. */
export function addListenOption(cmd: Command): Command {
  return addSettings(cmd, [LISTEN_OPTION]);
}

export const DRAIN_DEFAULTS = { timeout: '10s', delay: '0s' } as const;

/** `--drain-timeout` and `--drain-delay`, shared by every command that drains; `when` says what starts a drain. */
export function drainOptions(when = 'on SIGTERM/SIGINT') {
  return [
    sidekick({
      flag: 'drain-timeout',
      value: '<duration>',
      help: `${when}, the longest wait after removing the record for every renderer reading it to acknowledge`,
      default: DRAIN_DEFAULTS.timeout,
      minMs: 1,
      kind: 'duration',
    }),
    sidekick({ flag: 'drain-delay', value: '<duration>', help: 'the wait instead when no renderer reads the record', default: DRAIN_DEFAULTS.delay, minMs: 0, kind: 'duration' }),
  ] as const satisfies readonly SettingSpec[];
}

/** The drain flags as commander returns them. */
export type DrainFlags = FlagsOf<ReturnType<typeof drainOptions>>;

/** Declares {@link drainOptions}. */
export function addDrainOptions(cmd: Command, when?: string): Command {
  return addSettings(cmd, drainOptions(when));
}

/** Drain settings from the flags; a timeout of 0 or garbage is refused naming the flag. */
export function drainSettings(flags: DrainFlags): DrainSettings {
  const [timeout, delay] = drainOptions();
  const timeoutMs = durationOf(timeout, flags);
  const delayMs = durationOf(delay, flags);
  if (delayMs > timeoutMs) throw new ConfigError(`--drain-delay: must not exceed --drain-timeout (${delayMs} ms > ${timeoutMs} ms)`);
  return { timeoutMs, delayMs };
}

/** The etcd connection the flags describe; throws ConfigError naming the flag. */
export function etcdConnection(flags: FlagsOf<typeof ETCD_OPTIONS>): EtcdConnectOptions {
  const raw = [...(flags.etcd ?? []), ...(flags.node ?? [])];
  return etcdConnectOptions(raw.length > 0 ? raw : [SIDECAR_DEFAULTS.etcd], flags, (msg) => new ConfigError(`--etcd: ${msg}`));
}

/** Parses a duration flag to ms, or throws ConfigError naming the flag. */
export const durationFlag = parseDurationFlag;

/** Parses a positive integer flag, or throws ConfigError naming it. */
export function countFlag(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  if (!/^[1-9]\d{0,3}$/.test(value.trim())) throw new ConfigError(`${flag}: expected a whole number 1-9999, got "${value}"`);
  return Number(value);
}

/** The check schedule flags (`register` spells interval and timeout --check-interval and --check-timeout). */
export type ScheduleFlags = FlagsOf<ReturnType<typeof scheduleOptions>>;

/** The default of a timeout flag: it follows the interval. */
const TIMEOUT_DEFAULT = `${DEFAULT_HEALTH.timeoutMs / 1000}s, or the interval when that is shorter`;
/** The help text of a timeout flag's default. */
export const TIMEOUT_DEFAULT_HELP = `default: ${TIMEOUT_DEFAULT}`;

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
  const ttlMs = durationOf(TTL, flags);
  if (ttlMs % 1000 !== 0) throw new ConfigError(`--ttl: etcd leases count whole seconds, got "${flags.ttl}"`);
  const prefix = keyPath(flags.prefix ?? SIDECAR_DEFAULTS.prefix);
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

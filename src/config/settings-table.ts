// One declarative entry per command-line setting: its flag, help, default, environment names, config-file keys and
// kind. The commander options, the environment layer, confd's argv spelling and the config-file schema (file.ts) are
// all derived from these tables, so a setting is declared in one place. No heavy imports: every command loads this.
import { Option, type Command } from 'commander';
import { parseDuration } from '../util/duration.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { LOG_FORMAT_HELP } from '../util/log.js';

/**
 * How a value is read. `string` and `path` are one value (a path resolves against the working directory, or the
 * config file's folder); `list` and `paths` are repeatable flags, comma-separated in the environment; `bool` is a
 * switch; `duration` is text, or a number in a config file; `repeat` is a repeatable flag never split on commas (an
 * exec command line or a URL query may hold one).
 */
export type SettingKind = 'string' | 'path' | 'list' | 'paths' | 'bool' | 'duration' | 'repeat';

/** One setting of a command. */
export interface SettingSpec {
  /** The long flag without dashes: `client-ca-keys`. */
  flag: string;
  /** The value's name in the help (`<file>`); absent for a switch. `[bool]` makes the value optional. */
  value?: string;
  help: string;
  /** What the help shows as the default, appended as ` (default: …)`; {@link default} when absent; `false`: the help text says it. */
  defaultHelp?: string | number | false;
  /** The value used when the setting is not given (a duration: `60s`). */
  default?: string;
  /** A duration's least value in ms; 1 when absent (see {@link durationOf}). */
  minMs?: number;
  kind: SettingKind;
  /** Environment variables read for it, most preferred first. */
  env?: readonly string[];
  /** Where it lands in a command's merged settings (the layers of `render`); absent: not layered. */
  field?: string;
  /** Config-file keys (snake_case), first the preferred spelling. */
  file?: readonly string[];
  /** Not in the help (a hidden alias). */
  hidden?: boolean;
}

/** The etcd connection flags every etcd command declares; `render` adds its confd names to them. */
export const ETCD_SETTINGS = {
  clientCert: { flag: 'client-cert', value: '<file>', help: 'TLS client certificate for etcd', kind: 'path' },
  clientKey: { flag: 'client-key', value: '<file>', help: 'TLS client key for etcd', kind: 'path' },
  clientCaKeys: { flag: 'client-ca-keys', value: '<file>', help: 'CA certificate(s) that sign the etcd servers', kind: 'path' },
  username: { flag: 'username', value: '<name>', help: 'etcd user name', kind: 'string' },
  password: { flag: 'password', value: '<password>', help: 'etcd password (prefer SIDEKICK_PASSWORD: flags show in ps)', kind: 'string' },
} as const satisfies Record<string, SettingSpec>;

/** The logging flags every long-running command declares. */
export const LOG_SETTINGS = {
  logLevel: { flag: 'log-level', value: '<level>', help: 'trace, debug, info, warn or error', defaultHelp: 'info', kind: 'string' },
  logFormat: { flag: 'log-format', value: '<format>', help: LOG_FORMAT_HELP, kind: 'string' },
} as const satisfies Record<string, SettingSpec>;

/** The variables every command's log level falls back to without --log-level (render's layers read them too). */
export const LOG_LEVEL_ENV = ['SIDEKICK_LOG_LEVEL', 'CONFD_LOG_LEVEL'] as const;

/** A command's log level: a non-empty `flag` (--log-level), else the first of {@link LOG_LEVEL_ENV} that is set. */
export function logLevel(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag) return flag;
  const name = LOG_LEVEL_ENV.find((n) => env[n] !== undefined);
  return name === undefined ? undefined : env[name];
}

/** `--client-cert` → `clientCert`: the key commander stores the flag's value under. */
export const optionKey = (spec: SettingSpec): string => spec.flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** `client-ca-keys` → `clientCaKeys`: {@link optionKey} as a type. */
export type OptionKey<F extends string> = F extends `${infer H}-${infer T}` ? `${H}${Capitalize<OptionKey<T>>}` : F;

/** The value commander gives a setting of kind `K`. */
export type FlagValue<K extends SettingKind> = K extends 'bool' ? boolean : K extends 'list' | 'paths' | 'repeat' ? string[] : string;

/** A command's options as commander returns them, keyed by {@link optionKey} of each setting of `T`. */
export type FlagsOf<T extends readonly SettingSpec[]> = { [S in T[number] as OptionKey<S['flag']>]?: FlagValue<S['kind']> };

/** The help text of a setting, with its default. */
export const helpOf = (spec: SettingSpec): string => {
  const shown = spec.defaultHelp === false ? undefined : (spec.defaultHelp ?? spec.default);
  return shown === undefined ? spec.help : `${spec.help} (default: ${shown})`;
};

/** Parses a duration flag to ms, or throws ConfigError naming the flag; `minMs` (default 1) is the least accepted. */
export function parseDurationFlag(value: string | undefined, fallback: string, flag: string, minMs = 1): number {
  let ms: number;
  try {
    ms = parseDuration(value ?? fallback, flag);
  } catch (err) {
    throw new ConfigError(errorMessage(err));
  }
  if (ms < minMs) throw new ConfigError(`${flag}: must be ${minMs === 1 ? 'longer than 0' : `at least ${minMs} ms`}, got "${value}"`);
  return ms;
}

/** A duration setting with its default. */
export type DurationSpec = SettingSpec & { kind: 'duration'; default: string };

/** A duration setting's value in ms from `flags`, else its default; below its `minMs` or garbage is a ConfigError naming the flag. */
export function durationOf<S extends DurationSpec>(spec: S, flags: Partial<Record<OptionKey<S['flag']>, string>>): number {
  const value = (flags as Partial<Record<string, string>>)[optionKey(spec)];
  return parseDurationFlag(value, spec.default, `--${spec.flag}`, spec.minMs);
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
const envList = (raw: string): string[] => raw.split(',').map((v) => v.trim()).filter(Boolean);

/** `SIDEKICK_CLIENT_CA_KEYS` for `client-ca-keys`. */
export const sidekickEnv = (flag: string): string => `SIDEKICK_${flag.replace(/-/g, '_').toUpperCase()}`;

/** `spec` read from SIDEKICK_<FLAG> (by commander: see {@link commanderOption}). */
export const sidekickSetting = <const S extends SettingSpec>(spec: S): S & { env: string[] } => ({ ...spec, env: [sidekickEnv(spec.flag)] });

/**
 * The commander option of a setting. With `readEnv`, commander reads its first environment name (lists split on
 * commas); without, the command reads the environment itself (render's layers). Repeatable kinds collect.
 */
export function commanderOption(spec: SettingSpec, readEnv: boolean): Option {
  const o = new Option(`--${spec.flag}${spec.value ? ` ${spec.value}` : ''}`, helpOf(spec));
  const env = spec.env?.[0];
  if (readEnv && env !== undefined) o.env(env);
  if (spec.kind === 'repeat') o.argParser(collect);
  if (spec.kind === 'list' || spec.kind === 'paths') o.argParser(readEnv ? (v: string, prev: string[] | undefined) => collect(v, prev).flatMap(envList) : collect);
  if (spec.hidden) o.hideHelp();
  return o;
}

/** Declares every setting of `specs` on `cmd`, in order (see {@link commanderOption}). */
export function addSettings(cmd: Command, specs: readonly SettingSpec[], readEnv = true): Command {
  for (const spec of specs) cmd.addOption(commanderOption(spec, readEnv));
  return cmd;
}

/** `1/true/yes/on` or `0/false/no/off`; undefined for anything else. */
export function parseBool(text: string): boolean | undefined {
  if (/^(1|true|yes|on)$/i.test(text.trim())) return true;
  if (/^(0|false|no|off)$/i.test(text.trim())) return false;
  return undefined;
}

/** The first of the setting's environment names starting with `prefix` that is set (non-empty), with its value. */
export function envValue(spec: SettingSpec, env: NodeJS.ProcessEnv, prefix = ''): { name: string; raw: string } | undefined {
  const name = spec.env?.find((n) => n.startsWith(prefix) && env[n]);
  return name === undefined ? undefined : { name, raw: env[name] as string };
}

/**
 * An environment value read as its setting's kind: lists split on commas, paths resolved by `path`, switches
 * parsed (a ConfigError names the variable for anything but true or false).
 */
export function readEnvValue(spec: SettingSpec, name: string, raw: string, path: (p: string) => string): unknown {
  if (spec.kind === 'bool') {
    const on = parseBool(raw);
    if (on === undefined) throw new ConfigError(`${name}: expected true or false, got "${raw}"`);
    return on;
  }
  if (spec.kind === 'list') return envList(raw);
  if (spec.kind === 'paths') return envList(raw).map(path);
  return spec.kind === 'path' ? path(raw) : raw;
}

/**
 * Rewrites Go-style flags (`-backend etcd`, `-watch=false`) of `specs` to commander's (`--backend etcd`,
 * `--no-watch`), so a confd command line works unchanged. Values after a value flag and everything after `--` are
 * left alone, and so is anything `specs` does not declare.
 */
export function normalizeGoArgv(argv: readonly string[], specs: readonly SettingSpec[]): string[] {
  const switches = new Set(specs.filter((s) => s.kind === 'bool').map((s) => s.flag));
  const valued = new Set(specs.filter((s) => s.kind !== 'bool').map((s) => s.flag));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--?([a-z][a-z-]*)(?:=([\s\S]*))?$/.exec(arg);
    const name = m?.[1] ?? '';
    const value = m?.[2];
    if (switches.has(name)) {
      const on = value === undefined ? true : parseBool(value);
      out.push(on === undefined ? arg : on ? `--${name}` : `--no-${name}`);
    } else if (valued.has(name)) {
      out.push(value === undefined ? `--${name}` : `--${name}=${value}`);
      if (value === undefined && i + 1 < argv.length) out.push(argv[++i] as string);
    } else out.push(arg);
  }
  return out;
}

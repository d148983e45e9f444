// `sidekick render` configuration: confd's flags, CONFD_*/SIDEKICK_* env and a --config file, merged and validated.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { validateInstanceId } from '../registry/record.js';
import { parseDuration } from '../util/duration.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { parseLogFormat, type LogFormat } from '../util/log.js';
import { loadConfdDir, missingTemplate } from './confd.js';
import { etcdConnectOptions } from './etcd-connection.js';
import { loadConfigFile, type SettingsLayer } from './file.js';
import { LAYERED_SETTINGS, RENDER_DEFAULTS, RENDER_SETTINGS, type RenderOptions, type RenderSettings } from './render-settings.js';
import { addSettings, envValue, normalizeGoArgv, optionKey, readEnvValue, type SettingSpec } from './settings-table.js';
import { joinPrefix, parseResourceObject, type ResourceContext } from './resource.js';
import type { RenderConfig } from './types.js';
import type { BackendConfig } from '../store/types.js';
import type { ResourceConfig } from '../apply/types.js';

export { RENDER_DEFAULTS, RENDER_SETTINGS, type RenderOptions, type RenderSettings } from './render-settings.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const SPECS: readonly SettingSpec[] = Object.values(RENDER_SETTINGS);

/** Declares confd's command line on `sidekick render`; the help text is its command reference in docs/cli.md. */
export function addRenderOptions(cmd: Command): Command {
  addSettings(cmd, SPECS, false);
  // Hidden negations, so a flag can turn off what the config file or env turned on (and confd's -watch=false works).
  for (const spec of SPECS) if (spec.kind === 'bool') cmd.addOption(new Option(`--no-${spec.flag}`).hideHelp());
  cmd.addHelpText(
    'after',
    [
      '',
      'Every option can also come from the environment as SIDEKICK_<NAME> (preferred) or confd\'s CONFD_<NAME>,',
      'e.g. SIDEKICK_LOG_LEVEL=debug, SIDEKICK_NODE=http://10.0.0.1:2379,http://10.0.0.2:2379 (lists: comma-separated).',
      'Precedence: flags > SIDEKICK_* > CONFD_* > --config file > defaults. confd\'s single-dash spelling (-onetime) works too.',
    ].join('\n'),
  );
  return cmd;
}

/**
 * Rewrites confd's Go-style flags (`-backend etcd`, `-watch=false`) to commander's (`--backend etcd`, `--no-watch`),
 * so a confd command line works unchanged. Values after a value flag and everything after `--` are left alone.
 */
export function normalizeConfdArgv(argv: readonly string[]): string[] {
  return normalizeGoArgv(argv, SPECS);
}

/**
 * `--listen`, else SIDEKICK_LISTEN (else CONFD_LISTEN, like every render option): where /healthz and /metrics are
 * served; undefined = off. Not read from the config file: confd has no such setting.
 */
export function listenAddress(opts: RenderOptions, env: NodeJS.ProcessEnv): string | undefined {
  return opts.listen || envValue(RENDER_SETTINGS.listen, env)?.raw || undefined;
}

/**
 * `--node-name`, else SIDEKICK_NODE_NAME, else the host name and a random suffix: the `<node>` of this renderer's
 * acknowledgement keys (/sidekick/renderers/<node>/<resource>). Several renderers on one host (the host network's
 * containers share its name) must not share a key, so the default is unique per process. Throws ConfigError naming
 * the flag for a name etcd keys cannot carry.
 */
export function rendererName(opts: RenderOptions, env: NodeJS.ProcessEnv): string {
  const name = opts.nodeName || envValue(RENDER_SETTINGS.nodeName, env)?.raw || `${hostname().replace(/[^A-Za-z0-9._:-]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const valid = validateInstanceId(name, 'node name');
  if (!valid.ok) throw new ConfigError(`--node-name: ${valid.reason}`);
  return name;
}

/** Extra inputs for loadRenderConfig; tests pin them. */
export interface LoadOptions {
  /** Base for relative paths given in flags and env; default process.cwd(). */
  cwd?: string;
  lookupId?: ResourceContext['lookupId'];
}

/**
 * Merges defaults → --config file → CONFD_* → SIDEKICK_* → flags, validates, and loads the resources (conf.d and the
 * config file's `resources:`). Throws ConfigError for global mistakes; a bad resource lands in `problems` instead.
 */
export async function loadRenderConfig(opts: RenderOptions, env: NodeJS.ProcessEnv, options: LoadOptions = {}): Promise<RenderConfig> {
  const cwd = options.cwd ?? process.cwd();
  if (opts.config && opts.configFile && opts.config !== opts.configFile) throw new ConfigError('--config and --config-file name different files; give one');
  const configPath = opts.config || opts.configFile || (envValue(RENDER_SETTINGS.config, env) ?? envValue(RENDER_SETTINGS.configFile, env))?.raw || undefined;
  const file = configPath ? await loadConfigFile(configPath, cwd) : undefined;
  const layers: SettingsLayer[] = [envLayer(env, 'CONFD_', cwd), envLayer(env, 'SIDEKICK_', cwd), flagLayer(opts, cwd)];
  if (file) layers.unshift(file);
  const { values: s, from } = merge(layers);
  const fail = (field: keyof RenderSettings, message: string) => new ConfigError(`${message} (from ${from(field)})`);

  const backendName = (s.backend ?? RENDER_DEFAULTS.backend).trim().toLowerCase();
  let backend: BackendConfig;
  if (backendName === 'etcd' || backendName === 'etcdv3') {
    const nodes = (s.nodes ?? [RENDER_DEFAULTS.etcdNode]).flatMap((n) => n.split(',')).map((n) => n.trim()).filter(Boolean);
    if (nodes.length === 0) throw fail('nodes', 'node: expected at least one etcd URL');
    backend = { kind: 'etcd', ...etcdConnectOptions(nodes, s, (msg) => fail('nodes', msg)) };
  } else if (backendName === 'file') {
    if (!s.files?.length) throw fail('backend', 'backend file needs at least one --file (or file: in the config file)');
    backend = { kind: 'file', files: s.files };
  } else if (backendName === 'env') backend = { kind: 'env' };
  else throw fail('backend', `backend: "${s.backend}" is not supported; use etcd, etcdv3, file or env`);

  const intervalMs = parseInterval(s.interval ?? RENDER_DEFAULTS.intervalSeconds, (msg) => fail('interval', msg));
  const rawLevel = (s.logLevel ?? RENDER_DEFAULTS.logLevel).trim().toLowerCase();
  const logLevel = rawLevel === 'warning' ? 'warn' : rawLevel === 'panic' ? 'fatal' : rawLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw fail('logLevel', `log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${s.logLevel}"`);
  let logFormat: LogFormat | undefined;
  try {
    logFormat = parseLogFormat(s.logFormat, 'log-format');
  } catch (err) {
    throw fail('logFormat', errorMessage(err));
  }
  const confdir = resolve(cwd, s.confdir ?? RENDER_DEFAULTS.confdir);
  const prefix = joinPrefix(s.prefix);

  const extra = options.lookupId ? { lookupId: options.lookupId } : {};
  const confd = await loadConfdDir(confdir, prefix, extra);
  const resources: ResourceConfig[] = [...confd.resources];
  const problems = [...confd.problems];
  for (const item of file?.resources ?? []) {
    try {
      const ctx = { confdir, globalPrefix: prefix, name: item.name, file: item.file, label: item.label, ...extra };
      const resource = parseResourceObject(item.value, item.origin, item.locator, ctx);
      const line = item.locator.line(['src']);
      const missing = await missingTemplate(resource, `${item.origin}${line === undefined ? '' : `:${line}`}: ${item.label}`);
      if (missing) problems.push(missing);
      else resources.push(resource);
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  const unique = dropDuplicateDests(resources, problems);
  if (unique.length === 0 && problems.length === 0) {
    problems.push(`no template resources: ${confdir}/conf.d ${confd.found ? 'holds no *.toml files' : 'does not exist'}${file ? ' and the config file lists none' : ''}`);
  }
  return {
    backend,
    confdir,
    prefix,
    onetime: s.onetime ?? false,
    watch: s.watch ?? false,
    intervalMs,
    noop: s.noop ?? false,
    syncOnly: s.syncOnly ?? false,
    keepStageFile: s.keepStageFile ?? false,
    logLevel,
    ...(logFormat && { logFormat }),
    resources: unique,
    problems,
  };
}

// Two resources writing one file would fight over it: keep the first, report the others.
function dropDuplicateDests(resources: ResourceConfig[], problems: string[]): ResourceConfig[] {
  const byDest = new Map<string, ResourceConfig>();
  const sets: ResourceConfig[] = [];
  return resources.filter((r) => {
    const first = byDest.get(r.dest);
    // A file set against every set kept so far; another file set also against every single file.
    const overlap = first ? undefined : (r.fileSet ? [...byDest.values()] : sets).find((s) => mayWriteSameFile(s, r) || mayWriteSameFile(r, s));
    if (first) problems.push(`${r.name}: dest: ${r.dest} is already written by ${first.name}; skipped`);
    else if (overlap) problems.push(`${r.name}: dest: ${r.dest} may name the same files as ${overlap.name}'s ${overlap.dest}; skipped`);
    else {
      byDest.set(r.dest, r);
      if (r.fileSet) sets.push(r);
    }
    return !first && !overlap;
  });
}

/** True when some file a file set `s` may write is also `r`'s: its dest, or one of its members' files. */
function mayWriteSameFile(s: ResourceConfig, r: ResourceConfig): boolean {
  const a = s.fileSet;
  if (!a) return false;
  const b = r.fileSet;
  if (!b) {
    if (dirname(r.dest) !== a.dir) return false;
    const name = basename(r.dest);
    return name.length > a.before.length + a.after.length && name.startsWith(a.before) && name.endsWith(a.after);
  }
  // before₁ + m₁ + after₁ = before₂ + m₂ + after₂ has a solution when one before starts the other and one after ends the other.
  const nested = (x: string, y: string, at: 'start' | 'end'): boolean =>
    at === 'start' ? x.startsWith(y) || y.startsWith(x) : x.endsWith(y) || y.endsWith(x);
  return a.dir === b.dir && nested(a.before, b.before, 'start') && nested(a.after, b.after, 'end');
}

function parseInterval(value: string | number, fail: (msg: string) => ConfigError): number {
  const bad = () => fail(`interval: expected seconds like 600 or a duration like "10m", got "${value}"`);
  let ms: number;
  try {
    ms = parseDuration(value, 'interval');
  } catch {
    throw bad();
  }
  if (!(ms > 0)) throw bad();
  return ms;
}

// Layers: each says where its values came from; later layers win field by field.
function merge(layers: SettingsLayer[]): SettingsLayer {
  const values: RenderSettings = {};
  const owner = new Map<keyof RenderSettings, SettingsLayer>();
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.values) as [keyof RenderSettings, unknown][]) {
      if (value === undefined) continue;
      (values as Record<string, unknown>)[key] = value;
      owner.set(key, layer);
    }
  }
  return { values, from: (field) => owner.get(field)?.from(field) ?? 'defaults' };
}

function envLayer(env: NodeJS.ProcessEnv, prefix: 'CONFD_' | 'SIDEKICK_', cwd: string): SettingsLayer {
  const values: Record<string, unknown> = {};
  const names = new Map<keyof RenderSettings, string>();
  for (const spec of LAYERED_SETTINGS) {
    const found = envValue(spec, env, prefix);
    if (found === undefined) continue;
    names.set(spec.field, found.name);
    values[spec.field] = readEnvValue(spec, found.name, found.raw, (p) => resolve(cwd, p));
  }
  return { values: values as RenderSettings, from: (field) => names.get(field) ?? prefix };
}

function flagLayer(opts: RenderOptions, cwd: string): SettingsLayer {
  const values: Record<string, unknown> = {};
  const flags = new Map<keyof RenderSettings, string>();
  for (const spec of LAYERED_SETTINGS) {
    flags.set(spec.field, `--${spec.flag}`);
    const value = (opts as Record<string, unknown>)[optionKey(spec)];
    if (spec.kind === 'path') values[spec.field] = value ? resolve(cwd, value as string) : undefined;
    else if (spec.kind === 'paths') values[spec.field] = (value as string[] | undefined)?.map((f) => resolve(cwd, f));
    else values[spec.field] = value;
  }
  return { values: values as RenderSettings, from: (field) => flags.get(field) ?? `--${field}` };
}

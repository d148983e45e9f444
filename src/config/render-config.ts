// `sidekick render` configuration: confd's flags, CONFD_*/SIDEKICK_* env and a --config file, merged and validated.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { validateInstanceId } from '../registry/record.js';
import { parseDuration } from '../util/duration.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { LOG_FORMAT_HELP, parseLogFormat, type LogFormat } from '../util/log.js';
import { loadConfdDir, missingTemplate } from './confd.js';
import { DEFAULT_ETCD_NODE, etcdConnectOptions } from './etcd-connection.js';
import { loadConfigFile, type Settings, type SettingsLayer } from './file.js';
import { joinPrefix, parseResourceObject, type ResourceContext } from './resource.js';
import type { RenderConfig } from './types.js';
import type { BackendConfig } from '../store/types.js';
import type { ResourceConfig } from '../apply/types.js';

/**
 * The options addRenderOptions declares, as commander returns them: the settings under their flag names
 * (`--node`, `--file` repeat; `--interval` is text) plus the config file. Undefined = not given.
 */
export type RenderOptions = Omit<Settings, 'nodes' | 'files' | 'interval'> & {
  node?: string[];
  file?: string[];
  interval?: string;
  config?: string;
  configFile?: string;
  listen?: string;
  nodeName?: string;
};

/** Defaults, confd's own except the confdir; the help text and docs/render.md quote them. */
export const RENDER_DEFAULTS = {
  backend: 'etcd',
  etcdNode: DEFAULT_ETCD_NODE,
  confdir: '/etc/sidekick',
  intervalSeconds: 600,
  logLevel: 'info',
} as const;

const VALUE_FLAGS = ['backend', 'node', 'confdir', 'config', 'config-file', 'interval', 'prefix', 'log-level', 'client-cert', 'client-key', 'client-ca-keys', 'username', 'password', 'file', 'listen', 'node-name'];
const BOOLEAN_FLAGS = ['onetime', 'watch', 'noop', 'sync-only', 'keep-stage-file'];
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** Declares confd's command line on `sidekick render`; the help text is its command reference in docs/cli.md. */
export function addRenderOptions(cmd: Command): Command {
  cmd
    .option('--backend <name>', `key store: etcd (etcd v3; etcdv3 means the same), file or env (default: ${RENDER_DEFAULTS.backend})`)
    .option('--node <url>', `backend node URL; repeat for each cluster member (default: ${RENDER_DEFAULTS.etcdNode})`, collect)
    .option('--confdir <dir>', `folder holding conf.d/*.toml template resources and templates/ (default: ${RENDER_DEFAULTS.confdir})`)
    .option('--config <file>', 'config file: confd.toml keys in a .toml, or the same settings plus a resources: list in .yaml/.yml')
    .option('--config-file <file>', "alias of --config (confd's name)")
    .option('--onetime', 'render every resource once, then exit')
    .option('--watch', 'watch the backend and render on change, instead of polling every --interval')
    .option('--interval <seconds>', `seconds between polls when neither --watch nor --onetime (default: ${RENDER_DEFAULTS.intervalSeconds})`)
    .option('--noop', 'render and report pending changes without touching destination files')
    .option('--prefix <path>', "key prefix prepended to every resource's prefix (default: /)")
    .option('--sync-only', 'write destination files without running check_cmd or the reload')
    .option('--keep-stage-file', 'keep the staged files next to their destinations')
    .option('--log-level <level>', `trace, debug, info, warn or error (default: ${RENDER_DEFAULTS.logLevel})`)
    .option('--log-format <format>', LOG_FORMAT_HELP)
    .option('--client-cert <file>', 'TLS client certificate for etcd')
    .option('--client-key <file>', 'TLS client key for etcd')
    .option('--client-ca-keys <file>', 'CA certificate(s) that sign the etcd servers')
    .option('--username <name>', 'etcd user name')
    .option('--password <password>', 'etcd password (prefer SIDEKICK_PASSWORD: flags show in ps)')
    .option('--file <path>', 'YAML/JSON key file for the file backend; repeatable', collect)
    .option('--listen <host:port>', 'serve /healthz and /metrics here, e.g. 127.0.0.1:9273 (default: off; not with --onetime)')
    .option('--node-name <name>', "this renderer's name in its drain acknowledgements in etcd; unique per renderer (default: the host name and a random suffix)");
  // Hidden negations, so a flag can turn off what the config file or env turned on (and confd's -watch=false works).
  for (const flag of BOOLEAN_FLAGS) cmd.addOption(new Option(`--no-${flag}`).hideHelp());
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
    if (BOOLEAN_FLAGS.includes(name)) {
      const on = value === undefined ? true : parseBool(value);
      out.push(on === undefined ? arg : on ? `--${name}` : `--no-${name}`);
    } else if (VALUE_FLAGS.includes(name)) {
      out.push(value === undefined ? `--${name}` : `--${name}=${value}`);
      if (value === undefined && i + 1 < argv.length) out.push(argv[++i] as string);
    } else out.push(arg);
  }
  return out;
}

/**
 * `--listen`, else SIDEKICK_LISTEN (else CONFD_LISTEN, like every render option): where /healthz and /metrics are
 * served; undefined = off. Not read from the config file: confd has no such setting.
 */
export function listenAddress(opts: RenderOptions, env: NodeJS.ProcessEnv): string | undefined {
  return opts.listen || env.SIDEKICK_LISTEN || env.CONFD_LISTEN || undefined;
}

/**
 * `--node-name`, else SIDEKICK_NODE_NAME, else the host name and a random suffix: the `<node>` of this renderer's
 * acknowledgement keys (/sidekick/renderers/<node>/<resource>). Several renderers on one host (the host network's
 * containers share its name) must not share a key, so the default is unique per process. Throws ConfigError naming
 * the flag for a name etcd keys cannot carry.
 */
export function rendererName(opts: RenderOptions, env: NodeJS.ProcessEnv): string {
  const name = opts.nodeName || env.SIDEKICK_NODE_NAME || `${hostname().replace(/[^A-Za-z0-9._:-]/g, '-')}-${randomBytes(3).toString('hex')}`;
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
  const configPath = opts.config || opts.configFile || env.SIDEKICK_CONFIG || env.SIDEKICK_CONFIG_FILE || env.CONFD_CONFIG_FILE || undefined;
  const file = configPath ? await loadConfigFile(configPath, cwd) : undefined;
  const layers: SettingsLayer[] = [envLayer(env, 'CONFD_', cwd), envLayer(env, 'SIDEKICK_', cwd), flagLayer(opts, cwd)];
  if (file) layers.unshift(file);
  const { values: s, from } = merge(layers);
  const fail = (field: keyof Settings, message: string) => new ConfigError(`${message} (from ${from(field)})`);

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
  return resources.filter((r) => {
    const first = byDest.get(r.dest);
    if (first) problems.push(`${r.name}: dest: ${r.dest} is already written by ${first.name}; skipped`);
    else byDest.set(r.dest, r);
    return !first;
  });
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
  const values: Settings = {};
  const owner = new Map<keyof Settings, SettingsLayer>();
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.values) as [keyof Settings, unknown][]) {
      if (value === undefined) continue;
      (values as Record<string, unknown>)[key] = value;
      owner.set(key, layer);
    }
  }
  return { values, from: (field) => owner.get(field)?.from(field) ?? 'defaults' };
}

const ENV_FIELDS: [names: string[], field: keyof Settings, kind: 'string' | 'list' | 'bool' | 'path' | 'paths'][] = [
  [['BACKEND'], 'backend', 'string'],
  [['NODE', 'NODES'], 'nodes', 'list'],
  [['CONFDIR'], 'confdir', 'path'],
  [['PREFIX'], 'prefix', 'string'],
  [['INTERVAL'], 'interval', 'string'],
  [['ONETIME'], 'onetime', 'bool'],
  [['WATCH'], 'watch', 'bool'],
  [['NOOP'], 'noop', 'bool'],
  [['SYNC_ONLY'], 'syncOnly', 'bool'],
  [['KEEP_STAGE_FILE'], 'keepStageFile', 'bool'],
  [['LOG_LEVEL'], 'logLevel', 'string'],
  [['LOG_FORMAT'], 'logFormat', 'string'],
  [['CLIENT_CERT'], 'clientCert', 'path'],
  [['CLIENT_KEY'], 'clientKey', 'path'],
  [['CLIENT_CAKEYS', 'CLIENT_CA_KEYS'], 'clientCaKeys', 'path'],
  [['USERNAME'], 'username', 'string'],
  [['PASSWORD'], 'password', 'string'],
  [['FILE', 'FILES'], 'files', 'paths'],
];

function envLayer(env: NodeJS.ProcessEnv, prefix: 'CONFD_' | 'SIDEKICK_', cwd: string): SettingsLayer {
  const values: Record<string, unknown> = {};
  const names = new Map<keyof Settings, string>();
  for (const [suffixes, field, kind] of ENV_FIELDS) {
    const name = suffixes.map((sfx) => prefix + sfx).find((n) => env[n]);
    const raw = name === undefined ? undefined : (env[name] as string);
    if (name === undefined || raw === undefined) continue;
    names.set(field, name);
    const list = () => raw.split(',').map((v) => v.trim()).filter(Boolean);
    if (kind === 'bool') {
      const on = parseBool(raw);
      if (on === undefined) throw new ConfigError(`${name}: expected true or false, got "${raw}"`);
      values[field] = on;
    } else if (kind === 'list') values[field] = list();
    else if (kind === 'paths') values[field] = list().map((p) => resolve(cwd, p));
    else values[field] = kind === 'path' ? resolve(cwd, raw) : raw;
  }
  return { values: values as Settings, from: (field) => names.get(field) ?? prefix };
}

function flagLayer(opts: RenderOptions, cwd: string): SettingsLayer {
  const path = (p?: string) => (p ? resolve(cwd, p) : undefined);
  const values: Settings = {
    backend: opts.backend,
    nodes: opts.node,
    confdir: path(opts.confdir),
    prefix: opts.prefix,
    interval: opts.interval,
    onetime: opts.onetime,
    watch: opts.watch,
    noop: opts.noop,
    syncOnly: opts.syncOnly,
    keepStageFile: opts.keepStageFile,
    logLevel: opts.logLevel,
    logFormat: opts.logFormat,
    clientCert: path(opts.clientCert),
    clientKey: path(opts.clientKey),
    clientCaKeys: path(opts.clientCaKeys),
    username: opts.username,
    password: opts.password,
    files: opts.file?.map((f) => resolve(cwd, f)),
  };
  const flagName = (field: keyof Settings) =>
    ({ nodes: '--node', files: '--file' })[field as string] ?? `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  return { values, from: flagName };
}

function parseBool(text: string): boolean | undefined {
  if (/^(1|true|yes|on)$/i.test(text.trim())) return true;
  if (/^(0|false|no|off)$/i.test(text.trim())) return false;
  return undefined;
}

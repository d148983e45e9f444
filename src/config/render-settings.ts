// The settings of `sidekick render`, one entry each: confd's flags (its single-dash spelling works too), its CONFD_*
// environment and confd.toml keys, and sidekick's SIDEKICK_* names. The options, the environment layer, the confd
// argv rewrite and the config-file schema are derived from this table.
import { DEFAULT_ETCD_NODE } from './etcd-connection.js';
import { ETCD_SETTINGS, LOG_SETTINGS, type SettingKind, type SettingSpec } from './settings-table.js';

/** Defaults, confd's own except the confdir; the help text and docs/render.md quote them. */
export const RENDER_DEFAULTS = {
  backend: 'etcd',
  etcdNode: DEFAULT_ETCD_NODE,
  confdir: '/etc/sidekick',
  intervalSeconds: 600,
  logLevel: 'info',
} as const;

/** SIDEKICK_<name> then CONFD_<name>, for each of `names`: SIDEKICK_* wins (the layers read one prefix each). */
const both = (...names: string[]): string[] => [...names.map((n) => `SIDEKICK_${n}`), ...names.map((n) => `CONFD_${n}`)];

/** Every option of `render`, in help order, keyed as commander returns them. */
export const RENDER_SETTINGS = {
  backend: {
    flag: 'backend',
    value: '<name>',
    help: 'key store: etcd (etcd v3; etcdv3 means the same), file or env',
    defaultHelp: RENDER_DEFAULTS.backend,
    kind: 'string',
    env: both('BACKEND'),
    field: 'backend',
    file: ['backend'],
  },
  node: {
    flag: 'node',
    value: '<url>',
    help: 'backend node URL; repeat for each cluster member',
    defaultHelp: RENDER_DEFAULTS.etcdNode,
    kind: 'list',
    env: both('NODE', 'NODES'),
    field: 'nodes',
    file: ['nodes'],
  },
  confdir: {
    flag: 'confdir',
    value: '<dir>',
    help: 'folder holding conf.d/*.toml template resources and templates/',
    defaultHelp: RENDER_DEFAULTS.confdir,
    kind: 'path',
    env: both('CONFDIR'),
    field: 'confdir',
    file: ['confdir'],
  },
  config: {
    flag: 'config',
    value: '<file>',
    help: 'config file: confd.toml keys in a .toml, or the same settings plus a resources: list in .yaml/.yml',
    kind: 'string',
    env: ['SIDEKICK_CONFIG'],
  },
  configFile: { flag: 'config-file', value: '<file>', help: "alias of --config (confd's name)", kind: 'string', env: ['SIDEKICK_CONFIG_FILE', 'CONFD_CONFIG_FILE'] },
  onetime: { flag: 'onetime', help: 'render every resource once, then exit', kind: 'bool', env: both('ONETIME'), field: 'onetime', file: ['onetime'] },
  watch: {
    flag: 'watch',
    help: 'watch the backend and render on change, instead of polling every --interval',
    kind: 'bool',
    env: both('WATCH'),
    field: 'watch',
    file: ['watch'],
  },
  interval: {
    flag: 'interval',
    value: '<seconds>',
    help: 'seconds between polls when neither --watch nor --onetime',
    defaultHelp: RENDER_DEFAULTS.intervalSeconds,
    kind: 'duration',
    env: both('INTERVAL'),
    field: 'interval',
    file: ['interval'],
  },
  noop: {
    flag: 'noop',
    help: 'render and report pending changes without touching destination files',
    kind: 'bool',
    env: both('NOOP'),
    field: 'noop',
    file: ['noop'],
  },
  prefix: {
    flag: 'prefix',
    value: '<path>',
    help: "key prefix prepended to every resource's prefix",
    defaultHelp: '/',
    kind: 'string',
    env: both('PREFIX'),
    field: 'prefix',
    file: ['prefix'],
  },
  syncOnly: {
    flag: 'sync-only',
    help: 'write destination files without running check_cmd or the reload',
    kind: 'bool',
    env: both('SYNC_ONLY'),
    field: 'syncOnly',
    file: ['sync_only'],
  },
  keepStageFile: {
    flag: 'keep-stage-file',
    help: 'keep the staged files next to their destinations',
    kind: 'bool',
    env: both('KEEP_STAGE_FILE'),
    field: 'keepStageFile',
    file: ['keep_stage_file'],
  },
  logLevel: { ...LOG_SETTINGS.logLevel, defaultHelp: RENDER_DEFAULTS.logLevel, env: both('LOG_LEVEL'), field: 'logLevel', file: ['log_level'] },
  logFormat: { ...LOG_SETTINGS.logFormat, env: both('LOG_FORMAT'), field: 'logFormat', file: ['log_format'] },
  clientCert: { ...ETCD_SETTINGS.clientCert, env: both('CLIENT_CERT'), field: 'clientCert', file: ['client_cert'] },
  clientKey: { ...ETCD_SETTINGS.clientKey, env: both('CLIENT_KEY'), field: 'clientKey', file: ['client_key'] },
  clientCaKeys: { ...ETCD_SETTINGS.clientCaKeys, env: both('CLIENT_CAKEYS', 'CLIENT_CA_KEYS'), field: 'clientCaKeys', file: ['client_cakeys', 'client_ca_keys'] },
  username: { ...ETCD_SETTINGS.username, env: both('USERNAME'), field: 'username', file: ['username'] },
  password: { ...ETCD_SETTINGS.password, env: both('PASSWORD'), field: 'password', file: ['password'] },
  file: {
    flag: 'file',
    value: '<path>',
    help: 'YAML/JSON key file for the file backend; repeatable',
    kind: 'paths',
    env: both('FILE', 'FILES'),
    field: 'files',
    file: ['file'],
  },
  listen: {
    flag: 'listen',
    value: '<host:port>',
    help: 'serve /healthz and /metrics here, e.g. 127.0.0.1:9273',
    defaultHelp: 'off; not with --onetime',
    kind: 'string',
    env: both('LISTEN'),
  },
  nodeName: {
    flag: 'node-name',
    value: '<name>',
    help: "this renderer's name in its drain acknowledgements in etcd; unique per renderer",
    defaultHelp: 'the host name and a random suffix',
    kind: 'string',
    env: ['SIDEKICK_NODE_NAME'],
  },
} as const satisfies Record<string, SettingSpec>;

type Table = typeof RENDER_SETTINGS;
type ValueOf<K extends SettingKind> = K extends 'bool' ? boolean : K extends 'list' | 'paths' ? string[] : K extends 'duration' ? string | number : string;
type FlagValueOf<K extends SettingKind> = K extends 'bool' ? boolean : K extends 'list' | 'paths' ? string[] : string;

/**
 * render's global settings as one source (config file, environment, flags) sets them; undefined = not set there.
 * Paths are absolute; `interval` is seconds (number or numeric string) or a duration like "10m".
 */
export type RenderSettings = { [K in keyof Table as Table[K] extends { field: string } ? Table[K]['field'] : never]?: ValueOf<Table[K]['kind']> };

/** The options of `render` as commander returns them; undefined = not given. */
export type RenderOptions = { [K in keyof Table]?: FlagValueOf<Table[K]['kind']> };

/** The layered settings (those with a field), for the loaders. */
export const LAYERED_SETTINGS: readonly (SettingSpec & { field: keyof RenderSettings })[] = Object.values(RENDER_SETTINGS).filter(
  (s): s is (typeof s) & { field: keyof RenderSettings } => 'field' in s,
);

// --config: confd's confd.toml (its keys, unchanged) or our YAML (the same settings in snake_case plus `resources:`).
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../util/errors.js';
import { isPlainObject, issuesError, issuesFromZod, tomlErrorText, tomlLocator, yamlLocator, type Issue, type Locator } from './diagnostics.js';

/** Global settings one source (file, env, flags) may set; undefined = not set there. Paths are absolute. */
export interface Settings {
  backend?: string;
  nodes?: string[];
  confdir?: string;
  prefix?: string;
  /** Seconds (number or numeric string) or a duration like "10m". */
  interval?: string | number;
  onetime?: boolean;
  watch?: boolean;
  noop?: boolean;
  syncOnly?: boolean;
  keepStageFile?: boolean;
  logLevel?: string;
  logFormat?: string;
  clientCert?: string;
  clientKey?: string;
  clientCaKeys?: string;
  username?: string;
  password?: string;
  files?: string[];
}

/** One source of settings, able to say where a value came from ("--interval", "CONFD_NODE", "sidekick.yaml:3"). */
export interface SettingsLayer {
  values: Settings;
  from(field: keyof Settings): string;
}

/** A YAML `resources:` item, kept raw until confdir and prefix are final (env and flags may still change them). */
export interface ResourceItem {
  value: unknown;
  /** The config file as the operator named it, for messages. */
  origin: string;
  /** Absolute path of the config file. */
  file: string;
  /** "resources[0]": which item, in messages. */
  label: string;
  /** Default resource name: "sidekick.yaml[0]" (an item's `name:` wins). */
  name: string;
  locator: Locator;
}

/** A loaded --config file: its settings layer plus its resources. */
export interface ConfigFile extends SettingsLayer {
  path: string;
  resources: ResourceItem[];
}

// File key (snake_case; confd's kebab keys like log-level are read as log_level) → setting.
const FILE_KEYS = {
  backend: 'backend',
  nodes: 'nodes',
  confdir: 'confdir',
  prefix: 'prefix',
  interval: 'interval',
  onetime: 'onetime',
  watch: 'watch',
  noop: 'noop',
  sync_only: 'syncOnly',
  keep_stage_file: 'keepStageFile',
  log_level: 'logLevel',
  log_format: 'logFormat',
  client_cert: 'clientCert',
  client_key: 'clientKey',
  client_cakeys: 'clientCaKeys',
  client_ca_keys: 'clientCaKeys',
  username: 'username',
  password: 'password',
  file: 'files',
} as const satisfies Record<string, keyof Settings>;

// confd.toml keys that do nothing here (scheme only applies to SRV lookups; basic_auth: we use username/password when set).
const IGNORED = ['scheme', 'basic_auth'];
// confd.toml keys for features sidekick lacks: an error only when set to something, so a copied confd.toml with defaults loads.
const UNSUPPORTED: Record<string, string> = {
  srv_domain: 'DNS SRV discovery; list the etcd URLs in nodes',
  srv_record: 'DNS SRV discovery; list the etcd URLs in nodes',
  secret_keyring: "confd's crypt template functions",
  filter: 'file backend filter; list the files in file',
  client_insecure: 'skipping TLS verification; give client_cakeys',
  table: 'the dynamodb backend',
  separator: 'the redis backend',
  auth_token: 'vault/consul auth',
  auth_type: 'vault auth',
  app_id: 'vault auth',
  user_id: 'vault auth',
  role_id: 'vault auth',
  secret_id: 'vault auth',
  path: 'vault auth',
};

const list = z.union([z.string(), z.array(z.string())]);
const fileSchema = z
  .strictObject({
    backend: z.string(),
    nodes: list,
    confdir: z.string(),
    prefix: z.string(),
    interval: z.union([z.number(), z.string()]),
    onetime: z.boolean(),
    watch: z.boolean(),
    noop: z.boolean(),
    sync_only: z.boolean(),
    keep_stage_file: z.boolean(),
    log_level: z.string(),
    log_format: z.string(),
    client_cert: z.string(),
    client_key: z.string(),
    client_cakeys: z.string(),
    client_ca_keys: z.string(),
    username: z.string(),
    password: z.string(),
    file: list,
    resources: z.array(z.unknown()),
    scheme: z.string(),
    basic_auth: z.boolean(),
  })
  .partial();

/** Reads and parses a --config file; throws ConfigError (file:line) for a missing file or any bad setting. */
export async function loadConfigFile(path: string, cwd = process.cwd()): Promise<ConfigFile> {
  const abs = resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? 'config file not found' : `cannot read config file: ${errorMessage(err)}`, { where: path, cause: err });
  }
  return parseConfigFile(path, text, cwd);
}

/** Parses config file text; `.toml` is confd.toml-style, `.yaml`/`.yml`/`.json` our YAML. Relative paths inside resolve against the file's folder. */
export function parseConfigFile(path: string, text: string, cwd = process.cwd()): ConfigFile {
  const abs = resolve(cwd, path);
  const ext = extname(path).toLowerCase();
  let raw: unknown;
  let locator: Locator;
  let yamlSub: ((base: (string | number)[]) => Locator) | undefined;
  if (ext === '.toml') {
    try {
      raw = parseToml(text);
    } catch (err) {
      if (err instanceof TomlError) throw new ConfigError(`invalid TOML: ${tomlErrorText(err)}`, { where: `${path}:${err.line}:${err.column}`, cause: err });
      throw new ConfigError(`invalid TOML: ${errorMessage(err)}`, { where: path, cause: err });
    }
    locator = tomlLocator(text);
  } else if (ext === '.yaml' || ext === '.yml' || ext === '.json') {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
    const [first] = doc.errors;
    if (first) {
      const pos = first.linePos?.[0] ?? lc.linePos(first.pos[0]);
      const message = (first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      throw new ConfigError(`invalid YAML: ${message}`, { where: `${path}:${pos.line}:${pos.col}`, cause: first });
    }
    raw = doc.toJS() ?? {};
    locator = yamlLocator(doc, lc);
    yamlSub = (base) => yamlLocator(doc, lc, base);
  } else {
    throw new ConfigError(`config file must end in .toml (confd.toml keys) or .yaml/.yml, got "${ext || 'no extension'}"`, { where: path });
  }
  if (!isPlainObject(raw)) throw new ConfigError('expected a mapping of settings at the top level', { where: `${path}:1` });

  // Normalize kebab-case keys (confd's log-level, sync-only) to snake_case, remembering the spelling for line lookups.
  const spelled = new Map<string, string>();
  const obj: Record<string, unknown> = {};
  const issues: Issue[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const norm = key.replace(/-/g, '_');
    if (spelled.has(norm)) issues.push({ path: [key], message: `${key}: set twice (as "${spelled.get(norm)}" too)` });
    spelled.set(norm, key);
    if (norm in UNSUPPORTED) {
      if (value !== '' && value !== false && value !== null) issues.push({ path: [norm], message: `${key}: not supported by sidekick (${UNSUPPORTED[norm]})` });
    } else obj[norm] = value;
  }
  const at: Locator = { line: (p) => locator.line(typeof p[0] === 'string' ? [spelled.get(p[0]) ?? p[0], ...p.slice(1)] : p) };
  const parsed = fileSchema.safeParse(obj);
  if (!parsed.success) issues.push(...issuesFromZod(parsed.error, obj, [...Object.keys(FILE_KEYS), 'resources', ...IGNORED]));
  if (ext === '.toml' && obj.resources !== undefined) {
    issues.push({ path: ['resources'], message: 'resources: only in a YAML config file; put TOML resources in <confdir>/conf.d/' });
  }
  if (issues.length > 0 || !parsed.success) throw issuesError(path, at, issues);

  const data = parsed.data;
  const base = dirname(abs);
  const values: Settings = {};
  for (const [key, field] of Object.entries(FILE_KEYS) as [keyof typeof FILE_KEYS, keyof Settings][]) {
    const value = data[key];
    if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    const asList = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
    if (field === 'files') values.files = asList(value as string | string[]).map((f) => resolve(base, f));
    else if (field === 'nodes') values.nodes = asList(value as string | string[]);
    else if (field === 'confdir' || field === 'clientCert' || field === 'clientKey' || field === 'clientCaKeys') values[field] = resolve(base, value as string);
    else (values as Record<string, unknown>)[field] = value;
  }
  const fieldKey = (field: keyof Settings) => Object.keys(FILE_KEYS).find((k) => FILE_KEYS[k as keyof typeof FILE_KEYS] === field && data[k as keyof typeof data] !== undefined);
  const resources: ResourceItem[] = (data.resources ?? []).map((value, i) => ({
    value,
    origin: path,
    file: abs,
    label: `resources[${i}]`,
    name: `${basename(path)}[${i}]`,
    locator: yamlSub ? yamlSub(['resources', i]) : { line: () => undefined },
  }));
  return {
    path: abs,
    values,
    resources,
    from: (field) => {
      const key = fieldKey(field);
      const line = key === undefined ? undefined : at.line([key]);
      return line === undefined ? path : `${path}:${line}`;
    },
  };
}

// --config: confd's confd.toml (its keys, unchanged) or our YAML (the same settings in snake_case plus `resources:`).
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../util/errors.js';
import { isPlainObject, issuesError, issuesFromZod, tomlErrorText, tomlLocator, yamlLocator, type Issue, type Locator } from './diagnostics.js';
import { yamlModule } from '../util/lazy-modules.js';
import { LAYERED_SETTINGS, type RenderSettings } from './render-settings.js';
import type { SettingKind } from './settings-table.js';

/** One source of settings, able to say where a value came from ("--interval", "CONFD_NODE", "sidekick.yaml:3"). */
export interface SettingsLayer {
  values: RenderSettings;
  from(field: keyof RenderSettings): string;
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

// File key (snake_case; confd's kebab keys like log-level are read as log_level) → setting, from render's table.
const FILE_KEYS: Record<string, keyof RenderSettings> = Object.fromEntries(LAYERED_SETTINGS.flatMap((s) => (s.file ?? []).map((key) => [key, s.field])));
const KIND_OF = new Map<keyof RenderSettings, SettingKind>(LAYERED_SETTINGS.map((s) => [s.field, s.kind]));

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
const KIND_SCHEMA: Record<SettingKind, z.ZodType> = {
  string: z.string(),
  path: z.string(),
  list,
  paths: list,
  repeat: list,
  bool: z.boolean(),
  duration: z.union([z.number(), z.string()]),
};
const fileSchema = z
  .strictObject({
    ...Object.fromEntries(Object.entries(FILE_KEYS).map(([key, field]) => [key, KIND_SCHEMA[KIND_OF.get(field) as SettingKind]])),
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
    const { LineCounter, parseDocument } = yamlModule();
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
  const values: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(FILE_KEYS)) {
    const value = (data as Record<string, unknown>)[key];
    if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    const asList = (v: unknown) => (Array.isArray(v) ? (v as string[]) : [v as string]);
    const kind = KIND_OF.get(field);
    if (kind === 'paths') values[field] = asList(value).map((f) => resolve(base, f));
    else if (kind === 'list') values[field] = asList(value);
    else if (kind === 'path') values[field] = resolve(base, value as string);
    else values[field] = value;
  }
  const fieldKey = (field: keyof RenderSettings) => Object.keys(FILE_KEYS).find((k) => FILE_KEYS[k] === field && (data as Record<string, unknown>)[k] !== undefined);
  const resources: ResourceItem[] = ((data.resources as unknown[] | undefined) ?? []).map((value, i) => ({
    value,
    origin: path,
    file: abs,
    label: `resources[${i}]`,
    name: `${basename(path)}[${i}]`,
    locator: yamlSub ? yamlSub(['resources', i]) : { line: () => undefined },
  }));
  return {
    path: abs,
    values: values as RenderSettings,
    resources,
    from: (field) => {
      const key = fieldKey(field);
      const line = key === undefined ? undefined : at.line([key]);
      return line === undefined ? path : `${path}:${line}`;
    },
  };
}

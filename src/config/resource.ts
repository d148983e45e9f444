// Template resources: confd's [template] TOML read unchanged, and the same fields as YAML items; one schema, file:line errors.
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { isAbsolute, join, posix, relative, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { inside, realInside } from '../util/paths.js';
import { keyPath } from '../util/key-path.js';
import { closest, describe, isPlainObject, issuesError, issuesFromZod, tomlErrorText, tomlLocator, type Issue, type Locator } from './diagnostics.js';
import type { FileSet, ReloadSignal, ResourceConfig, WaitConfig } from '../apply/types.js';
import { substitutePlaceholders } from '../apply/commands.js';

/** The largest uid or gid: 2^32 − 1 is chown's "leave unchanged". */
export const MAX_ID = 2 ** 32 - 2;

/** confd has no timeout, so one hung reload blocks it forever; ours defaults to 30 s. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/** What resolving a resource needs besides its own fields; the loaders fill the optional parts. */
export interface ResourceContext {
  /** Holds templates/: a relative `src` is resolved against `<confdir>/templates`. */
  confdir: string;
  /** confd's --prefix, prepended to the resource's own prefix. */
  globalPrefix: string;
  /** Resource name when the object has no `name` field; defaults to the origin. */
  name?: string;
  /** Absolute path recorded in ResourceConfig.origin; defaults to the origin. */
  file?: string;
  /** Names the resource inside a file holding several, e.g. "resources[2]". */
  label?: string;
  /** Resolves confd's `owner`/`group` names; defaults to reading /etc/passwd and /etc/group. */
  lookupId?: (kind: 'user' | 'group', name: string) => number | undefined;
}

const optString = z.string().optional();
// Fields with several accepted shapes (mode, wait, owner, …) are z.unknown() and checked by hand for better messages.
const resourceSchema = z.strictObject({
  name: z.string().min(1).optional(),
  src: z.string().min(1),
  dest: z.string().min(1),
  keys: z.array(z.string()).min(1),
  prefix: optString,
  mode: z.unknown().optional(),
  owner: z.unknown().optional(),
  group: z.unknown().optional(),
  uid: z.number().int().nonnegative().max(MAX_ID).optional(),
  gid: z.number().int().nonnegative().max(MAX_ID).optional(),
  check_cmd: optString,
  reload_cmd: optString,
  reload_signal: optString,
  pid_file: optString,
  reload_container: optString,
  haproxy_socket: optString,
  command_timeout: z.unknown().optional(),
  wait: z.unknown().optional(),
  min_endpoints: z.number().int().nonnegative().optional(),
});

/** Every field a resource may hold (confd's plus ours): for "did you mean" hints and docs. */
export const RESOURCE_FIELDS: readonly string[] = Object.keys(resourceSchema.shape);

/** Joins confd's global prefix and a resource prefix into one normalized absolute key path ("/" for none). */
export function joinPrefix(...parts: (string | undefined)[]): string {
  return keyPath(...parts.map((p) => p ?? ''));
}

/** Shows a path relative to confdir when it lies inside it ("conf.d/nginx.toml"), as operators read it. */
export function displayPath(path: string, confdir: string): string {
  const rel = relative(confdir, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Parses one confd conf.d TOML file; throws ConfigError with every problem as `file:line: message`. */
export function parseTomlResource(path: string, text: string, ctx: ResourceContext): ResourceConfig {
  const origin = displayPath(path, ctx.confdir);
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) throw new ConfigError(`invalid TOML: ${tomlErrorText(err)}`, { where: `${origin}:${err.line}:${err.column}`, cause: err });
    throw new ConfigError(`invalid TOML: ${errorMessage(err)}`, { where: origin, cause: err });
  }
  const locator = tomlLocator(text, 'template');
  const issues: Issue[] = Object.keys(doc)
    .filter((k) => k !== 'template')
    .map((k) => ({ path: [k], message: outsideTemplate(k, doc[k]) }));
  if (doc.template === undefined) issues.push({ path: [], message: 'missing [template] table' });
  else if (!isPlainObject(doc.template)) issues.push({ path: ['template'], message: 'template: expected a [template] table' });
  if (issues.length > 0) throw issuesError(origin, tomlLocator(text), issues);
  const name = relative(join(ctx.confdir, 'conf.d'), path);
  return parseResourceObject(doc.template, origin, locator, { ...ctx, name: name.startsWith('..') ? path : name, file: path });
}

/** The message for a top-level key of a conf.d file: most often a resource field written above [template]. */
function outsideTemplate(key: string, value: unknown): string {
  if (isPlainObject(value)) return `unknown table "${key}": a template resource file holds one [template] table${closest(key, ['template']) ? ' (did you mean [template]?)' : ''}`;
  const field = RESOURCE_FIELDS.includes(key) ? key : closest(key, RESOURCE_FIELDS);
  if (field === key) return `"${key}" is outside the [template] table: move it below the [template] line`;
  return `unknown field "${key}" outside the [template] table${field ? ` (did you mean "${field}", below the [template] line?)` : ''}`;
}

/** Validates one resource object (a TOML [template] table or a YAML `resources:` item) and resolves it. */
export function parseResourceObject(obj: unknown, origin: string, locator: Locator | undefined, ctx: ResourceContext): ResourceConfig {
  if (!isPlainObject(obj)) throw issuesError(origin, locator, [{ path: [], message: 'expected a table of resource fields' }], ctx.label);
  const parsed = resourceSchema.safeParse(obj);
  if (!parsed.success) throw issuesError(origin, locator, issuesFromZod(parsed.error, obj, RESOURCE_FIELDS), ctx.label);
  const r = parsed.data;
  const issues: Issue[] = [];
  const attempt = <T>(field: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      const message = errorMessage(err);
      const named = /^(\w+):/.exec(message)?.[1];
      issues.push({ path: [named && RESOURCE_FIELDS.includes(named) ? named : field], message });
      return undefined;
    }
  };
  if (!posix.isAbsolute(r.dest)) issues.push({ path: ['dest'], message: `dest: must be an absolute path, got "${r.dest}"` });
  for (const field of ['check_cmd', 'reload_cmd'] as const) {
    if (r[field]?.trim() === '') issues.push({ path: [field], message: `${field}: must not be empty (remove the line to go without one)` });
  }
  if (r.haproxy_socket !== undefined && !posix.isAbsolute(r.haproxy_socket)) {
    issues.push({ path: ['haproxy_socket'], message: `haproxy_socket: must be the absolute path of haproxy's admin stats socket (e.g. "/run/haproxy/admin.sock"), got "${r.haproxy_socket}"` });
  }
  const fileSet = posix.isAbsolute(r.dest) ? attempt('dest', () => parseFileSet(posix.normalize(r.dest))) : undefined;
  if (fileSet) issues.push(...fileSetIssues(fileSet, r));
  const templates = join(ctx.confdir, 'templates');
  const src = attempt('src', () => resolveSrc(templates, r.src));
  const mode = r.mode === undefined ? undefined : attempt('mode', () => parseMode(r.mode, locator?.literal?.(['mode'])));
  const lookup = ctx.lookupId ?? lookupSystemId;
  const uid = attempt('owner', () => ownerId('owner', r.owner, r.uid, (n) => lookup('user', n)));
  const gid = attempt('group', () => ownerId('group', r.group, r.gid, (n) => lookup('group', n)));
  const reloadSignal = attempt('reload_signal', () => parseReloadSignal(r.reload_signal, r.pid_file, r.reload_container, r.reload_cmd));
  const wait = r.wait === undefined ? undefined : attempt('wait', () => parseWait(r.wait));
  const timeout = r.command_timeout === undefined ? DEFAULT_COMMAND_TIMEOUT_MS : attempt('command_timeout', () => parsePositiveDuration(r.command_timeout, 'command_timeout'));
  if (issues.length > 0) throw issuesError(origin, locator, issues, ctx.label);
  const resource: ResourceConfig = {
    name: r.name ?? ctx.name ?? origin,
    origin: ctx.file ?? origin,
    src: src as string,
    dest: posix.normalize(r.dest),
    keys: r.keys.map((k) => joinPrefix(k)),
    prefix: joinPrefix(ctx.globalPrefix, r.prefix),
    commandTimeoutMs: timeout ?? DEFAULT_COMMAND_TIMEOUT_MS,
    minEndpoints: r.min_endpoints ?? 0,
  };
  if (fileSet) resource.fileSet = fileSet;
  if (mode !== undefined) resource.mode = mode;
  if (uid !== undefined) resource.uid = uid;
  if (gid !== undefined) resource.gid = gid;
  if (r.check_cmd) resource.checkCmd = r.check_cmd;
  if (r.reload_cmd) resource.reloadCmd = r.reload_cmd;
  if (r.reload_cmd && r.pid_file !== undefined) resource.pidFile = r.pid_file;
  if (reloadSignal) resource.reloadSignal = reloadSignal;
  if (r.haproxy_socket) resource.haproxySocket = posix.normalize(r.haproxy_socket);
  if (wait) resource.wait = wait;
  return resource;
}

/**
 * Reads a file set's dest: exactly one `{{service}}` or `{{key}}` in its file name (spaces inside the braces
 * allowed). A dest without `{{` or `}}` is a single file (undefined); any other use of them is refused.
 */
export function parseFileSet(dest: string): FileSet | undefined {
  if (!dest.includes('{{') && !dest.includes('}}')) return undefined;
  const slash = dest.lastIndexOf('/');
  const dir = dest.slice(0, slash + 1);
  const name = dest.slice(slash + 1);
  if (dir.includes('{{') || dir.includes('}}')) {
    throw new Error(`dest: a placeholder may stand only in the file name, not in the folder ${JSON.stringify(dir)} (e.g. "/etc/nginx/upstreams/{{service}}.conf")`);
  }
  const found = [...name.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)];
  const first = found[0];
  if (!first) throw new Error(`dest: ${JSON.stringify(name)} has "{{" or "}}" but no placeholder; a file set's file name holds one {{service}} or {{key}}`);
  if (found.length > 1) throw new Error(`dest: ${JSON.stringify(name)} has ${found.length} placeholders; a file set's file name holds exactly one, {{service}} or {{key}}`);
  const member = first[1];
  if (member !== 'service' && member !== 'key') {
    throw new Error(`dest: unknown placeholder ${JSON.stringify(first[0])}; a file set's file name holds {{service}} (one file per service) or {{key}} (one per child of its key)`);
  }
  const before = name.slice(0, first.index);
  const after = name.slice(first.index + first[0].length);
  if (/[{}]/.test(before + after)) throw new Error(`dest: ${JSON.stringify(name)} has braces besides its placeholder; a file set's file name holds one {{service}} or {{key}}`);
  return { member, dir: slash === 0 ? '/' : dest.slice(0, slash), before, after };
}

/** What a file set cannot be combined with. */
function fileSetIssues(fileSet: FileSet, r: z.infer<typeof resourceSchema>): Issue[] {
  const issues: Issue[] = [];
  if (r.haproxy_socket !== undefined) {
    issues.push({ path: ['haproxy_socket'], message: 'haproxy_socket: not with a file set (a dest with {{service}} or {{key}}): the runtime API follows one haproxy file; remove haproxy_socket' });
  }
  if (r.check_cmd !== undefined && substitutePlaceholders(r.check_cmd, '') !== r.check_cmd) {
    issues.push({
      path: ['check_cmd'],
      message: 'check_cmd: a file set has no single staged file for {{.src}}: its check runs once with every file in place, so check the whole configuration (e.g. "nginx -t")',
    });
  }
  if (fileSet.member === 'key' && r.keys.length !== 1) {
    issues.push({ path: ['keys'], message: `keys: a {{key}} file set writes one file per child of its one key; got ${r.keys.length} keys` });
  }
  return issues;
}

/** Reads a file mode: "0644", "644", "0o644", or a number as typed (TOML 644 or 0o644, YAML 0644). */
export function parseMode(value: unknown, literal?: string): number {
  const bad = (): never => {
    throw new Error(`mode: expected an octal string like "0644", got ${describe(value)}`);
  };
  let text: string;
  if (typeof value === 'string') text = value.trim();
  else if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    // 0o644 / 0x1a4 literals carry their value; plain digits (644, YAML's 0644) are the octal digits the operator meant.
    if (literal && /^0[ox]/i.test(literal.trim())) text = `0o${value.toString(8)}`;
    else text = String(value);
  } else return bad();
  const m = /^(?:0o?)?([0-7]{3,4})$/i.exec(text);
  if (!m) return bad();
  const mode = parseInt(m[1] as string, 8);
  // A config file has no use for them, and a set-id bit on a file others can write is a way in.
  if (mode & 0o7000) throw new Error(`mode: set-user-id, set-group-id and sticky bits are refused for a rendered file, got ${describe(value)} (e.g. "0${(mode & 0o777).toString(8)}")`);
  return mode;
}

/**
 * Resolves `src` in the templates folder, as confd joins it there: relative, or absolute inside it. One that
 * climbs out, directly or through a symlink, is refused (a missing file is reported by the loader).
 */
export function resolveSrc(templates: string, src: string): string {
  const path = resolve(templates, src);
  let ok = inside(templates, path);
  try {
    ok &&= realInside(templates, path);
  } catch {
    // not there (yet): nothing to follow
  }
  if (!ok) throw new Error(`src: must name a file inside ${templates}, got "${src}"`);
  return path;
}

/** Reads `wait`: "2s:10s", "2s" (max = 4 × min), a number of seconds, or { min, max }. */
export function parseWait(value: unknown): WaitConfig {
  let min: unknown;
  let max: unknown;
  if (typeof value === 'string' && value.includes(':')) [min, max] = value.split(':', 2).map((s) => s.trim());
  else if (typeof value === 'string' || typeof value === 'number') min = value;
  else if (isPlainObject(value) && Object.keys(value).every((k) => k === 'min' || k === 'max')) ({ min, max } = value);
  else throw new Error(`wait: expected "min:max" like "2s:10s", got ${describe(value)}`);
  const isDuration = (v: unknown): v is string | number => typeof v === 'string' || typeof v === 'number';
  if (!isDuration(min) || !(max === undefined || isDuration(max))) throw new Error(`wait: expected "min:max" like "2s:10s", got ${describe(value)}`);
  const minMs = parseDuration(min, 'wait');
  const maxMs = max === undefined || max === '' ? minMs * 4 : parseDuration(max, 'wait');
  if (minMs > maxMs) throw new Error(`wait: min must be less than max, got ${describe(value)}`);
  return { minMs, maxMs };
}

function parsePositiveDuration(value: unknown, field: string): number {
  if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`${field}: expected a duration like "30s", got ${describe(value)}`);
  const ms = parseDuration(value, field);
  if (ms <= 0) throw new Error(`${field}: must be more than 0, got ${describe(value)}`);
  return ms;
}

/**
 * Reads reload_signal with pid_file or reload_container, and pid_file beside reload_cmd (the server the command
 * reloads, so its reload can be watched); a combination that names two ways to reload, or none, is refused.
 */
function parseReloadSignal(signal?: string, pidFile?: string, container?: string, cmd?: string): ReloadSignal | undefined {
  if (pidFile !== undefined && !posix.isAbsolute(pidFile)) throw new Error(`pid_file: must be an absolute path, got "${pidFile}"`);
  if (signal !== undefined && cmd !== undefined) {
    throw new Error('reload_signal: reload_cmd already reloads; keep one of them (with pid_file, a reload_cmd such as "nginx -s reload" is watched like a signal)');
  }
  if (signal === undefined) {
    if (container !== undefined) throw new Error('reload_container: needs reload_signal too (e.g. reload_signal = "HUP")');
    if (pidFile !== undefined && cmd === undefined) {
      throw new Error('pid_file: names the server a reload reaches; needs reload_signal (e.g. reload_signal = "HUP") or reload_cmd (its reload is then watched)');
    }
    return undefined;
  }
  const name = signal.trim().toUpperCase().replace(/^(SIG)?/, 'SIG');
  if (!(name in constants.signals)) throw new Error(`reload_signal: unknown signal "${signal}" (e.g. "HUP", "USR2")`);
  if ((pidFile === undefined) === (container === undefined)) throw new Error('reload_signal: needs exactly one of pid_file or reload_container');
  const out: ReloadSignal = { signal: name as NodeJS.Signals };
  if (pidFile !== undefined) out.pidFile = pidFile;
  if (container !== undefined) out.container = container;
  return out;
}

// confd documents `owner`/`group` (names) but ignores them; we honour them, numeric ids included. uid/gid win if both given.
function ownerId(field: 'owner' | 'group', value: unknown, id: number | undefined, lookup: (name: string) => number | undefined): number | undefined {
  if (value === undefined || id !== undefined) return id;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return checkId(field, value);
  if (typeof value !== 'string' || value.trim() === '') throw new Error(`${field}: expected a ${field === 'owner' ? 'user' : 'group'} name, got ${describe(value)}`);
  if (/^\d+$/.test(value.trim())) return checkId(field, Number(value.trim()));
  const found = lookup(value.trim());
  if (found === undefined) throw new Error(`${field}: no ${field === 'owner' ? 'user' : 'group'} "${value}" on this host (set ${field === 'owner' ? 'uid' : 'gid'}, or remove it)`);
  return found;
}

function checkId(field: 'owner' | 'group', id: number): number {
  if (id > MAX_ID) throw new Error(`${field}: ${id} is not a valid ${field === 'owner' ? 'uid' : 'gid'} (at most ${MAX_ID})`);
  return id;
}

function lookupSystemId(kind: 'user' | 'group', name: string): number | undefined {
  try {
    const db = readFileSync(kind === 'user' ? '/etc/passwd' : '/etc/group', 'utf8');
    const line = db.split('\n').find((l) => l.split(':')[0] === name);
    const id = line?.split(':')[2];
    return id !== undefined && /^\d+$/.test(id) ? Number(id) : undefined;
  } catch {
    return undefined;
  }
}


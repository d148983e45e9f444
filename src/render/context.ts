// The per-render state helpers read from Handlebars' `options.data`, and the small utilities every
// helper file shares: argument checks, key mapping under the resource prefix, errors with file:line.
import type { ServiceRecord } from '../registry/record.js';
import type { Entry } from '../store/types.js';
import type { KeyView } from '../store/types.js';
import { TemplateError } from '../util/errors.js';
import { keyPath } from '../util/key-path.js';
import type { Logger } from '../util/log.js';
import type { DnsCache, DnsRequest } from './dns.js';
import type { BlockMemo, RunOutput } from './memo.js';
import type { ServiceList } from './helpers-services.js';

/** One list lookup a template made (service, getvs, gets): the `min_endpoints` guard reads these. */
export interface Lookup {
  helper: string;
  arg: string;
  count: number;
}

/** Everything one render needs; carried in `options.data.sidekick` so helpers never close over a store. */
export interface RenderState {
  /** Template path as given to compileTemplate, for error messages. */
  file: string;
  view: KeyView;
  /** Normalized resource prefix: "" for the root, else "/a/b" without a trailing slash. */
  prefix: string;
  log: Logger;
  /** List lookups of this pass, deduplicated by helper+arg. */
  lookups: Lookup[];
  /** False when nobody reads this pass's lookups: reused blocks do not collect theirs. */
  wantLookups: boolean;
  /** Lookups of reused blocks not yet deduplicated into `lookups` (see {@link passLookups}): read only if asked for. */
  lookupsLater: Lookup[][][];
  /** Args of `lookups` per helper, so de-duplication stays O(1) with a thousand services (no key string built). */
  lookupIds: Map<string, Set<string>>;
  /** Value → absolute key it was read from, so `json` can name the key of a bad value. */
  origins: Map<string, string>;
  /** Engine-wide DNS cache (survives renders). */
  dns: DnsCache;
  /** DNS names this pass needed but found no cached answer for. */
  dnsMisses: Map<string, DnsRequest>;
  /**
   * Engine-wide cache of parsed service records by key: a value that did not change is not parsed again
   * (10,000 instances re-parsed per change would dominate a render), and a bad one warns only once.
   */
  records: Map<string, CachedRecord>;
  /** Engine-wide memo of `service` results per folder, reused while the folder's entries are the same strings. */
  serviceDirs: Map<string, { entries: Entry[]; instances: ServiceInstanceData[]; view: KeyView; version: number | undefined }>;
  /** Engine-wide lists of services per root (helpers-services.ts), kept up to date from the view's changes. */
  serviceLists: Map<string, ServiceList>;
  /**
   * This pass's instances per folder: `services` reads every folder to skip empty ones and `service this` reads
   * it again; the view is fixed during a pass, so the second read is one map lookup.
   */
  passDirs: Map<string, ServiceInstanceData[]>;
  /** This pass's absolute roots by `root=` argument (undefined: the default root). */
  passRoots: Map<string | undefined, string>;
  /** The template's kept outputs (incremental rendering); `view` is then its tracking view. */
  memo?: BlockMemo;
  /** Long runs the output holds as placeholders (see each.ts), by number. */
  runs: RunOutput[];
  /** The engine's secret in placeholders: store values cannot spell one. */
  token: string;
  /** False when long runs must stay text in the output (a template calling partials). */
  wholeRuns: boolean;
}

/** What outlives one pass (the engine's caches) plus what a pass is about; the rest starts empty each pass. */
export type RenderStateBase = Pick<RenderState, 'file' | 'view' | 'prefix' | 'log' | 'dns' | 'records' | 'serviceDirs' | 'serviceLists' | 'memo' | 'token' | 'wantLookups' | 'wholeRuns'>;

/** A fresh state for one render pass. */
export function newRenderState(base: RenderStateBase): RenderState {
  return { ...base, lookups: [], lookupsLater: [], runs: [], lookupIds: new Map(), origins: new Map(), dnsMisses: new Map(), passDirs: new Map(), passRoots: new Map() };
}

/** A parsed service record (or why it was refused) for one key, valid while the value is `value`. */
export interface CachedRecord {
  value: string;
  instance?: ServiceInstanceData;
  reason?: string;
}

/** One instance as templates see it: the record plus `address` ("host:port", IPv6 bracketed) and its key. */
export interface ServiceInstanceData extends ServiceRecord {
  address: string;
  key: string;
}

/** The name under which RenderState travels in Handlebars' data frames. */
export const DATA_KEY = 'sidekick';

/** The subset of Handlebars' helper options we use (its bundled typings lack `name` and `loc`). */
export interface HelperOptions {
  name: string;
  hash: Record<string, unknown>;
  data?: Record<string, unknown>;
  loc?: { start: { line: number; column: number }; end: { line: number; column: number } };
  fn?: (context: unknown) => string;
  inverse?: (context: unknown) => string;
}

/** A helper as Handlebars calls it: positional arguments, then the options object. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Handlebars passes arbitrary template values
export type Helper = (...args: any[]) => unknown;

/** Splits Handlebars' call into positional arguments and options. */
export function splitArgs(args: unknown[]): { params: unknown[]; options: HelperOptions } {
  const options = args[args.length - 1] as HelperOptions;
  return { params: args.slice(0, -1), options };
}

/** A TemplateError located at the helper call: `file:line:column: helper: message` (column 1-based). */
export function helperError(options: HelperOptions, message: string, cause?: unknown): TemplateError {
  const state = options.data?.[DATA_KEY] as RenderState | undefined;
  const file = state?.file ?? '<template>';
  const where = options.loc ? `${file}:${options.loc.start.line}:${options.loc.start.column + 1}` : file;
  return new TemplateError(`${options.name}: ${message}`, { where, cause });
}

/** The render state of this call; a helper used outside TemplateEngine.render is a programming error. */
export function stateOf(options: HelperOptions): RenderState {
  const state = options.data?.[DATA_KEY] as RenderState | undefined;
  if (!state) throw helperError(options, 'called outside a sidekick render (no render state in data)');
  return state;
}

/** Describes a value for an error message without printing it (store values may be secrets). */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v;
}

/** A string argument; numbers and booleans are accepted as their text, anything else is an error. */
export function str(options: HelperOptions, v: unknown, what = 'argument'): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v !== null && typeof v === 'object' && 'toHTML' in v) return String(v); // Handlebars.SafeString
  throw helperError(options, `expected a string as ${what}, got ${typeName(v)}`);
}

/** An integer argument (Go `int`): integer numbers or their decimal text. */
export function int(options: HelperOptions, v: unknown, what = 'argument'): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && /^[+-]?\d{1,15}$/.test(v)) return Number(v);
  throw helperError(options, `expected an integer as ${what}, got ${typeof v === 'number' ? String(v) : typeName(v)}`);
}

/** Checks the positional argument count. */
export function arity(options: HelperOptions, params: unknown[], min: number, max = min): void {
  if (params.length < min || params.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw helperError(options, `expected ${want} argument${max === 1 ? '' : 's'}, got ${params.length}`);
  }
}

/** Refuses hash arguments (`name=value`) other than `allowed`, which would otherwise be ignored without a word. */
export function onlyHash(options: HelperOptions, allowed: readonly string[]): void {
  const unknown = Object.keys(options.hash).find((k) => !allowed.includes(k));
  if (unknown === undefined) return;
  const accepted = allowed.length === 0 ? 'it takes none' : `accepted: ${allowed.map((k) => `${k}=`).join(', ')}`;
  throw helperError(options, `unknown option ${unknown}= (${accepted})`);
}

/** A template key made absolute under the prefix; `..` cannot climb above the prefix. */
export function absKey(prefix: string, key: string): string {
  const clean = keyPath(key);
  if (prefix === '') return clean;
  return clean === '/' ? prefix : prefix + clean;
}

/** An absolute store key as the template sees it (prefix removed), as confd does. */
export function relKey(prefix: string, key: string): string {
  if (prefix === '') return key;
  return key.length === prefix.length ? '/' : key.slice(prefix.length);
}

/** Records a list lookup once per helper+arg (the view is fixed during a render, so counts agree). */
export function recordLookup(state: RenderState, helper: string, arg: string, count: number): void {
  // The innermost kept block replays it when reused, whether or not this pass has seen it already.
  const top = state.memo?.top;
  if (top?.reusable) top.lookups.push({ helper, arg, count });
  let args = state.lookupIds.get(helper);
  if (!args) state.lookupIds.set(helper, (args = new Set()));
  if (args.has(arg)) return;
  args.add(arg);
  state.lookups.push({ helper, arg, count });
}

/** The placeholder of run `n` in a render's output (NUL never appears in a template's own text). */
export function runPlaceholder(state: RenderState, n: number): string {
  return `\0${state.token}:${n}\0`;
}

/** Every list lookup of the pass: `lookups` and, deduplicated after them, those collected for later. */
export function passLookups(state: RenderState): Lookup[] {
  for (const chunks of state.lookupsLater) for (const chunk of chunks) for (const l of chunk) recordLookup(state, l.helper, l.arg, l.count);
  state.lookupsLater = [];
  return state.lookups;
}

/** Code-unit string order, like Go's sort.Strings (not locale order, which varies by host). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

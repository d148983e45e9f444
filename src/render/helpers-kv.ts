// confd's key/value functions (memkv semantics) over the render's KeyView: getv, getvs, get, gets,
// ls, lsdir, exists, json, jsonArray. Keys are relative to the resource prefix, as in confd.
import type { Entry } from '../store/types.js';
import { normalizePrefix } from '../util/key-path.js';
import { BadPatternError, globBase, globToRegExp } from './glob.js';
import {
  absKey,
  arity,
  compareStrings,
  helperError,
  recordLookup,
  relKey,
  splitArgs,
  stateOf,
  str,
  type Helper,
  type HelperOptions,
  type RenderState,
} from './context.js';

/** confd's KVPair, with Go's field names and lower-case aliases for Handlebars-style templates. */
export interface KVPair {
  Key: string;
  Value: string;
  key: string;
  value: string;
}

function pair(key: string, value: string): KVPair {
  return { Key: key, Value: value, key, value };
}

/** Entries whose (absolute) key matches a Go path.Match pattern given relative to the prefix. */
function matchAll(state: RenderState, options: HelperOptions, pattern: string): Entry[] {
  const abs = absKey(state.prefix, pattern);
  let re: RegExp;
  try {
    re = globToRegExp(abs);
  } catch (err) {
    if (err instanceof BadPatternError) throw helperError(options, err.message);
    throw err;
  }
  const out = state.view.list(globBase(abs)).filter(([k]) => re.test(k));
  for (const [k, v] of out) state.origins.set(v, k);
  return out;
}

/** Child names directly below `dir`; with `dirsOnly`, only those that have keys below them (lsdir). */
function children(state: RenderState, dir: string, dirsOnly: boolean): string[] {
  const abs = absKey(state.prefix, dir);
  const names = new Set<string>();
  const base = normalizePrefix(abs);
  for (const [k] of state.view.list(abs)) {
    if (k === abs) {
      // memkv's List: a leaf asked for by its own path lists its own base name.
      if (!dirsOnly && abs !== '/') names.add(k.slice(k.lastIndexOf('/') + 1));
      continue;
    }
    const rest = k.slice(base.length + 1).split('/');
    const first = rest[0];
    if (first === undefined || first === '') continue;
    if (!dirsOnly || rest.length > 1) names.add(first);
  }
  return [...names].sort(compareStrings);
}

function parseJson(options: HelperOptions, value: unknown, want: 'object' | 'array'): unknown {
  if (typeof value !== 'string') throw helperError(options, `expected a JSON string, got ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value}`);
  const state = stateOf(options);
  const origin = state.origins.get(value);
  const subject = origin ? `value at ${origin}` : 'value';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    // The parser's own message quotes the value, which may be a secret: keep only the position.
    const pos = /position (\d+)/.exec(err instanceof Error ? err.message : '');
    throw helperError(options, `${subject} is not valid JSON${pos ? ` (at position ${pos[1]})` : ''}`);
  }
  if (parsed === null) return want === 'object' ? {} : []; // Go unmarshals null into an empty map/slice
  const isArray = Array.isArray(parsed);
  if (want === 'array' && !isArray) throw helperError(options, `${subject} is JSON but not an array`);
  if (want === 'object' && (isArray || typeof parsed !== 'object')) {
    throw helperError(options, `${subject} is JSON but not an object${isArray ? ' (use jsonArray for arrays)' : ''}`);
  }
  return parsed;
}

/** The key/value helpers, by confd name. */
export const kvHelpers: Record<string, Helper> = {
  getv(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1, 2);
    const state = stateOf(options);
    const key = str(options, params[0], 'key');
    const abs = absKey(state.prefix, key);
    const value = state.view.get(abs);
    if (value !== undefined) {
      state.origins.set(value, abs);
      return value;
    }
    if (params.length === 2) return str(options, params[1], 'default');
    throw helperError(options, `key ${key} does not exist${abs !== key ? ` (looked up ${abs})` : ''}`);
  },
  getvs(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const state = stateOf(options);
    const pattern = str(options, params[0], 'pattern');
    const values = matchAll(state, options, pattern)
      .map(([, v]) => v)
      .sort(compareStrings);
    recordLookup(state, 'getvs', pattern, values.length);
    return values;
  },
  get(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const state = stateOf(options);
    const key = str(options, params[0], 'key');
    const abs = absKey(state.prefix, key);
    const value = state.view.get(abs);
    if (value === undefined) throw helperError(options, `key ${key} does not exist${abs !== key ? ` (looked up ${abs})` : ''}`);
    state.origins.set(value, abs);
    return pair(relKey(state.prefix, abs), value);
  },
  gets(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const state = stateOf(options);
    const pattern = str(options, params[0], 'pattern');
    // list() is sorted by key already; keys stay sorted once the common prefix is removed.
    const pairs = matchAll(state, options, pattern).map(([k, v]) => pair(relKey(state.prefix, k), v));
    recordLookup(state, 'gets', pattern, pairs.length);
    return pairs;
  },
  exists(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const state = stateOf(options);
    return state.view.get(absKey(state.prefix, str(options, params[0], 'key'))) !== undefined;
  },
  ls(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    return children(stateOf(options), str(options, params[0], 'path'), false);
  },
  lsdir(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    return children(stateOf(options), str(options, params[0], 'path'), true);
  },
  json(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    return parseJson(options, params[0], 'object');
  },
  jsonArray(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    return parseJson(options, params[0], 'array');
  },
};

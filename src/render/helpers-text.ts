// confd's string, list and arithmetic functions with Go's semantics (path.Base, strings.Replace,
// strconv.Atoi, …), so templates ported from confd render the same text.
import { arity, helperError, int, splitArgs, str, typeName, type Helper, type HelperOptions } from './context.js';

const MAX_SEQ = 100_000;

/** Go's path.Clean for the cases path.Dir needs. */
function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/** Go's path.Base: last element, trailing slashes ignored; "" → ".", all slashes → "/". */
export function goBase(p: string): string {
  if (p === '') return '.';
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Go's path.Dir: everything before the last slash, cleaned. */
export function goDir(p: string): string {
  return goClean(p.slice(0, p.lastIndexOf('/') + 1));
}

/** Go's strings.Replace: at most n replacements (n < 0: all); an empty `old` matches between runes. */
export function goReplace(s: string, old: string, repl: string, n: number): string {
  if (old === repl || n === 0) return s;
  if (old === '') {
    const runes = Array.from(s);
    const count = n < 0 || n > runes.length + 1 ? runes.length + 1 : n;
    let out = repl;
    for (let i = 1; i < count; i++) out += (runes[i - 1] as string) + repl;
    return out + runes.slice(count - 1).join('');
  }
  let out = '';
  let start = 0;
  for (let done = 0; n < 0 || done < n; done++) {
    const j = s.indexOf(old, start);
    if (j < 0) break;
    out += s.slice(start, j) + repl;
    start = j + old.length;
  }
  return out + s.slice(start);
}

function list(options: HelperOptions, v: unknown, what = 'argument'): unknown[] {
  if (Array.isArray(v)) return v;
  throw helperError(options, `expected a list as ${what}, got ${typeName(v)}`);
}

/** Stable sort by Go's len (UTF-8 bytes). */
function byLength<T>(items: T[], len: (t: T) => string): T[] {
  return [...items].sort((a, b) => Buffer.byteLength(len(a)) - Buffer.byteLength(len(b)));
}

function unary(fn: (s: string) => unknown): Helper {
  return (...args: unknown[]) => {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    return fn(str(options, params[0]));
  };
}

function arith(fn: (a: number, b: number, options: HelperOptions) => number): Helper {
  return (...args: unknown[]) => {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    return fn(int(options, params[0], 'first argument'), int(options, params[1], 'second argument'), options);
  };
}

/** The string, list and arithmetic helpers, by confd name. */
export const textHelpers: Record<string, Helper> = {
  base: unary(goBase),
  dir: unary(goDir),
  toUpper: unary((s) => s.toUpperCase()),
  toLower: unary((s) => s.toLowerCase()),
  base64Encode: unary((s) => Buffer.from(s, 'utf8').toString('base64')),
  base64Decode(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const s = str(options, params[0]);
    // Go's StdEncoding is strict; Buffer.from(…, 'base64') silently skips garbage.
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) {
      throw helperError(options, 'argument is not valid standard base64');
    }
    return Buffer.from(s, 'base64').toString('utf8');
  },
  split(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    const s = str(options, params[0], 'string');
    const sep = str(options, params[1], 'separator');
    return sep === '' ? Array.from(s) : s.split(sep);
  },
  join(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    const items = list(options, params[0], 'first argument');
    const sep = str(options, params[1], 'separator');
    return items.map((v, i) => str(options, v, `item ${i}`)).join(sep);
  },
  contains(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    return str(options, params[0], 'string').includes(str(options, params[1], 'substring'));
  },
  replace(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 4);
    const [s, old, repl] = [0, 1, 2].map((i) => str(options, params[i], `argument ${i + 1}`)) as [string, string, string];
    return goReplace(s, old, repl, int(options, params[3], 'count'));
  },
  trimSuffix(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    const s = str(options, params[0], 'string');
    const suffix = str(options, params[1], 'suffix');
    return suffix !== '' && s.endsWith(suffix) ? s.slice(0, -suffix.length) : s;
  },
  map(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    if (params.length % 2 !== 0) throw helperError(options, 'invalid map call: expected key/value pairs');
    const entries: Array<[string, unknown]> = [];
    for (let i = 0; i < params.length; i += 2) {
      if (typeof params[i] !== 'string') throw helperError(options, 'map keys must be strings');
      entries.push([params[i] as string, params[i + 1]]);
    }
    // Hash arguments (`map name="web"`) are the Handlebars way to write the same; fromEntries keeps
    // a "__proto__" key an ordinary property.
    return Object.fromEntries([...entries, ...Object.entries(options.hash)]);
  },
  parseBool(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const s = str(options, params[0]);
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
    throw helperError(options, `parsing ${JSON.stringify(s)}: invalid syntax`);
  },
  atoi(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const s = str(options, params[0]);
    const n = /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n)) throw helperError(options, `parsing ${JSON.stringify(s)}: invalid syntax or out of range`);
    return n;
  },
  reverse(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    return Array.isArray(params[0]) ? [...params[0]].reverse() : params[0];
  },
  sortByLength(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const items = list(options, params[0]).map((v, i) => str(options, v, `item ${i}`));
    return byLength(items, (s) => s);
  },
  sortKVByLength(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const items = list(options, params[0]);
    const keyOf = (kv: unknown): string => {
      const k = (kv as { Key?: unknown } | null)?.Key;
      if (typeof k !== 'string') throw helperError(options, 'expected a list of key/value pairs (from gets)');
      return k;
    };
    items.forEach(keyOf);
    return byLength(items, keyOf);
  },
  seq(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    const first = int(options, params[0], 'first');
    const last = int(options, params[1], 'last');
    if (last - first + 1 > MAX_SEQ) throw helperError(options, `more than ${MAX_SEQ} numbers requested`);
    const out: number[] = [];
    for (let i = first; i <= last; i++) out.push(i);
    return out;
  },
  add: arith((a, b) => a + b),
  sub: arith((a, b) => a - b),
  mul: arith((a, b) => a * b),
  div: arith((a, b, options) => {
    if (b === 0) throw helperError(options, 'integer divide by zero');
    return Math.trunc(a / b);
  }),
  mod: arith((a, b, options) => {
    if (b === 0) throw helperError(options, 'integer divide by zero');
    return a % b;
  }),
};


// Go text/template built-ins that confd templates lean on (eq, ne, lt, le, gt, ge, and, or, not,
// len, index, printf), so a template only needs its syntax rewritten when moving from confd.
import { arity, helperError, splitArgs, typeName, type Helper, type HelperOptions } from './context.js';

/** Go's truth: false, 0, "", nil and empty lists/maps are false. */
export function goTruth(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '' || Number.isNaN(v)) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.keys(v).length > 0;
  return true;
}

/** Formats a value like Go's %v: lists as `[a b]`, maps as `map[k:v]` with sorted keys, nil as `<nil>`. */
export function goFormat(v: unknown): string {
  if (v === undefined || v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(goFormat).join(' ')}]`;
  if (v instanceof Date) return v.toString();
  if (typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goFormat((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  }
  return String(v);
}

function comparable(options: HelperOptions, a: unknown, b: unknown): void {
  if (a === undefined || a === null || b === undefined || b === null) return;
  if (typeof a === 'object' || typeof b === 'object') throw helperError(options, 'non-comparable type (list or map)');
  if (typeof a !== typeof b) throw helperError(options, `incompatible types for comparison (${typeof a} and ${typeof b})`);
}

function ordered(options: HelperOptions, a: unknown, b: unknown): [number | string, number | string] {
  if ((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string')) return [a, b];
  throw helperError(options, `incompatible types for comparison (${typeName(a)} and ${typeName(b)})`);
}

function compare(test: (a: number | string, b: number | string) => boolean): Helper {
  return (...args: unknown[]) => {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    const [a, b] = ordered(options, params[0], params[1]);
    return test(a, b);
  };
}

function pad(s: string, width: number, left: boolean, zero: boolean): string {
  if (s.length >= width) return s;
  if (left) return s.padEnd(width, ' ');
  if (zero && /^-?\d+$/.test(s)) return s.startsWith('-') ? `-${s.slice(1).padStart(width - 1, '0')}` : s.padStart(width, '0');
  return s.padStart(width, ' ');
}

/** A small printf: %s %v %d %q and %%, with width and the `-`/`0` flags; Go's %!verb(…) markers on misuse. */
export function goSprintf(format: string, args: unknown[]): string {
  let next = 0;
  const out = format.replace(/%([-0]*)(\d*)([a-zA-Z%])/g, (_whole: string, flags: string, width: string, verb: string) => {
    if (verb === '%') return '%';
    if (next >= args.length) return `%!${verb}(MISSING)`;
    const v = args[next++];
    let s: string;
    if (verb === 's' || verb === 'v') s = goFormat(v);
    else if (verb === 'q') s = JSON.stringify(goFormat(v));
    else if (verb === 'd') {
      if (typeof v === 'number' && Number.isInteger(v)) s = String(v);
      else if (typeof v === 'string' && /^[+-]?\d+$/.test(v)) s = String(Number(v));
      else return `%!d(${typeName(v)}=${goFormat(v)})`;
    } else return `%!${verb}(${typeName(v)}=${goFormat(v)})`;
    return pad(s, width === '' ? 0 : Number(width), flags.includes('-'), flags.includes('0'));
  });
  const extra = args.slice(next);
  return extra.length === 0 ? out : `${out}%!(EXTRA ${extra.map((v) => `${typeName(v)}=${goFormat(v)}`).join(', ')})`;
}

/** The Go built-ins, by Go name. */
export const goHelpers: Record<string, Helper> = {
  eq(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 2, Infinity);
    const [first, ...rest] = params;
    return rest.some((other) => {
      comparable(options, first, other);
      return first === other;
    });
  },
  ne(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    comparable(options, params[0], params[1]);
    return params[0] !== params[1];
  },
  lt: compare((a, b) => a < b),
  le: compare((a, b) => a <= b),
  gt: compare((a, b) => a > b),
  ge: compare((a, b) => a >= b),
  and(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1, Infinity);
    return params.find((v) => !goTruth(v)) ?? params[params.length - 1];
  },
  or(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1, Infinity);
    return params.find((v) => goTruth(v)) ?? params[params.length - 1];
  },
  /** sprig's `default FALLBACK VALUE`: VALUE unless it is missing or empty; the way to use a field strict lookups refuse. */
  default(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    return goTruth(params[1]) ? params[1] : params[0];
  },
  not(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    return !goTruth(params[0]);
  },
  len(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const v = params[0];
    if (typeof v === 'string') return Buffer.byteLength(v); // Go's len counts bytes
    if (Array.isArray(v)) return v.length;
    if (v !== null && typeof v === 'object') return Object.keys(v).length;
    throw helperError(options, `len of ${typeName(v)}`);
  },
  index(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1, Infinity);
    let item: unknown = params[0];
    for (const idx of params.slice(1)) {
      if (Array.isArray(item) || typeof item === 'string') {
        const seq = typeof item === 'string' ? [...Buffer.from(item)] : item; // Go indexes strings by byte
        const n = typeof idx === 'number' ? idx : typeof idx === 'string' && /^\d+$/.test(idx) ? Number(idx) : NaN;
        if (!Number.isInteger(n) || n < 0 || n >= seq.length) throw helperError(options, `index out of range: ${String(idx)}`);
        item = seq[n];
      } else if (item !== null && typeof item === 'object') {
        const key = String(idx);
        item = Object.prototype.hasOwnProperty.call(item, key) ? (item as Record<string, unknown>)[key] : undefined;
      } else {
        throw helperError(options, `can't index item of type ${typeName(item)}`);
      }
    }
    return item;
  },
  printf(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1, Infinity);
    if (typeof params[0] !== 'string') throw helperError(options, `expected a format string, got ${typeName(params[0])}`);
    return goSprintf(params[0], params.slice(1));
  },
};

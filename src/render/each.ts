// `each` over arrays without Handlebars' per-item garbage. The built-in concatenates every item's output onto
// one growing string (a rope of tens of thousands of pieces that every young-generation GC has to copy while
// the render runs) and allocates block-param arrays and a context-path string per item even when the template
// uses neither. At 10,000 instances that garbage is about 7 MB per render and half its time in GC. This one
// joins the items' outputs once and builds block params only for `as |item i|`; anything but a non-empty
// array (objects, Maps, iterables, functions, the `{{else}}` branch) goes to the built-in unchanged, except an
// object made by {@link orderedObject}, whose keys are visited in the order it was given.
import type HandlebarsNS from 'handlebars';

/** Where an {@link orderedObject} keeps its key order (not enumerable: `len`, `index` and printing ignore it). */
const KEY_ORDER = Symbol('sidekick.keyOrder');

/**
 * A plain object whose `{{#each}}` visits the keys in the order of `entries`. A plain object's own order puts
 * integer-like keys first ("2" before "10" before "a"), whatever order they were added in.
 */
export function orderedObject<T>(entries: Array<[string, T]>): Record<string, T> {
  // fromEntries defines each key as an own property, so a key such as "__proto__" is data like any other.
  const obj = Object.fromEntries(entries) as Record<string, T>;
  Object.defineProperty(obj, KEY_ORDER, { value: entries.map(([k]) => k) });
  return obj;
}

/** The key order of an {@link orderedObject}, or undefined for any other value. */
function keyOrder(context: unknown): string[] | undefined {
  if (context === null || typeof context !== 'object') return undefined;
  return (context as { [KEY_ORDER]?: string[] })[KEY_ORDER];
}

/** The slice of Handlebars' block-helper options `each` uses (its typings lack the program's blockParams). */
interface EachOptions {
  fn?: ((context: unknown, options: { data?: unknown; blockParams?: unknown[] }) => string) & { blockParams?: number };
  data?: Record<string, unknown>;
}

/** Items' data frame, as the built-in sets it (`key` is the index of an array item, the key of an object's). */
interface ItemFrame {
  key: number | string;
  index: number;
  first: boolean;
  last: boolean;
}

/** Wraps the environment's built-in `each` with the array fast path; same output, same @index/@first/@last/@key. */
export function fastEach(hb: typeof HandlebarsNS): HandlebarsNS.HelperDelegate {
  const builtin = hb.helpers.each as HandlebarsNS.HelperDelegate;
  return function each(this: unknown, context: unknown, options: EachOptions): unknown {
    const fn = options?.fn;
    const keys = keyOrder(context);
    const items = keys ?? context;
    // `trackIds` (contextPath) is a compile option sidekick never sets; the built-in handles everything else.
    if (!Array.isArray(items) || items.length === 0 || !fn || (options.data && 'contextPath' in options.data)) {
      return builtin.call(this, context, options as HandlebarsNS.HelperOptions);
    }
    if (keys) {
      const obj = context as Record<string, unknown>;
      return eachPosition(hb, keys.length, fn, options, (i) => keys[i], (key) => obj[key]);
    }
    // A hole is skipped, as the built-in does.
    return eachPosition(hb, items.length, fn, options, (i) => (i in items ? i : undefined), (i) => items[i as number]);
  };
}

/**
 * Runs the block for positions 0…count-1 and joins the outputs once. `keyAt` gives a position's key (undefined:
 * skip it), `valueOf` the key's value; two functions rather than a pair per item, which would be garbage.
 */
function eachPosition<K extends number | string>(
  hb: typeof HandlebarsNS,
  count: number,
  fn: NonNullable<EachOptions['fn']>,
  options: EachOptions,
  keyAt: (i: number) => K | undefined,
  valueOf: (key: K) => unknown,
): string {
  const data = options.data ? (hb.createFrame(options.data) as ItemFrame & Record<string, unknown>) : undefined;
  const withParams = (fn.blockParams ?? 0) > 0;
  const call: { data?: unknown; blockParams?: unknown[] } = { data };
  const last = count - 1;
  const parts: string[] = [];
  for (let i = 0; i <= last; i++) {
    const key = keyAt(i);
    if (key === undefined) continue;
    const value = valueOf(key);
    if (data) {
      data.key = key;
      data.index = i;
      data.first = i === 0;
      data.last = i === last;
    }
    call.blockParams = withParams ? [value, key] : undefined;
    parts.push(fn(value, call));
  }
  return parts.join('');
}

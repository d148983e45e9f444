// `each` over arrays without Handlebars' per-item garbage. The built-in concatenates every item's output onto
// one growing string (a rope of tens of thousands of pieces that every young-generation GC has to copy while
// the render runs) and allocates block-param arrays and a context-path string per item even when the template
// uses neither. At 10,000 instances that garbage is about 7 MB per render and half its time in GC. This one
// joins the items' outputs once and builds block params only for `as |item i|`; anything but a non-empty
// array (objects, Maps, iterables, functions, the `{{else}}` branch) goes to the built-in unchanged, except an
// object made by {@link orderedObject}, whose keys are visited in the order it was given.
import type HandlebarsNS from 'handlebars';
import { DATA_KEY, recordLookup, runPlaceholder, type Lookup, type RenderState } from './context.js';
import { BLOCK, positionKey, runOutput, valueKey, type BlockMemo, type Frame, type LastRun } from './memo.js';

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
  /** `program`: the block's index in its template (Handlebars' runtime sets it on every block function). */
  fn?: ((context: unknown, options: { data?: unknown; blockParams?: unknown[] }) => string) & { blockParams?: number; program?: number };
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
    const memo = memoFor(this, options);
    if (keys) {
      const obj = context as Record<string, unknown>;
      return eachPosition(hb, keys.length, fn, options, (i) => keys[i], (key) => obj[key], memo);
    }
    // A hole is skipped, as the built-in does.
    return eachPosition(hb, items.length, fn, options, (i) => (i in items ? i : undefined), (i) => items[i as number], memo && { ...memo, items });
  };
}

/** Where this block's iterations are kept: the render's memo, when `this` is the value of the innermost kept block. */
function memoFor(self: unknown, options: EachOptions): Kept | undefined {
  const state = options.data?.[DATA_KEY] as RenderState | undefined;
  const memo = state?.memo;
  const parent = memo?.top;
  const program = options.fn?.program;
  if (!state || !memo || !parent || typeof program !== 'number' || self !== parent.item) return undefined;
  return { state, memo, parent, program, items: undefined };
}

/** A block whose iterations are kept, and where. */
interface Kept {
  state: RenderState;
  memo: BlockMemo;
  parent: Frame;
  program: number;
  /** The array iterated (not an ordered object's keys): a run over the same array again can be reused as a whole. */
  items: readonly unknown[] | undefined;
}

/** Set while a nested block copies its data frame, so the copy does not count as reading the position. */
let copyingFrame = false;

/** A data frame whose position fields call `read` when a template reads them. */
function trackedFrame(hb: typeof HandlebarsNS, parent: Record<string, unknown>, read: () => void): ItemFrame & Record<string, unknown> {
  const frame = createFrame(hb, parent);
  const values: Record<string, unknown> = {};
  for (const name of ['key', 'index', 'first', 'last']) {
    Object.defineProperty(frame, name, {
      enumerable: true,
      configurable: true,
      get() {
        if (!copyingFrame) read();
        return values[name];
      },
      set(v: unknown) {
        values[name] = v;
      },
    });
  }
  return frame as ItemFrame & Record<string, unknown>;
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
  kept?: Kept,
): string {
  if (kept && options.data) return eachKept(hb, count, fn, options.data, keyAt, valueOf, kept);
  const data = options.data ? (createFrame(hb, options.data) as ItemFrame & Record<string, unknown>) : undefined;
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

/** A data frame copied from `parent` without counting the copy as a read of its position fields. */
function createFrame(hb: typeof HandlebarsNS, parent: Record<string, unknown>): Record<string, unknown> {
  copyingFrame = true;
  try {
    return hb.createFrame(parent) as Record<string, unknown>;
  } finally {
    copyingFrame = false;
  }
}

/**
 * As {@link eachPosition}, reusing kept outputs (memo.ts): when the block runs over the very array it ran over last
 * time, only the items whose reads changed are rendered again; otherwise each plain-valued item's kept output is
 * reused while nothing it read has changed. An item that is not a plain value runs as usual, its reads going to the
 * enclosing block.
 */
function eachKept<K extends number | string>(
  hb: typeof HandlebarsNS,
  count: number,
  fn: NonNullable<EachOptions['fn']>,
  parentData: Record<string, unknown>,
  keyAt: (i: number) => K | undefined,
  valueOf: (key: K) => unknown,
  { state, memo, parent, program, items }: Kept,
): string {
  /** The frame of the item being rendered: what reading this block's position concerns. */
  let current: Frame | undefined;
  // Items that are not plain values have no frames: their positions follow from the list, read by the block around.
  const data =
    items && !items.some(plain)
      ? (createFrame(hb, parentData) as ItemFrame & Record<string, unknown>)
      : trackedFrame(hb, parentData, () => current && memo.positionRead(current));
  const blockParams = fn.blockParams ?? 0;
  const call: { data?: unknown; blockParams?: unknown[] } = { data };
  const siteName = `${parent.key}\0${program}`;
  const site = memo.site(siteName);
  const last = count - 1;
  const replay = (l: Lookup): void => recordLookup(state, l.helper, l.arg, l.count);

  /** The output of position i: kept, or rendered in a frame of its own. */
  const item = (i: number, key: K, value: unknown): string => {
    data.key = key;
    data.index = i;
    data.first = i === 0;
    data.last = i === last;
    call.blockParams = blockParams > 0 ? [value, key] : undefined;
    if (!plain(value)) return fn(value, call);
    const reused = memo.reuse(site, value, () => positionKey(key, i, last));
    if (reused) {
      reused.lookups.forEach(replay);
      return reused.text;
    }
    const frame = memo.open(`${siteName}\0${valueKey(value) as string}`, value);
    // `as |item i|` hands the block, and every block inside it, its position.
    if (blockParams > 1) frame.positional = frame.sealed = true;
    current = frame;
    const text = flat(fn(value, call)); // a throw fails the render; the memo drops its open frames
    current = undefined;
    memo.close(site, value, frame, text, frame.positional ? positionKey(key, i, last) : undefined);
    return text;
  };

  const again = items ? memo.dirtySince(site, items) : undefined;
  if (items && again) {
    const { last: run, dirty } = again;
    for (const i of dirty) run.parts[i] = item(i, i as K, items[i]);
    memo.endAgain(site, run, dirty, again.mark, replay, state.wantLookups ? (chunks) => state.lookupsLater.push(chunks) : undefined);
    return output(state, memo, run);
  }
  const parts: string[] = [];
  let allPlain = true;
  for (let i = 0; i <= last; i++) {
    const key = keyAt(i);
    if (key === undefined) {
      allPlain = false; // a hole: positions and parts no longer line up
      continue;
    }
    const value = valueOf(key);
    allPlain &&= plain(value);
    parts.push(item(i, key, value));
  }
  const run = items && memo.endRun(site, items, parts, allPlain ? memo.view.target.changeMark : undefined);
  return run ? output(state, memo, run) : parts.join('');
}

/** Runs of at least this many items straight in the template's output go to the file as bytes, never joined. */
const WHOLE_RUN = BLOCK;

/**
 * What a kept run gives the template: its text, or, for a long run straight in the output (no kept block around
 * it), a placeholder the engine replaces with the run's parts (engine.ts), so a change to one item re-encodes one
 * block of the file instead of joining and encoding all of it.
 */
function output(state: RenderState, memo: BlockMemo, run: LastRun): string {
  if (!state.wholeRuns || memo.view.frames.length !== 1 || run.parts.length < WHOLE_RUN) return (run.text ??= run.parts.join(''));
  // The output holds a placeholder: the render as a whole is not kept (its reads are this run's, kept per item).
  memo.untracked();
  state.runs.push(runOutput(run));
  return runPlaceholder(state, state.runs.length - 1);
}

/** A value an iteration can be kept under: its identity is its value. */
function plain(value: unknown): boolean {
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean' || value === null || value === undefined;
}

/**
 * The same text as one flat string. A block's output is a rope of every piece it concatenated; kept, it would be
 * walked piece by piece again by every join that reuses it.
 */
function flat(text: string): string {
  // Reading a character makes V8 flatten the string in place (String::Flatten).
  if (text.length > 0) text.charCodeAt(0);
  return text;
}

// Incremental rendering: the output of a whole render and of each `{{#each}}` iteration over plain values
// (`{{#each (services)}}`, `{{#each (getvs …)}}`) is kept with the version of every path of the key space it
// read. The next render reuses an output whose paths have not changed since, instead of running the block
// again, so a change to one service costs the work of that service's part of the template plus a version
// check per reused part. Output stays byte-identical to a full render:
// - every read of the key space goes through a {@link TrackingView} that notes the path in the open frames;
// - a helper whose answer does not come from the key space (time, environment, files, DNS) marks every open
//   frame as not reusable;
// - an iteration that reads its position (`@index`, `@first`, `@last`, `@key`) is reused only at the same one;
// - a block is cached only where its context is the value it iterates, inside a cached frame, so everything
//   it can see through `../` or block parameters is part of its key.
import type { Entry, KeyView } from '../store/types.js';
import { normalizePrefix, pathAndAbove } from '../util/key-path.js';
import type { Lookup } from './context.js';

/** Helpers whose answer does not come from the key space: a block calling one is never reused. */
export const UNTRACKED_HELPERS: readonly string[] = ['getenv', 'datetime', 'fileExists', 'lookupIP', 'lookupIPV4', 'lookupIPV6', 'lookupSRV', 'log'];

/** One block being rendered: what it read and recorded so far. */
export interface Frame {
  /** The memo key of this block (parent frame's key + the iterated value); children extend it. */
  readonly key: string;
  /** The context the block renders with: a nested `each` is cached only when its `this` is this value. */
  readonly item: unknown;
  /** Path → its version when read. */
  readonly deps: Map<string, number>;
  /** List lookups made inside the block, replayed when it is reused (`min_endpoints`). */
  readonly lookups: Lookup[];
  /** False once the block called an untracked helper: neither it nor the blocks around it are kept. */
  reusable: boolean;
  /** False once the block read the position of a block around it: it is not kept (the blocks around it may be). */
  keep: boolean;
  /** The block hands its position to the blocks inside it (`as |item i|`): none of them is kept. */
  sealed: boolean;
  /** True once the block read its position (`@index` …): then reusable only at the same position. */
  positional: boolean;
}

/** A kept output. */
interface Kept {
  text: string;
  /** Paths and versions, flat: [path, version, path, version, …]. */
  deps: (string | number)[];
  lookups: Lookup[];
  /** Set when the block read its position: the position it was rendered at (see {@link positionKey}). */
  position: string | undefined;
  /** The render that last used it (stale ones are dropped). */
  used: number;
}

/** A block's position as a memo compares it. */
export function positionKey(key: number | string, index: number, last: number): string {
  return `${typeof key === 'number' ? 'n' : 's'}${key}:${index}:${last}`;
}

/** The last complete run of a block over an array, reused as a whole when the same array comes back. */
export interface LastRun {
  items: readonly unknown[];
  /** The view's change mark when it was current. */
  mark: number;
  parts: string[];
  /** The parts joined, once something asked for it (a run that went into the output as a whole is never joined). */
  text: string | undefined;
  /** The parts as bytes, {@link BLOCK} parts a block; a re-rendered item's block is encoded again. */
  blocks: (Buffer | undefined)[];
  /** Normalized path → positions of the items that read it. */
  byPath: Map<string, number[]>;
  /** Positions whose output is not kept (an untracked helper): rendered every time. */
  always: number[];
  /** Every item's reads, counted; past MAX_DEPS the block around it is not kept. */
  deps: number;
}

/** Where one block's kept outputs live (per parent block and program): by iterated value, and its last run. */
export class Site {
  readonly entries = new Map<unknown, Kept>();
  last: LastRun | undefined;
  /** The render that last reused `last` (its entries then count as used). */
  lastUsed = 0;
}

/** Parts per encoded block of a run's output (about 16 KiB for an nginx upstream of ten servers per part). */
export const BLOCK = 64;

/** What a run put into the output: its bytes, in blocks; fixed (the next render changes the run, not this). */
export interface RunOutput {
  blocks: readonly Buffer[];
}

/** A snapshot of a run's output, encoding the blocks that changed since the last one. */
export function runOutput(run: LastRun): RunOutput {
  const { parts, blocks } = run;
  const count = Math.ceil(parts.length / BLOCK);
  blocks.length = count;
  for (let b = 0; b < count; b++) blocks[b] ??= Buffer.from(parts.slice(b * BLOCK, (b + 1) * BLOCK).join(''), 'utf8');
  return { blocks: blocks.slice() as Buffer[] };
}

/**
 * A block that read more paths than this is not kept (a whole config over every service): checking its reads would
 * cost about what rendering it costs, and its parts are kept on their own.
 */
export const MAX_DEPS = 256;

/**
 * A view that forwards to the key space and notes each path read in the innermost open frame. One per template and
 * key space, so helpers' own caches keyed by view identity keep working across renders.
 */
export class TrackingView implements KeyView {
  /** The open frames of the render in progress, innermost last. */
  frames: Frame[] = [];

  constructor(readonly target: KeyView & { version(prefix: string): number }) {
    const { children } = target;
    if (children) {
      this.children = (prefix) => {
        this.note(prefix);
        return children.call(target, prefix);
      };
    }
  }

  get size(): number {
    return this.target.size;
  }

  /** Notes `path` as read by the innermost frame. */
  note(path: string): void {
    const top = this.frames[this.frames.length - 1];
    if (!top?.reusable || top.deps.has(path)) return;
    top.deps.set(path, this.target.version(path));
    if (top.deps.size > MAX_DEPS) dropDeps(top);
  }

  get(key: string): string | undefined {
    this.note(key);
    return this.target.get(key);
  }

  list(prefix: string): Entry[] {
    this.note(prefix);
    return this.target.list(prefix);
  }

  version(prefix: string): number {
    this.note(prefix);
    return this.target.version(prefix);
  }

  /** Present when the key space has its own index of names (the mirror); helpers list the folder otherwise. */
  readonly children?: (prefix: string) => string[];
}

/** Notes item i's reads in the run's index by path (an item without a kept output is rendered every time). */
function indexItem(run: LastRun, i: number, entry: Kept | undefined): void {
  if (!entry) {
    run.always.push(i);
    return;
  }
  const { deps } = entry;
  run.deps += deps.length / 2;
  for (let d = 0; d < deps.length; d += 2) {
    const path = normalizePrefix(deps[d] as string);
    const at = run.byPath.get(path);
    if (!at) run.byPath.set(path, [i]);
    else if (at[at.length - 1] !== i) at.push(i);
  }
}

/** A frame that read too much to be kept. */
function dropDeps(frame: Frame): void {
  frame.reusable = false;
  frame.deps.clear();
  frame.lookups.length = 0;
}

/** Whether a view can be tracked: it versions its paths (the mirror does). */
export function versioned(view: KeyView): view is KeyView & { version(prefix: string): number } {
  return typeof view.version === 'function';
}

/** The kept outputs of one template over one key space and root context. */
export class BlockMemo {
  readonly view: TrackingView;
  private readonly sites = new Map<string, Site>();
  private renders = 0;
  private usedThisRender = 0;
  private kept = 0;

  constructor(target: KeyView & { version(prefix: string): number }) {
    this.view = new TrackingView(target);
  }

  /**
   * Starts a render: the whole output kept for the root context (`{}` or a file set member's name) when nothing it
   * read has changed, with its lookups (not deduplicated); else undefined, and {@link render} runs it.
   */
  whole(root: unknown): { text: string; lookups: Lookup[] } | undefined {
    this.renders++;
    this.usedThisRender = 0;
    this.view.frames = [];
    return this.reuse(this.site('r'), valueKey(root) ?? '', undefined);
  }

  /** The paths the kept whole output for `root` read (normalized), or undefined when it is not kept. */
  rootPaths(root: unknown): string[] | undefined {
    const entry = this.site('r').entries.get(valueKey(root) ?? '');
    if (!entry) return undefined;
    const paths: string[] = [];
    for (let d = 0; d < entry.deps.length; d += 2) paths.push(normalizePrefix(entry.deps[d] as string));
    return paths;
  }

  /** Runs a render {@link whole} found nothing kept for, inside a root frame, keeping its output when it may be. */
  render(root: unknown, run: () => string): string {
    const site = this.site('r');
    const rootValue = valueKey(root) ?? '';
    const frame = this.open(`r${rootValue}`, root);
    let text: string;
    try {
      text = run();
    } catch (err) {
      this.view.frames = [];
      throw err;
    }
    this.close(site, rootValue, frame, text, undefined);
    this.sweep();
    return text;
  }

  /** Drops outputs the last render did not use once they outnumber the used ones. */
  private sweep(): void {
    if (this.kept <= 2 * this.usedThisRender + 64) return;
    this.kept = 0;
    for (const [name, site] of this.sites) {
      const { entries } = site;
      if (site.lastUsed !== this.renders) for (const [value, entry] of entries) if (entry.used !== this.renders) entries.delete(value);
      if (entries.size === 0) this.sites.delete(name);
      this.kept += entries.size;
    }
  }

  /** The kept outputs of the block `program` inside `parent`. */
  site(name: string): Site {
    let site = this.sites.get(name);
    if (!site) this.sites.set(name, (site = new Site()));
    return site;
  }

  /** The innermost open frame. */
  get top(): Frame | undefined {
    return this.view.frames[this.view.frames.length - 1];
  }

  /** Opens a frame for a block keyed `key` rendering with context `item`. */
  open(key: string, item: unknown): Frame {
    const sealed = this.top?.sealed === true;
    const frame: Frame = { key, item, deps: new Map(), lookups: [], reusable: true, keep: !sealed, sealed, positional: false };
    this.view.frames.push(frame);
    return frame;
  }

  /**
   * Closes the innermost frame (which must be `frame`), keeps its output at `site` under `value` when it may be
   * reused, and hands what it read and recorded to the frame around it.
   */
  close(site: Site, value: unknown, frame: Frame, text: string, position: string | undefined): void {
    this.view.frames.pop();
    if (frame.reusable && frame.keep) {
      const deps: (string | number)[] = [];
      for (const [path, version] of frame.deps) deps.push(path, version);
      if (!site.entries.has(value)) this.kept++;
      site.entries.set(value, { text, deps, lookups: frame.lookups, position: frame.positional ? position : undefined, used: this.renders });
      this.usedThisRender++;
    } else site.entries.delete(value);
    const parent = this.top;
    if (!parent?.reusable) return;
    if (!frame.reusable) return dropDeps(parent);
    for (const [path, version] of frame.deps) if (!parent.deps.has(path)) parent.deps.set(path, version);
    for (const l of frame.lookups) parent.lookups.push(l);
    if (parent.deps.size > MAX_DEPS) dropDeps(parent);
  }

  /**
   * The output kept at `site` for `value` when nothing it read has changed (and, if it read its position, at the
   * same position: `position` is called only then); its reads go to the innermost open frame as if it had run.
   * The caller records its lookups again.
   */
  reuse(site: Site, value: unknown, position: (() => string) | undefined): { text: string; lookups: Lookup[] } | undefined {
    const entry = site.entries.get(value);
    if (!entry) return undefined;
    if (entry.position !== undefined && entry.position !== position?.()) return undefined;
    const { deps } = entry;
    const target = this.view.target;
    for (let i = 0; i < deps.length; i += 2) if (target.version(deps[i] as string) !== deps[i + 1]) return undefined;
    entry.used = this.renders;
    this.usedThisRender++;
    const parent = this.top;
    if (parent?.reusable) {
      this.mergeDeps(parent, deps);
      if (parent.deps.size > MAX_DEPS) dropDeps(parent);
    }
    return entry;
  }

  /**
   * When `items` is the very array the block last ran over, complete, and the view tells what changed since: the
   * positions to render again (their reads changed, or they are never kept). Undefined: run item by item.
   */
  dirtySince(site: Site, items: readonly unknown[]): { last: LastRun; dirty: Set<number>; mark: number } | undefined {
    const { last } = site;
    const target = this.view.target;
    if (!last || last.items !== items || !target.changedSince) return undefined;
    const changed = target.changedSince(last.mark);
    if (!changed || changed.length > items.length) return undefined;
    const dirty = new Set(last.always);
    for (const key of changed) {
      for (const p of pathAndAbove(key)) for (const i of last.byPath.get(p) ?? []) dirty.add(i);
    }
    return { last, dirty, mark: target.changeMark ?? 0 };
  }

  /**
   * Ends a run of a block over the array `items` with `parts` its items' outputs, every item rendered or reused
   * one by one. `mark` (the view's change mark; undefined when the run cannot be reused as a whole: items that are
   * not plain values) keeps it for {@link dirtySince}.
   */
  endRun(site: Site, items: readonly unknown[], parts: string[], mark: number | undefined): LastRun | undefined {
    site.lastUsed = this.renders;
    if (mark === undefined) {
      site.last = undefined;
      return undefined;
    }
    const run: LastRun = { items, mark, parts, text: undefined, blocks: [], byPath: new Map(), always: [], deps: 0 };
    for (let i = 0; i < items.length; i++) indexItem(run, i, site.entries.get(items[i]));
    site.last = run;
    return run;
  }

  /**
   * Ends a run that reused the last one as a whole and rendered only `dirty` again (see {@link dirtySince}): the
   * other items' reads go to the frame around it and their lookups to `replay`, as if they had run; outside a kept
   * block their lookups go to `later` instead (a list per item, not yet deduplicated), if anyone wants them.
   */
  endAgain(site: Site, run: LastRun, dirty: ReadonlySet<number>, mark: number, replay: (l: Lookup) => void, later: ((chunks: Lookup[][]) => void) | undefined): void {
    site.lastUsed = this.renders;
    run.mark = mark;
    run.always = [];
    if (dirty.size > 0) run.text = undefined;
    for (const i of dirty) {
      indexItem(run, i, site.entries.get(run.items[i]));
      run.blocks[Math.floor(i / BLOCK)] = undefined;
    }
    const parent = this.top;
    if (parent?.reusable && run.deps > MAX_DEPS) dropDeps(parent);
    const merge = parent?.reusable === true;
    const { items } = run;
    // Inside a block that is kept, the lookups go to it now; otherwise they are only collected, read if asked for.
    const chunks: Lookup[][] = [];
    for (let i = 0; i < items.length; i++) {
      if (dirty.has(i)) continue;
      const entry = site.entries.get(items[i]) as Kept;
      if (!merge) {
        if (!later) break;
        if (entry.lookups.length > 0) chunks.push(entry.lookups);
        continue;
      }
      for (const l of entry.lookups) replay(l);
      this.mergeDeps(parent, entry.deps);
    }
    if (chunks.length > 0) later?.(chunks);
    if (parent?.reusable && parent.deps.size > MAX_DEPS) dropDeps(parent);
  }

  private mergeDeps(frame: Frame, deps: (string | number)[]): void {
    for (let d = 0; d < deps.length; d += 2) if (!frame.deps.has(deps[d] as string)) frame.deps.set(deps[d] as string, deps[d + 1] as number);
  }

  /**
   * The block of `owner` read its position (`@index`, … or `@../index` from a block inside it): `owner` is kept only
   * for its position, and the blocks open inside it are not kept at all (their keys do not hold the position).
   */
  positionRead(owner: Frame): void {
    owner.positional = true;
    const { frames } = this.view;
    for (let i = frames.length - 1; i >= 0 && frames[i] !== owner; i--) (frames[i] as Frame).keep = false;
  }

  /** Marks every open frame as not reusable (an untracked helper ran). */
  untracked(): void {
    for (const frame of this.view.frames) frame.reusable = false;
  }
}

/** A plain value as part of a memo key; undefined for anything else (objects, functions), which is never cached. */
export function valueKey(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return `s${value.length}:${value}`; // the length keeps "a" + "\0b" apart from "a\0" + "b" in joined keys
    case 'number':
      return `n${value}`;
    case 'boolean':
      return value ? 'T' : 'F';
    case 'undefined':
      return 'u';
    default:
      return value === null ? 'N' : undefined;
  }
}

// The in-memory copy of the key space: a Map for lookups plus a sorted key array for prefix listing.
import { keyUnder, normalizePrefix, parentOf } from '../util/key-path.js';
import type { Entry, KeyView } from './types.js';

/** Code-unit order, the order `list` returns (Array#sort's default, spelled out). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** First index in sorted `arr` whose element is >= `target` (code-unit order, like `<`). */
function lowerBound(arr: readonly string[], target: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((arr[mid] as string) < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Key/value mirror maintained incrementally by a source: `set`/`delete` keep the sorted index up to date
 * with a binary search, so `list(prefix)` costs O(log n + k) even with tens of thousands of keys.
 */
export class Mirror implements KeyView {
  private readonly values = new Map<string, string>();
  /** Every key, sorted by JS string order. */
  private readonly keys: string[] = [];
  /**
   * Change counter per folder (a path with keys below it, "" while there are any): bumped whenever a key at or
   * below it changes. A key that is no folder answers with its folder's counter (see `version`), so the map
   * holds an entry per folder, not per key.
   */
  private readonly versions = new Map<string, number>();
  private tick = 0;
  private clearedAt = 0;
  /** Keys in the order they changed: `changes[i]` changed at tick `changesFrom + i + 1`. Bounded (see `touch`). */
  private changes: string[] = [];
  private changesFrom = 0;

  /** Stores `value` at `key`; false when the key already held exactly this value. */
  set(key: string, value: string): boolean {
    const old = this.values.get(key);
    if (old === value) return false;
    if (old === undefined) this.keys.splice(lowerBound(this.keys, key), 0, key);
    this.values.set(key, value);
    this.touch(key);
    return true;
  }

  /** Removes `key`; false when it was not there. */
  delete(key: string): boolean {
    if (!this.values.delete(key)) return false;
    const i = lowerBound(this.keys, key);
    if (this.keys[i] === key) this.keys.splice(i, 1);
    this.touch(key);
    this.prune(key);
    return true;
  }

  /**
   * A number that changes whenever anything at or below the path `prefix` changes: lets helpers and the engine
   * reuse what they derived from a path (parsed service instances, a block's output) until it changes. A key's
   * number is its folder's, so it also changes when a sibling does (a redundant re-render, never a stale one); a
   * path with nothing at or below it answers the same number until something appears there.
   */
  version(prefix: string): number {
    let path = normalizePrefix(prefix);
    const own = this.versions.get(path);
    if (own !== undefined) return own;
    if (!this.values.has(path)) return this.clearedAt;
    // A key and no folder: the nearest folder above it (its parent, bumped with it).
    while (path !== '') {
      path = parentOf(path);
      const v = this.versions.get(path);
      if (v !== undefined) return v;
    }
    return this.clearedAt;
  }

  /** Distinct names directly below the path `prefix` (folders or keys), in key order; skips whole folders. */
  children(prefix: string): string[] {
    const base = `${normalizePrefix(prefix)}/`;
    const end = lowerBound(this.keys, `${base.slice(0, -1)}0`);
    const names = new Set<string>();
    for (let i = lowerBound(this.keys, base); i < end; ) {
      const key = this.keys[i] as string;
      const slash = key.indexOf('/', base.length);
      const name = key.slice(base.length, slash === -1 ? undefined : slash);
      names.add(name);
      // A folder's keys sit in [base + name + '/', base + name + '0'): jump past them. A plain key at `name` is
      // one key: siblings like `name-x` sort between it and its folder, so only step over it (the Set dedupes).
      i = slash === -1 ? i + 1 : Math.max(i + 1, lowerBound(this.keys, `${base}${name}0`));
    }
    return [...names];
  }

  /** The current change counter: hand it to `changedSince` later to learn what changed after now. */
  get changeMark(): number {
    return this.tick;
  }

  /**
   * Keys changed (set to a new value or deleted) after `mark`, oldest first, a key once per change; undefined when
   * that is further back than the mirror remembers (then treat everything as changed).
   */
  changedSince(mark: number): string[] | undefined {
    if (mark < this.changesFrom || mark > this.tick) return undefined;
    return this.changes.slice(mark - this.changesFrom);
  }

  /** Bumps every folder above `key`, and `key` itself when it is a folder too; remembers the change. */
  private touch(key: string): void {
    const tick = ++this.tick;
    this.changes.push(key);
    // Remembered for at least as many changes as there are keys: older marks see "everything changed".
    if (this.changes.length > 2 * Math.max(1024, this.values.size)) {
      const drop = this.changes.length >> 1;
      this.changes = this.changes.slice(drop);
      this.changesFrom += drop;
    }
    if (this.versions.has(key)) this.versions.set(key, tick);
    let path = key;
    while (path !== '') {
      path = parentOf(path);
      this.versions.set(path, tick);
    }
  }

  /** After `key` left the index: drops the entries of the folders above it that hold no key any more. */
  private prune(key: string): void {
    let path = key;
    while (path !== '') {
      path = parentOf(path);
      if (this.hasBelow(path)) return;
      this.versions.delete(path);
    }
  }

  /** Whether some key sits below the folder `path` ("" : whether there is any key). */
  private hasBelow(path: string): boolean {
    if (path === '') return this.keys.length > 0;
    const below = `${path}/`;
    const next = this.keys[lowerBound(this.keys, below)];
    return next !== undefined && next.startsWith(below);
  }

  /** The value at `key`, or undefined. */
  get(key: string): string | undefined {
    return this.values.get(key);
  }

  /** Entries at or below the path `prefix`, sorted by key. */
  list(prefix: string): Entry[] {
    return this.keysUnder(prefix).map((k): Entry => [k, this.values.get(k) as string]);
  }

  /** Keys at or below the path `prefix`, sorted. */
  keysUnder(prefix: string): string[] {
    const p = normalizePrefix(prefix);
    if (p === '') return this.keys.slice();
    const out: string[] = [];
    if (this.values.has(p)) out.push(p);
    // Keys below p start with p + '/'; in code-unit order they sit in [p + '/', p + '0') ('0' follows '/').
    const start = lowerBound(this.keys, p + '/');
    const end = lowerBound(this.keys, p + '0');
    for (let i = start; i < end; i++) out.push(this.keys[i] as string);
    return out;
  }

  /**
   * Replaces everything under `prefix` with `entries` (a full re-read of that prefix); entries outside the
   * prefix are ignored. Returns the keys that actually changed (added, modified or removed), sorted.
   */
  replacePrefix(prefix: string, entries: Iterable<Entry>): string[] {
    const changed: string[] = [];
    if (!this.hasAny(prefix)) {
      // Nothing there yet (a first load): no diff to make, so no copy of the entries either.
      for (const [k, v] of entries) if (keyUnder(k, prefix) && this.values.get(k) !== v) {
        this.values.set(k, v);
        changed.push(k);
      }
      return this.reindex(changed, []);
    }
    const fresh = new Map<string, string>();
    for (const [k, v] of entries) if (keyUnder(k, prefix)) fresh.set(k, v);
    const gone = this.keysUnder(prefix).filter((k) => !fresh.has(k));
    let added = 0;
    for (const k of fresh.keys()) if (!this.values.has(k)) added++;
    // Many structural changes: update the map, then sort the index once instead of splicing.
    const bulk = gone.length + added > 64;
    for (const k of gone) {
      if (bulk) this.values.delete(k);
      else this.delete(k);
      changed.push(k);
    }
    for (const [k, v] of fresh) {
      if (this.values.get(k) === v) continue;
      if (bulk) this.values.set(k, v);
      else this.set(k, v);
      changed.push(k);
    }
    return bulk ? this.reindex(changed, gone) : changed.sort(compare);
  }

  /** Whether any key sits at or below the path `prefix`. */
  private hasAny(prefix: string): boolean {
    const p = normalizePrefix(prefix);
    return this.values.has(p) || this.hasBelow(p);
  }

  /**
   * After a bulk update of `values` (`changed` keys set or deleted, `gone` among them deleted): rebuilds the
   * sorted index, bumps the versions and drops the folders left empty. Returns `changed` sorted, each key once.
   */
  private reindex(changed: string[], gone: string[]): string[] {
    for (const k of changed) this.touch(k);
    if (changed.length > 64) {
      this.keys.length = 0;
      for (const k of this.values.keys()) this.keys.push(k);
      this.keys.sort(compare);
    } else {
      for (const k of changed) {
        const i = lowerBound(this.keys, k);
        if (this.keys[i] !== k && this.values.has(k)) this.keys.splice(i, 0, k);
      }
    }
    for (const k of gone) this.prune(k);
    changed.sort(compare);
    // The same key twice in `entries` (a source never sends that) is one change.
    return changed.filter((k, i) => k !== changed[i - 1]);
  }

  /** Drops every key. */
  clear(): void {
    this.values.clear();
    this.keys.length = 0;
    this.versions.clear();
    this.clearedAt = ++this.tick;
    this.changes = [];
    this.changesFrom = this.tick;
  }

  /** Number of keys held. */
  get size(): number {
    return this.values.size;
  }
}

// Key paths in the store: keys and prefixes compared as "/"-separated paths, so "/a" covers "/a" and "/a/b" but
// not "/ab". The one root convention: a prefix in canonical form has no trailing "/", and the root (every key)
// is "". `keyPath` is the form for a configured or displayed path, where the root is written "/".
import { posix } from 'node:path';

/** The folder holding `path`: everything before its last "/" ("" for "/a"). */
export function parentOf(path: string): string {
  return path.slice(0, Math.max(0, path.lastIndexOf('/')));
}

/** `key` in canonical form and every folder above it, up to the root "": the paths a change to `key` is under. */
export function* pathAndAbove(key: string): Generator<string> {
  let p = normalizePrefix(key);
  yield p;
  while (p !== '') yield (p = parentOf(p));
}

/**
 * A store-level prefix in canonical form: trailing "/" dropped, nothing else changed (store keys need not start
 * with "/"). "" and "/" (and "//") are the root, "".
 */
export function normalizePrefix(prefix: string): string {
  let p = prefix;
  while (p.length > 0 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/**
 * Joins path parts into an absolute prefix in canonical form: a leading "/", `.`, `..` and repeated "/" resolved,
 * no trailing "/", the root "" (keys then start at "/<name>"). `services/`, `/services//` → `/services`;
 * ("/prod", "services/") → `/prod/services`. For --prefix and a template resource's prefix, which name folders
 * under "/".
 */
export function absolutePrefix(...parts: string[]): string {
  const p = posix.join('/', ...parts);
  return p === '/' ? '' : p.replace(/\/+$/, '');
}

/** {@link absolutePrefix} with the root written "/": ("/prod", "services/web/") → "/prod/services/web"; () → "/". */
export function keyPath(...parts: string[]): string {
  return absolutePrefix(...parts) || '/';
}

/** True when `key` is `prefix` itself or below it as a path ("/a" covers "/a" and "/a/b", not "/ab"). */
export function keyUnder(key: string, prefix: string): boolean {
  const p = normalizePrefix(prefix);
  if (p === '') return true;
  return key === p || (key.startsWith(p) && key.charCodeAt(p.length) === 0x2f);
}

/**
 * The smallest set of prefixes covering `prefixes`: normalized, deduplicated, and without any prefix that
 * another one already covers ("/a/b" goes when "/a" is there; everything goes when "" is). Sorted.
 */
export function collapsePrefixes(prefixes: Iterable<string>): string[] {
  const sorted = [...new Set([...prefixes].map(normalizePrefix))].sort();
  const out: string[] = [];
  // Sorted order puts an ancestor before its descendants, so checking the kept ones is enough.
  for (const p of sorted) if (!out.some((q) => keyUnder(p, q))) out.push(p);
  return out;
}

/**
 * The byte range [start, end) that holds a path prefix: p itself, p + "/…", and (filtered out by the caller
 * with {@link keyUnder}) siblings like p + "-x" whose next byte sorts below '0'. The root is etcd's
 * "everything" range, ["\0", "\0").
 */
export function prefixRange(prefix: string): { start: string; end: string } {
  const p = normalizePrefix(prefix);
  if (p === '') return { start: '\0', end: '\0' };
  return { start: p, end: p + '0' };
}

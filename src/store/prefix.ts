// Key prefixes as paths: "/a" covers "/a" and "/a/b" but not "/ab"; "/" and "" cover everything.
import { posix } from 'node:path';

/** Normalizes a path prefix: "" and "/" mean everything (returned as ""), trailing '/' are dropped. */
export function normalizePrefix(prefix: string): string {
  let p = prefix;
  while (p.length > 0 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/**
 * A configured prefix made absolute: a leading "/", `.`, `..` and repeated "/" resolved, no trailing "/"; the root
 * is "" (keys then start at "/<name>"). `services/`, `/services//` → `/services`. For --prefix and a template
 * resource's prefix, which name folders under "/"; store-level prefixes stay as given (keys need not start with "/").
 */
export function absolutePrefix(prefix: string): string {
  const p = posix.join('/', prefix);
  return p === '/' ? '' : p.replace(/\/+$/, '');
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

// Go's path.Match, which confd's gets/getvs use on keys: `*` and `?` stop at "/", `[a-z]`/`[^…]`
// classes, `\` escapes. Compiled to an anchored RegExp once per pattern.

const cache = new Map<string, RegExp>();
const META = /[*?[\\]/;

/** Thrown for a malformed pattern (Go's path.ErrBadPattern). */
export class BadPatternError extends Error {}

// Escapes valid under the `u` flag: `\-` only inside a class.
const esc = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
const escClass = (c: string): string => (c === '-' ? '\\-' : esc(c));

/** Compiles a Go path.Match pattern; throws BadPatternError like Go does for malformed ones. */
export function globToRegExp(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const chars = Array.from(pattern);
  let re = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const next = chars[++i];
      if (next === undefined) throw new BadPatternError(`trailing "\\" in pattern ${JSON.stringify(pattern)}`);
      re += esc(next);
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (chars[j] === '^') {
        cls += '^';
        j++;
      }
      let ranges = 0;
      for (;;) {
        let lo = chars[j];
        if (lo === undefined) throw new BadPatternError(`unclosed "[" in pattern ${JSON.stringify(pattern)}`);
        if (lo === ']' && ranges > 0) break;
        if (lo === '-' || lo === ']') throw new BadPatternError(`bad character class in pattern ${JSON.stringify(pattern)}`);
        if (lo === '\\') lo = chars[++j];
        if (lo === undefined) throw new BadPatternError(`unclosed "[" in pattern ${JSON.stringify(pattern)}`);
        j++;
        let hi: string | undefined = lo;
        if (chars[j] === '-') {
          hi = chars[++j];
          if (hi === '\\') hi = chars[++j];
          if (hi === undefined || hi === ']' || hi === '-' || (hi.codePointAt(0) as number) < (lo.codePointAt(0) as number)) {
            throw new BadPatternError(`bad range in pattern ${JSON.stringify(pattern)}`);
          }
          j++;
        }
        cls += lo === hi ? escClass(lo) : `${escClass(lo)}-${escClass(hi)}`;
        ranges++;
      }
      re += `[${cls}]`;
      i = j;
    } else re += esc(c);
  }
  const compiled = new RegExp(`^${re}$`, 'u');
  if (cache.size > 1000) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}

/** The folder to list before filtering: the pattern's literal part up to its last "/". */
export function globBase(pattern: string): string {
  const m = META.exec(pattern);
  const literal = m ? pattern.slice(0, m.index) : pattern;
  if (!m) return literal;
  const slash = literal.lastIndexOf('/');
  return slash <= 0 ? '/' : literal.slice(0, slash);
}

// Diagnostics shared by the config loaders: where a field was written (TOML/YAML), and `file:line: message` errors.
import type { TomlError } from 'smol-toml';
import type { Document, LineCounter } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../util/errors.js';
import { yamlModule } from '../util/lazy-modules.js';

/** A path into a parsed document, as zod reports it: ["wait", "min"], ["keys", 2]. */
export type FieldPath = readonly PropertyKey[];

/** Finds where a field was written, so messages say file:line and numbers are read as the operator typed them. */
export interface Locator {
  /** 1-based line of the field (or of the enclosing object for []). */
  line(path: FieldPath): number | undefined;
  /** The field's source text, e.g. "0644" for a YAML `mode: 0644` that parsed as 644. */
  literal?(path: FieldPath): string | undefined;
}

/** One problem with one field; turned into a `file:line: message` line. */
export interface Issue {
  path: FieldPath;
  message: string;
}

/** Turns zod's issues into field messages; `known` feeds "did you mean" for unknown fields. Never echoes secrets. */
export function issuesFromZod(error: z.ZodError, input: unknown, known: readonly string[]): Issue[] {
  const out: Issue[] = [];
  for (const issue of error.issues) {
    const field = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const hint = closest(key, known);
        out.push({ path: [...issue.path, key], message: `unknown field "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}` });
      }
    } else if (issue.code === 'too_small' && issue.origin === 'array') {
      out.push({ path: issue.path, message: `${field}: must list at least one entry` });
    } else if (issue.code === 'too_small' && issue.origin === 'string') {
      out.push({ path: issue.path, message: `${field}: must not be empty` });
    } else {
      const value = valueAt(input, issue.path);
      if (value === undefined) out.push({ path: issue.path.slice(0, -1), message: `missing required field "${field}"` });
      else {
        const expected =
          issue.code === 'invalid_type'
            ? issue.expected.replace(/^int$/, 'a whole number')
            : issue.code === 'invalid_union'
              ? [...new Set(issue.errors.flat().flatMap((e) => (e.code === 'invalid_type' ? [e.expected === 'array' ? 'a list' : e.expected] : [])))].join(' or ') || 'another value'
              : 'another value';
        const shown = /password/i.test(field) ? 'something else' : describe(value);
        const bound = issue.code === 'too_small' ? 'a number ≥ 0' : issue.code === 'too_big' ? `a number ≤ ${issue.maximum}` : expected;
        out.push({ path: issue.path, message: `${field}: expected ${bound}, got ${shown}` });
      }
    }
  }
  return out;
}

/** One ConfigError for all issues of one resource or file: `origin:line: [label: ]message`, one line each. */
export function issuesError(origin: string, locator: Locator | undefined, issues: readonly Issue[], label?: string): ConfigError {
  const lines = issues
    .map((i) => ({ line: locator?.line(i.path), text: label ? `${label}: ${i.message}` : i.message }))
    .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity)) // file order, whatever order the checks ran in
    .map(({ line, text }) => ({ where: line === undefined ? origin : `${origin}:${line}`, text }));
  const [first, ...rest] = lines;
  if (!first) return new ConfigError('invalid resource', { where: origin });
  return new ConfigError([first.text, ...rest.map((l) => `${l.where}: ${l.text}`)].join('\n'), { where: first.where });
}

/**
 * Finds keys in TOML text by scanning lines (smol-toml keeps no positions). With `table`, looks inside
 * `[table]` (and `[table.sub]`) first; [] maps to the table header (or line 1).
 */
export function tomlLocator(text: string, table?: string): Locator {
  const lines = text.split(/\r?\n/);
  const headerRe = (name: string) => new RegExp(`^\\s*\\[\\s*${escapeRe(name)}\\s*\\]`);
  const header = table ? lines.findIndex((l) => headerRe(table).test(l)) : -1;
  const keyLine = (key: string): number | undefined => {
    const re = new RegExp(`^\\s*(?:"${escapeRe(key)}"|'${escapeRe(key)}'|${escapeRe(key)})\\s*=`);
    const inTable = table ? new RegExp(`^\\s*\\[\\s*${escapeRe(table)}\\s*[\\].]`) : undefined;
    for (let i = header + 1; i < lines.length; i++) {
      const l = lines[i] as string;
      if (/^\s*\[/.test(l) && !(inTable?.test(l) ?? false)) break;
      if (re.test(l)) return i + 1;
    }
    return undefined;
  };
  const line = (path: FieldPath): number | undefined => {
    const [first] = path;
    if (typeof first !== 'string') return header >= 0 ? header + 1 : 1;
    const sub = lines.findIndex((l) => headerRe(table ? `${table}.${first}` : first).test(l));
    return keyLine(first) ?? (sub >= 0 ? sub + 1 : header >= 0 ? header + 1 : 1);
  };
  const literal = (path: FieldPath): string | undefined => {
    const [first] = path;
    const at = typeof first === 'string' && path.length === 1 ? keyLine(first) : undefined;
    const value = at === undefined ? undefined : (lines[at - 1] as string).split('=').slice(1).join('=');
    return value?.replace(/#.*$/, '').trim();
  };
  return { line, literal };
}

/** smol-toml's message without its code block: "invalid value". */
export function tomlErrorText(err: TomlError): string {
  return (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
}

function valueAt(input: unknown, path: FieldPath): unknown {
  let cur = input;
  for (const seg of path) cur = isPlainObject(cur) || Array.isArray(cur) ? (cur as Record<PropertyKey, unknown>)[seg] : undefined;
  return cur;
}

/** True for a plain key/value object (a TOML table, a YAML mapping). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** A short rendering of a bad value for messages: strings quoted, lists and tables named. */
export function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'a table';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The known field a mistyped one most likely meant: same words in another spelling, a near typo, or a longer form. */
export function closest(key: string, known: readonly string[]): string | undefined {
  // checkCmd, check-cmd, CHECK_CMD and check_command all mean check_cmd.
  const norm = key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/-/g, '_').replace(/command/g, 'cmd');
  let best: string | undefined;
  let bestDist = 3;
  for (const k of known) {
    const d = editDistance(norm, k);
    if (d < bestDist) [best, bestDist] = [k, d];
  }
  // "destination" → "dest": a known field the key starts with.
  return best ?? known.find((k) => k.length >= 3 && norm.startsWith(k));
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length] as number;
}

/** A Locator over a YAML document (or the subtree at `base`): the line of a key, or of the nearest enclosing node. */
export function yamlLocator(doc: Document, lc: LineCounter, base: FieldPath = []): Locator {
  const { isMap, isScalar, isSeq } = yamlModule();
  const find = (path: FieldPath): { node: unknown; pos: number | undefined } => {
    let node: unknown = doc.contents;
    let pos = doc.contents?.range?.[0];
    for (const seg of [...base, ...path]) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
        if (!pair) return { node: undefined, pos };
        pos = isScalar(pair.key) ? pair.key.range?.[0] : pos;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
        node = node.items[seg];
        pos = (node as { range?: [number] }).range?.[0] ?? pos;
      } else return { node: undefined, pos };
    }
    return { node, pos };
  };
  return {
    line: (path) => {
      const { pos } = find(path);
      return pos === undefined ? undefined : lc.linePos(pos).line;
    },
    literal: (path) => {
      const { node } = find(path);
      return isScalar(node) ? (node.source ?? String(node.value)) : undefined;
    },
  };
}

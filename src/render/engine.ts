// The template engine: an isolated Handlebars environment with sidekick's helpers, eager compilation
// with file:line:column errors, and two-pass rendering so synchronous helpers can use async DNS.
//
// The `}}}` trap: Handlebars reads `}}}` as the end of a triple-stash, so nginx's
//   {{#each (getvs "/app/*")}}server {{.}};{{/each}}}
// does not parse. Write `{{/each}} }` or put the closing brace on its own line; the compile error
// says so. Likewise `{{{` opens a triple-stash: write `{ {{…}}`.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import type { KeyView } from '../store/types.js';
import { TemplateError, errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { absolutePrefix, pathAndAbove } from '../util/key-path.js';
import { DATA_KEY, newRenderState, passLookups, type CachedRecord, type Lookup, type RenderState } from './context.js';
import { BlockMemo, versioned, type RunOutput } from './memo.js';
import { DnsCache, type DnsCacheOptions } from './dns.js';
import { registerHelpers } from './helpers.js';
import { dataVariablesAreNotHelpers, locateStrictLookups, strictCompileOptions, strictMessage } from './strict.js';
import { checkTemplateLimits, readTemplateSource } from './limits.js';
import { SpecCache, specKey } from './compile-cache.js';

/** What one render reads: the key space, the resource's prefix, and where its warnings go. */
export interface RenderContext {
  view: KeyView;
  prefix: string;
  log?: Logger;
  /** The template's root context (`this` at the top level): a file set's member name; `{}` when undefined. */
  context?: string;
  /**
   * False when the caller never reads the result's lookups (no `min_endpoints`): a render that reuses most of its
   * output then skips gathering them. Default true.
   */
  lookups?: boolean;
}

/** The rendered text plus the list lookups it made (the `min_endpoints` guard checks the counts). */
export interface RenderResult {
  text: string;
  lookups: Lookup[];
  /**
   * The text as UTF-8 bytes, in pieces that are kept between renders where they did not change: cheaper than
   * encoding `text` when the output is large. Absent when there is nothing to gain.
   */
  chunks?: () => Buffer[];
  /** True when the whole output is the previous render's (same template and context): nothing it read changed. */
  reused?: boolean;
}

/** A template that parsed and compiled; rendering it cannot fail on syntax any more. */
export interface CompiledTemplate {
  readonly path: string;
  render(ctx: RenderContext): Promise<RenderResult>;
  /**
   * At once, without rendering: the result when the whole output of the last render for this context is still
   * current (nothing it read changed), else undefined. Spares a file set's unchanged members a render each.
   */
  kept(ctx: RenderContext): RenderResult | undefined;
  /**
   * The root contexts (file set members) whose output a change since the last call may concern: those whose kept
   * output read a changed key or a folder above one, and those whose output was not kept. Undefined when that
   * cannot be told (the first call, a view that does not tell its changes, too many changes): then any may be.
   */
  changedContexts(view: KeyView): Set<string> | undefined;
  /** Forgets the root contexts not in `keep` (a file set's vanished members). */
  retain(keep: ReadonlySet<string>): void;
}

/** Options for {@link TemplateEngine}. */
export interface TemplateEngineOptions {
  log?: Logger;
  /** The only folder `fileExists` may look into; without it `fileExists` is always false. */
  sandboxDir?: string;
  /** DNS cache tuning and, for tests, a fake resolver. */
  dns?: DnsCacheOptions;
  /** The only folder template files are read from (symlinks followed); default `<sandboxDir>/templates`, the confdir's. */
  templatesDir?: string;
  /** Where compiled template files are kept between runs (see compile-cache.ts); none when undefined. */
  cacheDir?: string;
  /** Reuse the output of blocks whose keys did not change (memo.ts); default true. False renders everything every time. */
  incremental?: boolean;
}

/** A partial call (`{{> name}}`, `{{#> name}}`, with whitespace control). */
const PARTIAL_CALL = /\{\{~?#?\s*>/;

/** A pass that finds new DNS names triggers another; chained lookups get at most this many passes. */
const MAX_PASSES = 3;

/** The slice of Handlebars' jison parser we use to locate a parse error (not in its typings). */
interface JisonParser {
  yy: object;
  lexer?: { yylloc?: { first_line: number; first_column: number } };
  parse(input: string): unknown;
}

/** Re-parses with a private error hook to get the failing token's position (Handlebars drops it). */
function locateParseError(hb: typeof Handlebars, source: string): { line: number; column: number } | undefined {
  const shared = (hb as unknown as { Parser?: JisonParser }).Parser;
  if (!shared || typeof shared.parse !== 'function') return undefined;
  let found: { line: number; column: number } | undefined;
  const yy = Object.assign(Object.create(shared.yy) as object, {
    parseError(this: JisonParser, message: string): never {
      const at = this.lexer?.yylloc;
      if (at) found = { line: at.first_line, column: at.first_column + 1 };
      throw new Error(message);
    },
  });
  // A derived parser: the hook lands on it, not on the parser every Handlebars instance shares.
  const parser = Object.assign(Object.create(shared) as JisonParser, { yy });
  try {
    parser.parse(source);
  } catch {
    // expected: the same error the real parse raised
  }
  return found;
}

/** Hints for the brace traps nginx and haproxy configs fall into. */
function braceHints(line: string): string {
  const hints: string[] = [];
  if (line.includes('}}}')) {
    hints.push('"}}}" is read as the end of a triple-stash: write "{{/each}} }" or put the brace on its own line');
  }
  if (line.includes('{{{')) hints.push('"{{{" is read as the start of a triple-stash: write "{ {{" with a space');
  return hints.length > 0 ? `; hint: ${hints.join('; ')}` : '';
}

/** Turns a Handlebars parse/compile failure into a TemplateError at `path:line:column`. */
function compileError(hb: typeof Handlebars, path: string, source: string, err: unknown): TemplateError {
  const message = errorMessage(err);
  const lines = source.split('\n');
  const parse = /^(Parse|Lexical) error on line (\d+)/.exec(message);
  if (parse) {
    const at = locateParseError(hb, source) ?? { line: Number(parse[2]), column: 1 };
    const src = (lines[at.line - 1] ?? '').replace(/\r$/, '');
    const detail = parse[1] === 'Lexical' ? 'unrecognized text' : (message.split('\n').pop() ?? '').trim();
    const near = src.trim().length > 80 ? `${src.trim().slice(0, 77)}...` : src.trim();
    return new TemplateError(`parse error: ${detail} near ${JSON.stringify(near)}${braceHints(src)}`, {
      where: `${path}:${at.line}:${at.column}`,
      cause: err,
    });
  }
  const e = err as { lineNumber?: unknown; column?: unknown };
  if (typeof e.lineNumber === 'number') {
    const column = typeof e.column === 'number' ? e.column + 1 : 1;
    const text = strictMessage(message.replace(/ - \d+:\d+$/, ''));
    return new TemplateError(text + braceHints(lines[e.lineNumber - 1] ?? ''), { where: `${path}:${e.lineNumber}:${column}`, cause: err });
  }
  return new TemplateError(message, { where: path, cause: err });
}

/** A failure while rendering: helpers already throw located TemplateErrors; others get the path. */
function renderError(path: string, err: unknown): TemplateError {
  if (err instanceof TemplateError) return err;
  const e = err as { lineNumber?: unknown; column?: unknown };
  const where =
    typeof e.lineNumber === 'number' ? `${path}:${e.lineNumber}:${typeof e.column === 'number' ? e.column + 1 : 1}` : path;
  return new TemplateError(strictMessage(errorMessage(err).replace(/ - \d+:\d+$/, '')), { where, cause: err });
}

/** Parses and compiles a template from compile() now (it is lazy), once: precompiling first would do all of it twice. */
function compileNow(template: HandlebarsTemplateDelegate): void {
  // Handlebars' lazy wrapper compiles on its first _setup (runtime API, not in its typings); the setup itself is discarded.
  (template as unknown as { _setup(options: object): unknown })._setup({});
}

/** The template spec a precompile produced: a JavaScript object literal, evaluated as Handlebars' own compile() does. */
function evaluateSpec(spec: string): TemplateSpecification {
  // The text is what hb.precompile produced, in this process or an earlier one (a private cache entry).
  return new Function(`return ${spec};`)() as TemplateSpecification;
}

/**
 * A pass's result; its lookups are gathered when first read (a resource without `min_endpoints` never reads them).
 * Long runs stand in the output as placeholders (each.ts): the text joins them when asked for, the chunks use
 * their encoded blocks.
 */
function result(output: string, state: RenderState): RenderResult {
  let lookups: Lookup[] | undefined;
  if (state.runs.length === 0) {
    return {
      text: output,
      get lookups() {
        return (lookups ??= passLookups(state));
      },
    };
  }
  const pieces = splitRuns(output, state);
  let text: string | undefined;
  return {
    // The runs' text from their bytes: what the file gets (the parts are the next render's by then).
    get text() {
      return (text ??= pieces.map((p) => (typeof p === 'string' ? p : Buffer.concat(p.blocks).toString('utf8'))).join(''));
    },
    get lookups() {
      return (lookups ??= passLookups(state));
    },
    chunks: () => pieces.flatMap((p) => (typeof p === 'string' ? [Buffer.from(p, 'utf8')] : p.blocks)),
  };
}

/** The result of a render whose whole output was kept: its lookups deduplicated when first read. */
function keptResult(text: string, kept: Lookup[]): RenderResult {
  let lookups: Lookup[] | undefined;
  return {
    text,
    reused: true,
    get lookups(): Lookup[] {
      if (lookups) return lookups;
      const first = new Map<string, Lookup>();
      for (const l of kept) if (!first.has(`${l.helper}\0${l.arg}`)) first.set(`${l.helper}\0${l.arg}`, l);
      return (lookups = [...first.values()]);
    },
  };
}

/** The output between and around its run placeholders, and the runs in their places. */
function splitRuns(output: string, state: RenderState): (string | RunOutput)[] {
  const pieces: (string | RunOutput)[] = [];
  const re = new RegExp(`\0${state.token}:(\\d+)\0`, 'g');
  let from = 0;
  for (let m = re.exec(output); m; m = re.exec(output)) {
    pieces.push(output.slice(from, m.index), state.runs[Number(m[1])] as RunOutput);
    from = m.index + m[0].length;
  }
  pieces.push(output.slice(from));
  return pieces;
}

/**
 * One template's memos (memo.ts): one per key space and root context, so the members of a file set (one render per
 * name) each keep their own outputs; and which root contexts' whole outputs read which paths, to tell which of them
 * a change can concern.
 */
class Memos {
  private readonly byRoot = new Map<string, BlockMemo>();
  /** Path → root contexts whose kept output read it: one context as itself (the usual case: a member's own keys), more as a set. */
  private readonly readers = new Map<string, string | Set<string>>();
  /** Root contexts whose last output was not kept: any change may concern them. */
  private readonly unkept = new Set<string>();
  private since: { view: KeyView; mark: number } | undefined;

  /** The memo for this render; undefined when the view keeps no versions (nothing to compare with). */
  of(ctx: RenderContext): BlockMemo | undefined {
    const { view } = ctx;
    if (!versioned(view)) return undefined;
    const key = ctx.context ?? '';
    let memo = this.byRoot.get(key);
    if (!memo || memo.view.target !== view) this.byRoot.set(key, (memo = new BlockMemo(view)));
    return memo;
  }

  /** After a render for `context`: what its whole output read, if it was kept. */
  rendered(context: string | undefined, memo: BlockMemo): void {
    const key = context ?? '';
    const paths = memo.rootPaths(context ?? {});
    if (!paths) {
      this.unkept.add(key);
      return;
    }
    this.unkept.delete(key);
    for (const path of paths) {
      const readers = this.readers.get(path);
      if (readers === undefined || readers === key) this.readers.set(path, key);
      else if (typeof readers === 'string') this.readers.set(path, new Set([readers, key]));
      else readers.add(key);
    }
  }

  /** See {@link CompiledTemplate.changedContexts}. */
  changed(view: KeyView): Set<string> | undefined {
    const since = this.since;
    const mark = view.changeMark;
    this.since = mark === undefined ? undefined : { view, mark };
    if (since?.view !== view) return undefined;
    const keys = view.changedSince?.(since.mark);
    if (!keys) return undefined;
    const out = new Set(this.unkept);
    for (const key of keys) {
      for (const p of pathAndAbove(key)) {
        const readers = this.readers.get(p);
        if (typeof readers === 'string') out.add(readers);
        else for (const context of readers ?? []) out.add(context);
      }
    }
    return out;
  }

  /** Forgets every root context but `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const key of this.byRoot.keys()) if (!keep.has(key)) this.byRoot.delete(key);
    for (const key of this.unkept) if (!keep.has(key)) this.unkept.delete(key);
    for (const [path, readers] of this.readers) {
      if (typeof readers === 'string') {
        if (!keep.has(readers)) this.readers.delete(path);
        continue;
      }
      for (const key of readers) if (!keep.has(key)) readers.delete(key);
      if (readers.size === 0) this.readers.delete(path);
    }
  }
}

/** Compiles and renders templates; one engine per process shares the DNS cache and warning memory. */
export class TemplateEngine {
  private readonly hb = Handlebars.create();
  /** Config files: no HTML escaping; strict (see strict.ts). */
  private readonly compileOptions: CompileOptions;
  private readonly log: Logger;
  private readonly dns: DnsCache;
  private readonly records = new Map<string, CachedRecord>();
  private readonly serviceDirs: RenderState['serviceDirs'] = new Map();
  private readonly serviceLists: RenderState['serviceLists'] = new Map();
  private readonly templatesDir: string | undefined;
  private readonly cache: SpecCache | undefined;
  private readonly incremental: boolean;
  /** Spells the placeholders of long runs in a render's output (see each.ts); unknown outside this process. */
  private readonly token = randomBytes(12).toString('hex');

  constructor(opts: TemplateEngineOptions = {}) {
    this.incremental = opts.incremental ?? true;
    this.log = (opts.log ?? silentLogger).child({ component: 'render' });
    this.templatesDir = opts.templatesDir ?? (opts.sandboxDir === undefined ? undefined : join(opts.sandboxDir, 'templates'));
    this.dns = new DnsCache(opts.dns);
    registerHelpers(this.hb, { sandboxDir: opts.sandboxDir });
    locateStrictLookups(this.hb);
    dataVariablesAreNotHelpers(this.hb);
    this.compileOptions = strictCompileOptions(this.hb);
    this.cache = opts.cacheDir === undefined ? undefined : new SpecCache(opts.cacheDir, this.log);
  }

  /** Parses and compiles now, so a syntax error surfaces at load time with `path:line:column`. */
  compileTemplate(path: string, source: string): CompiledTemplate {
    checkTemplateLimits(path, source);
    const template = this.hb.compile(source, this.compileOptions);
    try {
      compileNow(template);
    } catch (err) {
      throw compileError(this.hb, path, source, err);
    }
    return this.compiled(path, source, template);
  }

  private compiled(path: string, source: string, template: HandlebarsTemplateDelegate): CompiledTemplate {
    const memos = this.incremental ? new Memos() : undefined;
    // A partial indents the text it returns line by line when called indented: a run inside one must be text.
    const wholeRuns = !PARTIAL_CALL.test(source);
    const render = async (ctx: RenderContext): Promise<RenderResult> => {
      const memo = memos?.of(ctx);
      const result = await this.renderPasses(path, template, ctx, memo, wholeRuns);
      if (memo && !result.reused) memos?.rendered(ctx.context, memo);
      return result;
    };
    const kept = (ctx: RenderContext): RenderResult | undefined => {
      const whole = memos?.of(ctx)?.whole(ctx.context ?? {});
      return whole && keptResult(whole.text, whole.lookups);
    };
    return {
      path,
      render,
      kept,
      changedContexts: (view) => memos?.changed(view),
      retain: (keep) => memos?.retain(keep),
    };
  }

  /** As compileTemplate, through the cache: a template compiled before (same text, options, Handlebars) is only evaluated. */
  private async compileCached(cache: SpecCache, path: string, source: string): Promise<CompiledTemplate> {
    checkTemplateLimits(path, source);
    const key = specKey(source, this.compileOptions, this.hb.VERSION);
    const stored = await cache.get(key);
    if (stored !== undefined) {
      try {
        return this.compiled(path, source, this.hb.template(evaluateSpec(stored)));
      } catch (err) {
        this.log.debug({ template: path, err: errorMessage(err) }, 'template cache entry dropped');
        await cache.drop(key);
      }
    }
    let spec: string;
    try {
      spec = this.hb.precompile(source, this.compileOptions) as string;
    } catch (err) {
      throw compileError(this.hb, path, source, err);
    }
    const template = this.hb.template(evaluateSpec(spec));
    await cache.put(key, spec);
    return this.compiled(path, source, template);
  }

  /** Reads and compiles a template file; a missing or unreadable file is a TemplateError naming it. */
  async loadTemplateFile(path: string): Promise<CompiledTemplate> {
    let source: string;
    try {
      source = await readTemplateSource(path, this.templatesDir);
    } catch (err) {
      if (err instanceof TemplateError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'template file not found' : `cannot read template file: ${errorMessage(err)}`;
      throw new TemplateError(why, { where: path, cause: err });
    }
    return this.cache ? this.compileCached(this.cache, path, source) : this.compileTemplate(path, source);
  }

  /** Renders; when helpers missed DNS answers, resolves them and renders again (bounded). */
  private async renderPasses(path: string, template: HandlebarsTemplateDelegate, ctx: RenderContext, memo: BlockMemo | undefined, wholeRuns: boolean): Promise<RenderResult> {
    const log = ctx.log ?? this.log;
    const prefix = absolutePrefix(ctx.prefix);
    const base = { file: path, prefix, log, token: this.token, wholeRuns, wantLookups: ctx.lookups ?? true, dns: this.dns, records: this.records, serviceDirs: this.serviceDirs, serviceLists: this.serviceLists };
    const root = ctx.context ?? {};
    const kept = memo?.whole(root);
    if (kept) return keptResult(kept.text, kept.lookups);
    for (let pass = 1; ; pass++) {
      const state = newRenderState(memo ? { ...base, view: memo.view, memo } : { ...base, view: ctx.view });
      const run = (): string => template(root, { data: { [DATA_KEY]: state } });
      let text: string;
      try {
        text = memo ? memo.render(root, run) : run();
      } catch (err) {
        throw renderError(path, err);
      }
      if (state.dnsMisses.size === 0) return result(text, state);
      if (pass >= MAX_PASSES) {
        log.warn({ template: path, names: [...state.dnsMisses.values()].map((r) => r.name) }, 'DNS names still unresolved after the last pass');
        return result(text, state);
      }
      await this.dns.resolve(state.dnsMisses.values(), log);
    }
  }
}

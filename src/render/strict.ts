// Strict templates: a misspelt helper fails the load, a misspelt name fails the render, each at file:line:column
// (consul-template's error_on_missing_key, Handlebars' strict mode). Helper arguments stay lenient, so
// `{{#if meta.version}}` and `{{default "1" meta.version}}` are the ways to use a field that may be missing.
import type Handlebars from 'handlebars';

/** The part of Handlebars' runtime container a strict lookup uses (not in its typings). */
interface Container {
  strict(obj: unknown, name: string, loc: unknown): unknown;
  lookupProperty(obj: unknown, name: string): unknown;
}

/** The compiled template spec Handlebars hands to `template` (not in its typings). */
interface TemplateSpec {
  main: (this: unknown, container: Container, ...rest: unknown[]) => unknown;
}

type Env = typeof Handlebars;

/** Compile options: no HTML escaping, only the registered helpers, strict lookups. */
export function strictCompileOptions(hb: Env): CompileOptions {
  const knownHelpers = Object.fromEntries(Object.keys(hb.helpers).map((name) => [name, true]));
  return { noEscape: true, strict: true, knownHelpers, knownHelpersOnly: true };
}

/**
 * Installs a strict lookup that fails with a position on every context. Handlebars' own uses `name in obj`, which
 * throws a TypeError without one when the context is a string (`{{#each (getvs …)}}{{foo}}`), and quotes the
 * value looked into (a store value, maybe a secret) in its message.
 */
export function locateStrictLookups(hb: Env): void {
  const template = hb.template.bind(hb) as unknown as (spec: TemplateSpec) => unknown;
  const patched = (spec: TemplateSpec): unknown => {
    const main = spec.main;
    spec.main = function (this: unknown, container: Container, ...rest: unknown[]): unknown {
      container.strict = (obj, name, loc) => {
        if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function') || !(name in obj)) {
          throw new hb.Exception(`"${name}" not defined`, { loc } as unknown as ConstructorParameters<Env['Exception']>[1]);
        }
        return container.lookupProperty(obj, name);
      };
      return main.call(this, container, ...rest);
    };
    return template(spec);
  };
  (hb as unknown as { template: typeof patched }).template = patched;
}

/** The slice of Handlebars' compiler class we adjust (not in its typings). */
interface CompilerClass {
  prototype: { compiler: CompilerClass; classifySexpr(sexpr: SubExpression): string };
}

/** The part of a mustache's AST the classification reads. */
interface SubExpression {
  path: { data?: boolean };
  params: unknown[];
  hash?: unknown;
}

/**
 * Keeps data variables (`{{@index}}`, `{{@key}}`) from being taken for a known helper of the same name: Handlebars
 * classifies `@index` by its bare name, which with knownHelpersOnly is the Go-style `index` helper.
 */
export function dataVariablesAreNotHelpers(hb: Env): void {
  const env = hb as unknown as { Compiler: CompilerClass };
  const Base = env.Compiler;
  const classify = Base.prototype.classifySexpr;
  // A subclass on this environment only; child programs are compiled with `this.compiler`, so it points here too.
  const DataAwareCompiler = function (this: object): void {} as unknown as CompilerClass;
  const proto = Object.create(Base.prototype) as CompilerClass['prototype'];
  proto.compiler = DataAwareCompiler;
  proto.classifySexpr = function (this: object, sexpr: SubExpression): string {
    if (sexpr.path.data && sexpr.params.length === 0 && !sexpr.hash) return 'simple';
    return classify.call(this, sexpr);
  };
  DataAwareCompiler.prototype = proto;
  env.Compiler = DataAwareCompiler;
}

/** Handlebars' wording of a strict-mode failure, in sidekick's; any other message unchanged. */
export function strictMessage(message: string): string {
  const helper = /^You specified knownHelpersOnly, but used the unknown helper (\S+)/.exec(message);
  if (helper) return `${helper[1]}: no such helper (a typo, or a Go function sidekick does not provide?)`;
  const name = /^"(.*)" not defined(?: in |$)/s.exec(message);
  if (!name) return message;
  const n = (name[1] as string).slice(0, 80);
  return `unknown name "${n}" (a typo? a field that may be missing: {{#if ${n}}}…{{/if}} or {{default "…" ${n}}})`;
}

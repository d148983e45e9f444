// The engine: eager compilation with path:line:column errors, the `}}}` hint, two-pass DNS.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import { TemplateEngine } from '../../../src/render/engine.js';
import type { DnsResolver, SrvRecord } from '../../../src/render/dns.js';
import { TemplateError } from '../../../src/util/errors.js';
import { tempDir } from '../../support/tmp.js';
import { captureLog, MapView } from './fixtures.js';

function compileErr(source: string, path = 'templates/nginx.tmpl'): TemplateError {
  try {
    new TemplateEngine().compileTemplate(path, source);
  } catch (err) {
    expect(err).toBeInstanceOf(TemplateError);
    return err as TemplateError;
  }
  throw new Error('expected a compile error');
}

/** A resolver that answers from a table and counts calls; it never touches the network. */
function fakeResolver(table: Record<string, string[] | SrvRecord[] | Error>): DnsResolver & { calls: string[] } {
  const calls: string[] = [];
  const answer = <T>(name: string): Promise<T> => {
    calls.push(name);
    const a = table[name];
    if (a === undefined) return Promise.reject(new Error(`ENOTFOUND ${name}`));
    if (a instanceof Error) return Promise.reject(a);
    return Promise.resolve(a as T);
  };
  return { calls, lookupIP: (name) => answer<string[]>(name), lookupSRV: (name) => answer<SrvRecord[]>(name) };
}

const srv = (target: string, port: number, priority = 10, weight = 5): SrvRecord => ({
  Target: target,
  Port: port,
  Priority: priority,
  Weight: weight,
  target,
  port,
  priority,
  weight,
});

describe('compile errors', () => {
  it.each([
    ['unclosed string', 'a\nb {{getv "/x}}\n', /^templates\/nginx\.tmpl:2:10: parse error: /],
    ['unclosed block', 'x\n{{#each (getvs "/a/*")}}\n  y\n', /^templates\/nginx\.tmpl:4:1: parse error: Expecting/],
    ['mismatched block (compile-time exception)', 'a\n  {{#if x}}\n{{/each}}', /^templates\/nginx\.tmpl:2:6: if doesn't match each$/],
    ['invalid path (compile-time exception)', 'a {{foo/../bar}}', /^templates\/nginx\.tmpl:1:5: Invalid path: foo\/\.\.$/],
    ['partial arguments (compiler exception)', '\n{{> (p) a b}}', /^templates\/nginx\.tmpl:2:1: Unsupported number of partial arguments: 2$/],
    ['unterminated comment (lexical error)', 'x {{!-- never closed', /^templates\/nginx\.tmpl:1:\d+: parse error: unrecognized text/],
  ])('%s', (_name, source, re) => {
    expect(compileErr(source).message).toMatch(re);
  });

  it('explains the }}} trap of nginx configs', () => {
    const src = 'upstream app {\n{{#each (getvs "/app/*")}}  server {{this}};\n{{/each}}}\n';
    const err = compileErr(src);
    expect(err.message).toMatch(/^templates\/nginx\.tmpl:3:8: parse error: Expecting 'CLOSE'.*got 'CLOSE_UNESCAPED' near "\{\{\/each\}\}\}"/);
    expect(err.message).toContain('hint: "}}}" is read as the end of a triple-stash: write "{{/each}} }" or put the brace on its own line');
    expect(err.where).toBe('templates/nginx.tmpl:3:8'); // the column of `}}}`
    // The suggested fixes parse.
    new TemplateEngine().compileTemplate('ok.tmpl', 'upstream app {\n{{#each (getvs "/app/*")}}  server {{this}};\n{{/each}} }\n');
    new TemplateEngine().compileTemplate('ok.tmpl', 'upstream app {\n{{#each (getvs "/app/*")}}  server {{this}};\n{{/each}}\n}\n');
  });

  it('explains the {{{ trap', () => {
    expect(compileErr('location / {{{getv "/x"}}\n').message).toContain('"{{{" is read as the start of a triple-stash');
  });

  it('fails at load time, before any render', () => {
    // No view is ever given: the error must come from compileTemplate itself.
    expect(() => new TemplateEngine().compileTemplate('t.tmpl', '{{#if}}')).toThrow(TemplateError);
  });

  it('leaves the shared Handlebars parser untouched', () => {
    compileErr('{{x "a}}');
    expect(() => Handlebars.parse('{{x "a}}')).toThrow(/^Parse error on line 1/);
    expect(Handlebars.helpers.getv).toBeUndefined();
  });
});

describe('render', () => {
  it('data variables are not helpers: {{@index}} beside the index helper, also in nested blocks', async () => {
    const t = new TemplateEngine().compileTemplate(
      't.tmpl',
      '{{#each (getvs "/a/*")}}{{@index}}={{this}}{{#if @first}}!{{/if}} {{#each (split this ".")}}[{{@../index}}.{{@index}}]{{/each}};{{/each}}{{index (split "x.y" ".") 1}}',
    );
    const { text } = await t.render({ view: new MapView({ '/a/1': 'p.q', '/a/2': 'r' }), prefix: '' });
    expect(text).toBe('0=p.q! [0.0][0.1];1=r [1.0];y');
  });

  it('returns text and lookups; noEscape keeps config text verbatim', async () => {
    const t = new TemplateEngine().compileTemplate('t.tmpl', '{{#each (getvs "/a/*")}}{{this}};{{/each}}');
    expect(await t.render({ view: new MapView({ '/a/1': '<x & "y">' }), prefix: '' })).toEqual({
      text: '<x & "y">;',
      lookups: [{ helper: 'getvs', arg: '/a/*', count: 1 }],
    });
  });


  it('runtime errors from Handlebars name the file', async () => {
    const t = new TemplateEngine().compileTemplate('t.tmpl', '{{#each}}{{/each}}');
    await expect(t.render({ view: new MapView(), prefix: '' })).rejects.toThrow(/^t\.tmpl: Must pass iterator to #each/);
  });

  it('helper errors carry file:line:column', async () => {
    const t = new TemplateEngine().compileTemplate('templates/nginx.tmpl', 'a\nb\n   {{getv "/nginx/port"}}');
    const err = await t.render({ view: new MapView(), prefix: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).where).toBe('templates/nginx.tmpl:3:4');
    expect((err as TemplateError).message).toBe('templates/nginx.tmpl:3:4: getv: key /nginx/port does not exist');
  });
});

describe('strict lookups', () => {
  const view = new MapView({
    '/services/web/a': '{"host":"127.0.0.1","port":8081,"meta":{"version":"1.4"}}',
    '/services/web/b': '{"host":"127.0.0.1","port":8082}',
    '/secret/1': 's3cret-value',
  });
  const renderErr = async (source: string): Promise<TemplateError> => {
    const err = await new TemplateEngine().compileTemplate('t.tmpl', source).render({ view, prefix: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    return err as TemplateError;
  };
  const hint = (n: string): string => `unknown name "${n}" (a typo? a field that may be missing: {{#if ${n}}}…{{/if}} or {{default "…" ${n}}})`;

  it('a misspelt helper fails the load at file:line:column: {{#each (servics)}}', () => {
    expect(compileErr('x\n{{#each (servics)}}{{this}}{{/each}}', 't.tmpl').message).toBe(
      't.tmpl:2:9: servics: no such helper (a typo, or a Go function sidekick does not provide?)',
    );
  });

  it.each([
    ['a misspelt field of an instance', 'upstream web {\n{{#each (service "web")}}\n  server {{hots}}:{{port}};\n{{/each}}\n}', 't.tmpl:3:12', 'hots'],
    ['a name at the top', '{{nothing}}', 't.tmpl:1:3', 'nothing'],
    ['a path below a missing name', 'x {{nothing.deeper}}', 't.tmpl:1:5', 'deeper'],
    ['a missing meta key', '{{#each (service "web")}}{{meta.version}}{{/each}}', 't.tmpl:1:28', 'version'],
    ['a record without a node', '{{#each (service "web")}}{{node}}{{/each}}', 't.tmpl:1:28', 'node'],
    ['a section on a missing name', '{{#hots}}x{{/hots}}', 't.tmpl:1:4', 'hots'],
  ])('%s fails the render at file:line:column (of the name)', async (_name, source, where, name) => {
    const err = await renderErr(source);
    expect(err.where).toBe(where);
    expect(err.message).toBe(`${where}: ${hint(name)}`);
  });

  it('a name looked up on a string value is located too, and the value is not quoted', async () => {
    const err = await renderErr('{{#each (getvs "/secret/*")}}\n  {{valu}}\n{{/each}}');
    expect(err.message).toBe(`t.tmpl:2:5: ${hint('valu')}`);
    expect(JSON.stringify(err)).not.toContain('s3cret');
  });

  it('an optional field renders through {{#if}}, default and or; helper arguments are not strict', async () => {
    const source = [
      '{{#each (service "web")}}',
      '{{id}} {{#if meta.version}}v{{meta.version}}{{else}}-{{/if}} {{default "0" meta.version}} {{or node "none"}} {{default "x" meta.version}}',
      '{{/each}}',
    ].join('\n');
    const t = new TemplateEngine().compileTemplate('t.tmpl', source);
    expect((await t.render({ view, prefix: '' })).text).toBe('a v1.4 1.4 none 1.4\nb - 0 none x\n');
  });
});

describe('loadTemplateFile', () => {
  it('reads and compiles; a missing file names the path', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, 'x.tmpl');
      await writeFile(path, 'v={{getv "/k"}}');
      const engine = new TemplateEngine();
      const t = await engine.loadTemplateFile(path);
      expect((await t.render({ view: new MapView({ '/k': '1' }), prefix: '' })).text).toBe('v=1');
      const missing = join(dir, 'missing.tmpl');
      await expect(engine.loadTemplateFile(missing)).rejects.toThrow(`${missing}: template file not found`);
      await writeFile(path, '{{/each}}}');
      await expect(engine.loadTemplateFile(path)).rejects.toThrow(`${path}:1:1: parse error`);
    } finally {
      await cleanup();
    }
  });
});

describe('two-pass DNS', () => {
  it('resolves localhost through the system resolver on a second pass', async () => {
    const t = new TemplateEngine().compileTemplate('dns.tmpl', '{{#each (lookupIPV4 "localhost")}}{{this}} {{/each}}|{{len (lookupIP "localhost")}}');
    const { text } = await t.render({ view: new MapView(), prefix: '' });
    expect(text).toMatch(/^127\.0\.0\.1 \|[1-9]$/);
  });

  it('caches answers for the TTL, then looks again', async () => {
    let now = 1_000_000;
    const resolver = fakeResolver({ 'app.internal': ['10.0.0.2', '10.0.0.1', 'fd00::1', '10.0.0.1'] });
    const engine = new TemplateEngine({ dns: { resolver, ttlMs: 30_000, now: () => now } });
    const t = engine.compileTemplate('dns.tmpl', '{{join (lookupIP "app.internal") ","}}|{{join (lookupIPV4 "app.internal") ","}}|{{join (lookupIPV6 "app.internal") ","}}');
    const view = new MapView();
    expect((await t.render({ view, prefix: '' })).text).toBe('10.0.0.1,10.0.0.2,fd00::1|10.0.0.1,10.0.0.2|fd00::1');
    expect(resolver.calls).toEqual(['app.internal']); // three helpers, one lookup
    now += 29_000;
    await t.render({ view, prefix: '' });
    expect(resolver.calls).toHaveLength(1);
    now += 2_000;
    await t.render({ view, prefix: '' });
    expect(resolver.calls).toHaveLength(2);
  });

  it('a failed lookup renders empty, warns, and is cached briefly', async () => {
    let now = 0;
    const { log, lines } = captureLog();
    const resolver = fakeResolver({ 'down.internal': new Error('SERVFAIL') });
    const engine = new TemplateEngine({ log, dns: { resolver, negativeTtlMs: 5_000, now: () => now } });
    const t = engine.compileTemplate('dns.tmpl', '[{{#each (lookupIP "down.internal")}}{{this}}{{/each}}]');
    expect((await t.render({ view: new MapView(), prefix: '' })).text).toBe('[]');
    expect(lines.filter((l) => l.msg === 'DNS lookup failed; using an empty answer')).toEqual([
      expect.objectContaining({ name: 'down.internal', err: 'SERVFAIL', component: 'render' }),
    ]);
    await t.render({ view: new MapView(), prefix: '' });
    expect(resolver.calls).toHaveLength(1);
    now += 6_000;
    await t.render({ view: new MapView(), prefix: '' });
    expect(resolver.calls).toHaveLength(2);
  });

  it('lookupSRV builds _service._proto.name and sorts like confd', async () => {
    const resolver = fakeResolver({ '_http._tcp.example.internal': [srv('b.example.internal.', 80), srv('a.example.internal.', 8080), srv('a.example.internal.', 80)] });
    const t = new TemplateEngine({ dns: { resolver } }).compileTemplate('srv.tmpl', '{{#each (lookupSRV "http" "tcp" "example.internal")}}{{Target}}:{{Port}} {{/each}}');
    expect((await t.render({ view: new MapView(), prefix: '' })).text).toBe('a.example.internal.:80 a.example.internal.:8080 b.example.internal.:80 ');
  });

  it('names derived from a first lookup get another pass, bounded', async () => {
    const resolver = fakeResolver({ 'a.internal': ['b.internal'], 'b.internal': ['10.9.9.9'] });
    const t = new TemplateEngine({ dns: { resolver } }).compileTemplate('chain.tmpl', '{{#each (lookupIP "a.internal")}}{{#each (lookupIP this)}}{{this}}{{/each}}{{/each}}');
    expect((await t.render({ view: new MapView(), prefix: '' })).text).toBe('10.9.9.9');
  });

  it('never sends malformed names to the resolver', async () => {
    const resolver = fakeResolver({});
    const t = new TemplateEngine({ dns: { resolver } }).compileTemplate('bad.tmpl', '[{{lookupIP "a b"}}{{lookupIP ""}}{{lookupIP "x;y"}}]');
    expect((await t.render({ view: new MapView(), prefix: '' })).text).toBe('[]');
    expect(resolver.calls).toEqual([]);
  });
});

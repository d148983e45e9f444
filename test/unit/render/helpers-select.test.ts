// Selecting instances: `service NAME tag=…`, consul-template's `service "TAG.NAME"`, `where`/`whereNot` and
// `groupBy` over instance lists, their errors, and the lookups min_endpoints sees.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TemplateEngine, type CompiledTemplate } from '../../../src/render/engine.js';
import { TemplateError } from '../../../src/util/errors.js';
import { MapView } from './fixtures.js';

const engine = new TemplateEngine();
let n = 0;
const compile = (source: string): CompiledTemplate => engine.compileTemplate(`sel${n++}.tmpl`, source);
async function render(source: string, view: MapView = STORE): Promise<string> {
  return (await compile(source).render({ view, prefix: '' })).text;
}
const rec = (host: string, port: number, extra: Record<string, unknown> = {}): string => JSON.stringify({ host, port, ...extra });

const STORE = new MapView({
  '/services/web/a': rec('10.0.0.1', 80, { tags: ['v2', 'canary'], meta: { zone: 'eu' }, node: 'n1' }),
  '/services/web/b': rec('10.0.0.2', 80, { tags: ['v1', 'Blue'], meta: { zone: 'us' }, node: 'n2' }),
  '/services/web/c': rec('10.0.0.3', 8080, { tags: ['v2'], meta: { zone: 'eu' } }),
  '/services/web/d': '10.0.0.4:80',
  '/services/web/bad': rec('evil;host', 80, { tags: ['v2'] }),
  '/services/api/1': rec('10.0.1.1', 80, { tags: ['v2'] }),
  // A service whose name holds a dot, beside a service its TAG.NAME reading names.
  '/services/v2.db/x': rec('10.0.2.1', 5432, { tags: ['v2'] }),
  '/services/db/y': rec('10.0.2.2', 5432, { tags: ['v2', 'v3'] }),
  // Only an invalid record: not a service, so "v3.db" reads as tag v3 of db.
  '/services/v3.db/bad': 'not a record',
  '/other/web/o1': rec('10.9.0.1', 80, { tags: ['v2'] }),
  '/other/web/o2': rec('10.9.0.2', 80),
});
const ids = (list: string): string => `{{#each ${list}}}{{id}},{{/each}}`;

describe('service: selecting by tag', () => {
  it.each([
    ['tag= keeps the tagged instances in id order', ids('(service "web" tag="v2")'), 'a,c,'],
    ['TAG.NAME means the same', ids('(service "v2.web")'), 'a,c,'],
    ['a tag in upper case (not a service name) still reads as TAG.NAME', ids('(service "Blue.web")'), 'b,'],
    ['a tag no instance has selects nothing', `[${ids('(service "web" tag="nope")')}]`, '[]'],
    ['TAG.NAME of an unknown service is empty', `[${ids('(service "v2.nope")')}]`, '[]'],
    ['an existing service of the exact dotted name wins over TAG.NAME', ids('(service "v2.db")'), 'x,'],
    ['the same tag through tag= reads the other service', ids('(service "db" tag="v2")'), 'y,'],
    ['with tag= the name is taken as written, dots and all', ids('(service "v2.db" tag="v2")'), 'x,'],
    ['a dotted name with only invalid records is not a service: TAG.NAME applies', ids('(service "v3.db")'), 'y,'],
    ['a first part that cannot be a tag leaves the name as written', `[${ids('(service "a_b.web")')}]`, '[]'],
    ['root= with tag=', ids('(service "web" root="/other" tag="v2")'), 'o1,'],
    ['root= with TAG.NAME', ids('(service "v2.web" root="/other")'), 'o1,'],
    ['a number as the tag is its text', `[${ids('(service "web" tag=2)')}]`, '[]'],
  ])('%s', async (_what, source, expected) => {
    expect(await render(source)).toBe(expected);
  });

  it('records the selected count as the lookup min_endpoints checks, once per call as written', async () => {
    const t = compile(
      '{{service "web" tag="v2"}}{{service "v2.web"}}{{service "web" tag="nope"}}{{service "v2.db"}}{{service "v3.db"}}' +
        '{{service "web" root="/other/" tag="v2"}}{{service "web" tag="v2"}}{{where (service "web") "tags" "canary"}}{{groupBy (service "api") "tags"}}',
    );
    const { lookups } = await t.render({ view: STORE, prefix: '' });
    expect(lookups).toEqual([
      { helper: 'service', arg: 'web tag=v2', count: 2 },
      { helper: 'service', arg: 'v2.web', count: 2 },
      { helper: 'service', arg: 'web tag=nope', count: 0 },
      { helper: 'service', arg: 'v2.db', count: 1 },
      { helper: 'service', arg: 'v3.db', count: 1 },
      { helper: 'service', arg: '/other/web tag=v2', count: 1 },
      // where and groupBy add none: the list they filter was counted by the service call that made it.
      { helper: 'service', arg: 'web', count: 4 },
      { helper: 'service', arg: 'api', count: 1 },
    ]);
  });

  it('the dotted reading follows the store: the exact service wins once it has an instance', async () => {
    const view = new MapView({ '/services/web/a': rec('10.0.0.1', 80, { tags: ['v2'] }) });
    const t = compile(ids('(service "v2.web")'));
    expect((await t.render({ view, prefix: '' })).text).toBe('a,');
    const both = new MapView({ '/services/web/a': rec('10.0.0.1', 80, { tags: ['v2'] }), '/services/v2.web/z': rec('10.0.0.9', 80) });
    expect((await t.render({ view: both, prefix: '' })).text).toBe('z,');
  });
});

describe('where, whereNot, groupBy', () => {
  it.each([
    ['meta key equals', ids('(where (service "web") "meta.zone" "eu")'), 'a,c,'],
    ['tags contains', ids('(where (service "web") "tags" "v2")'), 'a,c,'],
    ['node', ids('(where (service "web") "node" "n1")'), 'a,'],
    ['port as a number', ids('(where (service "web") "port" 8080)'), 'c,'],
    ['port as text', ids('(where (service "web") "port" "8080")'), 'c,'],
    ['address', ids('(where (service "web") "address" "10.0.0.2:80")'), 'b,'],
    ['host, id and name', `${ids('(where (service "web") "host" "10.0.0.4")')}${ids('(where (service "web") "id" "b")')}${ids('(where (service "api") "name" "api")')}`, 'd,b,1,'],
    ['without a value: has the field', ids('(where (service "web") "node")'), 'a,b,'],
    ['without a value: has the meta key', ids('(where (service "web") "meta.zone")'), 'a,b,c,'],
    ['without a value: has a tag', ids('(where (service "web") "tags")'), 'a,b,c,'],
    ['whereNot: the others', ids('(whereNot (service "web") "tags" "v2")'), 'b,d,'],
    ['whereNot without a value: lacks the field', ids('(whereNot (service "web") "node")'), 'c,d,'],
    ['chained', ids('(whereNot (where (service "web") "meta.zone" "eu") "tags" "canary")'), 'c,'],
    ['a meta key no instance has matches nothing', `[${ids('(where (service "web") "meta.rack" "r1")')}]`, '[]'],
    ['an empty list', `[${ids('(where (service "nope") "tags" "v2")')}]`, '[]'],
    ['groupBy meta: sorted keys as @key, instances in list order; one lacking the field is in none', '{{#each (groupBy (service "web") "meta.zone")}}{{@key}}={{#each this}}{{id}},{{/each}};{{/each}}', 'eu=a,c,;us=b,;'],
    ['groupBy tags: one group per tag', '{{#each (groupBy (service "web") "tags") as |group tag|}}{{tag}}={{#each group}}{{id}},{{/each}};{{/each}}', 'Blue=b,;canary=a,;v1=b,;v2=a,c,;'],
    ['groupBy port: keys in string order', '{{#each (groupBy (service "web") "port")}}{{@key}}={{len this}};{{/each}}', '80=3;8080=1;'],
    ['groupBy over an empty list', '{{#each (groupBy (service "nope") "node")}}x{{else}}none{{/each}}', 'none'],
    ['a group by key, and how many groups', '{{len (index (groupBy (service "web") "meta.zone") "eu")}} {{len (groupBy (service "web") "node")}}', '2 2'],
    ['a group by name in a block', '{{#with (groupBy (service "web") "meta.zone")}}{{#each eu}}{{address}} {{/each}}{{/with}}', '10.0.0.1:80 10.0.0.3:8080 '],
    ['a group is a list for where', ids('(where (index (groupBy (service "web") "meta.zone") "eu") "port" 80)'), 'a,'],
  ])('%s', async (_what, source, expected) => {
    expect(await render(source)).toBe(expected);
  });

  it("renders docs/render.md's example as shown", async () => {
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/render.md'), 'utf8');
    const example = /```\n(upstream web_v2 \{\n[\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    expect(await render(example ?? '')).toBe('upstream web_v2 {\n    # zone eu\n    server 10.0.0.1:80;\n    server 10.0.0.3:8080;\n}\n');
  });

  it('strict printing still applies inside the selection', async () => {
    await expect(render('{{#each (where (service "web") "node")}}{{meta.rack}}{{/each}}')).rejects.toThrow(/:1:\d+: unknown name "rack"/);
  });
});

describe('bad arguments: one TemplateError naming file:line:column and what is accepted', () => {
  it.each([
    ['a string for the list', '{{where "x" "tags" "v2"}}', 'where: expected a list of service instances (from service, where or groupBy) as the first argument, got string'],
    ['a list of names', '{{where (services) "tags" "v2"}}', 'where: expected a list of service instances (from service, where or groupBy) as the first argument, got a list holding a string that is not one'],
    ['a map', '{{groupBy (groupBy (service "web") "node") "node"}}', 'groupBy: expected a list of service instances (from service, where or groupBy) as the first argument, got object'],
    ['a misspelt field', '{{where (service "web") "hots" "x"}}', 'where: unknown field path "hots" (expected name, id, host, port, address, node, tags or meta.<key>)'],
    ['meta without a key', '{{whereNot (service "web") "meta" "x"}}', 'whereNot: unknown field path "meta" (expected name, id, host, port, address, node, tags or meta.<key>)'],
    ['a meta key that cannot exist', '{{groupBy (service "web") "meta.a b"}}', 'groupBy: field path "meta.a b": a meta key matches ^[A-Za-z0-9._-]{1,128}$'],
    ['a field path that is not a string', '{{where (service "web") 5 "x"}}', 'where: expected a field path (name, id, host, port, address, node, tags or meta.<key>) as the second argument, got number'],
    ['a list as the value', '{{where (service "web") "tags" (service "web")}}', 'where: expected a string as value to match, got list'],
    ['too few arguments', '{{where (service "web")}}', 'where: expected 2 to 3 arguments, got 1'],
    ['too many for groupBy', '{{groupBy (service "web") "tags" "v2"}}', 'groupBy: expected 2 arguments, got 3'],
    ['an option where takes none', '{{where (service "web") "tags" "v2" tag="v2"}}', 'where: unknown option tag= (it takes none)'],
    ['a misspelt option of service', '{{service "web" tga="v2"}}', 'service: unknown option tga= (accepted: root=, tag=)'],
    ['an empty tag', '{{service "web" tag=""}}', 'service: tag= "" is not a tag: tags match ^[A-Za-z0-9._:=/@+,-]+$'],
    ['a tag with a space', '{{service "web" tag="a b"}}', 'service: tag= "a b" is not a tag: tags match ^[A-Za-z0-9._:=/@+,-]+$'],
    ['a bad name with tag=', '{{service "Web" tag="v2"}}', 'service: name "Web" must match'],
    ['a bad dotted name says TAG.NAME is accepted too', '{{service "x.Web"}}', 'or TAG.NAME (a tag, a dot, a service name)'],
  ])('%s', async (_what, source, message) => {
    const err: unknown = await render(`\n  ${source}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect(String((err as Error).message)).toMatch(/^sel\d+\.tmpl:2:3: /);
    expect((err as Error).message).toContain(message);
  });
});

describe('properties over random instance sets', () => {
  const PATHS = ['tags', 'meta.zone', 'node', 'port'] as const;
  const VALUES: Record<(typeof PATHS)[number], string[]> = { tags: ['a', 'b', 'c'], 'meta.zone': ['eu', 'us'], node: ['n1', 'n2'], port: ['80', '81'] };
  const instance = fc.record({
    tags: fc.subarray(VALUES.tags),
    zone: fc.option(fc.constantFrom(...VALUES['meta.zone']), { nil: undefined }),
    node: fc.option(fc.constantFrom(...VALUES.node), { nil: undefined }),
    port: fc.constantFrom(80, 81),
  });
  const stores = fc.array(instance, { maxLength: 8 }).map((insts) => {
    const entries: Record<string, string> = {};
    insts.forEach((i, k) => {
      const meta = i.zone === undefined ? {} : { zone: i.zone };
      entries[`/services/web/i${k}`] = rec(`10.0.0.${k + 1}`, i.port, { tags: i.tags, meta, ...(i.node === undefined ? {} : { node: i.node }) });
    });
    return new MapView(entries);
  });
  const cache = new Map<string, CompiledTemplate>();
  const run = async (source: string, view: MapView): Promise<string[]> => {
    let t = cache.get(source);
    if (!t) cache.set(source, (t = compile(source)));
    return (await t.render({ view, prefix: '' })).text.split(',').filter(Boolean);
  };
  const path = fc.constantFrom(...PATHS);
  const pathValue = path.chain((p) => fc.tuple(fc.constant(p), fc.option(fc.constantFrom(...VALUES[p]), { nil: undefined })));
  const args = (p: string, v: string | undefined): string => (v === undefined ? `"${p}"` : `"${p}" "${v}"`);

  it('where and whereNot partition the list, each keeping its order', async () => {
    await fc.assert(
      fc.asyncProperty(stores, pathValue, async (view, [p, v]) => {
        const all = await run(ids('(service "web")'), view);
        const kept = await run(ids(`(where (service "web") ${args(p, v)})`), view);
        const rest = await run(ids(`(whereNot (service "web") ${args(p, v)})`), view);
        expect(kept.length + rest.length).toBe(all.length);
        expect(all.filter((id) => kept.includes(id))).toEqual(kept);
        expect(all.filter((id) => !kept.includes(id))).toEqual(rest);
      }),
      { numRuns: 60 },
    );
  });

  it('groupBy: sorted keys, each group is where KEY, and the groups with whereNot PATH cover the list', async () => {
    await fc.assert(
      fc.asyncProperty(stores, path, async (view, p) => {
        const all = await run(ids('(service "web")'), view);
        const text = (await compile(`{{#each (groupBy (service "web") "${p}")}}{{@key}}={{#each this}}{{id}} {{/each}};{{/each}}`).render({ view, prefix: '' })).text;
        const groups = text.split(';').filter(Boolean).map((g) => g.split('=') as [string, string]);
        const keys = groups.map(([k]) => k);
        expect(keys).toEqual([...keys].sort());
        for (const [key, members] of groups) {
          expect(members.split(' ').filter(Boolean)).toEqual(await run(ids(`(where (service "web") "${p}" "${key}")`), view));
        }
        const grouped = new Set(groups.flatMap(([, m]) => m.split(' ').filter(Boolean)));
        const lacking = await run(ids(`(whereNot (service "web") "${p}")`), view);
        expect(all.filter((id) => grouped.has(id) || lacking.includes(id))).toEqual(all);
        expect(lacking.filter((id) => grouped.has(id))).toEqual([]);
        // A field with one value per instance splits the instances that have it: the groups, concatenated, are them all.
        if (p !== 'tags') expect(groups.reduce((sum, [, m]) => sum + m.split(' ').filter(Boolean).length, 0)).toBe(all.length - lacking.length);
      }),
      { numRuns: 60 },
    );
  });
});

// Incremental rendering (render/memo.ts) against the full renderer: random templates, random stores and random
// change sequences; after every change both render the same mirror and must agree byte for byte, lookups included.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TemplateEngine, type CompiledTemplate } from '../../../src/render/engine.js';
import { Mirror } from '../../../src/store/mirror.js';

const SERVICES = ['a', 'b', 'c', 'd.e'];
const IDS = ['1', '2', '3'];
const CFG = ['/cfg/x', '/cfg/y', '/cfg/list', '/cfg/sub/z'];

/** Blocks a template is made of: each reads the store in its own way (lists, keys, positions, parents, untracked helpers). */
const FRAGMENTS = [
  'text;',
  '{{#each (services)}}[{{this}}:{{#each (service this)}}{{address}},{{/each}}]{{/each}}',
  '{{#each (services)}}{{@index}}{{#if @first}}F{{/if}}{{#if @last}}L{{/if}}={{this}};{{/each}}',
  '{{#each (services) as |s i|}}{{i}}{{s}}{{/each}}',
  '{{#each (services)}}{{#each (getvs "/cfg/*")}}{{../this}}={{this}};{{/each}}{{/each}}',
  '{{#each (services)}}{{len (service this)}}{{#each (service this tag="v2")}}v2:{{id}}{{/each}}{{/each}}',
  '{{#each (services)}}{{#with (service this)}}{{len this}}{{/with}}{{getv "/cfg/x" "-"}}{{/each}}',
  '{{#each (ls "/cfg")}}{{this}}:{{getv (printf "/cfg/%s" this) "dir"}};{{/each}}',
  '{{#each (split (getv "/cfg/list" "") ",")}}<{{this}}>{{/each}}',
  '{{#if (exists "/cfg/y")}}Y{{else}}noY{{/if}}',
  '{{#each (services)}}{{getenv "SIDEKICK_TEST_UNTRACKED" "u"}}{{this}}{{/each}}',
  '{{#each (services)}}{{#each (services)}}{{../this}}{{this}} {{/each}}|{{/each}}',
  '{{#each (lsdir "/services")}}{{this}}{{#each (service this)}}{{@index}}{{port}}{{/each}}{{/each}}',
  '{{#each (gets "/services/*/*")}}{{key}};{{/each}}',
  '{{#each (services)}}{{#each (getvs (printf "/services/%s/*" this))}}{{#if @last}}{{this}}{{/if}}{{/each}}{{/each}}',
  '{{this}}|{{#each (service this)}}{{address}}{{/each}}',
  '{{#each (services)}}{{#each (getvs "/cfg/*")}}{{@../index}}{{#if @../last}}L{{/if}}{{this}};{{/each}}{{/each}}',
  '{{#each (services)}}{{#each (service this)}}{{@index}}{{@../first}}{{/each}}{{/each}}',
  '{{#each (services) as |s i|}}{{#each (getvs "/cfg/*")}}{{i}}{{s}}{{this}};{{/each}}{{/each}}',
  '{{#*inline "p"}}\n{{#each (services)}}\n{{this}}\n{{/each}}\n{{/inline}}\n  {{> p}}\n',
];

type Change = { key: string; value: string | undefined };

const recordKey = fc.tuple(fc.constantFrom(...SERVICES), fc.constantFrom(...IDS)).map(([s, i]) => `/services/${s}/${i}`);
const recordValue = (key: string): fc.Arbitrary<string> => {
  const [, , name, id] = key.split('/') as [string, string, string, string];
  return fc.oneof(
    fc
      .record({ port: fc.integer({ min: 1, max: 9 }), v2: fc.boolean(), host: fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::1') })
      .map(({ port, v2, host }) => JSON.stringify({ name, id, host, port: 8000 + port, tags: v2 ? ['v2'] : [] })),
    fc.constant('not a record'),
  );
};
const change: fc.Arbitrary<Change> = fc.oneof(
  recordKey.chain((key) => fc.option(recordValue(key), { nil: undefined, freq: 4 }).map((value) => ({ key, value }))),
  fc.record({ key: fc.constantFrom(...CFG), value: fc.option(fc.constantFrom('p', 'q', 'p,q', ''), { nil: undefined }) }),
);

function apply(mirror: Mirror, { key, value }: Change): void {
  if (value === undefined) mirror.delete(key);
  else mirror.set(key, value);
}

/** What a render gives: its text and lookups (sorted), or its error's message without the file name. */
async function outcome(template: CompiledTemplate, mirror: Mirror, context: string | undefined): Promise<unknown> {
  try {
    const r = await template.render({ view: mirror, prefix: '', context });
    // The bytes a file gets, when the result offers them in pieces, are the text's.
    const bytes = r.chunks ? Buffer.concat(r.chunks()).toString('utf8') : r.text;
    return { text: r.text, bytes, lookups: r.lookups.map((l) => JSON.stringify(l)).sort() };
  } catch (err) {
    return { error: (err as Error).message.replace(/^\w+\.tmpl/, '') };
  }
}

async function both(full: CompiledTemplate, incremental: CompiledTemplate, mirror: Mirror, context: string | undefined): Promise<void> {
  const want = await outcome(full, mirror, context);
  expect(await outcome(incremental, mirror, context)).toEqual(want);
}

describe('incremental rendering', () => {
  it('renders byte for byte what a full render does, after every change of a random sequence', async () => {
    process.env.SIDEKICK_TEST_UNTRACKED = 'U';
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 4 }),
        fc.array(change, { maxLength: 12 }),
        fc.array(fc.array(change, { minLength: 0, maxLength: 3 }), { minLength: 1, maxLength: 12 }),
        fc.option(fc.constantFrom(...SERVICES), { nil: undefined }),
        fc.constantFrom(0, 70),
        async (fragments, initial, steps, context, fleet) => {
          const source = fragments.join('\n');
          const full = new TemplateEngine({ incremental: false }).compileTemplate('full.tmpl', source);
          const incremental = new TemplateEngine().compileTemplate('incremental.tmpl', source);
          const mirror = new Mirror();
          // A fleet long enough that a run straight in the output goes to the file as encoded blocks (each.ts).
          for (let i = 0; i < fleet; i++) mirror.set(`/services/f${i}/1`, JSON.stringify({ name: `f${i}`, id: '1', host: '10.0.1.1', port: 80 + i }));
          for (const c of initial) apply(mirror, c);
          await both(full, incremental, mirror, context);
          for (const batch of steps) {
            for (const c of batch) apply(mirror, c);
            await both(full, incremental, mirror, context);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('names every root context a change can concern: the others still render what they rendered last', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 3 }),
        fc.array(change, { maxLength: 12 }),
        fc.array(fc.array(change, { minLength: 0, maxLength: 3 }), { minLength: 1, maxLength: 10 }),
        async (fragments, initial, steps) => {
          const source = fragments.join('\n');
          const full = new TemplateEngine({ incremental: false }).compileTemplate('full.tmpl', source);
          const incremental = new TemplateEngine().compileTemplate('incremental.tmpl', source);
          const mirror = new Mirror();
          for (const c of initial) apply(mirror, c);
          const last = new Map<string, unknown>();
          for (const batch of [[], ...steps]) {
            for (const c of batch) apply(mirror, c);
            const changed = incremental.changedContexts(mirror);
            for (const context of SERVICES) {
              const want = await outcome(full, mirror, context);
              if (changed && !changed.has(context) && last.has(context)) expect(want).toEqual(last.get(context));
              else last.set(context, await outcome(incremental, mirror, context));
              expect(last.get(context)).toEqual(want);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads again only the folder that changed, and nothing when no key it read changed', async () => {
    /** A mirror counting the folders listed (what a block that runs again asks for). */
    class Counting extends Mirror {
      listed: string[] = [];
      override list(prefix: string): ReturnType<Mirror['list']> {
        this.listed.push(prefix);
        return super.list(prefix);
      }
    }
    const mirror = new Counting();
    for (const s of ['a', 'b', 'c']) mirror.set(`/services/${s}/1`, JSON.stringify({ name: s, id: '1', host: '10.0.0.1', port: 80 }));
    mirror.set('/other', 'x');
    const template = new TemplateEngine().compileTemplate('t.tmpl', '{{#each (services)}}{{this}}{{#each (service this)}}:{{port}}{{/each}};{{/each}}');
    expect((await template.render({ view: mirror, prefix: '' })).text).toBe('a:80;b:80;c:80;');
    expect(mirror.listed.sort()).toEqual(['/services/a', '/services/b', '/services/c']);

    mirror.listed = [];
    mirror.set('/services/b/1', JSON.stringify({ name: 'b', id: '1', host: '10.0.0.1', port: 81 }));
    expect((await template.render({ view: mirror, prefix: '' })).text).toBe('a:80;b:81;c:80;');
    expect(mirror.listed).toEqual(['/services/b']);

    mirror.listed = [];
    mirror.set('/other', 'y');
    const again = await template.render({ view: mirror, prefix: '' });
    expect(again.text).toBe('a:80;b:81;c:80;');
    expect(again.reused).toBe(true);
    expect(mirror.listed).toEqual([]);
    mirror.set('/services/c/1', JSON.stringify({ name: 'c', id: '1', host: '10.0.0.1', port: 82 }));
    expect((await template.render({ view: mirror, prefix: '' })).reused).toBeUndefined();
  });
});

// The array fast path of `each` renders exactly what Handlebars' built-in renders, for every feature of `each`.
import fc from 'fast-check';
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import { fastEach, orderedObject } from '../../../src/render/each.js';

const builtin = Handlebars.create();
const fast = Handlebars.create();
fast.registerHelper('each', fastEach(fast));

const TEMPLATES = [
  '{{#each items}}[{{this}}]{{/each}}',
  '{{#each items}}{{@index}}:{{@key}}:{{#if @first}}F{{/if}}{{#if @last}}L{{/if}}={{this}};{{/each}}',
  '{{#each items as |item i|}}{{i}}={{item}},{{/each}}',
  '{{#each items}}{{this}}{{else}}none{{/each}}',
  '{{#each items}}{{../title}}/{{this}} {{/each}}',
  '{{#each items}}{{#each ../items}}{{@../index}}.{{@index}} {{/each}}|{{/each}}',
  '{{#each items}}{{name}}@{{@root.title}} {{/each}}',
];

const value = fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.constant(undefined), fc.constant(null), fc.record({ name: fc.string({ maxLength: 4 }) }, { noNullPrototype: true }));
const items = fc.oneof(
  fc.array(value, { maxLength: 6 }),
  fc.array(value, { maxLength: 6 }).map((xs) => {
    const holey = [...xs];
    if (holey.length > 1) delete holey[1]; // a sparse array: the hole is skipped, @last still refers to the end
    return holey;
  }),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }), value, { maxKeys: 4, noNullPrototype: true }),
  fc.constant(new Map([['a', 1]])),
  fc.constant(undefined),
);

describe('each: the array fast path', () => {
  it.each(TEMPLATES)('renders like the built-in: %s', (source) => {
    const a = builtin.compile(source, { noEscape: true });
    const b = fast.compile(source, { noEscape: true });
    fc.assert(
      fc.property(items, fc.string({ maxLength: 5 }), (list, title) => {
        const context = { items: list, title };
        expect(b(context)).toBe(a(context));
        // Without data frames (@index is then undefined) it still agrees.
        expect(fast.compile(source, { noEscape: true, data: false })(context)).toBe(builtin.compile(source, { noEscape: true, data: false })(context));
      }),
      { numRuns: 150 },
    );
  });

  it('is the one used for arrays (one join, not the built-in)', () => {
    let calls = 0;
    const spy = Handlebars.create();
    const original = spy.helpers.each as Handlebars.HelperDelegate;
    spy.registerHelper('each', (...args: unknown[]) => {
      calls++;
      return (original as (...a: unknown[]) => unknown)(...args);
    });
    spy.registerHelper('each', fastEach(spy));
    spy.compile('{{#each items}}{{this}}{{/each}}')({ items: [1, 2, 3] });
    expect(calls).toBe(0);
    spy.compile('{{#each items}}{{@key}}{{/each}}')({ items: { a: 1 } });
    expect(calls).toBe(1);
  });
});

describe('each: objects with a key order (groupBy)', () => {
  const run = (source: string, items: unknown): string => fast.compile(source, { noEscape: true })({ items });

  it('visits the keys in the given order, integer-like ones included', () => {
    const items = orderedObject([['10', 'a'], ['9', 'b'], ['eu', 'c']]);
    expect(run('{{#each items}}{{@index}}:{{@key}}:{{#if @first}}F{{/if}}{{#if @last}}L{{/if}}={{this}};{{/each}}', items)).toBe('0:10:F=a;1:9:=b;2:eu:L=c;');
    expect(run('{{#each items as |v k|}}{{k}}={{v}} {{/each}}', items)).toBe('10=a 9=b eu=c ');
    // A plain object of the same entries goes integer keys first.
    expect(run('{{#each items}}{{@key}} {{/each}}', { '10': 'a', '9': 'b', eu: 'c' })).toBe('9 10 eu ');
  });

  it('renders like the built-in when the given order is the object’s own', () => {
    const source = TEMPLATES.join('|');
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,3}$/), value), { selector: ([k]) => k, maxLength: 5 }), (entries) => {
        const context = { items: orderedObject(entries), title: 't' };
        expect(fast.compile(source, { noEscape: true })(context)).toBe(builtin.compile(source, { noEscape: true })({ ...context, items: Object.fromEntries(entries) }));
      }),
      { numRuns: 100 },
    );
  });

  it('keeps the key order out of the object’s keys', () => {
    expect(Object.keys(orderedObject([['b', 1], ['a', 2]]))).toEqual(['b', 'a']);
    expect(run('{{#each items}}x{{else}}none{{/each}}', orderedObject([]))).toBe('none');
  });
});

// Helper semantics, table-driven: confd's meaning, Go built-ins, prefix handling, service helpers, fileExists.
import Handlebars from 'handlebars';
import { describe, expect, it, vi } from 'vitest';
import { TemplateEngine } from '../../../src/render/engine.js';
import { registerHelpers } from '../../../src/render/helpers.js';
import { DATA_KEY, newRenderState, type RenderState } from '../../../src/render/context.js';
import { DnsCache } from '../../../src/render/dns.js';
import type { KeyView } from '../../../src/store/types.js';
import { TemplateError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';
import { MapView } from './fixtures.js';

const STORE: Record<string, string> = {
  '/app/upstream/app1': '10.0.1.100:80',
  '/app/upstream/app2': '10.0.1.101:80',
  '/app/upstream/app10': '10.0.1.099:80',
  '/nginx/domain': 'example.com',
  '/nginx/html': '<a href="x">&</a>',
  '/nginx/workers': '2',
  '/web/cust1/2': '{"IP":"10.0.0.2"}',
  '/web/cust1/1': '{"IP":"10.0.0.1"}',
  '/web/cust2/1': '{"IP":"10.0.0.3"}',
  '/web/leaf': 'x',
  '/json/obj': '{"animals":[{"type":"dog","name":"Fido"},{"type":"cat","name":"Misse"}],"n":null}',
  '/json/arr': '["a","b","c"]',
  '/json/null': 'null',
  '/order/a': 'zz',
  '/order/b': 'aa',
  '/b64': 'VmFsdWU=',
};

const engine = new TemplateEngine();
const view = new MapView(STORE);
let n = 0;
async function render(source: string, opts: { prefix?: string; v?: KeyView; e?: TemplateEngine } = {}): Promise<string> {
  const t = (opts.e ?? engine).compileTemplate(`t${n++}.tmpl`, source);
  return (await t.render({ view: opts.v ?? view, prefix: opts.prefix ?? '' })).text;
}

describe('confd key/value helpers', () => {
  it.each([
    ['getv', '{{getv "/nginx/domain"}}', 'example.com'],
    ['getv trailing slash', '{{getv "/nginx/domain/"}}', 'example.com'],
    ['getv default used', '{{getv "/nope" "fallback"}}', 'fallback'],
    ['getv empty default', '[{{getv "/nope" ""}}]', '[]'],
    ['getv default unused', '{{getv "/nginx/workers" "9"}}', '2'],
    ['no HTML escaping', '{{getv "/nginx/html"}}', '<a href="x">&</a>'],
    ['getvs sorted by value', '{{#each (getvs "/order/*")}}{{this}},{{/each}}', 'aa,zz,'],
    ['getvs glob', '{{join (getvs "/app/upstream/*") " "}}', '10.0.1.099:80 10.0.1.100:80 10.0.1.101:80'],
    ['getvs star stops at /', '{{len (getvs "/web/*")}}', '1'],
    ['getvs nested star', '{{join (getvs "/web/*/1") ","}}', '{"IP":"10.0.0.1"},{"IP":"10.0.0.3"}'],
    ['getvs ?', '{{join (getvs "/app/upstream/app?") ","}}', '10.0.1.100:80,10.0.1.101:80'],
    ['getvs class', '{{join (getvs "/app/upstream/app[2-9]") ","}}', '10.0.1.101:80'],
    ['getvs negated class', '{{join (getvs "/app/upstream/app[^2]") ","}}', '10.0.1.100:80'],
    ['getvs no match', '[{{#each (getvs "/none/*")}}x{{/each}}]', '[]'],
    ['get', '{{#with (get "/nginx/domain")}}{{Key}}={{Value}} {{key}}={{value}}{{/with}}', '/nginx/domain=example.com /nginx/domain=example.com'],
    ['gets sorted by key', '{{#each (gets "/app/upstream/*")}}{{base Key}},{{/each}}', 'app1,app10,app2,'],
    ['ls', '{{join (ls "/web") ","}}', 'cust1,cust2,leaf'],
    ['ls unique', '{{join (ls "/web/cust1") ","}}', '1,2'],
    ['ls root', '{{join (ls "/") ","}}', 'app,b64,json,nginx,order,web'],
    ['ls missing', '[{{join (ls "/missing") ","}}]', '[]'],
    ['ls of a leaf names it (memkv)', '{{join (ls "/web/leaf") ","}}', 'leaf'],
    ['lsdir only dirs', '{{join (lsdir "/web") ","}}', 'cust1,cust2'],
    ['lsdir of leaves', '[{{join (lsdir "/web/cust1") ","}}]', '[]'],
    ['exists', '{{exists "/nginx/domain"}} {{exists "/nope"}} {{exists "/nginx"}}', 'true false false'],
    ['json', '{{#with (json (getv "/web/cust1/1"))}}{{IP}}{{/with}}', '10.0.0.1'],
    ['json nested index', '{{#with (index (json (getv "/json/obj")) "animals" 1)}}{{type}}:{{name}}{{/with}}', 'cat:Misse'],
    ['json null is an empty map', '{{len (json (getv "/json/null"))}}', '0'],
    ['jsonArray', '{{#each (jsonArray (getv "/json/arr"))}}{{this}};{{/each}}', 'a;b;c;'],
    ['confd nested example', '{{#each (lsdir "/web")}}{{this}}:{{#each (gets (printf "/web/%s/*" this))}}{{#with (json Value)}}{{IP}} {{/with}}{{/each}};{{/each}}', 'cust1:10.0.0.1 10.0.0.2 ;cust2:10.0.0.3 ;'],
  ])('%s', async (_name, source, expected) => {
    expect(await render(source)).toBe(expected);
  });
});

describe('string, list and arithmetic helpers (Go semantics)', () => {
  it.each([
    ['base', '{{base "/a/b/c"}}|{{base "/a/b/"}}|{{base ""}}|{{base "/"}}|{{base "x"}}', 'c|b|.|/|x'],
    ['dir', '{{dir "/a/b/c"}}|{{dir "/a/b/"}}|{{dir "x"}}|{{dir "/x"}}|{{dir ""}}', '/a/b|/a/b|.|/|.'],
    ['split + index', '{{index (split "10.0.0.1:80" ":") 1}}', '80'],
    ['split empty sep', '{{join (split "héé" "") "-"}}', 'h-é-é'],
    ['split empty string', '{{len (split "" ",")}}', '1'],
    ['join', '{{join (split "a:b:c" ":") ","}}', 'a,b,c'],
    ['toUpper/toLower', '{{toUpper "value"}} {{toLower "VaLuE"}}', 'VALUE value'],
    ['contains', '{{contains "nginx-web" "web"}} {{contains "nginx" "web"}}', 'true false'],
    ['replace all', '{{replace "a-b-c" "-" "_" -1}}', 'a_b_c'],
    ['replace n', '{{replace "a-b-c" "-" "_" 1}}', 'a_b-c'],
    ['replace zero', '{{replace "a-b-c" "-" "_" 0}}', 'a-b-c'],
    ['replace empty old', '{{replace "ab" "" "." -1}}', '.a.b.'],
    ['replace empty old n', '{{replace "abc" "" "." 2}}', '.a.bc'],
    ['trimSuffix', '{{trimSuffix "web.service" ".service"}} {{trimSuffix "web" ".service"}}', 'web web'],
    ['base64Encode', '{{base64Encode "Value"}}', 'VmFsdWU='],
    ['base64Decode', '{{base64Decode (getv "/b64")}}', 'Value'],
    ['map', '{{#with (map "name" "es" "port" 9200)}}{{name}}:{{port}}{{/with}}', 'es:9200'],
    ['map index', '{{index (map "private_port" 9200) "private_port"}}', '9200'],
    ['map hash form', '{{#with (map name="kibana")}}{{name}}{{/with}}', 'kibana'],
    ['parseBool', '{{parseBool "true"}} {{parseBool "F"}} {{parseBool "1"}}', 'true false true'],
    ['atoi', '{{add (atoi "41") 1}} {{atoi "-7"}} {{atoi "+3"}}', '42 -7 3'],
    ['reverse', '{{join (reverse (split "a,b,c" ",")) ","}}', 'c,b,a'],
    ['reverse kv', '{{#each (reverse (gets "/order/*"))}}{{Value}}{{/each}}', 'aazz'],
    ['sortByLength', '{{join (sortByLength (split "ccc,a,bb,d" ",")) ","}}', 'a,d,bb,ccc'],
    ['sortKVByLength', '{{#each (sortKVByLength (gets "/app/upstream/*"))}}{{base Key}},{{/each}}', 'app1,app2,app10,'],
    ['seq', '{{join (seq 1 5) ","}}|{{len (seq 3 1)}}', '1,2,3,4,5|0'],
    ['arithmetic', '{{add 2 3}} {{sub 2 3}} {{mul 4 5}} {{div 7 2}} {{div -7 2}} {{mod 7 3}} {{mod -7 3}}', '5 -1 20 3 -3 1 -1'],
    ['arithmetic on store text', '{{mul (getv "/nginx/workers") 512}}', '1024'],
  ])('%s', async (_name, source, expected) => {
    expect(await render(source)).toBe(expected);
  });

  it('getenv reads the environment, with a default for unset or empty', async () => {
    vi.stubEnv('SIDEKICK_TEST_SET', 'here');
    vi.stubEnv('SIDEKICK_TEST_EMPTY', '');
    try {
      const out = await render('{{getenv "SIDEKICK_TEST_SET"}}|{{getenv "SIDEKICK_TEST_UNSET"}}|{{getenv "SIDEKICK_TEST_UNSET" "d"}}|{{getenv "SIDEKICK_TEST_EMPTY" "e"}}');
      expect(out).toBe('here||d|e');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('datetime is the current time', async () => {
    const before = Date.now();
    const out = await render('{{datetime}}');
    expect(Math.abs(new Date(out).getTime() - before)).toBeLessThan(5000);
  });
});

describe('Go template built-ins', () => {
  it.each([
    ['eq', '{{eq "a" "a"}} {{eq "a" "b"}} {{eq 1 2 1}} {{eq (getv "/nginx/workers") "2"}}', 'true false true true'],
    ['ne', '{{ne "a" "b"}} {{ne 1 1}}', 'true false'],
    ['lt le gt ge', '{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}', 'true true true false'],
    ['and/or return Go values', '{{and 1 "x"}}|{{and 0 "x"}}|{{or "" "y"}}|{{or "" 0}}', 'x|0|y|0'],
    ['not', '{{not ""}} {{not "x"}} {{not (getvs "/none/*")}}', 'true false true'],
    ['if with Go-style condition', '{{#if (and (exists "/nginx/domain") (eq (getv "/nginx/workers") "2"))}}yes{{else}}no{{/if}}', 'yes'],
    ['len', '{{len "abc"}} {{len "é"}} {{len (split "a,b" ",")}} {{len (json (getv "/web/cust1/1"))}}', '3 2 2 1'],
    ['index list/map/nested', '{{index (split "a b" " ") 0}} {{index (json (getv "/json/obj")) "animals" 0 "name"}}', 'a Fido'],
    ['index missing map key', '[{{index (map "a" 1) "b"}}]', '[]'],
    ['printf', '{{printf "%s:%d" "host" 80}} {{printf "%v%%" (split "a,b" ",")}} {{printf "%05d|%-3s|" 42 "x"}}', 'host:80 [a b]% 00042|x  |'],
    ['printf misuse markers', '{{printf "%s %s" "a"}} {{printf "%d" "x"}} {{printf "x" 1}}', 'a %!s(MISSING) %!d(string=x) x%!(EXTRA number=1)'],
  ])('%s', async (_name, source, expected) => {
    expect(await render(source)).toBe(expected);
  });
});

describe('helper errors name file:line:column and the helper', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['getv missing key', 'line1\n  {{getv "/services/x"}}', /^t\d+\.tmpl:2:3: getv: key \/services\/x does not exist$/],
    ['get missing key', '{{get "/nope"}}', /:1:1: get: key \/nope does not exist/],
    ['getv arity', '{{getv}}', /getv: expected 1 to 2 arguments, got 0/],
    ['getv of undefined', '{{getv missingVar}}', /getv: expected a string as key, got undefined/],
    ['json misuse names the key', 'x\n\n\n{{#with (json (getv "/nginx/domain"))}}{{/with}}', /^t\d+\.tmpl:4:9: json: value at \/nginx\/domain is not valid JSON/],
    ['json of an array', '{{json (getv "/json/arr")}}', /json: value at \/json\/arr is JSON but not an object \(use jsonArray/],
    ['jsonArray of an object', '{{jsonArray (getv "/web/cust1/1")}}', /jsonArray: value at \/web\/cust1\/1 is JSON but not an array/],
    ['json of a literal', '{{json "nope"}}', /json: value is not valid JSON/],
    ['json of a non-string', '{{json 5}}', /json: expected a JSON string, got number/],
    ['bad glob', '{{getvs "/a/[b"}}', /getvs: unclosed "\[" in pattern/],
    ['atoi', '{{atoi "12a"}}', /atoi: parsing "12a"/],
    ['parseBool', '{{parseBool "yes"}}', /parseBool: parsing "yes": invalid syntax/],
    ['div by zero', '{{div 1 0}}', /div: integer divide by zero/],
    ['mod by zero', '{{mod 1 0}}', /mod: integer divide by zero/],
    ['add non-integer', '{{add 1.5 1}}', /add: expected an integer as first argument, got 1.5/],
    ['base64Decode', '{{base64Decode "%%%"}}', /base64Decode: argument is not valid standard base64/],
    ['map odd', '{{map "a"}}', /map: invalid map call/],
    ['seq too long', '{{seq 1 1000000}}', /seq: more than 100000 numbers/],
    ['index out of range', '{{index (split "a" ",") 3}}', /index: index out of range: 3/],
    ['lt types', '{{lt 1 "2"}}', /lt: incompatible types for comparison/],
    ['eq types', '{{eq 1 "1"}}', /eq: incompatible types for comparison \(number and string\)/],
    ['len of nothing', '{{len nothing}}', /len: len of undefined/],
    ['join non-list', '{{join "a" ","}}', /join: expected a list as first argument, got string/],
    ['unknown helper', 'a\n {{nohelper "x"}}', /^t\d+\.tmpl:2:2: nohelper: no such helper/],
    ['service bad name', '{{service "we b"}}', /service: name "we b" must match/],
  ];
  it.each(cases)('%s', async (_name, source, re) => {
    const err = await render(source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as Error).message).toMatch(re);
  });

  it('a missing key under a prefix says where it looked', async () => {
    await expect(render('{{getv "/x"}}', { prefix: '/production' })).rejects.toThrow('getv: key /x does not exist (looked up /production/x)');
  });
});

describe('prefix handling', () => {
  const pv = new MapView({ '/production/services/x': 'prod', '/services/x': 'root', '/production/app/a': '1', '/production/app/b/c': '2' });
  it.each([
    ['getv reads under the prefix', '{{getv "/services/x"}}', 'prod'],
    ['.. cannot climb out of the prefix', '{{getv "/../services/x"}}', 'prod'],
    ['gets keys are relative (confd)', '{{#each (gets "/services/*")}}{{Key}}={{Value}}{{/each}}', '/services/x=prod'],
    ['get key is relative', '{{#with (get "/app/a")}}{{Key}}{{/with}}', '/app/a'],
    ['ls /', '{{join (ls "/") ","}}', 'app,services'],
    ['lsdir', '{{join (lsdir "/app") ","}}', 'b'],
    ['exists', '{{exists "/app/a"}} {{exists "/production/app/a"}}', 'true false'],
  ])('%s', async (_name, source, expected) => {
    expect(await render(source, { prefix: '/production/', v: pv })).toBe(expected);
  });
  it('prefix "/" and "" both mean the root', async () => {
    expect(await render('{{getv "/services/x"}}', { prefix: '/', v: pv })).toBe('root');
    expect(await render('{{getv "/services/x"}}', { prefix: '', v: pv })).toBe('root');
  });
});

describe('registerHelpers on a bare Handlebars instance', () => {
  it('reads the store from options.data, not from a closure', () => {
    const hb = Handlebars.create();
    registerHelpers(hb);
    const t = hb.compile('{{getv "/k"}}', { noEscape: true });
    const state = (v: KeyView): RenderState =>
      newRenderState({ file: 'bare.tmpl', view: v, prefix: '', log: silentLogger, dns: new DnsCache(), records: new Map(), serviceDirs: new Map(), serviceLists: new Map(), token: 't', wantLookups: true, wholeRuns: true });
    expect(t({}, { data: { [DATA_KEY]: state(new MapView({ '/k': 'one' })) } })).toBe('one');
    expect(t({}, { data: { [DATA_KEY]: state(new MapView({ '/k': 'two' })) } })).toBe('two');
    expect(() => t({})).toThrow(/getv: called outside a sidekick render/);
    expect(Handlebars.helpers.getv).toBeUndefined();
  });
});

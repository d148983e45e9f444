// Service helpers over the native layout, and fileExists confined to its sandbox.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TemplateEngine } from '../../../src/render/engine.js';
import { Mirror } from '../../../src/store/mirror.js';
import type { KeyView } from '../../../src/store/types.js';
import { tempDir } from '../../support/tmp.js';
import { captureLog, MapView } from './fixtures.js';

const engine = new TemplateEngine();
let n = 0;
async function render(source: string, opts: { prefix?: string; v: KeyView; e?: TemplateEngine }): Promise<string> {
  const t = (opts.e ?? engine).compileTemplate(`s${n++}.tmpl`, source);
  return (await t.render({ view: opts.v, prefix: opts.prefix ?? '' })).text;
}

describe('service helpers', () => {
  const sv = new MapView({
    '/services/web/host2:web-2:80': '{"name":"web","id":"host2:web-2:80","host":"10.0.0.6","port":32769,"tags":["v2"],"meta":{"version":"1.4"},"node":"host2"}',
    '/services/web/host1:web-1:80': '{"name":"web","id":"host1:web-1:80","host":"10.0.0.5","port":32768}',
    '/services/web/reg': '10.0.0.7:8080',
    '/services/web/bad': '{"name":"web","id":"bad","host":"evil;host","port":80}',
    '/services/web/deeper/x': '10.0.0.9:80',
    '/services/api/1': 'not a record',
    '/services/db/v6': '{"name":"db","id":"v6","host":"fd00::5","port":5432}',
    '/other/web/o1': '192.168.0.1:80',
    '/tenant/services/web/t': '10.1.0.1:80',
  });
  it.each([
    ['services lists names with a valid instance', '{{join (services) ","}}', 'db,web'],
    ['service instances sorted by id', '{{#each (service "web")}}{{id}}={{address}};{{/each}}', 'host1:web-1:80=10.0.0.5:32768;host2:web-2:80=10.0.0.6:32769;reg=10.0.0.7:8080;'],
    ['fields', '{{#with (index (service "web") 1)}}{{name}} {{host}} {{port}} {{join tags ","}} {{meta.version}} {{node}}{{/with}}', 'web 10.0.0.6 32769 v2 1.4 host2'],
    ['IPv6 address bracketed', '{{#each (service "db")}}server {{address}};{{/each}}', 'server [fd00::5]:5432;'],
    ['unknown service is empty', '[{{#each (service "nope")}}x{{/each}}]', '[]'],
    ['root= option', '{{join (services root="/other") ","}} {{#each (service "web" root="/other")}}{{address}}{{/each}}', 'web 192.168.0.1:80'],
    ['nginx upstream', 'upstream web {\n{{#each (service "web")}}\n  server {{address}};\n{{/each}}\n}\n', 'upstream web {\n  server 10.0.0.5:32768;\n  server 10.0.0.6:32769;\n  server 10.0.0.7:8080;\n}\n'],
  ])('%s', async (_name, source, expected) => {
    expect(await render(source, { v: sv })).toBe(expected);
  });

  it('works under a resource prefix', async () => {
    expect(await render('{{#each (service "web")}}{{address}}{{/each}}', { v: sv, prefix: '/tenant' })).toBe('10.1.0.1:80');
  });

  it('warns once per bad key+value, across helpers and renders', async () => {
    const { log, lines } = captureLog();
    const e = new TemplateEngine({ log });
    const t = e.compileTemplate('svc.tmpl', '{{#each (services)}}{{#each (service this)}}{{address}}{{/each}}{{/each}}');
    await t.render({ view: sv, prefix: '' });
    await t.render({ view: sv, prefix: '' });
    const warns = lines.filter((l) => l.msg === 'ignoring invalid service record');
    expect(warns.map((w) => w.storeKey).sort()).toEqual(['/services/api/1', '/services/web/bad']);
    expect(String(warns.find((w) => w.storeKey === '/services/web/bad')?.reason)).toMatch(/host "evil;host"/);
    // A new bad value at the same key warns again.
    const changed = new MapView({ '/services/api/1': 'still:bad:value' });
    await t.render({ view: changed, prefix: '' });
    expect(lines.filter((l) => l.msg === 'ignoring invalid service record')).toHaveLength(3);
  });

  it('records every list lookup with its count', async () => {
    const t = engine.compileTemplate('l.tmpl', '{{#each (service "web")}}{{/each}}{{#each (service "web")}}{{/each}}{{getvs "/services/web/*"}}{{gets "/none/*"}}{{service "nope"}}{{service "web" root="/other/"}}');
    const { lookups } = await t.render({ view: sv, prefix: '' });
    expect(lookups).toEqual([
      { helper: 'service', arg: 'web', count: 3 },
      { helper: 'getvs', arg: '/services/web/*', count: 4 },
      { helper: 'gets', arg: '/none/*', count: 0 },
      { helper: 'service', arg: 'nope', count: 0 },
      { helper: 'service', arg: '/other/web', count: 1 },
    ]);
  });
});

describe('the services lookup counts the instances of every listed service (min_endpoints)', () => {
  it.each([
    ['two services', { '/services/web/a': '10.0.0.5:80', '/services/web/b': '10.0.0.6:80', '/services/db/x': '10.0.0.7:5432' }, 3],
    ['invalid records and bad names do not count', { '/services/web/a': '10.0.0.5:80', '/services/web/bad': 'x', '/services/Web/a': '10.0.0.5:80' }, 1],
    ['the last instance deleted', { '/services/web/bad': 'x', '/vhosts/web': 'example.com' }, 0],
  ])('%s', async (_name, store, count) => {
    const t = engine.compileTemplate('s.tmpl', '{{#each (services)}}upstream {{this}} {}{{/each}}{{services root="/other"}}');
    const { lookups } = await t.render({ view: new MapView(store), prefix: '' });
    expect(lookups).toEqual([
      { helper: 'services', arg: '/services', count },
      { helper: 'services', arg: '/other', count: 0 },
    ]);
  });
});

describe('fileExists is confined to the sandbox', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sandbox: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('sidekick-fe-'));
    sandbox = join(dir, 'sandbox');
    await mkdir(join(sandbox, 'certs'), { recursive: true });
    await writeFile(join(sandbox, 'certs', 'web.pem'), 'x');
    await writeFile(join(dir, 'outside.txt'), 'secret');
    await symlink(join(dir, 'outside.txt'), join(sandbox, 'link-out'));
    await symlink(join(sandbox, 'certs', 'web.pem'), join(sandbox, 'link-in'));
  });
  afterAll(() => cleanup());

  it.each([
    ['relative path inside', 'certs/web.pem', true],
    ['missing file', 'certs/nope.pem', false],
    ['.. escape', '../outside.txt', false],
    ['.. escape that comes back', 'certs/../../sandbox/certs/web.pem', true],
    ['absolute path outside', '/etc/passwd', false],
    ['absolute path to the outside file', '<dir>/outside.txt', false],
    ['absolute path inside', '<sandbox>/certs/web.pem', true],
    ['symlink pointing outside', 'link-out', false],
    ['symlink pointing inside', 'link-in', true],
    ['empty path', '', false],
  ])('%s', async (_name, path, expected) => {
    const e = new TemplateEngine({ sandboxDir: sandbox });
    const p = path.replace('<dir>', dir).replace('<sandbox>', sandbox);
    expect(await render(`{{fileExists "${p}"}}`, { e, v: new MapView() })).toBe(String(expected));
  });

  it('without a sandbox it is always false', async () => {
    expect(await render(`{{fileExists "/etc/passwd"}} {{fileExists "${join(sandbox, 'certs', 'web.pem')}"}}`, { v: new MapView() })).toBe('false false');
  });
});

describe('instances across renders of one engine', () => {
  const rec = (id: string, port: number, node?: string): string => JSON.stringify({ host: '10.0.0.1', port, ...(node && { node }), id });
  const list = '{{#each (service "web")}}{{id}}={{address}};{{/each}}';

  it('follow every change of a versioned view (the mirror): changed, emptied and refilled folders', async () => {
    const e = new TemplateEngine();
    const m = new Mirror();
    m.set('/services/web/a', rec('a', 1));
    m.set('/services/web/b', rec('b', 2));
    m.set('/services/db/a', rec('a', 3));
    expect(await render(list, { v: m, e })).toBe('a=10.0.0.1:1;b=10.0.0.1:2;');
    m.set('/services/web/b', rec('b', 4));
    expect(await render(list, { v: m, e })).toBe('a=10.0.0.1:1;b=10.0.0.1:4;');
    m.delete('/services/web/a');
    m.delete('/services/web/b');
    expect(await render(list, { v: m, e })).toBe('');
    m.set('/services/web/a', rec('a', 1));
    expect(await render(list, { v: m, e })).toBe('a=10.0.0.1:1;');
  });

  it('follow every change of a view without versions', async () => {
    const e = new TemplateEngine();
    const v = new MapView({ '/services/web/a': rec('a', 1) });
    expect(await render(list, { v, e })).toBe('a=10.0.0.1:1;');
    const changed = new MapView({ '/services/web/a': rec('a', 2) });
    expect(await render(list, { v: changed, e })).toBe('a=10.0.0.1:2;');
    expect(await render(list, { v: new MapView({}), e })).toBe('');
  });

  it('carry the record fields in their order, then address and key', async () => {
    const m = new Mirror();
    m.set('/services/web/a', rec('a', 1));
    m.set('/services/web/b', rec('b', 2, 'n1'));
    expect(await render('{{#each (service "web")}}{{#each this}}{{@key}},{{/each}};{{/each}}', { v: m })).toBe(
      'name,id,host,port,tags,meta,address,key,;name,id,host,port,tags,meta,node,address,key,;',
    );
  });
});

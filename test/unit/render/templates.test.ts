// The shipped templates (templates/nginx, templates/haproxy) through the real engine, without processes:
// the vhost rule case by case, and a property: whatever the store holds, every rendered line is one of the
// template's own shapes with only whitelisted characters where store values land.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { TemplateEngine, type CompiledTemplate } from '../../../src/render/engine.js';
import { MapView } from './fixtures.js';
import { parseTomlResource } from '../../../src/config/resource.js';

const TEMPLATES = join(import.meta.dirname, '../../../templates');
const engine = new TemplateEngine();
let nginx: CompiledTemplate;
let haproxy: CompiledTemplate;

beforeAll(async () => {
  delete process.env.NGINX_LISTEN;
  delete process.env.HAPROXY_BIND;
  nginx = await engine.loadTemplateFile(join(TEMPLATES, 'nginx/sidekick.conf.tmpl'));
  haproxy = await engine.loadTemplateFile(join(TEMPLATES, 'haproxy/sidekick.cfg.tmpl'));
});

interface Inst {
  id: string;
  tags?: string[];
  meta?: Record<string, string>;
}
/** A store with service `name` holding `insts` (addresses 10.0.0.<n>:80) plus extra keys. */
function store(name: string, insts: Inst[], extra: Record<string, string> = {}, prefix = ''): MapView {
  const entries: Record<string, string> = { ...extra };
  insts.forEach((i, n) => {
    entries[`${prefix}/services/${name}/${i.id}`] = JSON.stringify({ name, host: `10.0.0.${n + 1}`, port: 80, tags: [], meta: {}, ...i });
  });
  return new MapView(entries);
}
const render = async (t: CompiledTemplate, view: MapView, prefix = ''): Promise<string> => (await t.render({ view, prefix })).text;
const serverNames = async (view: MapView, prefix = ''): Promise<string[]> =>
  [...(await render(nginx, view, prefix)).matchAll(/server_name (\S+);/g)].map((m) => m[1] as string);
const routes = async (view: MapView): Promise<string[]> => [...(await render(haproxy, view)).matchAll(/ -i (\S+) \}/g)].map((m) => m[1] as string);

describe('the vhost rule (nginx and haproxy agree)', () => {
  it.each<[string, Inst[], Record<string, string>, string[]]>([
    ['no vhost anywhere: no server block', [{ id: 'a' }], {}, []],
    ['meta.vhost, commas or spaces between names', [{ id: 'a', meta: { vhost: 'a.test, b.test c.test,' } }], {}, ['a.test', 'b.test', 'c.test']],
    ['vhost= tags, one or more names each', [{ id: 'a', tags: ['v2', 'vhost=a.test', 'vhost=b.test,c.test'] }], {}, ['a.test', 'b.test', 'c.test']],
    ['meta.vhost wins over the same instance’s tags', [{ id: 'a', tags: ['vhost=t.test'], meta: { vhost: 'm.test' } }], {}, ['m.test']],
    ['a meta.vhost naming nothing falls back to the tags', [{ id: 'a', tags: ['vhost=t.test'], meta: { vhost: ' , ' } }], {}, ['t.test']],
    [
      'the first instance by id that declares one; later ones are ignored',
      [{ id: 'c', meta: { vhost: 'c.test' } }, { id: 'a' }, { id: 'b', tags: ['vhost=b.test'] }, { id: 'b2', meta: { vhost: ',' } }],
      {},
      ['b.test'],
    ],
    ['an instance whose only vhost tag is empty does not count', [{ id: 'a', tags: ['vhost='] }, { id: 'b', meta: { vhost: 'b.test' } }], {}, ['b.test']],
    ['the pin wins over every instance', [{ id: 'a', meta: { vhost: 'a.test' } }], { '/vhosts/web': 'pin.test,www.pin.test' }, ['pin.test', 'www.pin.test']],
    ['characters outside [A-Za-z0-9._-] become _', [{ id: 'a', meta: { vhost: '*.x.test é.test a#b' } }], {}, ['_.x.test', '_.test', 'a_b']],
  ])('%s', async (_what, insts, extra, names) => {
    const view = store('web', insts, extra);
    expect(await serverNames(view)).toEqual(names);
    expect(await routes(view)).toEqual(names);
  });

  it('keys are read under the resource prefix', async () => {
    const view = store('web', [{ id: 'a' }], { '/prod/vhosts/web': 'prod.test', '/vhosts/web': 'wrong.test' }, '/prod');
    expect(await serverNames(view, '/prod')).toEqual(['prod.test']);
  });

  it('a pin wins a name clash: its block and route come before any instance-declared one', async () => {
    const view = new MapView({
      '/services/aaa/1': '{"name":"aaa","id":"1","host":"10.0.0.1","port":80,"meta":{"vhost":"web.test"}}',
      '/services/web/1': '{"name":"web","id":"1","host":"10.0.0.2","port":80}',
      '/vhosts/web': 'web.test',
    });
    const n = await render(nginx, view);
    expect(n.indexOf('proxy_pass http://web;')).toBeGreaterThan(-1);
    expect(n.indexOf('proxy_pass http://web;')).toBeLessThan(n.indexOf('proxy_pass http://aaa;'));
    expect(await routes(view)).toEqual(['web.test', 'web.test']);
    expect(await render(haproxy, view)).toMatch(/use_backend be_web if[^\n]*\n {4}use_backend be_aaa if/);
  });

  it('a pin name that is not a service name never becomes an upstream or proxy_pass target', async () => {
    // "api web" would be found in the space-joined service list "api web"; it must still count as unregistered.
    const view = new MapView({
      '/services/api/1': '10.0.0.1:80',
      '/services/web/1': '10.0.0.2:80',
      '/vhosts/api web': 'x.test',
    });
    const n = await render(nginx, view);
    expect(n).toContain('# api_web (pinned vhost): no valid instance, 503\nserver {\n    listen 80;\n    server_name x.test;\n    location / {\n        return 503;');
    expect(n).not.toContain('http://api web');
    const h = await render(haproxy, view);
    expect(h).toContain('    use_backend be_api_web if { hdr(host),field(1,:) -i x.test }\n');
    expect(h).toContain('\nbackend be_api_web\n    balance roundrobin\n');
  });

  it('a pinned service with no valid instance: nginx answers 503, haproxy keeps an empty backend', async () => {
    const view = new MapView({ '/vhosts/web': 'web.test', '/services/web/bad': '{"name":"web","id":"bad","host":"1.2.3.4 }","port":80}' });
    const n = await render(nginx, view);
    expect(n).not.toContain('upstream');
    expect(n).toContain('    server_name web.test;\n    location / {\n        return 503;\n    }\n');
    const h = await render(haproxy, view);
    expect(h).toContain('    use_backend be_web if { hdr(host),field(1,:) -i web.test }\n');
    expect(h).toMatch(/\nbackend be_web\n {4}balance roundrobin\n$/);
    expect(h).not.toMatch(/\n {4}server |1\.2\.3\.4/);
  });

  it('haproxy: server names are the ids (records with other characters never reach it); the check path is the first one set', async () => {
    const view = store('web', [{ id: 'h1:web-1' }, { id: 'h2:web@2' }, { id: 'h3:web_3', meta: { health_path: '/ping' } }, { id: 'h4', meta: { check_path: '/x y#z' } }]);
    const h = await render(haproxy, view);
    expect(h).toContain('    option httpchk GET /ping\n    server h1:web-1 10.0.0.1:80 check inter 2s fall 3 rise 2\n    server h3:web_3 10.0.0.3:80 check inter 2s fall 3 rise 2\n    server h4 10.0.0.4:80 check inter 2s fall 3 rise 2\n');
    expect(h).not.toContain('h2:web');
  });
});

// Characters that end, split, comment, quote, escape or glob in nginx/haproxy configs, plus ordinary ones.
// Records are validated before templates see them, so instances draw from what each field's validator
// lets through (anything else would only drop the record); pins are raw keys and values, so they get all.
const NASTY = [...'aZ9.-_:/@+,=%*?~!&()[]<>|^ #$\\`\'";{}\n\té\u00a0\u2028'];
const chars = (refused: string) => NASTY.filter((c) => !refused.includes(c));
const text = (unit: string[], min: number, max: number) => fc.string({ unit: fc.constantFrom(...unit), minLength: min, maxLength: max });
const META = chars(';{}"\'`\n\t\u2028');
const TAG = chars(' #$\\`\'";{}\n\té\u00a0\u2028%*?~!&()[]<>|^');
const ID = NASTY.filter((c) => /^[A-Za-z0-9._:-]$/.test(c));
const instance = fc.record({
  id: text(ID, 1, 12),
  tags: fc.array(fc.oneof(text(TAG, 1, 10), text(TAG, 0, 10).map((s) => `vhost=${s}`)), { maxLength: 3 }),
  meta: fc.record({ vhost: text(META, 0, 24), check_path: text(META, 0, 16) }, { requiredKeys: [] }),
});

const WORD = '[A-Za-z0-9._-]+';
const ADDRESS = String.raw`(?:\d+\.\d+\.\d+\.\d+):\d+`;
const NGINX_LINES = [
  '',
  `# ${WORD}`,
  `# ${WORD} \\(pinned vhost\\)`,
  `# ${WORD} \\(pinned vhost\\): no valid instance, 503`,
  `upstream ${WORD} \\{`,
  `    server ${ADDRESS};`,
  '    keepalive 16;',
  '\\}',
  'server \\{',
  '    listen 80;',
  `    server_name ${WORD};`,
  '    location / \\{',
  `        proxy_pass http://${WORD};`,
  '        proxy_http_version 1\\.1;',
  '        proxy_set_header Connection "";',
  '        proxy_set_header Host \\$host;',
  '        proxy_set_header X-Real-IP \\$remote_addr;',
  '        proxy_set_header X-Forwarded-For \\$proxy_add_x_forwarded_for;',
  '        proxy_set_header X-Forwarded-Proto \\$scheme;',
  '        return 503;',
  '    \\}',
].map((l) => new RegExp(`^${l}$`));
const HAPROXY_BODY = [
  '',
  `    use_backend be_${WORD} if \\{ hdr\\(host\\),field\\(1,:\\) -i ${WORD} \\}`,
  `backend be_${WORD}`,
  '    balance roundrobin',
  '    option httpchk GET /?[A-Za-z0-9._~!&()*+,=:@/?%-]*',
  `    server [A-Za-z0-9._:-]+ ${ADDRESS} check inter 2s fall 3 rise 2`,
  '# pinned vhost, no valid instance: no server, every request gets 503',
].map((l) => new RegExp(`^${l}$`));

describe('whatever the store holds, only the templates’ own line shapes come out', () => {
  it('nginx and haproxy', async () => {
    const seen = { names: 0, servers: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(instance, { maxLength: 4 }),
        fc.dictionary(text(chars('/'), 1, 8), text(NASTY, 0, 20), { maxKeys: 3 }),
        async (insts, pins) => {
          const extra = Object.fromEntries(Object.entries(pins).map(([k, v]) => [`/vhosts/${k}`, v]));
          const view = store('web', insts, extra);
          const n = await render(nginx, view);
          if (n.includes('server_name')) seen.names++;
          for (const line of n.split('\n')) expect(NGINX_LINES.some((re) => re.test(line)), JSON.stringify(line)).toBe(true);
          expect(n.split('{').length).toBe(n.split('}').length);
          const h = await render(haproxy, view);
          const body = h.slice(h.indexOf('    bind :80\n') + '    bind :80\n'.length);
          for (const line of body.split('\n')) expect(HAPROXY_BODY.some((re) => re.test(line)), JSON.stringify(line)).toBe(true);
          if (/\n {4}server /.test(h)) seen.servers++;
        },
      ),
      { numRuns: 150 },
    );
    // The generators reach the interesting part: valid instances with vhosts, and servers.
    expect(seen.names).toBeGreaterThan(30);
    expect(seen.servers).toBeGreaterThan(30);
  });
});

describe('templates/nginx/upstream-set.toml: a file set of upstreams', () => {
  it('loads as a {{service}} file set and renders one upstream per member, the member as the root context', async () => {
    const path = join(TEMPLATES, 'nginx/upstream-set.toml');
    const resource = parseTomlResource(path, await readFile(path, 'utf8'), { confdir: join(TEMPLATES, '..'), globalPrefix: '' });
    expect(resource.fileSet).toEqual({ member: 'service', dir: '/etc/nginx/upstreams', before: '', after: '.conf' });
    expect(resource.src).toBe(join(TEMPLATES, 'nginx/upstream.conf.tmpl'));
    const member = await engine.loadTemplateFile(resource.src);
    const view = store('web', [{ id: 'b' }, { id: 'a' }]);
    expect((await member.render({ view, prefix: '', context: 'web' })).text).toBe('upstream web {\n    server 10.0.0.2:80;\n    server 10.0.0.1:80;\n    keepalive 16;\n}\n');
  });
});

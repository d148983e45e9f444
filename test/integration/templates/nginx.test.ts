// templates/nginx: rendered by the real `sidekick render` from a fixture store, checked by the resource's own
// check_cmd (nginx -t on the staged snippet), then loaded by a real nginx that routes by Host.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nginxHttpPaths, nginxPreamble, startNginx, waitFor, type NginxHandle } from '../../support/procs.js';
import { EVIL_HOST, expectFixtureRoutes, expectRefusedRecords, getWithHost, shippedConfdir, startFixture, type Confdir, type Fixture, type StoreSpec } from './support.js';

let conf: Confdir;
let nginx: NginxHandle | undefined;
let fixture: Fixture;
let port: number;
let backends: Fixture['backends'];
let store: StoreSpec;
const env = (): Record<string, string> => ({ NGINX_LISTEN: `127.0.0.1:${port}` });

const PROXY = [
  '        proxy_http_version 1.1;',
  '        proxy_set_header Connection "";',
  '        proxy_set_header Host $host;',
  '        proxy_set_header X-Real-IP $remote_addr;',
  '        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
  '        proxy_set_header X-Forwarded-Proto $scheme;',
];
const server = (names: string[], location: string[]): string =>
  ['server {', `    listen 127.0.0.1:${port};`, ...names.map((n) => `    server_name ${n};`), '    location / {', ...location, '    }', '}', ''].join('\n');
const proxied = (names: string[], upstream: string): string => server(names, [`        proxy_pass http://${upstream};`, ...PROXY]);
const unavailable = (names: string[]): string => server(names, ['        return 503;']);
const upstream = (name: string, addresses: string[]): string =>
  [`upstream ${name} {`, ...addresses.map((a) => `    server ${a};`), '    keepalive 16;', '}', ''].join('\n');

function expected(opts: { internal: boolean }): string {
  const p = backends;
  return [
    // Upstreams of the services with a valid instance, by name.
    upstream('api', ['[::1]:9000', '[fd00::12]:9000']),
    upstream('elasticsearch', ['10.0.0.21:9200', '[fd00::22]:9200']),
    ...(opts.internal ? [upstream('internal', [`127.0.0.1:${p.internal.port}`])] : []),
    upstream('odd', ['10.0.0.7:80']),
    upstream('web', [`127.0.0.1:${p.webA.port}`, `127.0.0.1:${p.webB.port}`]),
    upstream('worker', ['localhost:7000']),
    // Pinned vhosts first (a pin wins a name clash), by pin name.
    '# bad_name__x (pinned vhost): no valid instance, 503\n' + unavailable(['x.example.test']),
    '# billing (pinned vhost): no valid instance, 503\n' + unavailable(['billing.example.test']),
    '# gone (pinned vhost): no valid instance, 503\n' + unavailable(['gone.example.test']),
    opts.internal
      ? '# internal (pinned vhost)\n' + proxied(['internal.example.test'], 'internal')
      : '# internal (pinned vhost): no valid instance, 503\n' + unavailable(['internal.example.test']),
    // Then the vhosts the instances declare: api from tags, odd and web from meta (web: its second instance).
    '# api\n' + proxied(['api.example.test'], 'api'),
    '# odd\n' + proxied(['odd.example.test', '_evil', '_comment'], 'odd'),
    '# web\n' + proxied(['web.example.test', 'www.example.test'], 'web'),
    '',
  ].join('\n');
}

const rendered = (): Promise<string> => readFile(conf.dest, 'utf8');

beforeAll(async () => {
  fixture = await startFixture();
  ({ port, backends, store } = fixture);
  conf = await shippedConfdir('nginx');
});

afterAll(async () => {
  await nginx?.stop();
  await fixture?.close();
  await conf?.cleanup();
});

describe('templates/nginx', () => {
  it('the shipped resource renders the fixture store and its check_cmd (nginx -t on the staged snippet) passes', async () => {
    expect(conf.resource.check_cmd).toBe(`/bin/sh ${conf.dir}/templates/nginx/check-snippet.sh {{.src}}`);
    const run = await conf.render(store, env());
    expect(run.stderr).not.toMatch(/check command/);
    expect(run.exitCode).toBe(0);
    expect(await rendered()).toBe(expected({ internal: true }));
  });

  it('a real nginx loads it: vhosts proxy to their upstream, pinned vhosts without an instance answer 503', async () => {
    const main = join(conf.dir, 'nginx.conf');
    await writeFile(main, `${nginxPreamble(conf.dir)}\nhttp {\n  ${nginxHttpPaths(conf.dir)}\n  include ${conf.dest};\n}\n`);
    await execa('/usr/sbin/nginx', ['-t', '-q', '-p', conf.dir, '-e', join(conf.dir, 'error.log'), '-c', main]);
    nginx = await startNginx(conf.dir, main);
    await expectFixtureRoutes(port, 'WWW.example.test:80');
  });

  it('values that would break the config never reach it: refused records are dropped with a warning, the rest is whitelisted', async () => {
    const text = await rendered();
    expect(text).not.toContain(EVIL_HOST.split(';')[0]);
    for (const bad of ['#comment', '$evil', 'ignored.example.test', '10.0.0.8', 'bad\nname']) expect(text).not.toContain(bad);
    // Every line is one of the template's own shapes; every store-derived word is [A-Za-z0-9._-].
    for (const line of text.split('\n').filter((l) => l.includes('server_name'))) expect(line).toMatch(/^ {4}server_name [A-Za-z0-9._-]+;$/);
    for (const line of text.split('\n').filter((l) => l.startsWith('#'))) expect(line).toMatch(/^# [A-Za-z0-9._-]+( \(pinned vhost\)(: no valid instance, 503)?)?$/);
    await expectRefusedRecords(conf, store, env());
  });

  it('a service that loses its last instance gets no empty upstream: its pinned vhost answers 503 after the reload', async () => {
    const run = await conf.render({ ...store, instances: store.instances.filter((i) => i.name !== 'internal') }, env());
    expect(run.exitCode).toBe(0);
    const text = await rendered();
    expect(text).toBe(expected({ internal: false }));
    expect(text).not.toContain('upstream internal');
    await execa('/bin/sh', ['-c', nginx?.reloadCmd ?? 'false']);
    await waitFor(async () => (await getWithHost(port, 'internal.example.test')).status === 503);
    expect((await getWithHost(port, 'web.example.test')).status).toBe(200);
  });

  it('an empty store renders an empty snippet, which nginx accepts', async () => {
    const empty = await shippedConfdir('nginx');
    try {
      const run = await empty.render({ instances: [] }, env());
      expect(run.exitCode).toBe(0);
      expect(await readFile(empty.dest, 'utf8')).toBe('');
    } finally {
      await empty.cleanup();
    }
  });
});

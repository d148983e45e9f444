// templates/haproxy: rendered by the real `sidekick render` from a fixture store, checked by the resource's own
// check_cmd (haproxy -c on a main config plus the staged file), then run by a real haproxy that routes by Host
// and health-checks every server.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffConfigs } from '../../../src/apply/haproxy-config.js';
import { startHaproxy, waitFor, type HaproxyHandle } from '../../support/procs.js';
import { EVIL_HOST, expectFixtureRoutes, expectRefusedRecords, getWithHost, shippedConfdir, startFixture, type Confdir, type Fixture, type StoreSpec } from './support.js';

let conf: Confdir;
let haproxy: HaproxyHandle | undefined;
let fixture: Fixture;
let port: number;
let backends: Fixture['backends'];
let store: StoreSpec;
const env = (): Record<string, string> => ({ HAPROXY_BIND: `127.0.0.1:${port}` });

const DEFAULTS = `defaults
    mode http
    log global
    option httplog
    option dontlognull
    option forwardfor
    option redispatch
    retries 2
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout check 5s
    # a host name that does not resolve leaves its server in maintenance instead of failing the whole file
    # (the only default-server setting: a server added through the runtime API inherits none, so each
    # server line carries its own; init-addr plays no part for an IP address)
    default-server init-addr last,libc,none
`;
const route = (backend: string, name: string): string => `    use_backend be_${backend} if { hdr(host),field(1,:) -i ${name} }`;
const backend = (name: string, path: string, servers: Array<[string, string]>): string =>
  ['', `backend be_${name}`, '    balance roundrobin', `    option httpchk GET ${path}`, ...servers.map(([id, a]) => `    server ${id} ${a} check inter 2s fall 3 rise 2`)].join('\n');
const empty = (name: string): string => ['', '# pinned vhost, no valid instance: no server, every request gets 503', `backend be_${name}`, '    balance roundrobin'].join('\n');

function expected(opts: { internal: boolean }): string {
  const p = backends;
  return [
    DEFAULTS,
    'frontend fe_sidekick',
    `    bind 127.0.0.1:${port}`,
    // Pinned vhosts first (a pin wins a name clash), by pin name; then the ones instances declare.
    route('bad_name__x', 'x.example.test'),
    route('billing', 'billing.example.test'),
    route('gone', 'gone.example.test'),
    route('internal', 'internal.example.test'),
    route('api', 'api.example.test'),
    route('odd', 'odd.example.test'),
    route('odd', '_evil'),
    route('odd', '_comment'),
    route('web', 'web.example.test'),
    route('web', 'www.example.test'),
    backend('api', '/', [['h1:api:9000', '[::1]:9000'], ['h2:api:9000', '[fd00::12]:9000']]),
    backend('elasticsearch', '/', [['es-1', '10.0.0.21:9200'], ['es-2', '[fd00::22]:9200']]),
    ...(opts.internal ? [backend('internal', '/', [['i1', `127.0.0.1:${p.internal.port}`]])] : []),
    backend('odd', '/health_check_x', [['odd:1', '10.0.0.7:80']]),
    backend('web', '/healthz', [['h1:web-1:8080', `127.0.0.1:${p.webA.port}`], ['h2:web-2:8080', `127.0.0.1:${p.webB.port}`]]),
    backend('worker', '/', [['w1', 'localhost:7000']]),
    empty('bad_name__x'),
    empty('billing'),
    empty('gone'),
    ...(opts.internal ? [] : [empty('internal')]),
    '',
  ].join('\n');
}

const rendered = (): Promise<string> => readFile(conf.dest, 'utf8');

beforeAll(async () => {
  fixture = await startFixture();
  ({ port, backends, store } = fixture);
  // The shipped check loads the distro's haproxy.cfg first; here a minimal global section stands in for it.
  conf = await shippedConfdir('haproxy', (r, dir) => {
    r.check_cmd = String(r.check_cmd).replace('/etc/haproxy/haproxy.cfg', join(dir, 'global.cfg'));
  });
  await writeFile(join(conf.dir, 'global.cfg'), 'global\n    maxconn 256\n    log stderr local0\n');
});

afterAll(async () => {
  await haproxy?.stop();
  await fixture?.close();
  await conf?.cleanup();
});

describe('templates/haproxy', () => {
  it('the shipped resource renders the fixture store and its check_cmd (haproxy -c with a main config) passes', async () => {
    expect(conf.resource.check_cmd).toBe(`/usr/sbin/haproxy -c -q -f ${join(conf.dir, 'global.cfg')} -f {{.src}}`);
    const run = await conf.render(store, env());
    expect(run.stderr).not.toMatch(/check command/);
    expect(run.exitCode).toBe(0);
    expect(await rendered()).toBe(expected({ internal: true }));
    // It also loads on its own.
    expect((await execa('/usr/sbin/haproxy', ['-c', '-q', '-f', conf.dest], { reject: false })).exitCode).toBe(0);
  });

  it('a real haproxy routes by Host, health-checks every server on the service path, and answers 503 for empty backends', async () => {
    haproxy = await startHaproxy(conf.dir, conf.dest);
    await expectFixtureRoutes(port, 'WWW.Example.test:80');
    expect((await getWithHost(port, 'unknown.example.test')).status).toBe(503);
    // option httpchk: both web servers get GET /healthz (meta.check_path), internal gets GET /.
    await waitFor(() => backends.webA.paths.includes('/healthz') && backends.webB.paths.includes('/healthz') && backends.internal.paths.length > 1);
  });

  it('values that would break the config never reach it: refused records are dropped with a warning, the rest is whitelisted', async () => {
    const text = await rendered();
    expect(text).not.toContain(EVIL_HOST.split(';')[0]);
    for (const bad of ['#comment', '$evil', 'ignored.example.test', 'odd@2', '10.0.0.8', 'bad\nname', 'check#x']) expect(text).not.toContain(bad);
    const lines = text.split('\n');
    for (const l of lines.filter((x) => x.includes('use_backend'))) {
      expect(l).toMatch(/^ {4}use_backend be_[A-Za-z0-9._-]+ if \{ hdr\(host\),field\(1,:\) -i [A-Za-z0-9._-]+ \}$/);
    }
    for (const l of lines.filter((x) => x.startsWith('    server '))) expect(l).toMatch(/^ {4}server [A-Za-z0-9._:-]+ \S+ check inter 2s fall 3 rise 2$/);
    for (const l of lines.filter((x) => x.includes('httpchk'))) expect(l).toMatch(/^ {4}option httpchk GET \/[A-Za-z0-9._~!&()*+,=:@/?%-]*$/);
    await expectRefusedRecords(conf, store, env());
  });

  it('a service that loses its last instance keeps its pinned backend with no server: haproxy -c accepts it, requests get 503', async () => {
    const run = await conf.render({ ...store, instances: store.instances.filter((i) => i.name !== 'internal') }, env());
    expect(run.exitCode).toBe(0);
    expect(await rendered()).toBe(expected({ internal: false }));
    process.kill(Number.parseInt(await readFile(join(conf.dir, 'haproxy.pid'), 'utf8'), 10), 'SIGUSR2');
    await waitFor(async () => (await getWithHost(port, 'internal.example.test')).status === 503, 15_000);
    expect((await getWithHost(port, 'web.example.test')).status).toBe(200);
  });

  it('an instance registered or moved changes only server lines, which add server and set server make as written', async () => {
    await conf.render(store, env());
    const before = await rendered();
    const [first, second] = store.instances.filter((i) => i.name === 'web') as [StoreSpec['instances'][number], StoreSpec['instances'][number]];
    const others = store.instances.filter((i) => i !== first && i !== second);
    // The first web instance (lowest id) keeps its check path; the second moves; a third registers by IP address.
    const instances = [...others, first, { ...second, port: 9999 }, { name: 'web', id: 'h3:web-3:8080', host: '10.0.0.33', port: 8080 }];
    expect((await conf.render({ ...store, instances }, env())).exitCode).toBe(0);
    const diff = diffConfigs(before, await rendered());
    expect(diff).toMatchObject({ kind: 'membership' });
    const ops = diff.kind === 'membership' ? diff.changes.map((c) => `${c.op} ${c.backend}/${c.op === 'change' ? c.to.name : c.server.name}`) : [];
    expect(ops.sort()).toEqual(['add be_web/h3:web-3:8080', 'change be_web/h2:web-2:8080']);
  });

  it('an empty store renders the defaults and a frontend without routes, which haproxy accepts', async () => {
    const fresh = await shippedConfdir('haproxy', (r) => {
      r.check_cmd = '/usr/sbin/haproxy -c -q -f {{.src}}';
    });
    try {
      const run = await fresh.render({ instances: [] }, env());
      expect(run.exitCode).toBe(0);
      expect(await readFile(fresh.dest, 'utf8')).toBe(`${DEFAULTS}\nfrontend fe_sidekick\n    bind 127.0.0.1:${port}\n`);
    } finally {
      await fresh.cleanup();
    }
  });
});

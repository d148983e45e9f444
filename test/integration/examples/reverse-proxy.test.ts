// examples/reverse-proxy: the compose file is consistent with the files it mounts; the endpoint's conf.d resource
// renders with the real `sidekick render --onetime` and its own check (`nginx -t`) passes; the haproxy variant
// renders and `haproxy -c` accepts it; and the compose's `register` command line, run against a private dockerd
// with busybox containers carrying the compose backends' labels, feeds etcd so that the same resource renders both.
import { existsSync } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidekick } from '../../support/cli.js';
import { ensureBusyboxImage, startDockerd, type DockerdHandle } from '../../support/docker.js';
import { startEtcd, type EtcdHandle } from '../../support/etcd.js';
import { freePort } from '../../support/ports.js';
import { httpGet, stopProc, waitFor } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';
import { EXAMPLES, jsonLogs, mountsOf, readCompose, readResources, stageConfdir, startComposeBackends, type ComposeFile, type ResourceTable } from './support.js';

const EXAMPLE = join(EXAMPLES, 'reverse-proxy');
const NGINX = '/usr/sbin/nginx';
const IMAGE_RESOURCE = join(import.meta.dirname, '../../../docker/nginx-endpoint/nginx.toml');

let dir: string;
let cleanup: () => Promise<void>;
let compose: ComposeFile;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sidekick-rproxy-'));
  compose = await readCompose(EXAMPLE);
});
afterAll(async () => cleanup?.());

const record = (name: string, id: string, port: number, tags: string[] = []): string =>
  JSON.stringify({ name, id, host: '127.0.0.1', port, tags, meta: {}, node: 'h1' });

/**
 * Stages the endpoint's confdir with dest and pid file in `into`. Without `reload` the reload is dropped (no nginx
 * runs); the check stays as shipped. Returns the staged resource and the environment `sidekick render` needs here
 * (nginx's pid and temp files in `into`/run, not the image's /tmp/nginx-endpoint).
 */
async function stageNginx(into: string, reload = false): Promise<{ resource: ResourceTable; env: Record<string, string> }> {
  const staged = await stageConfdir(EXAMPLE, join(into, 'confdir'), (_name, r) => {
    const { reload_signal: signal, pid_file: _pid, ...rest } = r;
    return { ...rest, dest: join(into, 'nginx.conf'), ...(reload ? { reload_signal: signal, pid_file: join(into, 'run/nginx.pid') } : {}) };
  });
  await mkdir(join(into, 'run'), { recursive: true });
  return { resource: staged.get('nginx.toml') as ResourceTable, env: { NGINX_RUN_DIR: join(into, 'run') } };
}

describe('examples/reverse-proxy: docker-compose.yml', () => {
  it('has etcd, register, the endpoint and two labelled backends (and the haproxy variant under a profile)', () => {
    const s = compose.services;
    expect(Object.keys(s).sort()).toEqual(['endpoint', 'etcd', 'haproxy', 'haproxy-render', 'register', 'web-blue', 'web-green']);
    expect(s.register?.image).toBe('sidekick:latest');
    expect(s.register?.command?.[0]).toBe('register');
    expect(mountsOf(s.register ?? {}).map((m) => m.target)).toContain('/var/run/docker.sock');
    expect(s.endpoint?.image).toBe('sidekick-nginx-endpoint:latest');
    for (const name of ['register', 'endpoint', 'haproxy-render']) {
      expect(s[name]?.environment?.SIDEKICK_NODE).toBe('http://etcd:2379');
      expect(s[name]?.depends_on).toContain('etcd');
    }
    for (const name of ['web-blue', 'web-green']) {
      expect(s[name]?.labels?.SERVICE_NAME).toBe('web');
      expect(s[name]?.labels?.SERVICE_CHECK_HTTP).toBe('/');
    }
    expect(s.haproxy?.profiles).toEqual(['haproxy']);
    expect(s['haproxy-render']?.profiles).toEqual(['haproxy']);
  });

  it('every bind mount names a file of the example; every named volume and dependency is declared', async () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const m of mountsOf(service)) {
        if (m.bind && !isAbsolute(m.source)) await expect(access(join(EXAMPLE, m.source)), `${name}: ${m.source}`).resolves.toBeUndefined();
        if (!m.bind) expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${m.source}`).toContain(m.source);
      }
      for (const dep of service.depends_on ?? []) expect(Object.keys(compose.services), `${name} depends on ${dep}`).toContain(dep);
    }
    // The endpoint reads the example's confdir where `sidekick render` looks by default.
    expect(mountsOf(compose.services.endpoint ?? {}).map((m) => `${m.source}:${m.target}`)).toEqual([
      './conf.d:/etc/sidekick/conf.d',
      './templates:/etc/sidekick/templates',
    ]);
  });

  // The image's supervisor starts nginx on its resource's dest with its pid file (docker/nginx-endpoint): the
  // example's resource replaces that one, so it must name the same files, and listen where the compose publishes.
  it.skipIf(!existsSync(IMAGE_RESOURCE))("the endpoint resource keeps the image's contract: dest, pid file, port", async () => {
    const image = parseToml(await readFile(IMAGE_RESOURCE, 'utf8')) as { template: ResourceTable };
    const [ours] = (await readResources(EXAMPLE)).values();
    expect({ dest: ours?.dest, pid_file: ours?.pid_file, reload_signal: ours?.reload_signal }).toEqual({
      dest: image.template.dest,
      pid_file: image.template.pid_file,
      reload_signal: image.template.reload_signal,
    });
    const template = await readFile(join(EXAMPLE, 'templates/nginx.conf.tmpl'), 'utf8');
    expect(template).toContain('{{getenv "LISTEN_PORT" "8080"}}');
    expect(template).toContain('pid {{getenv "NGINX_RUN_DIR" "/tmp/nginx-endpoint"}}/nginx.pid;');
    expect(template).not.toMatch(/^\s*daemon /m);
    expect(compose.services.endpoint?.ports).toEqual(['8080:8080']);
  });

  it('the haproxy variant: the render sidecar writes where haproxy reads, and reloads the container haproxy runs in', async () => {
    const [resource] = (await readResources(join(EXAMPLE, 'haproxy'))).values();
    const dest = String(resource?.dest);
    const render = compose.services['haproxy-render'] ?? {};
    const haproxy = compose.services.haproxy ?? {};
    const volumeAt = (s: typeof render, target: string) => mountsOf(s).find((m) => m.target === target)?.source;
    const destDir = dest.slice(0, dest.lastIndexOf('/'));
    expect(volumeAt(render, destDir)).toBeDefined();
    expect(volumeAt(haproxy, destDir)).toBe(volumeAt(render, destDir));
    expect(haproxy.command).toEqual(['haproxy', '-f', dest]);
    expect(resource?.reload_container).toBe(haproxy.container_name);
    expect(resource?.reload_signal).toBe('USR2');
    // The runtime API socket lies in a volume both containers mount.
    const socket = String(resource?.haproxy_socket);
    const socketDir = socket.slice(0, socket.lastIndexOf('/'));
    expect(volumeAt(render, socketDir)).toBeDefined();
    expect(volumeAt(haproxy, socketDir)).toBe(volumeAt(render, socketDir));
  });
});

describe('examples/reverse-proxy: the endpoint resource on a fixture store', () => {
  it('renders an upstream and a location per service, / to web, drops an invalid record, and nginx -t accepts it', async () => {
    const work = join(dir, 'fixture');
    const { resource, env } = await stageNginx(work);
    expect(resource.check_cmd).toBe('/usr/sbin/nginx -t -q -c {{.src}}');
    expect([resource.dest, resource.pid_file]).toEqual([join(work, 'nginx.conf'), undefined]);
    const data = join(work, 'services.json');
    await writeFile(
      data,
      JSON.stringify({
        services: {
          web: { 'h1:blue:80': record('web', 'h1:blue:80', 8081, ['blue']), 'h2:green:80': record('web', 'h2:green:80', 8082, ['green']) },
          // registrator's plain host:port layout is read too
          api: { 'h1:api:9000': '127.0.0.1:9000' },
          evil: { x: JSON.stringify({ name: 'evil', id: 'x', host: '1.2.3.4; }', port: 80 }) },
        },
      }),
    );
    const run = await sidekick(['render', '--onetime', '--confdir', join(work, 'confdir'), '--backend', 'file', '--file', data], env);
    expect(run.exitCode, String(run.stderr)).toBe(0);
    const conf = await readFile(join(work, 'nginx.conf'), 'utf8');
    expect(conf).toContain('access_log off;');
    expect(conf).toMatch(/upstream web \{\n\s+server 127\.0\.0\.1:8081 [^\n]*;\n\s+server 127\.0\.0\.1:8082 [^\n]*;\n\s+keepalive 16;\n\s+\}/);
    expect(conf).toMatch(/upstream api \{\n\s+server 127\.0\.0\.1:9000 [^\n]*;/);
    expect(conf).toMatch(/location \/api\/ \{\n\s+proxy_pass http:\/\/api\/;/);
    expect(conf).toMatch(/location \/ \{\n\s+proxy_pass http:\/\/web;/);
    expect(conf).not.toContain('evil');
    expect(String(run.stderr)).toContain('/services/evil/x');
    // The shipped check ran on the staged file; the result passes the same check in place.
    const check = await execa(NGINX, ['-t', '-q', '-c', join(work, 'nginx.conf')], { reject: false });
    expect(check.exitCode, check.stderr).toBe(0);
  });

  it("the shipped check_cmd rejects a config nginx refuses: dest untouched, nginx's error reported", async () => {
    const work = join(dir, 'refused');
    const { env } = await stageNginx(work);
    // The template as shipped plus one directive nginx does not know: only the check can catch it.
    const tmpl = join(work, 'confdir/templates/nginx.conf.tmpl');
    await writeFile(tmpl, (await readFile(tmpl, 'utf8')).replace('http {', 'http {\n  no_such_directive on;'));
    await writeFile(join(work, 'nginx.conf'), '# last good\n');
    await writeFile(join(work, 'services.json'), JSON.stringify({ services: { web: { a: record('web', 'a', 8081) } } }));
    const run = await sidekick(['render', '--onetime', '--confdir', join(work, 'confdir'), '--backend', 'file', '--file', join(work, 'services.json')], env);
    expect(run.exitCode).toBe(1);
    expect(String(run.stderr)).toMatch(/check command exited with code 1: .*unknown directive \\"no_such_directive\\"/);
    expect(await readFile(join(work, 'nginx.conf'), 'utf8')).toBe('# last good\n');
  });

  it('with nothing registered it still renders a config nginx accepts (no empty upstream, no / route)', async () => {
    const work = join(dir, 'empty');
    const { env } = await stageNginx(work);
    await writeFile(join(work, 'services.json'), '{}');
    const run = await sidekick(['render', '--onetime', '--confdir', join(work, 'confdir'), '--backend', 'file', '--file', join(work, 'services.json')], env);
    expect(run.exitCode, String(run.stderr)).toBe(0);
    const conf = await readFile(join(work, 'nginx.conf'), 'utf8');
    expect(conf).not.toMatch(/upstream \S+ \{/);
    expect(conf).not.toContain('location / ');
  });

  it('the haproxy variant renders a config haproxy -c accepts', async () => {
    const work = join(dir, 'haproxy');
    await stageConfdir(join(EXAMPLE, 'haproxy'), join(work, 'confdir'), (_name, r) => {
      const { reload_container: _c, reload_signal: _s, ...rest } = r;
      return { ...rest, dest: join(work, 'haproxy.cfg') };
    });
    const data = join(work, 'services.json');
    await writeFile(data, JSON.stringify({ services: { web: { a: record('web', 'a', 8081), b: record('web', 'b', 8082) }, api: { c: record('api', 'c', 9000) } } }));
    const run = await sidekick(['render', '--onetime', '--confdir', join(work, 'confdir'), '--backend', 'file', '--file', data]);
    expect(run.exitCode, String(run.stderr)).toBe(0);
    const cfg = await readFile(join(work, 'haproxy.cfg'), 'utf8');
    expect(cfg).toContain('use_backend api if { path_beg /api/ }');
    expect(cfg).toContain('default_backend web');
    expect(cfg).toMatch(/backend web\n[^]*server srv1 127\.0\.0\.1:8081\n {2}server srv2 127\.0\.0\.1:8082\n/);
    const check = await execa('/usr/sbin/haproxy', ['-c', '-q', '-f', join(work, 'haproxy.cfg')], { reject: false });
    expect(check.exitCode, `${check.stdout}${check.stderr}`).toBe(0);
  });
});

// The compose's `register` and its backends' labels, for real: busybox httpd containers (host network, no registry to
// pull traefik/whoami from) labelled exactly as web-blue and web-green, the compose's register command line with this
// test's etcd, dockerd and --ip added, and the endpoint's resource run the way the image's supervisor runs it: a first
// `render --onetime --sync-only`, nginx started on the result, then `render --watch` reloading it with SIGHUP.
describe('examples/reverse-proxy: register → etcd → the endpoint resource → nginx', () => {
  let dockerd: DockerdHandle;
  let etcd: EtcdHandle;
  const procs: ResultPromise[] = [];
  let nginxPid: number | undefined;
  beforeAll(async () => {
    [dockerd, etcd] = await Promise.all([startDockerd(), startEtcd()]);
    await ensureBusyboxImage(dockerd.docker);
  }, 90_000);
  afterAll(async () => {
    for (const p of procs) await stopProc(p);
    if (nginxPid) process.kill(nginxPid, 'SIGQUIT');
    await dockerd?.cleanup();
    await etcd?.cleanup();
  });

  it('serves the labelled backends through the rendered nginx.conf; a stopped one leaves it and nginx is reloaded', async () => {
    const { ports, ids } = await startComposeBackends(dockerd.docker, compose);
    const service = compose.services.register ?? {};
    procs.push(sidekick([...(service.command ?? []), '--docker', dockerd.address, '--ip', '127.0.0.1'], { ...service.environment, SIDEKICK_NODE: etcd.endpoint }));
    const keys = async () => (await etcd.client.getAll().prefix('/services/').keys()).sort();
    await waitFor(async () => (await keys()).length === 2, 20_000);
    expect(await keys()).toEqual([`/services/web/compose:web-blue:${ports['web-blue']}`, `/services/web/compose:web-green:${ports['web-green']}`]);

    const work = join(dir, 'registered');
    const staged = await stageNginx(work, true);
    const listen = await freePort();
    const env = { ...staged.env, SIDEKICK_NODE: etcd.endpoint, LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: String(listen), NGINX_ACCESS_LOG: join(work, 'access.log') };
    const confdir = ['--confdir', join(work, 'confdir')];
    const first = await sidekick(['render', ...confdir, '--onetime', '--sync-only'], env);
    expect(first.exitCode, String(first.stderr)).toBe(0);
    const conf = join(work, 'nginx.conf');
    expect(await readFile(conf, 'utf8')).toContain(`server 127.0.0.1:${ports['web-green']} `);
    // As the image's supervisor starts it, but daemonized: the pid file comes from the template.
    await execa(NGINX, ['-c', conf, '-g', 'daemon on;'], { stdio: 'ignore' });
    nginxPid = await waitFor(async () => Number.parseInt(await readFile(join(work, 'run/nginx.pid'), 'utf8'), 10));
    const watch = sidekick(['render', ...confdir, '--watch'], env);
    procs.push(watch);
    const watchLogs = jsonLogs(watch);

    const get = async (path: string) => (await httpGet(`http://127.0.0.1:${listen}${path}`)).body.trim();
    const seen = new Set<string>();
    await waitFor(async () => {
      seen.add(await get('/'));
      return seen.size === 2;
    }, 20_000);
    expect([...seen].sort()).toEqual(['web-blue', 'web-green']);
    expect(['web-blue', 'web-green']).toContain(await get('/web/'));

    await dockerd.docker.getContainer(ids['web-green'] as string).stop({ t: 1 });
    await waitFor(async () => !(await readFile(conf, 'utf8')).includes(`127.0.0.1:${ports['web-green']}`), 20_000);
    // Reloaded, not merely failing over: nginx would skip the dead server by itself (proxy_next_upstream).
    await waitFor(() => watchLogs().some((l) => l.msg === 'reloaded'), 10_000);
    await waitFor(async () => (await Promise.all([get('/'), get('/'), get('/')])).every((b) => b === 'web-blue'), 20_000);
    expect(await readFile(conf, 'utf8')).toContain(`server 127.0.0.1:${ports['web-blue']} `);
    // NGINX_ACCESS_LOG set to a file: the requests are logged there.
    expect(await readFile(join(work, 'access.log'), 'utf8')).toContain('"GET /web/ HTTP/1.1" 200');
  }, 90_000);
});

// examples/elk: the wiring of the ELK compose file through the store, with real processes and stand-ins. A real etcd,
// the compose's `announce` command lines (addresses pointed at loopback), the example's conf.d resources and templates
// rendered by `sidekick render --watch`, the example's bin/supervise starting each stand-in once its config exists,
// and a real nginx in front of the kibana stand-in. Elasticsearch, logstash, kibana and filebeat themselves are busybox
// httpd / sh stand-ins: this tests who finds whom through /services and in which order, not ELK.
import { existsSync } from 'node:fs';
import { access, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidekick } from '../../support/cli.js';
import { BUSYBOX_IMAGE, ensureBusyboxImage, startDockerd, TEST_LABEL, type DockerdHandle } from '../../support/docker.js';
import { startEtcd, type EtcdHandle } from '../../support/etcd.js';
import { freePort } from '../../support/ports.js';
import { httpGet, nginxHttpPaths, nginxPreamble, startNginx, stopProc, tcpOpen, waitFor, type NginxHandle } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';
import {
  EXAMPLES,
  httpdArgv,
  jsonLogs,
  mountsOf,
  readCompose,
  readResources,
  stageConfdir,
  startHttpd,
  type ComposeFile,
  type ComposeService,
  type Httpd,
  type ResourceTable,
} from './support.js';

const EXAMPLE = join(EXAMPLES, 'elk');
const SUPERVISE = join(EXAMPLE, 'bin/supervise');

let compose: ComposeFile;
let resources: Map<string, ResourceTable>;
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  compose = await readCompose(EXAMPLE);
  resources = await readResources(EXAMPLE);
  ({ dir, cleanup } = await tempDir('sidekick-elk-'));
});
afterAll(async () => cleanup?.());

const svc = (name: string): ComposeService => {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};
/** The value following `flag` in a command line. */
const flag = (argv: string[] | undefined, name: string): string | undefined => argv?.[(argv?.indexOf(name) ?? -2) + 1];
/** `entrypoint: [/bin/sh, /sidekick-bin/supervise, FILE, --, …]` → FILE and the command. */
function supervised(service: ComposeService): { file: string; command: string[] } {
  const e = service.entrypoint ?? [];
  expect(e.slice(0, 2)).toEqual(['/bin/sh', '/sidekick-bin/supervise']);
  expect(e[3]).toBe('--');
  return { file: e[2] as string, command: e.slice(4) };
}
const dirOf = (path: string): string => path.slice(0, path.lastIndexOf('/'));

/**
 * The shipper stand-in's command: appends "--- start", the config it started with and "--- end" to `log`, then
 * idles. The record takes three writes, so a reader counts only complete ones (see completeStarts).
 */
const shipperScript = (log: string): string => `{ echo "--- start"; cat "$0"; echo "--- end"; } >> ${log}; exec sleep 600`;

/** The configs of the complete start records in a shipper stand-in's log, oldest first. */
const completeStarts = (text: string): string[] => [...text.matchAll(/--- start\n([^]*?)--- end\n/g)].map((m) => m[1] ?? '');

describe('examples/elk: docker-compose.yml and conf.d agree', () => {
  it('has the stack, the announcers and one render service', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['app', 'app-shipper', 'elasticsearch', 'elasticsearch-announce', 'etcd', 'kibana', 'kibana-announce', 'logstash', 'logstash-announce', 'nginx', 'render'].sort(),
    );
    for (const name of ['render', 'elasticsearch-announce', 'kibana-announce', 'logstash-announce']) {
      expect(svc(name).image).toBe('sidekick:latest');
      expect(svc(name).environment?.SIDEKICK_NODE).toBe('http://etcd:2379');
    }
    expect(svc('render').command).toEqual(['render', '--watch', '--confdir', '/etc/sidekick']);
  });

  it('every service a template reads is announced, at an address of a compose service', () => {
    const read = new Set([...resources.values()].flatMap((r) => (r.keys as string[]).map((k) => k.replace(/^\/services\//, ''))));
    expect([...read].sort()).toEqual(['elasticsearch', 'kibana', 'logstash']);
    for (const name of read) {
      const announce = svc(`${name}-announce`).command;
      expect(announce?.[0]).toBe('announce');
      expect(flag(announce, '--name')).toBe(name);
      const host = flag(announce, '--address')?.split(':')[0] as string;
      expect(Object.keys(compose.services)).toContain(host);
    }
  });

  it('each rendered file lands in a volume its consumer mounts at the same place, and is what it waits for', () => {
    const render = mountsOf(svc('render'));
    const consumers: Record<string, string> = { 'logstash.toml': 'logstash', 'kibana.toml': 'kibana', 'filebeat.toml': 'app-shipper', 'nginx.toml': 'nginx' };
    for (const [name, r] of resources) {
      const dest = String(r.dest);
      const volume = render.find((m) => m.target === dirOf(dest))?.source;
      expect(volume, `${name}: render mounts ${dirOf(dest)}`).toBeDefined();
      const consumer = svc(consumers[name] as string);
      const mount = mountsOf(consumer).find((m) => m.source === volume);
      expect(mount?.readOnly, `${name}: ${consumers[name]} mounts ${volume} read-only`).toBe(true);
      if (name === 'nginx.toml') {
        // The official nginx image includes /etc/nginx/conf.d/*.conf; nocopy keeps its default.conf out.
        expect(mount?.target).toBe('/etc/nginx/conf.d');
        expect(consumer.volumes?.find((v) => typeof v !== 'string')).toMatchObject({ volume: { nocopy: true } });
      } else {
        expect(mount?.target).toBe(dirOf(dest));
        expect(supervised(consumer).file).toBe(dest);
      }
      expect(r.min_endpoints, name).toBe(1);
    }
  });

  it('each reload_container is a container the render service starts after, and the Docker socket is mounted', () => {
    const byContainer = new Map(Object.entries(compose.services).map(([n, s]) => [s.container_name, n]));
    for (const [name, r] of resources) {
      if (r.reload_container === undefined) continue;
      expect(r.reload_signal, name).toBe('HUP');
      const service = byContainer.get(String(r.reload_container));
      expect(service, `${name}: a service with container_name ${String(r.reload_container)}`).toBeDefined();
      expect(svc('render').depends_on).toContain(service);
    }
    expect(mountsOf(svc('render')).map((m) => m.target)).toContain('/var/run/docker.sock');
    expect(svc('render').user).toBe('0:0');
  });

  it('every bind mount names a file of the example; named volumes and dependencies are declared', async () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const m of mountsOf(service)) {
        if (m.bind && !isAbsolute(m.source)) await expect(access(join(EXAMPLE, m.source)), `${name}: ${m.source}`).resolves.toBeUndefined();
        if (!m.bind) expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${m.source}`).toContain(m.source);
      }
      for (const dep of service.depends_on ?? []) expect(Object.keys(compose.services)).toContain(dep);
    }
  });
});

describe('examples/elk: bin/supervise', () => {
  it('refuses a bad command line, exits 0 on SIGTERM while waiting, passes the command status through', async () => {
    expect((await execa('sh', [SUPERVISE, 'only-a-file'], { reject: false })).exitCode).toBe(2);
    const file = join(dir, 'supervise-file');
    const waiting = execa('sh', [SUPERVISE, file, '--', 'true'], { reject: false });
    await new Promise((r) => setTimeout(r, 300));
    expect((await stopProc(waiting)).exitCode).toBe(0);
    await writeFile(file, 'x\n');
    const done = await execa('sh', [SUPERVISE, file, '--', 'sh', '-c', 'exit 3'], { reject: false });
    expect(done.exitCode).toBe(3);
    expect(done.stderr).toContain('supervise: command exited with status 3');
  });
});

// reload_container for real: the shipper as a container (busybox stand-in) with the compose's entrypoint, init and
// container_name, and `sidekick render` signalling it through the Docker API (a private dockerd) as the render
// container does through the mounted socket.
describe('examples/elk: reload_container → the shipper container → bin/supervise', () => {
  let dockerd: DockerdHandle;
  let etcd: EtcdHandle;
  let render: ResultPromise | undefined;
  beforeAll(async () => {
    [dockerd, etcd] = await Promise.all([startDockerd(), startEtcd()]);
    await ensureBusyboxImage(dockerd.docker);
  }, 90_000);
  afterAll(async () => {
    if (render !== undefined) await stopProc(render);
    await dockerd?.cleanup();
    await etcd?.cleanup();
  });

  it('a changed filebeat.yml makes Docker deliver HUP to the container, and the shipper restarts with the new file', async () => {
    const work = join(dir, 'container');
    const out = join(work, 'out');
    await mkdir(out, { recursive: true });
    await stageConfdir(EXAMPLE, join(work, 'confdir'), (_name, r) => ({ ...r, dest: join(work, String(r.dest).replace(/^\//, '')) }));
    const dest = String(resources.get('filebeat.toml')?.dest);
    await mkdir(join(work, dirOf(dest)), { recursive: true });
    const shipper = svc('app-shipper');
    const { file } = supervised(shipper);
    expect(file).toBe(dest);
    const entrypoint = [...(shipper.entrypoint ?? []).slice(0, 4), 'sh', '-c', shipperScript('/out/starts.log'), file];
    const container = await dockerd.docker.createContainer({
      name: shipper.container_name,
      Image: BUSYBOX_IMAGE,
      Entrypoint: entrypoint,
      Labels: { [TEST_LABEL]: '1' },
      HostConfig: {
        NetworkMode: 'none',
        Init: shipper.init === true,
        Binds: [`${join(EXAMPLE, 'bin')}:/sidekick-bin:ro`, `${join(work, dirOf(dest))}:${dirOf(dest)}:ro`, `${out}:/out`],
      },
    });
    await container.start();
    const starts = async () => completeStarts(await readFile(join(out, 'starts.log'), 'utf8').catch(() => ''));

    const record = (id: string, port: number) => JSON.stringify({ name: 'logstash', id, host: '127.0.0.1', port, tags: [], meta: {} });
    await etcd.put('/services/logstash/logstash-1', record('logstash-1', 5044));
    const cmd = [...(svc('render').command ?? [])];
    cmd[cmd.indexOf('--confdir') + 1] = join(work, 'confdir');
    render = sidekick(cmd, { SIDEKICK_NODE: etcd.endpoint, DOCKER_HOST: dockerd.address });
    const logs = jsonLogs(render);
    await waitFor(async () => (await starts()).length >= 1, 30_000, 100);
    expect((await starts()).at(-1)).toContain('- "127.0.0.1:5044"');

    const before = (await starts()).length;
    await etcd.put('/services/logstash/logstash-2', record('logstash-2', 5045));
    // Waited for by content, not by count: the first pass's own reload may restart the shipper once more after
    // `before` was read. A start that read both hosts can only be a restart after the put.
    const both = '- "127.0.0.1:5044"\n    - "127.0.0.1:5045"';
    await waitFor(async () => (await starts()).some((s) => s.includes(both)), 30_000, 100);
    expect((await starts()).length).toBeGreaterThan(before);
    expect((await starts()).at(-1)).toContain(both);
    expect(logs().filter((l) => l.msg === 'reloaded').map((l) => l.reload)).toContain(`docker kill -s SIGHUP ${shipper.container_name}`);
    // Still the same container: supervise restarted the shipper inside it.
    expect((await container.inspect()).State.Running).toBe(true);
  }, 90_000);
});

describe('examples/elk: the wiring through etcd, with stand-ins', () => {
  let etcd: EtcdHandle;
  let nginx: NginxHandle;
  let render: ResultPromise | undefined;
  let renderLogs: () => Array<Record<string, unknown>>;
  const procs: ResultPromise[] = [];
  const httpds: Httpd[] = [];
  const announces: Record<string, ResultPromise> = {};
  const port: Record<string, number> = {};
  const rendered = (path: string): string => join(dir, path.replace(/^\//, ''));
  const file = (resource: string): string => rendered(String(resources.get(resource)?.dest));
  const read = (resource: string): Promise<string> => readFile(file(resource), 'utf8');
  const shipperLog = () => join(dir, 'shipper-starts.log');

  /** The compose's announce command of `service`, with its --address pointed at the loopback stand-in. */
  function announce(service: string, address: string, extra: string[] = []): ResultPromise {
    const s = svc(service);
    const argv = [...(s.command ?? [])];
    argv[argv.indexOf('--address') + 1] = address;
    return sidekick([...argv, ...extra], { ...s.environment, SIDEKICK_NODE: etcd.endpoint });
  }
  /** The compose's entrypoint of `service` (bin/supervise FILE -- …) with FILE in the temp dir and a stand-in command. */
  function supervise(service: string, command: string[]): ResultPromise {
    const p = execa('sh', [SUPERVISE, rendered(supervised(svc(service)).file), '--', ...command], { reject: false, stdin: 'ignore' });
    procs.push(p);
    return p;
  }
  const minEndpointFailures = (resource: string): number =>
    renderLogs().filter((l) => l.resource === resource && String(l.err ?? '').includes('min_endpoints')).length;
  const createRevision = async (prefix: string): Promise<number> => {
    const res = await etcd.client.getAll().prefix(prefix).exec();
    return Math.min(...res.kvs.map((kv) => Number(kv.create_revision)));
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    for (const name of ['es', 'kibana', 'logstash', 'logstash2', 'nginx']) port[name] = await freePort();
    // The compose's volumes, as folders: /rendered/<x>/ → <dir>/rendered/<x>/.
    for (const sub of ['logstash', 'kibana', 'nginx', 'filebeat']) await mkdir(rendered(`/rendered/${sub}`), { recursive: true });
    // The nginx container: the official image's main config includes conf.d/*.conf, here the rendered folder.
    const nginxDir = join(dir, 'nginx');
    await mkdir(nginxDir);
    const main = join(nginxDir, 'nginx.conf');
    await writeFile(main, `${nginxPreamble(nginxDir)}\nhttp {\n  ${nginxHttpPaths(nginxDir)}\n  include ${rendered('/rendered/nginx')}/*.conf;\n}\n`);
    nginx = await startNginx(nginxDir, main);

    // The stand-ins, each started by bin/supervise as its compose entrypoint does: kibana and logstash wait for their
    // rendered config; the shipper records each start and the config it started with.
    const kibana = supervise('kibana', await httpdArgv(join(dir, 'www-kibana'), port.kibana as number, { 'index.html': 'kibana stand-in\n', 'api/status': '{}' }));
    void supervise('logstash', await httpdArgv(join(dir, 'www-logstash'), port.logstash as number, { 'index.html': 'logstash\n' }));
    const shipper = supervise('app-shipper', ['sh', '-c', shipperScript(shipperLog()), rendered(supervised(svc('app-shipper')).file)]);
    // reload_container → a pid file: the supervise process for kibana and the shipper (HUP is what Docker delivers to
    // the container's PID 1), the nginx master for nginx.
    const pidFiles: Record<string, string> = { 'elk-nginx': join(nginxDir, 'nginx.pid'), 'elk-kibana': join(dir, 'kibana.pid'), 'elk-filebeat': join(dir, 'shipper.pid') };
    await writeFile(pidFiles['elk-kibana'] as string, String(kibana.pid));
    await writeFile(pidFiles['elk-filebeat'] as string, String(shipper.pid));
    await stageConfdir(EXAMPLE, join(dir, 'confdir'), (_name, r) => {
      const { reload_container: container, ...rest } = r;
      const next: ResourceTable = { ...rest, dest: rendered(String(r.dest)) };
      if (container !== undefined) next.pid_file = pidFiles[String(container)];
      return next;
    });

    // Everything starts together, as `docker compose up` does: the announcers of services that are not up yet
    // fail their checks and write nothing.
    announces.elasticsearch = announce('elasticsearch-announce', `127.0.0.1:${port.es}`);
    announces.kibana = announce('kibana-announce', `127.0.0.1:${port.kibana}`);
    announces.logstash = announce('logstash-announce', `127.0.0.1:${port.logstash}`);
    const cmd = [...(svc('render').command ?? [])];
    cmd[cmd.indexOf('--confdir') + 1] = join(dir, 'confdir');
    const proc = sidekick(cmd, { SIDEKICK_NODE: etcd.endpoint, NGINX_LISTEN: `127.0.0.1:${port.nginx}` });
    render = proc;
    renderLogs = jsonLogs(proc);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(Object.values(announces).map((a) => stopProc(a)));
    if (render !== undefined) await stopProc(render);
    await Promise.all(procs.map((p) => stopProc(p)));
    await Promise.all(httpds.map((h) => h.stop()));
    await nginx?.stop();
    await etcd?.cleanup();
  });

  it('before elasticsearch is announced: nothing is rendered, kibana and logstash wait, nginx serves nothing', async () => {
    await waitFor(() => ['logstash.toml', 'kibana.toml', 'nginx.toml', 'filebeat.toml'].every((r) => minEndpointFailures(r) === 1), 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${renderLogs().map((l) => JSON.stringify(l)).join('\n')}`);
    });
    await new Promise((r) => setTimeout(r, 1500)); // the announcers have checked (and failed) meanwhile
    for (const r of resources.keys()) expect(existsSync(file(r)), r).toBe(false);
    expect(await tcpOpen(port.kibana as number)).toBe(false);
    expect(await tcpOpen(port.logstash as number)).toBe(false);
    expect(existsSync(shipperLog())).toBe(false);
    expect(await etcd.client.getAll().prefix('/services/').keys()).toEqual([]);
    await expect(httpGet(`http://127.0.0.1:${port.nginx}/`)).rejects.toThrow();
  }, 60_000);

  it("elasticsearch announced: logstash's output and kibana's settings name it, then logstash and kibana start", async () => {
    httpds.push(await startHttpd(join(dir, 'www-es'), { '_cluster/health': '{"status":"green"}\n' }, port.es));
    await waitFor(() => existsSync(file('logstash.toml')), 30_000);
    expect(await read('logstash.toml')).toContain(`hosts => ["http://127.0.0.1:${port.es}"]`);
    await waitFor(() => existsSync(file('kibana.toml')), 15_000);
    expect(await read('kibana.toml')).toContain(`elasticsearch.hosts:\n  - "http://127.0.0.1:${port.es}"\n`);
    await waitFor(() => tcpOpen(port.logstash as number), 15_000);
    await waitFor(() => tcpOpen(port.kibana as number), 15_000);
  }, 60_000);

  it('kibana announced: the nginx → kibana upstream is rendered, nginx reloaded, requests reach kibana', async () => {
    await waitFor(() => existsSync(file('nginx.toml')), 30_000);
    expect(await read('nginx.toml')).toMatch(new RegExp(`upstream kibana \\{\\n\\s+server 127\\.0\\.0\\.1:${port.kibana} `));
    await waitFor(async () => (await httpGet(`http://127.0.0.1:${port.nginx}/`)).body === 'kibana stand-in\n', 15_000);
    expect(await createRevision('/services/kibana/')).toBeGreaterThan(await createRevision('/services/elasticsearch/'));
  }, 60_000);

  it("logstash announced: the shipper's config points at it, and the shipper starts with that config", async () => {
    await waitFor(() => existsSync(file('filebeat.toml')), 30_000);
    const config = await read('filebeat.toml');
    expect(config).toMatch(new RegExp(`output\\.logstash:\\n[^]*hosts:\\n\\s+- "127\\.0\\.0\\.1:${port.logstash}"\\n`));
    await waitFor(async () => (await readFile(shipperLog(), 'utf8').catch(() => '')).includes(`127.0.0.1:${port.logstash}`), 15_000);
    // The order the store imposed: elasticsearch, then logstash (it only listens once its output exists), then the shipper.
    expect(await createRevision('/services/logstash/')).toBeGreaterThan(await createRevision('/services/elasticsearch/'));
    expect((await stat(file('filebeat.toml'))).mtimeMs).toBeGreaterThan((await stat(file('logstash.toml'))).mtimeMs);
  }, 60_000);

  it('elasticsearch gone: its record leaves, the last good logstash output and kibana settings stay', async () => {
    const [logstashConf, kibanaYml] = await Promise.all([read('logstash.toml'), read('kibana.toml')]);
    const before = minEndpointFailures('logstash.toml');
    await stopProc(announces.elasticsearch as ResultPromise);
    expect(await etcd.client.getAll().prefix('/services/elasticsearch/').keys()).toEqual([]);
    await waitFor(() => minEndpointFailures('logstash.toml') > before && minEndpointFailures('kibana.toml') > 1, 20_000);
    expect(await read('logstash.toml')).toBe(logstashConf);
    expect(await read('kibana.toml')).toBe(kibanaYml);
  }, 45_000);

  it("a second logstash announced: the shipper's config lists both, and HUP restarts the shipper with it", async () => {
    const starts = async () => completeStarts(await readFile(shipperLog(), 'utf8'));
    const before = (await starts()).length;
    httpds.push(await startHttpd(join(dir, 'www-logstash2'), { 'index.html': 'logstash 2\n' }, port.logstash2));
    announces.logstash2 = announce('logstash-announce', `127.0.0.1:${port.logstash2}`, ['--id', 'logstash-2']);
    await waitFor(async () => (await read('filebeat.toml')).includes(`127.0.0.1:${port.logstash2}`), 30_000);
    expect(await read('filebeat.toml')).toContain(`    - "127.0.0.1:${port.logstash}"\n    - "127.0.0.1:${port.logstash2}"\n`);
    await waitFor(async () => (await starts()).length > before, 15_000);
    const last = (await starts()).at(-1);
    expect(last).toContain(`127.0.0.1:${port.logstash}"`);
    expect(last).toContain(`127.0.0.1:${port.logstash2}"`);
  }, 60_000);
});

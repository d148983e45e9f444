// A file set against a real etcd and a real nginx: one upstream file per service under upstreams/, included by
// nginx.conf; a change rewrites only its service's file and reloads once, a deleted service's file goes, and a
// check that fails leaves every file as it was.
import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenderConfig } from '../../src/config/types.js';
import type { ResourceConfig } from '../../src/apply/types.js';
import { etcdRenderConfig } from '../support/config.js';
import { RenderDaemon } from '../../src/daemon/render-daemon.js';
import { startBackend, type Backend } from '../support/backends.js';
import { startEtcd, type EtcdHandle } from '../support/etcd.js';
import { captureLogger } from '../support/logs.js';
import { freePort } from '../support/ports.js';
import { httpGet, nginxHttpPaths, nginxPreamble, startNginx, waitFor, type NginxHandle } from '../support/procs.js';
import { tempDir } from '../support/tmp.js';

const record = (service: string, id: string, b: Backend): string => JSON.stringify({ name: service, id, host: '127.0.0.1', port: b.port, tags: [], meta: {} });
const UPSTREAM = 'upstream {{this}} {\n{{#each (service this)}}\n  server {{address}};\n{{/each}}\n}\n';

let etcd: EtcdHandle;
let dir: string;
let upstreams: string;
let cleanup: () => Promise<void>;
let nginx: NginxHandle;
let backends: Record<string, Backend>;
let nginxPort: number;
let daemon: RenderDaemon;
const logs = captureLogger();

const conf = (): string => join(dir, 'nginx.conf');
const base = (): string => `/usr/sbin/nginx -p ${dir} -e ${join(dir, 'error.log')} -c ${conf()}`;

function config(resource: Partial<ResourceConfig> = {}): RenderConfig {
  return etcdRenderConfig(etcd.endpoint, dir, [
    {
      name: 'upstreams.toml',
      origin: join(dir, 'conf.d/upstreams.toml'),
      src: join(dir, 'upstream.tmpl'),
      dest: join(upstreams, '{{service}}.conf'),
      fileSet: { member: 'service', dir: upstreams, before: '', after: '.conf' },
      keys: ['/services'],
      prefix: '',
      commandTimeoutMs: 10_000,
      minEndpoints: 0,
      // The whole configuration, with the set's files in place.
      checkCmd: `${base()} -t -q`,
      reloadCmd: `${base()} -s reload && echo reload >> ${join(dir, 'reloads')}`,
      pidFile: join(dir, 'nginx.pid'),
      ...resource,
    },
  ]);
}

const reloads = async (): Promise<number> => (await readFile(join(dir, 'reloads'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
const through = async (path: string): Promise<string> => (await httpGet(`http://127.0.0.1:${nginxPort}${path}`)).body.trim();
const onlyThrough = async (path: string, name: string): Promise<boolean> => {
  for (let i = 0; i < 4; i++) if ((await through(path)) !== name) return false;
  return true;
};
const mtime = async (name: string): Promise<bigint> => (await stat(join(upstreams, name), { bigint: true })).mtimeNs;
/** Every file of upstreams/ with its bytes. */
async function files(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(upstreams)).sort()) out[name] = await readFile(join(upstreams, name), 'utf8');
  return out;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  upstreams = join(dir, 'upstreams');
  await mkdir(upstreams);
  etcd = await startEtcd();
  backends = {};
  for (const name of ['web1', 'web2', 'api1', 'db1']) backends[name] = await startBackend(name);
  nginxPort = await freePort();
  await writeFile(join(dir, 'upstream.tmpl'), UPSTREAM);
  // db is served by no location: its file may go without nginx -t refusing a proxy_pass to it.
  await writeFile(
    conf(),
    `${nginxPreamble(dir)}\nhttp {\n  ${nginxHttpPaths(dir)}\n  include ${upstreams}/*.conf;\n  server {\n    listen 127.0.0.1:${nginxPort};\n` +
      '    location /web { proxy_pass http://web; }\n    location /api { proxy_pass http://api; }\n  }\n}\n',
  );
  await etcd.put('/services/web/a', record('web', 'a', backends.web1 as Backend));
  await etcd.put('/services/api/a', record('api', 'a', backends.api1 as Backend));
  await etcd.put('/services/db/a', record('db', 'a', backends.db1 as Backend));
  // The files nginx starts on: written without check or reload (nothing runs yet).
  const first = new RenderDaemon({ config: config({ checkCmd: undefined, reloadCmd: undefined, pidFile: undefined }), log: logs.log });
  await first.start();
  expect((await first.renderAll())[0]?.status).toBe('applied');
  await first.close();
  nginx = await startNginx(dir, conf());
  daemon = new RenderDaemon({ config: config(), log: logs.log });
  await daemon.start();
  expect((await daemon.renderAll())[0]?.status).toBe('unchanged');
  daemon.follow();
});

afterAll(async () => {
  await daemon?.close();
  await nginx?.stop();
  await Promise.all(Object.values(backends ?? {}).map((b) => b.close()));
  await etcd?.cleanup();
  await cleanup?.();
});

describe('file set → nginx', () => {
  it('one file per service, and nginx serves through them', async () => {
    expect(Object.keys(await files())).toEqual(['.sidekick-upstreams.toml.files', 'api.conf', 'db.conf', 'web.conf']);
    expect(await readFile(join(upstreams, 'web.conf'), 'utf8')).toBe(`upstream web {\n  server 127.0.0.1:${backends.web1?.port};\n}\n`);
    expect(await through('/web')).toBe('web1');
    expect(await through('/api')).toBe('api1');
  });

  it('a changed instance rewrites only its service\'s file and reloads once; traffic reaches the new backend', async () => {
    const before = { reloads: await reloads(), api: await mtime('api.conf'), db: await mtime('db.conf'), web: await mtime('web.conf') };
    const from = logs.lines.length;
    await etcd.put('/services/web/a', record('web', 'a', backends.web2 as Backend));
    await waitFor(async () => (await readFile(join(upstreams, 'web.conf'), 'utf8')).includes(`:${backends.web2?.port};`));
    await daemon.idle();
    await waitFor(() => onlyThrough('/web', 'web2'));
    expect(await reloads()).toBe(before.reloads + 1);
    expect(await mtime('web.conf')).not.toBe(before.web);
    expect(await mtime('api.conf')).toBe(before.api);
    expect(await mtime('db.conf')).toBe(before.db);
    const updated = logs.lines.slice(from).filter((l) => l.msg === 'destination updated');
    expect(updated).toHaveLength(1);
    expect(updated[0]).toMatchObject({ changed: 1, removed: 0 });
    expect(await through('/api')).toBe('api1');
  });

  it('a deleted service\'s file is removed and nginx reloads', async () => {
    const before = await reloads();
    const from = logs.lines.length;
    await etcd.del('/services/db/a');
    await waitFor(async () => !Object.keys(await files()).includes('db.conf'));
    await daemon.idle();
    await waitFor(async () => (await reloads()) === before + 1);
    expect(Object.keys(await files())).toEqual(['.sidekick-upstreams.toml.files', 'api.conf', 'web.conf']);
    expect(await readFile(join(upstreams, '.sidekick-upstreams.toml.files'), 'utf8')).toBe('api\nweb\n');
    expect(logs.lines.slice(from).find((l) => l.msg === 'destination updated')).toMatchObject({ changed: 0, removed: 1 });
    expect(await through('/web')).toBe('web2');
  });

  it('a failed check (nginx -t refuses the set) leaves every file as it was, a file it did not write included', async () => {
    // Written by hand, so not in the manifest: a new service "extra" clashes with it.
    const hand = join(upstreams, 'hand.conf');
    await writeFile(hand, `upstream extra {\n  server 127.0.0.1:${backends.db1?.port};\n}\n`);
    try {
      const before = await files();
      const reloaded = await reloads();
      const from = logs.lines.length;
      const c = etcd.client;
      // One transaction, one pass: web changes and extra appears; nginx -t fails on the duplicate upstream.
      await c
        .if('/services/web/a', 'Version', '>', 0)
        .then(c.put('/services/web/a').value(record('web', 'a', backends.web1 as Backend)), c.put('/services/extra/a').value(record('extra', 'a', backends.db1 as Backend)))
        .commit();
      const notApplied = () => logs.lines.slice(from).find((l) => l.msg === 'resource not applied; destination left as it was');
      await waitFor(() => notApplied() !== undefined);
      expect(String(notApplied()?.err)).toMatch(/check command exited with code 1: .*duplicate upstream "extra"/);
      await daemon.idle();
      expect(await files()).toEqual(before);
      expect(await reloads()).toBe(reloaded);
      expect(await through('/web')).toBe('web2');
      expect(daemon.outcomes.get('upstreams.toml')?.status).toBe('failed');
    } finally {
      await unlink(hand);
      await etcd.del('/services/extra/a');
      await waitFor(() => onlyThrough('/web', 'web1'));
      await daemon.idle();
    }
  });
});

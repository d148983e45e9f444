// sidekick render against a real etcd and a real haproxy (master-worker, reloaded by SIGUSR2 via its pid file).
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RenderConfig } from '../../src/config/types.js';
import { etcdRenderConfig } from '../support/config.js';
import { RenderDaemon } from '../../src/daemon/render-daemon.js';
import { startBackend, type Backend } from '../support/backends.js';
import { startEtcd, type EtcdHandle } from '../support/etcd.js';
import { captureLogger } from '../support/logs.js';
import { freePort } from '../support/ports.js';
import { httpGet, startHaproxy, waitFor, type HaproxyHandle } from '../support/procs.js';
import { tempDir } from '../support/tmp.js';

let etcd: EtcdHandle;
let dir: string;
let cleanup: () => Promise<void>;
let haproxy: HaproxyHandle;
let backends: Backend[];
let port: number;
let daemon: RenderDaemon;
const logs = captureLogger();

const record = (id: string, b: Backend): string =>
  JSON.stringify({ name: 'web', id, host: '127.0.0.1', port: b.port, tags: [], meta: {} });

function config(withHaproxy: boolean): RenderConfig {
  return etcdRenderConfig(etcd.endpoint, dir, [
      {
        name: 'haproxy.toml',
        origin: join(dir, 'haproxy.toml'),
        src: join(dir, 'haproxy.cfg.tmpl'),
        dest: join(dir, 'haproxy.cfg'),
        keys: ['/services/web'],
        prefix: '',
        mode: 0o640,
        commandTimeoutMs: 10_000,
        minEndpoints: 1,
        // haproxy's master re-executes itself on SIGUSR2 and can miss a second signal sent mid-reload:
        // quiescence turns a burst of changes into one reload.
        wait: { minMs: 300, maxMs: 1200 },
        checkCmd: '/usr/sbin/haproxy -c -q -f {{.src}}',
        reloadSignal: withHaproxy ? { signal: 'SIGUSR2', pidFile: join(dir, 'haproxy.pid') } : undefined,
      },
    ]);
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  etcd = await startEtcd();
  backends = [await startBackend('one'), await startBackend('two')];
  port = await freePort();
  process.env.HAPROXY_PORT = String(port);
  await copyFile(join(import.meta.dirname, '../fixtures/templates/haproxy.cfg.tmpl'), join(dir, 'haproxy.cfg.tmpl'));
  await etcd.put('/services/web/one', record('one', backends[0] as Backend));
  const first = new RenderDaemon({ config: config(false), log: logs.log });
  await first.start();
  await first.renderAll();
  await first.close();
  haproxy = await startHaproxy(dir, join(dir, 'haproxy.cfg'));
  daemon = new RenderDaemon({ config: config(true), log: logs.log });
  await daemon.start();
  await daemon.renderAll();
  daemon.follow();
});

afterAll(async () => {
  if (process.env.DEBUG_LOGS) console.log(logs.text());
  await daemon?.close();
  await haproxy?.stop();
  await Promise.all((backends ?? []).map((b) => b.close()));
  await etcd?.cleanup();
  await cleanup?.();
});

it('routes to the registered backend, with the configured mode', async () => {
  await waitFor(async () => (await httpGet(`http://127.0.0.1:${port}/`)).body.trim() === 'one');
  const { mode } = await import('node:fs/promises').then((fs) => fs.stat(join(dir, 'haproxy.cfg')));
  expect(mode & 0o777).toBe(0o640);
});

it('a key change re-renders, passes haproxy -c and is picked up by the reloaded haproxy', async () => {
  await etcd.put('/services/web/two', record('two', backends[1] as Backend));
  await etcd.del('/services/web/one');
  await waitFor(async () => !(await readFile(join(dir, 'haproxy.cfg'), 'utf8')).includes('server one'));
  await daemon.idle();
  expect(await readFile(join(dir, 'haproxy.cfg'), 'utf8')).toMatch(/server two 127\.0\.0\.1:\d+ check/);
  // The old worker drains after the reload; once the new one answers alone, every request goes to two.
  await waitFor(async () => {
    for (let i = 0; i < 4; i++) if ((await httpGet(`http://127.0.0.1:${port}/`)).body.trim() !== 'two') return false;
    return true;
  }, 15_000);
});

it('min_endpoints refuses a render that would empty the backend', async () => {
  const before = await readFile(join(dir, 'haproxy.cfg'));
  await etcd.del('/services/web/two');
  await waitFor(() => logs.lines.some((l) => String(l.err ?? '').includes('min_endpoints')));
  expect(await readFile(join(dir, 'haproxy.cfg'))).toEqual(before);
  expect((await httpGet(`http://127.0.0.1:${port}/`)).body.trim()).toBe('two');
});

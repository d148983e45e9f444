// sidekick render against a real etcd and a real nginx: changes re-render and reload, bad input keeps the last good config.
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenderConfig } from '../../src/config/types.js';
import type { ResourceConfig } from '../../src/apply/types.js';
import { etcdRenderConfig } from '../support/config.js';
import { RenderDaemon } from '../../src/daemon/render-daemon.js';
import { DEFAULT_WAIT } from '../../src/apply/quiescence.js';
import { reloadActionOf, reloadGapMs } from '../../src/apply/reload.js';
import { childrenOf } from '../../src/apply/settle.js';
import { startBackend, type Backend } from '../support/backends.js';
import { startEtcd, type EtcdHandle } from '../support/etcd.js';
import { captureLogger } from '../support/logs.js';
import { freePort } from '../support/ports.js';
import { httpGet, nginxCommands, startNginx, waitFor, type NginxHandle } from '../support/procs.js';
import { tempDir } from '../support/tmp.js';

const fixtures = join(import.meta.dirname, '../fixtures');
const record = (name: string, b: Backend): string =>
  JSON.stringify({ name: 'web', id: name, host: '127.0.0.1', port: b.port, tags: [], meta: {} });

let etcd: EtcdHandle;
let dir: string;
let cleanup: () => Promise<void>;
let nginx: NginxHandle;
let backends: Record<string, Backend>;
let nginxPort: number;
let daemon: RenderDaemon;
const logs = captureLogger();

function config(resource: Partial<ResourceConfig> = {}): RenderConfig {
  return etcdRenderConfig(etcd.endpoint, dir, [
      {
        name: 'nginx.toml',
        origin: join(dir, 'conf.d/nginx.toml'),
        src: join(dir, 'nginx.conf.tmpl'),
        dest: join(dir, 'nginx.conf'),
        keys: ['/services/web'],
        prefix: '',
        commandTimeoutMs: 10_000,
        minEndpoints: 0,
        checkCmd: nginx?.checkCmd,
        reloadCmd: nginx ? `${nginx.reloadCmd} && echo reload >> ${join(dir, 'reloads')}` : undefined,
        // The reload command's server: each reload is waited for until nginx's new workers took over.
        pidFile: nginx ? join(dir, 'nginx.pid') : undefined,
        ...resource,
      },
    ]);
}

/** nginx's workers that still take connections: not retitled "… is shutting down". */
const servingWorkers = async (): Promise<number[]> => {
  const workers = await childrenOf(await nginx.pid());
  const titles = await Promise.all(workers.map((p) => readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
  return workers.filter((_, i) => titles[i] !== '' && !titles[i]?.includes('shutting down'));
};
/** Exactly one server line in the rendered upstream, reaching `b`. */
const onlyServer = async (b: Backend | undefined): Promise<boolean> => {
  const servers = (await readFile(join(dir, 'nginx.conf'), 'utf8')).split('\n').filter((l) => l.trim().startsWith('server 127.'));
  return servers.length === 1 && servers[0]?.trim() === `server 127.0.0.1:${b?.port};`;
};
const reloads = async (): Promise<number> =>
  (await readFile(join(dir, 'reloads'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
const through = async (): Promise<string> => (await httpGet(`http://127.0.0.1:${nginxPort}/`)).body.trim();
/** True when six requests in a row reach `name`: a reload is async and old workers finish their requests first. */
const onlyThrough = async (name: string): Promise<boolean> => {
  for (let i = 0; i < 6; i++) if ((await through()) !== name) return false;
  return true;
};

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  etcd = await startEtcd();
  backends = { a: await startBackend('a'), b: await startBackend('b') };
  nginxPort = await freePort();
  process.env.NGINX_DIR = dir;
  process.env.NGINX_PORT = String(nginxPort);
  await copyFile(join(fixtures, 'templates/nginx.conf.tmpl'), join(dir, 'nginx.conf.tmpl'));
  await etcd.put('/services/web/a', record('a', backends.a as Backend));
  // First render before nginx runs, with its real check and reload: the check passes, the reload fails (nginx is
  // not running), and the checked file stays for nginx to start on (reported as failed, its reload owed).
  const first = new RenderDaemon({ config: config(nginxCommands(dir, join(dir, 'nginx.conf'))), log: logs.log });
  await first.start();
  const [outcome] = await first.renderAll();
  await first.close();
  expect(outcome).toMatchObject({ status: 'failed', reloadOwed: true });
  expect(outcome?.error?.message).toMatch(/reload failed: .*no previous file to put back/);
  nginx = await startNginx(dir, join(dir, 'nginx.conf'));
  daemon = new RenderDaemon({ config: config(), log: logs.log });
  await daemon.start();
  await daemon.renderAll();
  daemon.follow();
});

afterAll(async () => {
  await daemon?.close();
  await nginx?.stop();
  await Promise.all(Object.values(backends ?? {}).map((b) => b.close()));
  await etcd?.cleanup();
  await cleanup?.();
});

describe('render → nginx', () => {
  it('serves through the rendered upstream', async () => {
    expect(await through()).toBe('a');
    expect(await readFile(join(dir, 'nginx.conf'), 'utf8')).toContain(`server 127.0.0.1:${backends.a?.port};`);
  });

  it('a key change re-renders and reloads nginx', async () => {
    const before = await reloads();
    await etcd.put('/services/web/b', record('b', backends.b as Backend));
    await etcd.del('/services/web/a');
    // Wait for the file without a, then for its reload: with a and b both upstream, `through` answers b half the time.
    await waitFor(async () => !(await readFile(join(dir, 'nginx.conf'), 'utf8')).includes(`127.0.0.1:${backends.a?.port};`));
    await daemon.idle();
    await waitFor(() => onlyThrough('b'));
    const conf = await readFile(join(dir, 'nginx.conf'), 'utf8');
    expect(conf).toContain(`server 127.0.0.1:${backends.b?.port};`);
    expect(await reloads()).toBeGreaterThan(before);
  });

  it('reload_cmd with pid_file: back-to-back reloads each wait for the new workers, no fixed gap, no old worker left serving', async () => {
    const from = logs.lines.length;
    const before = await reloads();
    // Five changes, each made as soon as the previous one's reload command has run, while sidekick still waits for
    // nginx's new workers: each pass reloads right after the previous reload settled. The last points b's record at a.
    const sequence = [backends.a, backends.b, backends.a, backends.b, backends.a];
    for (const [i, backend] of sequence.entries()) {
      await etcd.put('/services/web/b', record('b', backend as Backend));
      await waitFor(async () => (await reloads()) > before + i, 10_000, 2);
    }
    try {
      await waitFor(() => onlyServer(backends.a));
      await daemon.idle();
      const passes = logs.lines.slice(from).filter((l) => l.msg === 'reloaded');
      expect(await reloads()).toBe(before + sequence.length);
      expect(passes).toHaveLength(sequence.length);
      expect(passes.every((l) => l.settled === true)).toBe(true);
      const action = reloadActionOf(config().resources[0] as ResourceConfig);
      expect(reloadGapMs(action?.key ?? '')).toBe(0);
      // One generation serves (worker_processes 1), and every fresh connection reaches the last upstream.
      expect(await servingWorkers()).toHaveLength(1);
      expect(await onlyThrough('a')).toBe(true);
    } finally {
      await etcd.put('/services/web/b', record('b', backends.b as Backend));
      await waitFor(() => onlyServer(backends.b));
      await daemon.idle();
    }
  });

  it('a record replaced by a put and a delete sent back to back renders and reloads once', async (ctx) => {
    // Each try replaces the record serving traffic with one for the other backend. The assertion holds for a pair
    // whose two watch events arrived well inside the burst window; a host too busy to deliver them that close
    // gets another try, and after five the test is skipped: what it asserts cannot be observed there (the window's
    // own logic is covered by test/unit/apply/quiescence.test.ts).
    const arrived = new Map<string, number>();
    const onChange = (keys: string[]): void => {
      for (const k of keys) arrived.set(k, performance.now());
    };
    daemon.source.on('change', onChange);
    let old = '/services/web/b';
    let checked = 0;
    try {
      for (let i = 0; i < 5 && checked === 0; i++) {
        const to = i % 2 === 0 ? backends.a : backends.b;
        const key = `/services/web/r${i}`;
        const before = await reloads();
        arrived.clear();
        const prev = old;
        await etcd.put(key, record(`r${i}`, to as Backend));
        await etcd.del(prev);
        old = key;
        await waitFor(() => onlyServer(to));
        await daemon.idle();
        const gap = Math.abs((arrived.get(key) ?? NaN) - (arrived.get(prev) ?? NaN));
        if (!(gap <= DEFAULT_WAIT.minMs / 2)) continue;
        expect(await reloads()).toBe(before + 1);
        expect(await onlyThrough(to?.name ?? '')).toBe(true);
        checked++;
      }
    } finally {
      daemon.source.off('change', onChange);
      await etcd.put('/services/web/b', record('b', backends.b as Backend));
      if (old !== '/services/web/b') await etcd.del(old);
      await waitFor(() => onlyServer(backends.b));
      await daemon.idle();
    }
    if (checked === 0) ctx.skip('no put/delete pair arrived within half the burst window on this host');
  });

  it('a transaction changing several keys arrives as one watch event and renders and reloads once', async () => {
    const events: string[][] = [];
    const onChange = (keys: string[]): void => void events.push(keys);
    daemon.source.on('change', onChange);
    const before = await reloads();
    const c = etcd.client;
    try {
      await c
        .if('/services/web/b', 'Version', '>', 0)
        .then(c.put('/services/web/t1').value(record('t1', backends.a as Backend)), c.put('/services/web/t2').value(record('t2', backends.a as Backend)), c.delete().key('/services/web/b'))
        .commit();
      await waitFor(async () => (await readFile(join(dir, 'nginx.conf'), 'utf8')).split('\n').filter((l) => l.includes(`127.0.0.1:${backends.a?.port};`)).length === 2);
      await daemon.idle();
      expect(events).toEqual([['/services/web/b', '/services/web/t1', '/services/web/t2']]);
      expect(await reloads()).toBe(before + 1);
      expect(await onlyThrough('a')).toBe(true);
    } finally {
      daemon.source.off('change', onChange);
      await c
        .if('/services/web/t1', 'Version', '>', 0)
        .then(c.put('/services/web/b').value(record('b', backends.b as Backend)), c.delete().key('/services/web/t1'), c.delete().key('/services/web/t2'))
        .commit();
      await waitFor(() => onlyServer(backends.b));
      await daemon.idle();
    }
  });

  it('an invalid record is dropped with a warning naming the key; nginx -t rejects an empty upstream', async () => {
    const good = await readFile(join(dir, 'nginx.conf'));
    const before = await reloads();
    try {
      await etcd.put('/services/web/evil', JSON.stringify({ name: 'web', id: 'evil', host: '1.2.3.4; }', port: 80 }));
      await waitFor(() => logs.lines.some((l) => JSON.stringify(l).includes('/services/web/evil')));
      await daemon.idle();
      expect(await readFile(join(dir, 'nginx.conf'))).toEqual(good);
      // Removing the last valid instance would render `upstream web {}`: nginx -t refuses, last good file stays.
      await etcd.del('/services/web/b');
      await waitFor(() => logs.lines.some((l) => String(l.err ?? '').includes('check command')));
      await daemon.idle();
      expect(await readFile(join(dir, 'nginx.conf'))).toEqual(good);
      expect(await reloads()).toBe(before);
      expect(await through()).toBe('b');
    } finally {
      // Put the fixture back even when an assertion failed, so the tests after this one start from b alone.
      await etcd.del('/services/web/evil');
      await etcd.put('/services/web/b', record('b', backends.b as Backend));
    }
  });

  it('a broken template is never used: the error names file:line, data changes still render with the last good one', async () => {
    const tmpl = join(dir, 'nginx.conf.tmpl');
    const original = await readFile(tmpl, 'utf8');
    await writeFile(tmpl, `# broken\n${original.replace('{{/each}}', '{{/each}}}')}`);
    await waitFor(() => logs.lines.some((l) => /nginx\.conf\.tmpl:18:\d+/.test(String(l.err ?? ''))));
    await etcd.put('/services/web/a', record('a', backends.a as Backend));
    await waitFor(async () => (await readFile(join(dir, 'nginx.conf'), 'utf8')).includes(`127.0.0.1:${backends.a?.port}`));
    expect(await readFile(join(dir, 'nginx.conf'), 'utf8')).not.toContain('# broken');
    await writeFile(tmpl, `# fixed\n${original}`);
    await waitFor(async () => (await readFile(join(dir, 'nginx.conf'), 'utf8')).startsWith('# fixed'));
    await daemon.idle();
  });

  it('etcd stopped and restarted mid-watch: file untouched while down, converges after, no restart', async () => {
    const before = await readFile(join(dir, 'nginx.conf'));
    const reloadsBefore = await reloads();
    await etcd.stop();
    await waitFor(() => daemon.source.state !== 'synced');
    await new Promise((r) => setTimeout(r, 300));
    expect(await readFile(join(dir, 'nginx.conf'))).toEqual(before);
    expect(await reloads()).toBe(reloadsBefore);
    await etcd.start();
    await etcd.del('/services/web/a');
    await waitFor(async () => !(await readFile(join(dir, 'nginx.conf'), 'utf8')).includes(`127.0.0.1:${backends.a?.port}`), 15_000);
    await waitFor(() => onlyThrough('b'));
    expect(daemon.source.state).toBe('synced');
  });

  it('a failing reload (nginx not running) puts the previous file back and reports both', async () => {
    const before = await readFile(join(dir, 'nginx.conf'));
    await nginx.stop();
    try {
      await etcd.put('/services/web/a', record('a', backends.a as Backend));
      await waitFor(() => daemon.outcomes.get('nginx.toml')?.status === 'rolled-back');
      expect(daemon.outcomes.get('nginx.toml')?.error?.message).toMatch(/reload failed.*reload after restoring also failed/);
      expect(await readFile(join(dir, 'nginx.conf'))).toEqual(before);
    } finally {
      nginx = await startNginx(dir, join(dir, 'nginx.conf'));
    }
  });
});

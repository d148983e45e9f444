// EtcdSource against a real etcd: initial read, batched incremental changes, reconnects and compaction gaps.
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EtcdSource } from '../../../src/store/etcd.js';
import type { SourceState } from '../../../src/store/types.js';
import { StoreError } from '../../../src/util/errors.js';
import { createLogger } from '../../../src/util/log.js';
import { makeTlsFiles, startEtcd, startTcpProxy, type EtcdHandle, type TcpProxy } from '../../support/etcd.js';
import { tempDir } from '../../support/tmp.js';
import { freePort } from '../../support/ports.js';

let etcd: EtcdHandle;
const open: EtcdSource[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await etcd?.cleanup();
});

/** A started source plus everything it emitted. */
async function source(prefixes: string[], endpoint = etcd.endpoint) {
  const src = new EtcdSource({ nodes: [endpoint], prefixes, maxBackoffMs: 300 });
  open.push(src);
  const changes: string[][] = [];
  const states: SourceState[] = [];
  src.on('change', (keys) => changes.push(keys));
  src.on('state', (state) => states.push(state));
  await src.start();
  return { src, changes, states };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Open watchers on the server, from etcd's own metrics. */
async function serverWatchers(): Promise<number> {
  const text = await (await fetch(`${etcd.endpoint}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('etcd_debugging_mvcc_watcher_total '));
  return Number(line?.split(' ')[1]);
}

describe('EtcdSource', () => {
  it('reads every key under its prefixes at start, with path semantics', async () => {
    await etcd.put('/t1/services/web/1', 'a');
    await etcd.put('/t1/services/web/2', 'b');
    await etcd.put('/t1/services-x/a', 'no');
    await etcd.put('/t1/other', 'no');
    const { src, states } = await source(['/t1/services']);
    expect(src.state).toBe('synced');
    expect(states).toEqual(['synced']);
    expect(src.view.list('/t1')).toEqual([
      ['/t1/services/web/1', 'a'],
      ['/t1/services/web/2', 'b'],
    ]);
    expect(src.view.size).toBe(2);
  });

  it('applies puts and deletes incrementally, one change event per watch response, no-ops skipped', async () => {
    await etcd.put('/t2/a', '1');
    const { src, changes } = await source(['/t2']);
    await etcd.put('/t2/b', '2');
    await waitFor('put', () => changes.length === 1);
    expect(changes[0]).toEqual(['/t2/b']);
    await etcd.put('/t2/a', '1'); // same value: no change
    await etcd.put('/t2-other', 'x'); // outside the path prefix
    await etcd.del('/t2/a');
    await waitFor('delete', () => changes.length === 2);
    expect(changes[1]).toEqual(['/t2/a']);
    expect(src.view.list('/t2')).toEqual([['/t2/b', '2']]);
  });

  it('turns a transaction with several operations into one change event', async () => {
    await etcd.put('/t3/gone', 'x');
    const { src, changes } = await source(['/t3']);
    const c = etcd.client;
    await c
      .if('/t3/guard', 'Version', '==', 0)
      .then(c.put('/t3/a').value('1'), c.put('/t3/b').value('2'), c.delete().key('/t3/gone'))
      .commit();
    await waitFor('txn', () => changes.length === 1);
    expect(changes).toEqual([['/t3/a', '/t3/b', '/t3/gone']]);
    expect(src.view.list('/t3')).toEqual([
      ['/t3/a', '1'],
      ['/t3/b', '2'],
    ]);
  });

  it('collapses overlapping prefixes into one server-side watch', async () => {
    const before = await serverWatchers();
    const { src, changes } = await source(['/t4/services/web', '/t4/services', '/t4/services/db/', '/t4/x']);
    expect(src.watchedPrefixes).toEqual(['/t4/services', '/t4/x']);
    expect((await serverWatchers()) - before).toBe(2);
    await etcd.put('/t4/services/web/1', 'w');
    await waitFor('change', () => changes.length === 1);
    expect(changes[0]).toEqual(['/t4/services/web/1']);
  });

  it('treats "/" as the whole key space, keys without a leading slash included', async () => {
    await etcd.put('traefik/http/services/t5/loadbalancer/servers/0/url', 'http://h:1/');
    const { src, changes } = await source(['/', '/t5']);
    expect(src.watchedPrefixes).toEqual(['']);
    expect(src.view.get('traefik/http/services/t5/loadbalancer/servers/0/url')).toBe('http://h:1/');
    await etcd.put('t5-no-slash', 'v');
    await waitFor('change', () => changes.some((k) => k.includes('t5-no-slash')));
  });

  it('goes stale once when etcd stops, and back to synced with new writes after a restart', async () => {
    const { src, changes, states } = await source(['/t6']);
    await etcd.stop();
    await waitFor('stale', () => src.state === 'stale');
    await new Promise((r) => setTimeout(r, 1500)); // several reconnect attempts fail meanwhile
    expect(states).toEqual(['synced', 'stale']);
    await etcd.start();
    await waitFor('synced again', () => src.state === 'synced', 15_000);
    expect(states).toEqual(['synced', 'stale', 'synced']);
    await etcd.put('/t6/after', 'x');
    await waitFor('change after restart', () => changes.length === 1);
    expect(changes[0]).toEqual(['/t6/after']);
  });

  it('replays changes made while it was cut off, without a full re-read', async () => {
    await etcd.put('/t7/keep', '1');
    await etcd.put('/t7/old', '1');
    const proxy = await startTcpProxy(etcd.clientPort);
    proxies.push(proxy);
    const { src, changes, states } = await source(['/t7'], proxy.endpoint);
    proxy.pause();
    await waitFor('stale', () => src.state === 'stale');
    await etcd.del('/t7/old');
    await etcd.put('/t7/new', '2');
    proxy.resume();
    await waitFor('synced', () => src.state === 'synced');
    await waitFor('replayed', () => changes.flat().length === 2);
    expect(changes.flat().sort()).toEqual(['/t7/new', '/t7/old']);
    expect(src.view.list('/t7')).toEqual([
      ['/t7/keep', '1'],
      ['/t7/new', '2'],
    ]);
    expect(states).toEqual(['synced', 'stale', 'synced']);
  });

  it('is synced again after a reconnect even when nothing under its prefix changed', async () => {
    const proxy = await startTcpProxy(etcd.clientPort);
    proxies.push(proxy);
    const { src, changes } = await source(['/t8'], proxy.endpoint);
    proxy.pause();
    await waitFor('stale', () => src.state === 'stale');
    await etcd.put('/t8-elsewhere', 'x'); // the revision moves, but not under /t8
    proxy.resume();
    await waitFor('synced', () => src.state === 'synced');
    expect(changes).toEqual([]);
  });

  it('re-reads the prefix after a compaction gap and reports exactly the keys that differ', async () => {
    await etcd.put('/t9/keep', '1');
    await etcd.put('/t9/deleted', '1');
    await etcd.put('/t9/modified', '1');
    const proxy = await startTcpProxy(etcd.clientPort);
    proxies.push(proxy);
    const { src, changes, states } = await source(['/t9'], proxy.endpoint);
    proxy.pause();
    await waitFor('stale', () => src.state === 'stale');
    await etcd.del('/t9/deleted');
    await etcd.put('/t9/modified', '2');
    await etcd.put('/t9/added', '3');
    await etcd.put('/t9/keep', '1'); // rewritten with the same value: not a change
    await etcd.compact();
    proxy.resume();
    await waitFor('synced', () => src.state === 'synced');
    expect(changes).toEqual([['/t9/added', '/t9/deleted', '/t9/modified']]);
    expect(src.view.list('/t9')).toEqual([
      ['/t9/added', '3'],
      ['/t9/keep', '1'],
      ['/t9/modified', '2'],
    ]);
    expect(states).toEqual(['synced', 'stale', 'synced']);
    await etcd.put('/t9/later', '4');
    await waitFor('watching again', () => changes.length === 2);
    expect(changes[1]).toEqual(['/t9/later']);
  });

  it('rejects start() with a StoreError within seconds when etcd is unreachable', async () => {
    const port = await freePort();
    const src = new EtcdSource({ nodes: [`127.0.0.1:${port}`], prefixes: ['/x'] });
    const t0 = Date.now();
    await expect(src.start()).rejects.toBeInstanceOf(StoreError);
    expect(Date.now() - t0).toBeLessThan(6000);
    expect(src.state).toBe('connecting');
  });

  it('can retry start() after etcd was down', async () => {
    await etcd.put('/t11/k', 'v');
    await etcd.stop();
    const src = new EtcdSource({ nodes: [etcd.endpoint], prefixes: ['/t11'] });
    open.push(src);
    await expect(src.start()).rejects.toThrow(/cannot read etcd/);
    await etcd.start();
    await src.start();
    expect(src.state).toBe('synced');
    expect(src.view.list('/t11')).toEqual([['/t11/k', 'v']]);
  });

  it('mirrors 10,000 keys and applies a single change as a one-key batch', async () => {
    const c = etcd.client;
    for (let batch = 0; batch < 100; batch++) {
      const puts = Array.from({ length: 100 }, (_, i) => c.put(`/t10/k/${batch * 100 + i}`).value(`v${i}`));
      await c.if('/t10/none', 'Version', '==', 0).then(...puts).commit();
    }
    const { src, changes } = await source(['/t10']);
    expect(src.view.size).toBe(10_000);
    expect(src.view.list('/t10/k/9999')).toEqual([['/t10/k/9999', 'v99']]);
    await etcd.put('/t10/k/5', 'changed');
    await waitFor('change', () => changes.length === 1);
    expect(changes[0]).toEqual(['/t10/k/5']);
    expect(src.view.get('/t10/k/5')).toBe('changed');
  });

  it('authenticates with username/password and never logs the password', async () => {
    const secured = await startEtcd();
    try {
      const ctl = (...args: string[]) =>
        promisify(execFile)('etcdctl', [`--endpoints=${secured.endpoint}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
      await ctl('user', 'add', 'root:s3cret-pw');
      await ctl('user', 'grant-role', 'root', 'root');
      await ctl('auth', 'enable');
      await ctl('--user', 'root:s3cret-pw', 'put', '/auth/k', 'v');
      let logged = '';
      const destination = new Writable({
        write(chunk: Buffer, _enc, cb) {
          logged += chunk.toString();
          cb();
        },
      });
      const log = createLogger({ level: 'debug', destination });
      const nodes = [secured.endpoint];
      const src = new EtcdSource({ nodes, prefixes: ['/auth'], username: 'root', password: 's3cret-pw', log });
      open.push(src);
      const changes: string[][] = [];
      src.on('change', (keys) => changes.push(keys));
      await src.start();
      expect(src.view.list('/auth')).toEqual([['/auth/k', 'v']]);
      await ctl('--user', 'root:s3cret-pw', 'put', '/auth/k2', 'v2');
      await waitFor('change', () => changes.length === 1);
      const wrong = new EtcdSource({ nodes, prefixes: ['/auth'], username: 'root', password: 'nope-pw', log });
      await expect(wrong.start()).rejects.toBeInstanceOf(StoreError);
      expect(logged).toContain('initial read done');
      expect(logged).not.toContain('s3cret-pw');
      expect(logged).not.toContain('nope-pw');
    } finally {
      await secured.cleanup();
    }
  });

  it('connects over TLS with a client certificate (clientCert, clientKey, clientCaKeys)', async () => {
    const tmp = await tempDir('sidekick-tls-');
    const tls = await makeTlsFiles(tmp.dir);
    const secured = await startEtcd({ tls });
    try {
      await secured.put('/tls/k', 'v');
      const base = { nodes: [secured.endpoint], prefixes: ['/tls'] };
      const src = new EtcdSource({ ...base, clientCert: tls.clientCert, clientKey: tls.clientKey, clientCaKeys: tls.ca });
      open.push(src);
      await src.start();
      expect(src.view.list('/tls')).toEqual([['/tls/k', 'v']]);
      const noCert = new EtcdSource({ ...base, clientCaKeys: tls.ca });
      await expect(noCert.start()).rejects.toBeInstanceOf(StoreError);
      const missing = new EtcdSource({ ...base, clientCaKeys: `${tmp.dir}/nope.pem` });
      await expect(missing.start()).rejects.toThrow('nope.pem');
    } finally {
      await secured.cleanup();
      await tmp.cleanup();
    }
  });
});

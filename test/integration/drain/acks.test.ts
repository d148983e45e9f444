// Acknowledged deregistration against a real etcd: a renderer publishes the revision each resource applied, a
// registry's deletion reports its revision, and waitForAcks waits for exactly the renderers that read the key.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceConfig } from '../../../src/apply/types.js';
import { RenderDaemon } from '../../../src/daemon/render-daemon.js';
import { ackKey, ackValue, parseAck, type Ack } from '../../../src/drain/acks.js';
import { AckPublisher } from '../../../src/drain/publisher.js';
import { waitForAcks } from '../../../src/drain/wait.js';
import { Registry } from '../../../src/registry/registry.js';
import { createEtcdClient } from '../../../src/store/etcd-client.js';
import { etcdRenderConfig } from '../../support/config.js';
import { startEtcd, type EtcdHandle } from '../../support/etcd.js';
import { captureLogger } from '../../support/logs.js';
import { waitFor } from '../../support/procs.js';
import { sampleRecord } from '../../support/records.js';
import { tempDir } from '../../support/tmp.js';

let etcd: EtcdHandle;
let dir: string;
let cleanupDir: () => Promise<void>;
const closers: Array<() => Promise<void> | void> = [];
const logs = captureLogger();

beforeAll(async () => {
  etcd = await startEtcd();
  ({ dir, cleanup: cleanupDir } = await tempDir('sidekick-acks-'));
  await writeFile(join(dir, 'web.tmpl'), '{{#each (service "web")}}{{id}} {{address}}\n{{/each}}');
}, 60_000);

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await etcd.delPrefix('/');
});

afterAll(async () => {
  await etcd?.cleanup();
  await cleanupDir?.();
});

async function client(): Promise<Etcd3> {
  const c = await createEtcdClient({ nodes: [etcd.endpoint] });
  closers.push(() => c.close());
  return c;
}

function resource(name: string, keys: string[], wait?: ResourceConfig['wait']): ResourceConfig {
  return {
    name,
    origin: join(dir, `conf.d/${name}`),
    src: join(dir, 'web.tmpl'),
    dest: join(dir, `${name}.out`),
    keys,
    prefix: '',
    commandTimeoutMs: 5000,
    minEndpoints: 0,
    ...(wait && { wait }),
  };
}

/** A watch-mode renderer in this process, publishing acknowledgements as `node`. */
async function renderer(node: string, resources: ResourceConfig[]): Promise<{ daemon: RenderDaemon; acks: AckPublisher }> {
  const acks = new AckPublisher({ client: await client(), node, log: logs.log, ttlSec: 2 });
  const daemon = new RenderDaemon({ config: etcdRenderConfig(etcd.endpoint, dir, resources), log: logs.log, acks });
  closers.push(async () => {
    await daemon.close();
    await acks.close();
  });
  await daemon.start();
  await daemon.renderAll();
  daemon.follow();
  return { daemon, acks };
}

async function readAck(node: string, resource: string): Promise<Ack | undefined> {
  const value = await etcd.client.get(ackKey(node, resource)).string();
  if (value === null) return undefined;
  const ack = parseAck(ackKey(node, resource), value);
  if (typeof ack === 'string') throw new Error(ack);
  return ack;
}

const record = (id: string, port: number): string => JSON.stringify({ ...sampleRecord({ name: 'web', id, port }) });

describe('renderer acknowledgements', () => {
  it('publish, per resource, the revision applied and the prefixes read, on a lease', async () => {
    const rev = await etcd.put('/services/web/a', record('a', 8081));
    await renderer('edge-1', [resource('web.toml', ['/services/web'])]);
    await waitFor(async () => ((await readAck('edge-1', 'web.toml'))?.revision ?? 0) >= rev);
    const ack = (await readAck('edge-1', 'web.toml')) as Ack;
    expect(ack.keys).toEqual(['/services/web']);
    const lease = (await etcd.client.get(ackKey('edge-1', 'web.toml')).exec()).kvs[0]?.lease;
    expect(String(lease)).not.toBe('0');
    const del = await etcd.del('/services/web/a');
    await waitFor(async () => ((await readAck('edge-1', 'web.toml'))?.revision ?? 0) >= del);
    expect(await readFile(join(dir, 'web.toml.out'), 'utf8')).toBe('');
  });

  it('are not themselves a change: a renderer reading "/" publishes without rendering in a loop', async () => {
    const { daemon } = await renderer('edge-1', [resource('all.toml', ['/'])]);
    const rev = await etcd.put('/services/web/a', record('a', 8081));
    await waitFor(async () => ((await readAck('edge-1', 'all.toml'))?.revision ?? 0) >= rev);
    await daemon.idle();
    const before = logs.lines.filter((l) => l.msg === 'destination updated').length;
    const published = (await readAck('edge-1', 'all.toml'))?.revision;
    await new Promise((r) => setTimeout(r, 500));
    // Each acknowledgement written is a change below "/": were it one, every write would render and write again.
    expect(logs.lines.filter((l) => l.msg === 'destination updated').length).toBe(before);
    expect((await readAck('edge-1', 'all.toml'))?.revision).toBe(published);
    expect(await etcd.revision()).toBeLessThanOrEqual((published ?? 0) + 1);
  });

  it('are never overwritten by a second renderer of the same name, which says so once', async () => {
    const first = new AckPublisher({ client: await client(), node: 'twin', log: logs.log, ttlSec: 5 });
    const second = new AckPublisher({ client: await client(), node: 'twin', log: logs.log, ttlSec: 5 });
    closers.push(() => first.close(), () => second.close());
    first.publish('web.toml', 7, ['/services/web']);
    await first.flushed();
    second.publish('web.toml', 9, ['/services/web']);
    await second.flushed();
    second.publish('web.toml', 10, ['/services/web']);
    await second.flushed();
    expect((await readAck('twin', 'web.toml'))?.revision).toBe(7);
    const clashes = logs.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('another renderer publishes acknowledgements'));
    expect(clashes).toHaveLength(1);
    expect(clashes[0]).toMatchObject({ storeKey: ackKey('twin', 'web.toml'), resource: 'web.toml' });
    await first.close();
    second.publish('web.toml', 11, ['/services/web']);
    await second.flushed();
    expect((await readAck('twin', 'web.toml'))?.revision).toBe(11);
  });

  it('vanish when the renderer closes (its lease is revoked)', async () => {
    const { daemon, acks } = await renderer('edge-2', [resource('web.toml', ['/services/web'])]);
    await waitFor(async () => (await readAck('edge-2', 'web.toml')) !== undefined);
    await daemon.close();
    await acks.close();
    expect(await readAck('edge-2', 'web.toml')).toBeUndefined();
  });
});

describe('a drain', () => {
  it('deletes through the registry, learns the revision, and waits for exactly the renderers that read the key', async () => {
    const c = await client();
    const registry = new Registry({ client: c, log: logs.log, ttlSec: 5, layouts: ['native'], prefix: '/services', domain: 'skydns.local' });
    closers.push(() => registry.close());
    await registry.start();
    registry.set(sampleRecord({ name: 'web', id: 'a', port: 8081 }));
    await registry.flushed();
    // A slow renderer (quiescence 300 ms) reading web, and one reading only api that must not be waited for.
    await renderer('edge-1', [resource('web.toml', ['/services/web'], { minMs: 300, maxMs: 1200 }), resource('api.toml', ['/services/api'])]);
    await waitFor(async () => (await readAck('edge-1', 'web.toml')) !== undefined);
    const removed = await registry.deregister('a');
    expect(removed.keys).toEqual(['/services/web/a']);
    expect(removed.revision).toBe(await etcd.revision());
    const result = await waitForAcks({ client: c, keys: removed.keys, revision: removed.revision, timeoutMs: 10_000, delayMs: 0, log: logs.log });
    expect(result.outcome).toBe('acknowledged');
    expect(result.acknowledged).toEqual(['edge-1/web.toml']);
    expect(result.pending).toEqual([]);
    expect(result.waitedMs).toBeGreaterThanOrEqual(250); // the quiescence, not less
    expect(await readFile(join(dir, 'web.toml.out'), 'utf8')).toBe('');
    expect(await registry.deregister('a')).toEqual({ keys: [], revision: 0 });
  });

  it('is bounded by the timeout when a renderer never acknowledges, and names it', async () => {
    const c = await client();
    const lease = c.lease(30);
    closers.push(() => lease.revoke());
    await lease.put(ackKey('dead', 'nginx.toml')).value(ackValue(1, ['/services']));
    const revision = await etcd.del('/services/web/a');
    const result = await waitForAcks({ client: c, keys: ['/services/web/a'], revision, timeoutMs: 400, delayMs: 0, log: logs.log });
    expect(result).toMatchObject({ outcome: 'timeout', acknowledged: [], pending: ['dead/nginx.toml'] });
    expect(result.waitedMs).toBeGreaterThanOrEqual(390);
    expect(result.waitedMs).toBeLessThan(3000);
  });

  it('stops waiting for a renderer whose key goes away (it died and its lease expired)', async () => {
    const c = await client();
    const lease = c.lease(30);
    await lease.put(ackKey('dying', 'nginx.toml')).value(ackValue(1, ['/services']));
    const revision = await etcd.del('/services/web/a');
    const waiting = waitForAcks({ client: c, keys: ['/services/web/a'], revision, timeoutMs: 10_000, delayMs: 0, log: logs.log });
    await new Promise((r) => setTimeout(r, 200));
    await lease.revoke();
    const result = await waiting;
    expect(result.outcome).toBe('no-renderers');
    expect(result.waitedMs).toBeLessThan(5000);
  });

  it('waits for a renderer that appears mid-drain behind the deletion', async () => {
    const c = await client();
    const revision = await etcd.del('/services/web/a');
    const lease = c.lease(30);
    closers.push(() => lease.revoke());
    await lease.put(ackKey('early', 'web.toml')).value(ackValue(revision - 1, ['/services/web']));
    let settled = false;
    const waiting = waitForAcks({ client: c, keys: ['/services/web/a'], revision, timeoutMs: 10_000, delayMs: 0, log: logs.log }).finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    await lease.put(ackKey('late', 'web.toml')).value(ackValue(revision - 1, ['/services/web']));
    await new Promise((r) => setTimeout(r, 100));
    await lease.put(ackKey('early', 'web.toml')).value(ackValue(revision, ['/services/web']));
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false); // early is through, late is not
    await lease.put(ackKey('late', 'web.toml')).value(ackValue(revision + 5, ['/services/web']));
    const result = await waiting;
    expect(result).toMatchObject({ outcome: 'acknowledged', acknowledged: ['early/web.toml', 'late/web.toml'], pending: [] });
  });

  it('ignores a malformed acknowledgement with one warning naming the key', async () => {
    const c = await client();
    const lease = c.lease(30);
    closers.push(() => lease.revoke());
    await lease.put(`${ackKey('evil', 'x')}`).value('{"revision":"a lot","keys":"/"}');
    const revision = await etcd.del('/services/web/a');
    const result = await waitForAcks({ client: c, keys: ['/services/web/a'], revision, timeoutMs: 2000, delayMs: 0, log: logs.log });
    expect(result.outcome).toBe('no-renderers');
    const warnings = logs.lines.filter((l) => l.msg === 'ignoring a malformed renderer acknowledgement');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ storeKey: ackKey('evil', 'x') });
  });

  it('waits --drain-delay when no renderer reads the key, and a second signal cuts any wait short', async () => {
    const c = await client();
    const revision = await etcd.del('/services/web/a');
    const delayed = await waitForAcks({ client: c, keys: ['/services/web/a'], revision, timeoutMs: 5000, delayMs: 300, log: logs.log });
    expect(delayed.outcome).toBe('no-renderers');
    expect(delayed.waitedMs).toBeGreaterThanOrEqual(290);
    const lease = c.lease(30);
    closers.push(() => lease.revoke());
    await lease.put(ackKey('slow', 'web.toml')).value(ackValue(1, ['/services/web']));
    const skip = new AbortController();
    setTimeout(() => skip.abort(), 200);
    const skipped = await waitForAcks({ client: c, keys: ['/services/web/a'], revision, timeoutMs: 10_000, delayMs: 0, signal: skip.signal, log: logs.log });
    expect(skipped).toMatchObject({ outcome: 'skipped', pending: ['slow/web.toml'] });
    expect(skipped.waitedMs).toBeLessThan(2000);
  });
});

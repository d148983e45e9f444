// Registry against a real etcd: lease-bound keys in every layout, batching, idempotence, close, reconcile;
// and its fault handling: partitions longer than the TTL, etcd restarts, etcd down at start.
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { traefikServerIndex } from '../../../src/registry/layouts.js';
import { InvalidRecordError, Registry, type RegistryOptions, type RegistryState } from '../../../src/registry/registry.js';
import { createEtcdClient } from '../../../src/store/etcd-client.js';
import { startEtcd, startTcpProxy, type EtcdHandle, type TcpProxy } from '../../support/etcd.js';
import { captureLogger, type LogLine } from '../../support/logs.js';
import { sampleRecord } from '../../support/records.js';

/** A record with test defaults. */
const rec = sampleRecord;

/** Polls `cond` every 25 ms until it holds, or throws naming `what`. */
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rejects when `p` takes longer than `ms`. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** Every key under a prefix with its value and lease id (decimal; "0" for none). */
async function keysUnder(client: Etcd3, prefix: string): Promise<Map<string, { value: string; lease: string }>> {
  const res = await client.getAll().prefix(prefix).exec();
  return new Map(res.kvs.map((kv) => [kv.key.toString(), { value: kv.value.toString(), lease: String(kv.lease) }]));
}

/** Registries and clients created by {@link makeRegistry}, for cleanup. */
interface Harness {
  registries: Registry[];
  clients: Etcd3[];
  cleanup(): Promise<void>;
}

function harness(): Harness {
  const h: Harness = {
    registries: [],
    clients: [],
    async cleanup() {
      await Promise.all(h.registries.splice(0).map((r) => r.close()));
      for (const c of h.clients.splice(0)) c.close();
    },
  };
  return h;
}

/** A registry on its own production-like client (createEtcdClient), with fast retries and captured logs. */
async function makeRegistry(
  h: Harness,
  endpoint: string,
  over: Partial<RegistryOptions> = {},
): Promise<{ reg: Registry; lines: LogLine[]; client: Etcd3 }> {
  const client = await createEtcdClient({ nodes: [endpoint], requestTimeoutMs: 2000 });
  h.clients.push(client);
  const { log, lines } = captureLogger('debug');
  const reg = new Registry({
    client,
    ttlSec: 5,
    layouts: ['native'],
    prefix: '/services',
    domain: 'sidekick.local',
    log,
    retryInitialMs: 50,
    retryMaxMs: 300,
    ...over,
  });
  h.registries.push(reg);
  return { reg, lines, client };
}

let etcd: EtcdHandle;
const h = harness();

beforeAll(async () => {
  etcd = await startEtcd();
});
afterEach(async () => {
  await h.cleanup();
});
afterAll(async () => {
  await etcd?.cleanup();
});

describe('Registry', () => {
  it('writes every layout on its lease, exact values; remove deletes them all', async () => {
    const { reg } = await makeRegistry(h, etcd.endpoint, { layouts: ['native', 'skydns', 'traefik'], prefix: '/t1/services', domain: 't1.local' });
    const states: RegistryState[] = [];
    reg.on('state', (s) => states.push(s));
    await reg.start();
    const lease = reg.leaseId();
    expect(lease).toMatch(/^\d+$/);
    const r = rec({ name: 'web-t1' });
    reg.set(r);
    await within(5000, 'flush', reg.flushed());

    const traefikKey = `traefik/http/services/web-t1/loadbalancer/servers/${traefikServerIndex(r.id)}/url`;
    const native = await keysUnder(etcd.client, '/t1/services/');
    const skydns = await keysUnder(etcd.client, '/skydns/local/t1/');
    const traefik = await keysUnder(etcd.client, 'traefik/http/services/web-t1/');
    expect([...native]).toEqual([
      [
        '/t1/services/web-t1/host1:web-1:80',
        {
          value: '{"name":"web-t1","id":"host1:web-1:80","host":"10.0.0.5","port":32768,"tags":["v2"],"meta":{"version":"1.4"},"node":"host1"}',
          lease,
        },
      ],
    ]);
    expect([...skydns]).toEqual([
      [expect.stringMatching(/^\/skydns\/local\/t1\/web-t1\/host1-web-1-80-[0-9a-f]{8}$/), { value: '{"host":"10.0.0.5","port":32768,"ttl":5}', lease }],
    ]);
    expect([...traefik]).toEqual([[traefikKey, { value: 'http://10.0.0.5:32768/', lease }]]);
    // etcd agrees the keys are attached to the lease.
    const ttl = await etcd.client.leaseClient.leaseTimeToLive({ ID: lease as string, keys: true });
    expect(ttl.keys.map((k) => k.toString()).sort()).toEqual([...native.keys(), ...skydns.keys(), traefikKey].sort());
    expect(reg.stats.txns).toBe(1);
    expect(reg.stats.writes).toBe(3);
    expect(reg.has(r.id)).toBe(true);
    expect(reg.records()).toEqual([r]);
    expect(reg.size).toBe(1);
    expect(states).toContain('synced');

    reg.remove(r.id);
    await within(5000, 'flush', reg.flushed());
    expect((await keysUnder(etcd.client, '/t1/services/')).size).toBe(0);
    expect((await keysUnder(etcd.client, '/skydns/local/t1/')).size).toBe(0);
    expect((await keysUnder(etcd.client, 'traefik/http/services/web-t1/')).size).toBe(0);
    expect(reg.has(r.id)).toBe(false);
    expect(reg.stats.writes).toBe(6);
  });

  it('writes the registrator layout as plain host:port (IPv6 in canonical text)', async () => {
    const { reg } = await makeRegistry(h, etcd.endpoint, { layouts: ['registrator'], prefix: 't2/services/' });
    await reg.start();
    reg.set(rec({ id: 'a:b:80', host: 'FD00:0:0::5', port: 80 }));
    reg.set(rec({ id: 'a:c:81', host: 'web.internal', port: 81 }));
    await within(5000, 'flush', reg.flushed());
    const kvs = await keysUnder(etcd.client, '/t2/services/');
    expect([...kvs].map(([k, v]) => [k, v.value, v.lease])).toEqual([
      ['/t2/services/web/a:b:80', '[fd00::5]:80', reg.leaseId()],
      ['/t2/services/web/a:c:81', 'web.internal:81', reg.leaseId()],
    ]);
  });

  it('batches a burst of 200 set() calls into 2 transactions', async () => {
    const { reg } = await makeRegistry(h, etcd.endpoint, { prefix: '/t3' });
    await reg.start();
    for (let i = 0; i < 200; i++) reg.set(rec({ id: `host1:web-${i}:80`, port: 10_000 + i }));
    await within(5000, 'flush', reg.flushed());
    const kvs = await keysUnder(etcd.client, '/t3/');
    expect(kvs.size).toBe(200);
    expect([...kvs.values()].every((v) => v.lease === reg.leaseId())).toBe(true);
    expect(reg.stats.txns).toBeLessThanOrEqual(3);
    expect(reg.stats.txns).toBe(2);
    expect(reg.stats.writes).toBe(200);

    // A burst of removals is batched too.
    for (let i = 0; i < 150; i++) reg.remove(`host1:web-${i}:80`);
    await within(5000, 'flush', reg.flushed());
    expect((await keysUnder(etcd.client, '/t3/')).size).toBe(50);
    expect(reg.stats.txns).toBe(4);
  });

  it('does not rewrite identical records, and set-then-remove before a flush writes nothing', async () => {
    const { reg } = await makeRegistry(h, etcd.endpoint, { prefix: '/t4' });
    await reg.start();
    reg.set(rec({ meta: { a: '1', b: '2' } }));
    await within(5000, 'flush', reg.flushed());
    const before = { ...reg.stats };
    const revBefore = await etcd.revision();
    reg.set(rec({ meta: { b: '2', a: '1' } })); // same bytes (meta sorted)
    reg.set(rec({ meta: { a: '1', b: '2' } }));
    await within(5000, 'flush', reg.flushed());
    await sleep(50);
    expect(reg.stats).toEqual(before);
    expect(await etcd.revision()).toBe(revBefore);

    reg.set(rec({ id: 'x:y:1' }));
    reg.remove('x:y:1');
    await within(5000, 'flush', reg.flushed());
    expect(reg.stats).toEqual(before);

    // A changed field is one put of the changed key.
    reg.set(rec({ meta: { a: '1', b: '3' } }));
    await within(5000, 'flush', reg.flushed());
    expect(reg.stats.writes).toBe(before.writes + 1);
    const kv = (await keysUnder(etcd.client, '/t4/')).get('/t4/web/host1:web-1:80');
    expect(JSON.parse(kv?.value ?? '{}')).toMatchObject({ meta: { a: '1', b: '3' } });
  });

  it('moves keys when a record changes name', async () => {
    const { reg } = await makeRegistry(h, etcd.endpoint, { prefix: '/t5' });
    await reg.start();
    reg.set(rec({ name: 'old' }));
    await within(5000, 'flush', reg.flushed());
    reg.set(rec({ name: 'new' }));
    await within(5000, 'flush', reg.flushed());
    expect([...(await keysUnder(etcd.client, '/t5/')).keys()]).toEqual(['/t5/new/host1:web-1:80']);
  });

  it('refuses an invalid record synchronously, writing nothing', async () => {
    const { reg } = await makeRegistry(h, etcd.endpoint, { prefix: '/t6', layouts: ['native', 'traefik'] });
    await reg.start();
    const bad: Array<[Partial<Record<keyof ReturnType<typeof rec>, unknown>>, RegExp]> = [
      [{ name: 'web;evil' }, /name "web;evil"/],
      [{ id: 'a/b' }, /id "a\/b"/],
      [{ id: '' }, /id must not be empty/],
      [{ host: '10.0.0.5; rm' }, /host/],
      [{ port: 0 }, /port must be an integer 1-65535/],
      [{ port: '80' }, /port must be a number/],
      [{ tags: ['ok', 'not ok'] }, /tag "not ok"/],
      [{ meta: { k: 'v;' } }, /meta\.k/],
      [{ node: 'a b' }, /node "a b"/],
      [{ id: 'web@1' }, /id "web@1" may only hold/],
      [{ name: 'Web' }, /name "Web"/],
      [{ host: 'fe80::1%eth0' }, /zone id/],
      // 22 values of 1024 "€" (3 bytes each): a JSON value the renderer would refuse for its size.
      [{ meta: Object.fromEntries(Array.from({ length: 22 }, (_, i) => [`m${i}`, '€'.repeat(1024)])) }, /larger than 65536/],
    ];
    for (const [over, message] of bad) {
      const record = { ...rec(), ...over } as ReturnType<typeof rec>;
      expect(() => reg.set(record), JSON.stringify(over)).toThrow(InvalidRecordError);
      expect(() => reg.set(record), JSON.stringify(over)).toThrow(message);
    }
    await sleep(50);
    expect(reg.records()).toEqual([]);
    expect(reg.size).toBe(0);
    expect(reg.stats.writes).toBe(0);
    expect((await keysUnder(etcd.client, '/t6/')).size).toBe(0);
  });

  it('refuses native together with registrator, and a bad TTL', async () => {
    await expect(makeRegistry(h, etcd.endpoint, { layouts: ['native', 'registrator'] })).rejects.toThrow(/native and registrator/);
    await expect(makeRegistry(h, etcd.endpoint, { ttlSec: 1.5 })).rejects.toThrow(/TTL/);
    await expect(makeRegistry(h, etcd.endpoint, { layouts: ['skydns'], domain: 'a_b' })).rejects.toThrow(/domain "a_b"/);
  });

  it('close() revokes the lease: every key vanishes at once', async () => {
    const { reg } = await makeRegistry(h, etcd.endpoint, { layouts: ['native', 'skydns'], prefix: '/t7', domain: 't7.local' });
    await reg.start();
    for (let i = 0; i < 5; i++) reg.set(rec({ id: `h:c${i}:80` }));
    await within(5000, 'flush', reg.flushed());
    expect((await keysUnder(etcd.client, '/t7/')).size).toBe(5);
    expect((await keysUnder(etcd.client, '/skydns/local/t7/')).size).toBe(5);
    await reg.close();
    expect(reg.state).toBe('closed');
    expect((await keysUnder(etcd.client, '/t7/')).size).toBe(0);
    expect((await keysUnder(etcd.client, '/skydns/local/t7/')).size).toBe(0);
    await expect(reg.flushed()).rejects.toThrow(/closed/);
    reg.set(rec({ id: 'late' })); // ignored after close, no throw
    expect(reg.has('late')).toBe(false);
  });

  it('close({ revoke: false }) leaves the keys to expire with the TTL', async () => {
    const { reg } = await makeRegistry(h, etcd.endpoint, { prefix: '/t8', ttlSec: 2 });
    await reg.start();
    reg.set(rec());
    await within(5000, 'flush', reg.flushed());
    const closedAt = Date.now();
    await reg.close({ revoke: false });
    expect((await keysUnder(etcd.client, '/t8/')).size).toBe(1);
    // The last keepalive (every TTL/3) was at most 0.67 s before close: the keys live ≥ 1.33 s more.
    await sleep(500);
    expect((await keysUnder(etcd.client, '/t8/')).size).toBe(1);
    await waitFor('keys to expire', async () => (await keysUnder(etcd.client, '/t8/')).size === 0, 8000);
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(1000);
  });

  it('reconcile() restores deleted and edited keys and deletes strays attached to our lease', async () => {
    const { reg, lines } = await makeRegistry(h, etcd.endpoint, { prefix: '/t9', layouts: ['native', 'traefik'] });
    await reg.start();
    const a = rec({ name: 'web-t9', id: 'h:a:80' });
    const b = rec({ name: 'web-t9', id: 'h:b:80', port: 81 });
    reg.set(a);
    reg.set(b);
    await within(5000, 'flush', reg.flushed());
    const lease = reg.leaseId() as string;
    const good = await keysUnder(etcd.client, '/t9/');
    const traefikA = `traefik/http/services/web-t9/loadbalancer/servers/${traefikServerIndex(a.id)}/url`;

    await etcd.del('/t9/web-t9/h:a:80'); // deleted by hand
    await etcd.put('/t9/web-t9/h:b:80', 'tampered'); // edited by hand (and detached from the lease)
    await etcd.del(traefikA);
    await etcd.client.put('/t9/web-t9/stray').value('x').lease(lease).exec(); // a stray on our lease
    await etcd.client.put('traefik/http/services/web-t9/loadbalancer/servers/7/url').value('http://other/').lease(lease).exec();
    await etcd.put('/t9/web-t9/foreign', 'not ours'); // not on our lease: untouched
    const before = { ...reg.stats };

    await within(5000, 'reconcile', reg.reconcile());
    const now = await keysUnder(etcd.client, '/t9/');
    expect(now.get('/t9/web-t9/h:a:80')).toEqual(good.get('/t9/web-t9/h:a:80'));
    expect(now.get('/t9/web-t9/h:b:80')).toEqual(good.get('/t9/web-t9/h:b:80'));
    expect(now.has('/t9/web-t9/stray')).toBe(false);
    expect(now.get('/t9/web-t9/foreign')).toEqual({ value: 'not ours', lease: '0' });
    const traefik = await keysUnder(etcd.client, 'traefik/http/services/web-t9/');
    expect([...traefik.keys()].sort()).toEqual(
      [traefikA, `traefik/http/services/web-t9/loadbalancer/servers/${traefikServerIndex(b.id)}/url`].sort(),
    );
    expect(reg.stats.writes - before.writes).toBe(5);
    expect(lines.some((l) => l.msg === 'reconcile: repairing etcd' && l.repaired === 3 && l.removed === 2)).toBe(true);
    // Keys are logged as storeKey (the logger redacts `key`).
    expect(lines.some((l) => l.storeKey === '/t9/web-t9/stray')).toBe(true);
    expect(lines.every((l) => l.key === undefined)).toBe(true);

    // In sync: a second pass reads and writes nothing.
    const after = { ...reg.stats };
    await reg.reconcile();
    expect(reg.stats).toEqual(after);
  });

  it('emits state changes and stays synced through repeated flushes', async () => {
    const { reg } = await makeRegistry(h, etcd.endpoint, { prefix: '/t10' });
    const states: RegistryState[] = [];
    const granted: string[] = [];
    reg.on('state', (s) => states.push(s));
    reg.on('lease-granted', (e) => granted.push(e.leaseId));
    reg.set(rec()); // before start: written once the lease exists
    expect(reg.state).toBe('connecting');
    await reg.start();
    await within(5000, 'flush', reg.flushed());
    expect(granted).toEqual([reg.leaseId()]);
    expect(states.at(-1)).toBe('synced');
    expect(states).toContain('syncing');
    expect((await keysUnder(etcd.client, '/t10/')).size).toBe(1);
  });
});

describe('Registry faults', () => {
  let fe: EtcdHandle;
  const proxies: TcpProxy[] = [];
  const hexLease = (id: string | undefined): string => BigInt(id ?? '0').toString(16);
  const warnings = (lines: LogLine[], msg: string): LogLine[] => lines.filter((l) => l.msg === msg);

  beforeAll(async () => {
    fe = await startEtcd();
  });
  afterEach(async () => {
    if (!fe.running) await fe.start();
    await h.cleanup();
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await fe?.cleanup();
  });

  it('replaces a lease lost in a partition longer than the TTL and rewrites every record on the new one', async () => {
    const proxy = await startTcpProxy(fe.clientPort);
    proxies.push(proxy);
    const { reg, lines } = await makeRegistry(h, proxy.endpoint, { ttlSec: 2, prefix: '/f1', layouts: ['native', 'traefik'] });
    const lost: string[] = [];
    const granted: Array<{ leaseId: string; previous: string | undefined }> = [];
    reg.on('lease-lost', (e) => lost.push(e.leaseId));
    reg.on('lease-granted', (e) => granted.push(e));
    await reg.start();
    for (let i = 0; i < 3; i++) reg.set(rec({ name: 'web-f1', id: `h:c${i}:80` }));
    await within(5000, 'flush', reg.flushed());
    const first = reg.leaseId() as string;

    proxy.pause();
    reg.remove('h:c2:80'); // changes during the partition are kept as desired state
    reg.set(rec({ name: 'web-f1', id: 'h:c3:80' }));
    // etcd expires the lease (and its keys) while the registry cannot reach it.
    await waitFor('the lease to expire on the server', async () => (await keysUnder(fe.client, '/f1/')).size === 0, 8000);
    proxy.resume();

    await waitFor('a new lease', () => granted.length === 2, 15_000);
    await within(10_000, 'flush', reg.flushed());
    const second = reg.leaseId() as string;
    expect(second).not.toBe(first);
    expect(lost).toEqual([first]);
    expect(granted[1]).toEqual({ leaseId: second, previous: first });
    expect(reg.stats.leaseGrants).toBe(2);
    const native = await keysUnder(fe.client, '/f1/');
    expect([...native.keys()].sort()).toEqual(['/f1/web-f1/h:c0:80', '/f1/web-f1/h:c1:80', '/f1/web-f1/h:c3:80']);
    expect([...native.values()].every((v) => v.lease === second)).toBe(true);
    const traefik = await keysUnder(fe.client, 'traefik/http/services/web-f1/');
    expect(traefik.size).toBe(3);
    expect([...traefik.values()].every((v) => v.lease === second)).toBe(true);
    // One warning naming the old lease.
    const lostLines = warnings(lines, 'etcd lease lost; granting a new lease and rewriting every record');
    expect(lostLines).toHaveLength(1);
    expect(lostLines[0]).toMatchObject({ lease: hexLease(first), level: 40 });
    expect(warnings(lines, 'etcd unreachable; retrying with backoff').length).toBeLessThanOrEqual(1);
  });

  it('rides out a partition shorter than the TTL on the same lease, one warning per outage', async () => {
    const proxy = await startTcpProxy(fe.clientPort);
    proxies.push(proxy);
    const { reg, lines } = await makeRegistry(h, proxy.endpoint, { ttlSec: 5, prefix: '/f2' });
    await reg.start();
    reg.set(rec({ id: 'a' }));
    await within(5000, 'flush', reg.flushed());
    const lease = reg.leaseId();

    proxy.pause();
    reg.set(rec({ id: 'b' }));
    await waitFor('the writer to notice', () => reg.state === 'failing', 5000);
    await sleep(1000); // several retries
    proxy.resume();
    await within(10_000, 'flush', reg.flushed());
    expect(reg.leaseId()).toBe(lease);
    expect([...(await keysUnder(fe.client, '/f2/')).values()].map((v) => v.lease)).toEqual([lease, lease]);
    expect(warnings(lines, 'etcd unreachable; retrying with backoff')).toHaveLength(1);
    expect(warnings(lines, 'etcd reachable again')).toHaveLength(1);
    expect(warnings(lines, 'etcd lease lost; granting a new lease and rewriting every record')).toHaveLength(0);
    await waitFor('state synced', () => reg.state === 'synced', 2000);
  });

  it('survives etcd being down longer than twice the TTL: new lease, records back, old lease revoked', async () => {
    const { reg } = await makeRegistry(h, fe.endpoint, { ttlSec: 2, prefix: '/f3' });
    await reg.start();
    reg.set(rec({ id: 'a' }));
    reg.set(rec({ id: 'b' }));
    await within(5000, 'flush', reg.flushed());
    const first = reg.leaseId() as string;

    await fe.stop();
    await waitFor('the lease to be given up', () => reg.leaseId() === undefined, 10_000);
    await fe.start();
    await waitFor('a new lease', () => reg.leaseId() !== undefined, 15_000);
    await within(10_000, 'flush', reg.flushed());
    const second = reg.leaseId() as string;
    expect(second).not.toBe(first);
    const kvs = await keysUnder(fe.client, '/f3/');
    expect([...kvs.keys()]).toEqual(['/f3/web/a', '/f3/web/b']);
    expect([...kvs.values()].every((v) => v.lease === second)).toBe(true);
    // etcd's restart refreshed the old lease; the registry revokes it once the records moved.
    await waitFor('the old lease to be gone', async () => (await fe.client.leaseClient.leaseTimeToLive({ ID: first })).TTL === '-1', 5000);
    await sleep(2500); // longer than the TTL: the records stay, kept alive on the new lease
    expect((await keysUnder(fe.client, '/f3/')).size).toBe(2);
  });

  it('notices a lease revoked by someone else and rewrites the records', async () => {
    const { reg } = await makeRegistry(h, fe.endpoint, { ttlSec: 3, prefix: '/f4' });
    await reg.start();
    reg.set(rec());
    await within(5000, 'flush', reg.flushed());
    const first = reg.leaseId() as string;
    await fe.client.leaseClient.leaseRevoke({ ID: first });
    expect((await keysUnder(fe.client, '/f4/')).size).toBe(0);
    await waitFor('a new lease', () => reg.leaseId() !== undefined && reg.leaseId() !== first, 10_000);
    await within(5000, 'flush', reg.flushed());
    const kvs = await keysUnder(fe.client, '/f4/');
    expect([...kvs.values()].map((v) => v.lease)).toEqual([reg.leaseId()]);
  });

  it('starts while etcd is down: start() and set() do not throw, records appear once etcd is up', async () => {
    await fe.stop();
    const { reg, lines } = await makeRegistry(h, fe.endpoint, { prefix: '/f5', layouts: ['native', 'skydns'], domain: 'f5.local' });
    await within(5000, 'start', reg.start());
    expect(reg.leaseId()).toBeUndefined();
    expect(reg.state).toBe('connecting');
    expect(() => reg.set(rec())).not.toThrow();
    const flushed = reg.flushed();
    await sleep(800); // several grant attempts
    expect(warnings(lines, 'etcd unreachable; retrying with backoff')).toHaveLength(1);
    await fe.start();
    await within(15_000, 'flush', flushed);
    expect([...(await keysUnder(fe.client, '/f5/')).values()].map((v) => v.lease)).toEqual([reg.leaseId()]);
    expect((await keysUnder(fe.client, '/skydns/local/f5/')).size).toBe(1);
    expect(warnings(lines, 'etcd reachable again')).toHaveLength(1);
  });

  it('close() works while etcd is unreachable and retries are running', async () => {
    await fe.stop();
    const { reg } = await makeRegistry(h, fe.endpoint, { prefix: '/f6', retryInitialMs: 2000, retryMaxMs: 5000 });
    await reg.start();
    reg.set(rec());
    const pending = reg.flushed();
    const t0 = Date.now();
    await within(3000, 'close', reg.close());
    expect(Date.now() - t0).toBeLessThan(3000);
    await expect(pending).rejects.toThrow(/closed/);
    expect(reg.state).toBe('closed');
    await fe.start();
    await sleep(300);
    expect((await keysUnder(fe.client, '/f6/')).size).toBe(0);
  });
});

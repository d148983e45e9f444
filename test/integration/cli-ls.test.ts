// `sidekick ls` as a user runs it: the real binary reading records that real `sidekick announce` processes (and a
// hand-written key or two) put in a real etcd.
import type { ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sidekick } from '../support/cli.js';
import { startEtcd, type EtcdHandle } from '../support/etcd.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/procs.js';

let etcd: EtcdHandle;
const procs: ResultPromise[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
}, 60_000);

afterEach(async () => {
  // SIGTERM revokes the leases; SIGKILL if a process does not stop.
  await Promise.all(
    procs.splice(0).map(async (p) => {
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await p.catch(() => undefined);
      clearTimeout(t);
    }),
  );
  await etcd.delPrefix('/');
});

afterAll(async () => {
  await etcd?.cleanup();
});

/** Starts `sidekick announce --check none` (registered at once) on the test etcd; afterEach stops it. */
function announce(args: string[]): { proc: ResultPromise } {
  const proc = sidekick(['announce', '--etcd', etcd.endpoint, '--node-name', 'n1', '--check', 'none', ...args]);
  procs.push(proc);
  return { proc };
}

/** Runs `sidekick ls` to completion (SIGKILL after 20 s: the assertions then fail). */
async function ls(args: string[], env: Record<string, string> = {}) {
  const p = sidekick(['ls', ...args], env);
  procs.push(p);
  const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
  try {
    return await p;
  } finally {
    clearTimeout(t);
  }
}

const present = (key: string) => waitFor(async () => (await etcd.client.get(key).string()) !== null, 15_000);

/** Splits a table into rows of cells (columns are separated by two or more spaces; no cell holds two spaces). */
const cells = (table: string): string[][] =>
  table
    .split('\n')
    .filter(Boolean)
    .map((l) => l.trim().split(/ {2,}/));

/** Two announced services (three instances), one leaseless native record, one registrator value, two bad values. */
async function populate(): Promise<void> {
  announce(['--name', 'web', '--address', '127.0.0.1:8080', '--ttl', '10s', '--tags', 'blue,v2', '--meta', 'version=1.4']);
  announce(['--name', 'web', '--address', '127.0.0.1:8081', '--id', 'web-b', '--ttl', '10s']);
  announce(['--name', 'api', '--address', '[::1]:9000', '--ttl', '10s']);
  await etcd.put('/services/db/manual', JSON.stringify({ name: 'db', id: 'manual', host: '10.0.0.9', port: 5432, tags: ['primary'], meta: {}, node: 'm1' }));
  await etcd.put('/services/redis/r1', '127.0.0.1:6379');
  await etcd.put('/services/bad/x', 'not a record');
  await etcd.put('/services/web/evil', JSON.stringify({ name: 'web', id: 'evil', host: 'a;b', port: 1, tags: [], meta: {} }));
  await Promise.all(['/services/web/n1:web:8080', '/services/web/web-b', '/services/api/n1:api:9000'].map(present));
}

describe('sidekick ls (binary)', () => {
  it('prints a table sorted by service and id, with TTL left for leased records and "-" without a lease', async () => {
    await populate();
    const run = await ls(['--etcd', etcd.endpoint]);
    expect(run.exitCode).toBe(0);
    const out = String(run.stdout);
    const rows = cells(out);
    expect(rows[0]).toEqual(['SERVICE', 'ID', 'ADDRESS', 'NODE', 'TAGS', 'TTL']);
    const body = rows.slice(1);
    expect(body.map((r) => r.slice(0, 5))).toEqual([
      ['api', 'n1:api:9000', '[::1]:9000', 'n1', '-'],
      ['db', 'manual', '10.0.0.9:5432', 'm1', 'primary'],
      ['redis', 'r1', '127.0.0.1:6379', '-', '-'],
      ['web', 'n1:web:8080', '127.0.0.1:8080', 'n1', 'blue,v2'],
      ['web', 'web-b', '127.0.0.1:8081', 'n1', '-'],
    ]);
    const ttl = Object.fromEntries(body.map((r) => [r[1], r[5]]));
    expect(ttl.manual).toBe('-');
    expect(ttl.r1).toBe('-');
    // Leased: "Ns" with N ≤ the 10 s TTL; keepalives every TTL/3 keep it well above 0 (bound loose for load).
    for (const id of ['n1:api:9000', 'n1:web:8080', 'web-b']) {
      expect(ttl[id]).toMatch(/^\d+s$/);
      const n = Number.parseInt(ttl[id] as string, 10);
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(10);
    }
    // Aligned: every column starts at the same offset on every line.
    const lines = out.split('\n').filter(Boolean);
    const header = lines[0] as string;
    const starts = ['ID', 'ADDRESS', 'NODE', 'TAGS', 'TTL'].map((h) => header.indexOf(h));
    for (const line of lines) {
      for (const s of starts) {
        expect(line.slice(s - 2, s), line).toBe('  ');
        expect(line[s], line).not.toBe(' ');
      }
    }
    // The invalid values are named on stderr, one line each, and not listed.
    const stderr = String(run.stderr).split('\n').filter(Boolean);
    expect(stderr).toHaveLength(2);
    expect(stderr.find((l) => l.includes('/services/bad/x'))).toMatch(/^sidekick ls: skipping \/services\/bad\/x: .+/);
    expect(stderr.find((l) => l.includes('/services/web/evil'))).toMatch(/^sidekick ls: skipping \/services\/web\/evil: .*host/);
  });

  it('--json prints one array with the records, their keys, leases and ttlLeft numbers', async () => {
    await populate();
    const run = await ls(['--etcd', etcd.endpoint, '--json']);
    expect(run.exitCode).toBe(0);
    const list = JSON.parse(String(run.stdout)) as Array<Record<string, unknown>>;
    expect(list.map((s) => `${String(s.name)}/${String(s.id)}`)).toEqual(['api/n1:api:9000', 'db/manual', 'redis/r1', 'web/n1:web:8080', 'web/web-b']);
    const web = list[3] as Record<string, unknown>;
    expect(web).toMatchObject({
      name: 'web',
      id: 'n1:web:8080',
      host: '127.0.0.1',
      port: 8080,
      tags: ['blue', 'v2'],
      meta: { version: '1.4' },
      node: 'n1',
      key: '/services/web/n1:web:8080',
    });
    for (const s of [list[0], web, list[4]] as Array<Record<string, unknown>>) {
      expect(typeof s.ttlLeft).toBe('number');
      expect(s.ttlLeft).toBeGreaterThan(0);
      expect(s.ttlLeft).toBeLessThanOrEqual(10);
      expect(s.lease).toMatch(/^[1-9]\d*$/);
    }
    // Separate processes, separate leases.
    expect(new Set([list[0], web, list[4]].map((s) => s?.lease)).size).toBe(3);
    // A leaseless key: lease "0", no ttlLeft.
    expect(list[1]).toMatchObject({ key: '/services/db/manual', lease: '0' });
    expect(list[1]?.ttlLeft ?? null).toBeNull();
    // Problems still go to stderr, never into the JSON.
    expect(String(run.stderr)).toContain('/services/bad/x');
  });

  it('--prefix lists another tree (as announce --prefix writes it); the default prefix does not see it', async () => {
    announce(['--name', 'web', '--address', '127.0.0.1:8080', '--ttl', '10s', '--prefix', '/other']);
    announce(['--name', 'api', '--address', '127.0.0.1:9000', '--ttl', '10s']);
    await present('/other/web/n1:web:8080');
    await present('/services/api/n1:api:9000');
    // A sibling whose name merely starts with the prefix is not under it.
    await etcd.put('/otherwise/x/y', '127.0.0.1:1');

    const other = await ls(['--etcd', etcd.endpoint, '--prefix', '/other', '--json']);
    expect(other.exitCode).toBe(0);
    expect((JSON.parse(String(other.stdout)) as Array<{ key: string }>).map((s) => s.key)).toEqual(['/other/web/n1:web:8080']);

    const trailing = await ls(['--etcd', etcd.endpoint, '--prefix', '/other/', '--json']);
    expect((JSON.parse(String(trailing.stdout)) as Array<{ key: string }>).map((s) => s.key)).toEqual(['/other/web/n1:web:8080']);

    const dflt = await ls(['--etcd', etcd.endpoint, '--json']);
    expect((JSON.parse(String(dflt.stdout)) as Array<{ key: string }>).map((s) => s.key)).toEqual(['/services/api/n1:api:9000']);
  });

  it('--prefix is read the way announce reads it (no leading slash needed)', async () => {
    // announce normalises `--prefix other` to /other; ls must find what announce wrote with the same flag.
    announce(['--name', 'web', '--address', '127.0.0.1:8080', '--ttl', '10s', '--prefix', 'other']);
    await present('/other/web/n1:web:8080');
    const run = await ls(['--etcd', etcd.endpoint, '--prefix', 'other', '--json']);
    expect(run.exitCode).toBe(0);
    expect((JSON.parse(String(run.stdout)) as Array<{ key: string }>).map((s) => s.key)).toEqual(['/other/web/n1:web:8080']);
  });

  it('an empty registry prints the header only (and [] with --json)', async () => {
    const run = await ls(['--etcd', etcd.endpoint]);
    expect(run.exitCode).toBe(0);
    expect(cells(String(run.stdout))).toEqual([['SERVICE', 'ID', 'ADDRESS', 'NODE', 'TAGS', 'TTL']]);
    const json = await ls(['--etcd', etcd.endpoint, '--json']);
    expect(JSON.parse(String(json.stdout))).toEqual([]);
  });

  it('records vanish from ls when their announce stops', async () => {
    const { proc: p } = announce(['--name', 'web', '--address', '127.0.0.1:8080', '--ttl', '10s']);
    await present('/services/web/n1:web:8080');
    expect(cells(String((await ls(['--etcd', etcd.endpoint])).stdout))).toHaveLength(2);
    p.kill('SIGTERM');
    expect((await p).exitCode).toBe(0);
    expect(cells(String((await ls(['--etcd', etcd.endpoint])).stdout))).toHaveLength(1);
  });

  it('reads SIDEKICK_ETCD from the environment', async () => {
    announce(['--name', 'web', '--address', '127.0.0.1:8080', '--ttl', '10s']);
    await present('/services/web/n1:web:8080');
    const run = await ls(['--json'], { SIDEKICK_ETCD: etcd.endpoint });
    expect(run.exitCode).toBe(0);
    expect((JSON.parse(String(run.stdout)) as Array<{ id: string }>).map((s) => s.id)).toEqual(['n1:web:8080']);
  });

  it('unreachable etcd: exit 1 and a message saying etcd cannot be read; nothing on stdout', async () => {
    const port = await freePort();
    const started = Date.now();
    const run = await ls(['--etcd', `http://127.0.0.1:${port}`]);
    expect(run.exitCode).toBe(1);
    expect(String(run.stderr)).toMatch(/^sidekick ls: cannot read etcd: unavailable: no connection established \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/);
    expect(String(run.stdout)).toBe('');
    // Bounded by the request deadline, not a hang (loose bound).
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a key cannot forge lines on the terminal: control characters are shown escaped', async () => {
    announce(['--name', 'web', '--address', '127.0.0.1:8080', '--ttl', '10s']);
    await present('/services/web/n1:web:8080');
    const forged = '/services/web/x\n\u001b[32mweb  n1:web:9999  10.0.0.66:80\u001b[0m';
    await etcd.put(forged, '127.0.0.1:1');
    const run = await ls(['--etcd', etcd.endpoint]);
    expect(run.exitCode).toBe(0);
    expect(String(run.stdout)).not.toContain('\u001b');
    expect(cells(String(run.stdout))).toHaveLength(2);
    const stderr = String(run.stderr);
    expect(stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(stderr).toContain('sidekick ls: skipping /services/web/x\\n\\x1b[32mweb');
    expect(stderr).not.toContain('\u001b');
  });

  it('credentials in --etcd never appear in its error, which is one readable line', async () => {
    const port = await freePort();
    const run = await ls(['--etcd', `http://sidekick:pw-Qm4-secret@127.0.0.1:${port}`]);
    expect(run.exitCode).toBe(1);
    const stderr = String(run.stderr);
    expect(stderr).not.toContain('pw-Qm4-secret');
    expect(stderr).not.toMatch(/Resolution note|\d{4}-\d\d-\d\dT/);
    expect(stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^sidekick ls: cannot read etcd: unavailable: no connection established/)]);
  });

  it('a malformed --etcd is refused naming the flag', async () => {
    const run = await ls(['--etcd', 'ftp://x']);
    expect(run.exitCode).not.toBe(0);
    expect(String(run.stderr)).toMatch(/--etcd/);
  });
});

// Mirror: sorted listing, path-prefix semantics, replacePrefix diffs, and scale.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Mirror } from '../../../src/store/mirror.js';

describe('Mirror', () => {
  it('keeps keys sorted whatever the insertion order', () => {
    const m = new Mirror();
    for (const k of ['/b', '/a/2', '/a/10', '/a/1', '/c', '/a']) m.set(k, k.toUpperCase());
    expect(m.list('/').map(([k]) => k)).toEqual(['/a', '/a/1', '/a/10', '/a/2', '/b', '/c']);
    expect(m.size).toBe(6);
    expect(m.get('/a/10')).toBe('/A/10');
    expect(m.get('/nope')).toBeUndefined();
  });

  it('treats prefixes as paths: "/a" lists "/a" and "/a/…" but not "/ab" or "/a-b"', () => {
    const m = new Mirror();
    for (const k of ['/a', '/a/x', '/a/x/y', '/ab', '/a-b', '/a.b/c', '/b']) m.set(k, '1');
    expect(m.list('/a').map(([k]) => k)).toEqual(['/a', '/a/x', '/a/x/y']);
    expect(m.list('/a/').map(([k]) => k)).toEqual(['/a', '/a/x', '/a/x/y']);
    expect(m.list('/a/x').map(([k]) => k)).toEqual(['/a/x', '/a/x/y']);
    expect(m.list('/zz')).toEqual([]);
    expect(m.list('').length).toBe(7);
    expect(m.list('/').length).toBe(7);
  });

  it('reports whether set/delete changed anything', () => {
    const m = new Mirror();
    expect(m.set('/k', 'v')).toBe(true);
    expect(m.set('/k', 'v')).toBe(false);
    expect(m.set('/k', 'w')).toBe(true);
    expect(m.delete('/k')).toBe(true);
    expect(m.delete('/k')).toBe(false);
    expect(m.size).toBe(0);
    expect(m.list('/')).toEqual([]);
  });

  it('replacePrefix returns exactly the added, modified and removed keys under the prefix', () => {
    const m = new Mirror();
    m.set('/s/keep', '1');
    m.set('/s/mod', '1');
    m.set('/s/gone', '1');
    m.set('/other', 'x');
    const changed = m.replacePrefix('/s', [
      ['/s/keep', '1'],
      ['/s/mod', '2'],
      ['/s/new', '3'],
      ['/elsewhere', 'ignored'],
    ]);
    expect(changed).toEqual(['/s/gone', '/s/mod', '/s/new']);
    expect(m.list('/')).toEqual([
      ['/other', 'x'],
      ['/s/keep', '1'],
      ['/s/mod', '2'],
      ['/s/new', '3'],
    ]);
    expect(m.replacePrefix('/s', m.list('/s'))).toEqual([]);
  });

  it('replacePrefix in bulk (a first load) keeps the index consistent', () => {
    const m = new Mirror();
    m.set('/z', 'z');
    const entries = Array.from({ length: 500 }, (_, i): [string, string] => [`/p/${(i * 7919) % 500}`, String(i)]);
    expect(m.replacePrefix('/p', entries)).toHaveLength(500);
    const keys = m.list('/').map(([k]) => k);
    expect(keys).toEqual([...keys].sort());
    expect(keys).toHaveLength(501);
    expect(m.replacePrefix('/p', [])).toHaveLength(500);
    expect(m.list('/')).toEqual([['/z', 'z']]);
  });

  it('handles 10,000+ keys with fast incremental updates and listing', () => {
    const m = new Mirror();
    const t0 = performance.now();
    for (let i = 0; i < 12_000; i++) m.set(`/services/svc${i % 100}/inst${i}`, `10.0.${i % 256}.${i % 200}:80`);
    for (let i = 0; i < 12_000; i += 3) m.delete(`/services/svc${i % 100}/inst${i}`);
    const one = m.list('/services/svc42');
    const elapsed = performance.now() - t0;
    expect(m.size).toBe(8_000);
    expect(one).toHaveLength(80);
    expect(one.every(([k]) => k.startsWith('/services/svc42/'))).toBe(true);
    // Generous bound for a shared CI core; a splice-free rebuild per change would take seconds.
    expect(elapsed).toBeLessThan(2000);
    const t1 = performance.now();
    for (let i = 0; i < 1000; i++) m.list(`/services/svc${i % 100}`);
    expect(performance.now() - t1).toBeLessThan(1000);
  });
});

describe('Mirror.version and Mirror.children', () => {
  it('a change bumps the version of the key and every folder above it, and nothing beside it', () => {
    const m = new Mirror();
    m.set('/services/web/a', '1');
    m.set('/services/db/a', '1');
    const web = m.version('/services/web');
    const db = m.version('/services/db');
    const root = m.version('/services');
    m.set('/services/web/a', '2');
    expect(m.version('/services/web')).not.toBe(web);
    expect(m.version('/services')).not.toBe(root);
    expect(m.version('/services/db')).toBe(db);
    m.set('/services/web/a', '2'); // unchanged value: no bump
    const after = m.version('/services/web');
    m.set('/services/web/a', '2');
    expect(m.version('/services/web')).toBe(after);
    m.delete('/services/db/a');
    expect(m.version('/services/db')).not.toBe(db);
  });

  it('replacePrefix and clear bump what they change', () => {
    const m = new Mirror();
    m.set('/a/x/1', '1');
    const before = m.version('/a/x');
    m.replacePrefix('/a', Array.from({ length: 100 }, (_, i): [string, string] => [`/a/y/${i}`, 'v']));
    expect(m.version('/a/x')).not.toBe(before);
    const y = m.version('/a/y');
    m.clear();
    expect(m.version('/a/y')).not.toBe(y);
  });

  it('children lists distinct names directly below a folder, skipping whole folders', () => {
    const m = new Mirror();
    for (const k of ['/s/web/a', '/s/web/b', '/s/web-2/a', '/s/db', '/s/api/x/y', '/sx/no', '/s']) m.set(k, 'v');
    // Key order: "web-2/…" sorts before "web/…" ('-' < '/'); callers sort names themselves.
    expect(m.children('/s')).toEqual(['api', 'db', 'web-2', 'web']);
    expect(m.children('/s/web')).toEqual(['a', 'b']);
    expect(m.children('/none')).toEqual([]);
  });

  it('a key changes its version on every set, delete and re-creation; a path with nothing there keeps its own', () => {
    const m = new Mirror();
    const none = m.version('/s/web/z');
    m.set('/s/web/a', '1');
    const a1 = m.version('/s/web/a');
    expect(m.version('/s/web/z')).toBe(none);
    m.set('/s/web/a', '2');
    const a2 = m.version('/s/web/a');
    expect(a2).not.toBe(a1);
    m.delete('/s/web/a');
    const gone = m.version('/s/web/a');
    expect(gone).not.toBe(a2);
    m.set('/s/db/a', '1'); // elsewhere: the missing key keeps its number
    expect(m.version('/s/web/a')).toBe(gone);
    m.set('/s/web/a', '1');
    expect(m.version('/s/web/a')).not.toBe(gone);
  });

  it('a key that is a folder too changes with itself and with the keys below it', () => {
    const m = new Mirror();
    m.set('/s', 'v');
    m.set('/s/x', 'v');
    const v1 = m.version('/s');
    m.set('/s', 'w');
    const v2 = m.version('/s');
    expect(v2).not.toBe(v1);
    m.set('/s/x', 'w');
    const v3 = m.version('/s');
    expect(v3).not.toBe(v2);
    m.delete('/s/x');
    expect(m.version('/s')).not.toBe(v3);
  });

  it('keeps a counter per folder, not per key, and drops a folder left empty', () => {
    const m = new Mirror();
    m.replacePrefix('/s', Array.from({ length: 1000 }, (_, i): [string, string] => [`/s/svc${i % 10}/i${i}`, 'v']));
    m.set('/s/svc0/i0', 'w');
    // Private, read for this test only: the folders "", "/s" and "/s/svc0" … "/s/svc9".
    const versions = (m as unknown as { versions: Map<string, number> }).versions;
    expect(versions.size).toBe(12);
    for (let i = 0; i < 1000; i += 10) m.delete(`/s/svc0/i${i}`);
    expect(versions.has('/s/svc0')).toBe(false);
    m.replacePrefix('/s', []);
    expect(versions.size).toBe(0);
  });

  it('replacePrefix on an empty prefix returns each added key once, sorted', () => {
    const m = new Mirror();
    m.set('/other', 'x');
    expect(m.replacePrefix('/p', [['/p/b', '1'], ['/p/a', '1'], ['/p/a', '2'], ['/q', '1']])).toEqual(['/p/a', '/p/b']);
    expect(m.list('/')).toEqual([['/other', 'x'], ['/p/a', '2'], ['/p/b', '1']]);
  });

  it('version changes whenever the entries at or below a path change (random operations)', () => {
    const keyArb = fc.constantFrom('/a', '/a/b', '/a/b/c', '/a/c', '/a/c/', '/b', '/b/x', '/ab', '/a-b/c');
    const paths = ['', '/a', '/a/b', '/a/b/c', '/a/c', '/a/c/', '/b', '/b/x', '/ab', '/a-b', '/a-b/c', '/zz'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: keyArb, value: fc.constantFrom('1', '2') }),
      fc.record({ kind: fc.constant('delete' as const), key: keyArb }),
      fc.record({ kind: fc.constant('replace' as const), prefix: fc.constantFrom('/a', '/b', ''), keys: fc.array(keyArb, { maxLength: 80 }) }),
      fc.record({ kind: fc.constant('clear' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const m = new Mirror();
        for (const o of ops) {
          const before = paths.map((p) => ({ p, list: JSON.stringify(m.list(p)), version: m.version(p) }));
          if (o.kind === 'set') m.set(o.key, o.value);
          else if (o.kind === 'delete') m.delete(o.key);
          else if (o.kind === 'replace') m.replacePrefix(o.prefix, o.keys.map((k, i): [string, string] => [k, String(i % 2)]));
          else m.clear();
          for (const b of before) if (JSON.stringify(m.list(b.p)) !== b.list) expect(m.version(b.p), `${b.p} after ${JSON.stringify(o)}`).not.toBe(b.version);
        }
      }),
      { numRuns: 300 },
    );
  });
});

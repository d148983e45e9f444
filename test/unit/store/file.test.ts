// FileSource on real temp files: confd flattening, merging, chokidar reloads, broken files keeping old data.
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSource, flattenData, readDataFile } from '../../../src/store/file.js';
import type { SourceState } from '../../../src/store/types.js';
import { StoreError } from '../../../src/util/errors.js';
import { createLogger } from '../../../src/util/log.js';
import { tempDir } from '../../support/tmp.js';

let dir: string;
let cleanup: () => Promise<void>;
const open: FileSource[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('sidekick-file-'));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await cleanup();
});

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A started source plus its events and JSON log lines. */
async function source(files: string[], prefixes?: string[]) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const src = new FileSource({ files, prefixes, log: createLogger({ level: 'info', destination }) });
  open.push(src);
  const changes: string[][] = [];
  const states: SourceState[] = [];
  src.on('change', (keys) => changes.push(keys));
  src.on('state', (s) => states.push(s));
  await src.start();
  return { src, changes, states, lines };
}

describe('flattenData (confd file backend layout)', () => {
  it('turns maps into paths, arrays into index keys and scalars into strings', () => {
    const data = { services: { web: { hosts: ['10.0.0.1', '10.0.0.2'], port: 80, tls: false, weight: 1.5, gone: null } } };
    expect(flattenData(data)).toEqual([
      ['/services/web/hosts/0', '10.0.0.1'],
      ['/services/web/hosts/1', '10.0.0.2'],
      ['/services/web/port', '80'],
      ['/services/web/tls', 'false'],
      ['/services/web/weight', '1.5'],
    ]);
  });

  it('cleans keys like Go path.Join', () => {
    expect(flattenData({ 'a/': { '/b': 'x' } })).toEqual([['/a/b', 'x']]);
  });
});

describe('FileSource', () => {
  it('reads YAML and JSON files and merges them, a later file winning', async () => {
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.json');
    await writeFile(a, 'app:\n  name: web\n  port: 80\nother: x\n');
    await writeFile(b, '{\n\t"app": {"port": 8080, "tags": ["a", "b"]}\n}\n');
    const { src, states } = await source([a, b]);
    expect(src.state).toBe('synced');
    expect(states).toEqual(['synced']);
    expect(src.view.list('/')).toEqual([
      ['/app/name', 'web'],
      ['/app/port', '8080'],
      ['/app/tags/0', 'a'],
      ['/app/tags/1', 'b'],
      ['/other', 'x'],
    ]);
  });

  it('keeps only keys under the given prefixes', async () => {
    const a = join(dir, 'a.yaml');
    await writeFile(a, 'app: {x: 1}\napplication: {y: 2}\n');
    const { src } = await source([a], ['/app']);
    expect(src.view.list('/')).toEqual([['/app/x', '1']]);
  });

  it('reloads on change and emits one batch with only the keys that changed', async () => {
    const a = join(dir, 'a.yaml');
    await writeFile(a, 'k1: same\nk2: old\nk3: gone\n');
    const { src, changes } = await source([a]);
    await writeFile(a, 'k1: same\nk2: new\nk4: added\n');
    await waitFor('change', () => changes.length === 1);
    expect(changes[0]).toEqual(['/k2', '/k3', '/k4']);
    expect(src.view.list('/')).toEqual([
      ['/k1', 'same'],
      ['/k2', 'new'],
      ['/k4', 'added'],
    ]);
  });

  it('follows a file replaced by rename (how editors and config management write)', async () => {
    const a = join(dir, 'a.yaml');
    await writeFile(a, 'v: 1\n');
    const { src, changes } = await source([a]);
    await writeFile(join(dir, 'a.yaml.tmp'), 'v: 2\n');
    await rename(join(dir, 'a.yaml.tmp'), a);
    await waitFor('change', () => changes.length === 1);
    expect(src.view.get('/v')).toBe('2');
    await writeFile(a, 'v: 3\n');
    await waitFor('second change', () => changes.length === 2);
    expect(src.view.get('/v')).toBe('3');
  });

  it('keeps the last good content of a broken file, logs file:line once, and stays synced', async () => {
    const a = join(dir, 'a.yaml');
    await writeFile(a, 'app:\n  port: 80\n');
    const { src, changes, states, lines } = await source([a]);
    await writeFile(a, 'app:\n  port: 80\n bad: [\n');
    await waitFor('error logged', () => lines.some((l) => l.level === 50));
    await writeFile(a, 'app:\n  port: 80\n bad: [\n\n'); // still broken, same error
    await new Promise((r) => setTimeout(r, 400));
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.err)).toContain(`${a}:3:`);
    expect(src.view.get('/app/port')).toBe('80');
    expect(src.state).toBe('synced');
    expect(changes).toEqual([]);
    await writeFile(a, 'app:\n  port: 81\n');
    await waitFor('recovered', () => changes.length === 1);
    expect(src.view.get('/app/port')).toBe('81');
    expect(states).toEqual(['synced']);
  });

  it('keeps the last good content when the file disappears', async () => {
    const a = join(dir, 'a.yaml');
    await writeFile(a, 'k: v\n');
    const { src, lines } = await source([a]);
    await rm(a);
    await waitFor('error logged', () => lines.some((l) => l.level === 50));
    expect(src.view.get('/k')).toBe('v');
    await writeFile(a, 'k: w\n');
    await waitFor('re-added', () => src.view.get('/k') === 'w');
  });

  it('refuses to start on a broken or missing file, naming file:line', async () => {
    const a = join(dir, 'a.yaml');
    await writeFile(a, 'a: 1\na: 2\n');
    const err = await readDataFile(a).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).where).toBe(`${a}:2:1`);
    const src = new FileSource({ files: [a], watch: false });
    await expect(src.start()).rejects.toThrow(`${a}:2:1`);
    expect(src.state).toBe('connecting');
    await expect(new FileSource({ files: [join(dir, 'none.yaml')] }).start()).rejects.toBeInstanceOf(StoreError);
  });
});

// `sidekick ls --renderers`: the real binary reading the acknowledgements a real `sidekick render --watch` publishes.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ackKey, ackValue } from '../../../src/drain/acks.js';
import { sidekick } from '../../support/cli.js';
import { startEtcd, type EtcdHandle } from '../../support/etcd.js';
import { stopProc, waitFor } from '../../support/procs.js';
import { spawnSidekick, type Proc } from '../../support/rolling.js';
import { tempDir } from '../../support/tmp.js';

let etcd: EtcdHandle;
let dir: string;
let cleanupDir: () => Promise<void>;
let render: Proc | undefined;

beforeAll(async () => {
  etcd = await startEtcd();
  ({ dir, cleanup: cleanupDir } = await tempDir('sidekick-ls-renderers-'));
}, 60_000);

afterAll(async () => {
  if (render) await stopProc(render.proc);
  await etcd?.cleanup();
  await cleanupDir?.();
});

it('lists each renderer resource with the revision it applied, current or behind', async () => {
  await mkdir(join(dir, 'conf.d'), { recursive: true });
  await mkdir(join(dir, 'templates'), { recursive: true });
  await writeFile(join(dir, 'templates', 'web.tmpl'), '{{#each (service "web")}}{{address}}\n{{/each}}');
  await writeFile(join(dir, 'conf.d', 'web.toml'), `[template]\nsrc = "web.tmpl"\ndest = "${join(dir, 'web.out')}"\nkeys = ["/services/web"]\n`);
  const rev = await etcd.put('/services/web/a', JSON.stringify({ host: '127.0.0.1', port: 8081, name: 'web', id: 'a' }));
  render = spawnSidekick(['render', '--watch', '--confdir', dir, '--node', etcd.endpoint, '--node-name', 'edge-1']);
  await waitFor(async () => (await etcd.client.get(ackKey('edge-1', 'web.toml')).string()) !== null, 20_000);
  // A renderer that stopped moving (its revision predates the record) and a hostile key.
  await etcd.put(ackKey('edge-2', 'web.toml'), ackValue(rev - 1, ['/services/web']));
  await etcd.put(ackKey('edge-3', 'x'), 'garbage');

  const json = await sidekick(['ls', '--etcd', etcd.endpoint, '--renderers', '--json']);
  expect(json.exitCode).toBe(0);
  const listed = JSON.parse(String(json.stdout)) as Array<{ renderer: string; revision: number; behind: number; keys: string[] }>;
  expect(listed.map((r) => [r.renderer, r.revision >= rev, r.behind, r.keys])).toEqual([
    ['edge-1/web.toml', true, 0, ['/services/web']],
    ['edge-2/web.toml', false, rev, ['/services/web']],
  ]);
  expect(String(json.stderr)).toContain(`skipping ${ackKey('edge-3', 'x')}: value is not JSON`);

  const table = await sidekick(['ls', '--etcd', etcd.endpoint, '--renderers']);
  const rows = String(table.stdout).trim().split('\n').map((l) => l.trim().split(/ {2,}/));
  expect(rows[0]).toEqual(['RENDERER', 'REVISION', 'STATE', 'APPLIED', 'KEYS']);
  expect(rows.slice(1).map((r) => [r[0], r[2]])).toEqual([
    ['edge-1/web.toml', 'current'],
    ['edge-2/web.toml', `behind (${rev})`],
  ]);
}, 60_000);

// Acknowledged deregistration across an etcd leader change: a 3-member cluster, `sidekick render --watch` and
// `sidekick announce` given all three endpoints. After the leader is killed, the renderer's acknowledgement (on its
// lease) is still there and still moving, and a drain is acknowledged by it.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ackKey, parseAck } from '../../../src/drain/acks.js';
import { waitFor } from '../../support/procs.js';
import { spawnSidekick, startApp, type App, type Proc } from '../../support/rolling.js';
import { tempDir } from '../../support/tmp.js';
import { startEtcdCluster, type EtcdCluster } from '../support/cluster.js';

let cluster: EtcdCluster;
let dir: string;
let cleanupDir: () => Promise<void>;
let app: App;
const procs: Proc[] = [];

beforeAll(async () => {
  cluster = await startEtcdCluster(3);
  ({ dir, cleanup: cleanupDir } = await tempDir('sidekick-drain-leader-'));
}, 90_000);

afterAll(async () => {
  for (const p of procs) p.proc.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.proc.catch(() => undefined)));
  await app?.stop();
  await cluster?.cleanup();
  await cleanupDir?.();
});

const nodes = (flag: string): string[] => cluster.endpoints.flatMap((e) => [flag, e]);

async function ackRevision(): Promise<number> {
  const kv = (await cluster.getPrefix(ackKey('edge', 'web.toml'))).find((k) => k.key.toString() === ackKey('edge', 'web.toml'));
  if (!kv) return -1;
  const ack = parseAck(kv.key.toString(), kv.value.toString());
  return typeof ack === 'string' ? -1 : ack.revision;
}

it('a drain is acknowledged after the leader that held the renderer’s lease is killed', async () => {
  await mkdir(join(dir, 'conf.d'), { recursive: true });
  await mkdir(join(dir, 'templates'), { recursive: true });
  await writeFile(join(dir, 'templates', 'web.tmpl'), '{{#each (service "web")}}{{address}}\n{{/each}}');
  await writeFile(join(dir, 'conf.d', 'web.toml'), `[template]\nsrc = "web.tmpl"\ndest = "${join(dir, 'web.out')}"\nkeys = ["/services/web"]\n`);
  const render = spawnSidekick(['render', '--watch', '--confdir', dir, '--node-name', 'edge', ...nodes('--node')]);
  procs.push(render);
  app = await startApp('web-1', 0);
  const announce = spawnSidekick([
    'announce', ...nodes('--etcd'), '--name', 'web', '--id', 'web-1', '--address', `127.0.0.1:${app.port}`,
    '--check', 'tcp', '--interval', '1s', '--timeout', '500ms', '--ttl', '10s',
  ]);
  procs.push(announce);
  await waitFor(async () => (await readFile(join(dir, 'web.out'), 'utf8').catch(() => '')).includes(String(app.port)), 20_000);
  await waitFor(async () => (await ackRevision()) > 0, 10_000);

  const leader = await cluster.leader();
  if (!leader) throw new Error('no leader');
  await leader.kill();
  await cluster.waitForLeader({ not: leader, timeoutMs: 20_000 });
  // The acknowledgement's lease lives on, and the renderer still moves it forward.
  const rev = await cluster.put('/services/web/other', JSON.stringify({ host: '127.0.0.1', port: 1, name: 'web', id: 'other' }));
  await waitFor(async () => (await ackRevision()) >= rev, 20_000);

  announce.proc.kill('SIGTERM');
  await announce.proc;
  const drained = announce.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('drained'));
  expect(drained, announce.text()).toMatchObject({ acknowledged: ['edge/web.toml'], pending: [] });
  expect(announce.proc.exitCode).toBe(0);
  expect(await readFile(join(dir, 'web.out'), 'utf8')).not.toContain(String(app.port));
}, 120_000);

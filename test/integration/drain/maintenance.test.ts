// `sidekick drain`: maintenance without stopping. The real binary against a real etcd, a real `render --watch`
// (a file resource, so its acknowledgement is what the drain waits for), `announce` beside a loopback backend,
// and `register` beside busybox containers on a private dockerd.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../support/backends.js';
import { logLines, sidekick } from '../../support/cli.js';
import { runContainer } from '../../support/docker.js';
import { useDockerEtcd } from '../../support/docker-etcd.js';
import { freePort } from '../../support/ports.js';
import { waitFor } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';

const env = useDockerEtcd();

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sidekick-maint-'));
});
afterAll(async () => cleanup?.());

/** `render --watch` writing the addresses of "web" to a file; its acknowledgement is lb1/web.toml. */
async function renderer(work: string): Promise<{ render: ResultPromise; out: string }> {
  const out = join(work, 'web.txt');
  await mkdir(join(work, 'conf.d'), { recursive: true });
  await mkdir(join(work, 'templates'), { recursive: true });
  await writeFile(join(work, 'templates/web.tmpl'), '{{#each (service "web")}}{{address}}\n{{/each}}');
  await writeFile(join(work, 'conf.d/web.toml'), ['[template]', 'src = "web.tmpl"', `dest = "${out}"`, 'keys = ["/services/web"]'].join('\n'));
  const render = env.track(sidekick(['render', '--watch', '--confdir', work, '--node', env.etcd.endpoint, '--node-name', 'lb1']));
  return { render, out };
}

const rendered = async (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '');
const etcdArgs = (): string[] => ['--etcd', env.etcd.endpoint];
const has = async (key: string): Promise<boolean> => (await env.etcd.client.get(key).string()) !== null;

describe('sidekick drain', () => {
  it('takes an announced instance out of rotation, waits for the renderer, and --undo puts it back', async () => {
    const work = join(dir, 'announce');
    const backend = await startBackend('web1');
    try {
      const { render, out } = await renderer(work);
      const announce = env.track(
        sidekick(['announce', ...etcdArgs(), '--name', 'web', '--address', `127.0.0.1:${backend.port}`, '--node-name', 'h1', '--interval', '300ms', '--timeout', '200ms', '--ttl', '5s']),
      );
      const id = `h1:web:${backend.port}`;
      await waitFor(async () => (await rendered(out)).includes(`127.0.0.1:${backend.port}`), 15_000);

      const run = await sidekick(['drain', id, ...etcdArgs(), '--reason', 'kernel update', '--timeout', '10s']);
      expect(run.exitCode, String(run.stderr)).toBe(0);
      expect(String(run.stdout)).toMatch(new RegExp(`^${id}: drained in \\d+\\.\\d s; acknowledged by lb1/web\\.toml$`));
      // Drained means the renderer has applied it: the output no longer names the instance.
      expect(await rendered(out)).not.toContain(`127.0.0.1:${backend.port}`);
      expect(await has(`/services/web/${id}`)).toBe(false);
      expect(JSON.parse((await env.etcd.client.get(`/sidekick/maintenance/${id}`).string()) ?? '{}')).toMatchObject({ reason: 'kernel update' });
      // The check keeps passing, yet the instance stays out.
      await new Promise((r) => setTimeout(r, 1000));
      expect(await has(`/services/web/${id}`)).toBe(false);

      const undo = await sidekick(['drain', '--undo', id, ...etcdArgs()]);
      expect(undo.exitCode, String(undo.stderr)).toBe(0);
      await waitFor(async () => (await rendered(out)).includes(`127.0.0.1:${backend.port}`), 10_000);
      expect(await has(`/sidekick/drained/${id}`)).toBe(false);

      announce.kill('SIGTERM');
      render.kill('SIGTERM');
      const lines = logLines(String((await announce).stderr));
      expect(lines.filter((l) => l.msg?.toString().startsWith('in maintenance'))).toHaveLength(1);
      expect(lines.filter((l) => l.msg?.toString().startsWith('maintenance over'))).toHaveLength(1);
      await render;
    } finally {
      await backend.close();
    }
  });

  it('takes every service of a registered container out with --container, and --undo puts them back', async () => {
    const work = join(dir, 'register');
    const { render, out } = await renderer(work);
    const reg = env.track(sidekick(['register', '--docker', env.dockerd.address, ...etcdArgs(), '--ip', '127.0.0.1', '--node-name', 'h1', '--ttl', '5s']));
    const [p1, p2, p3] = await Promise.all([freePort(), freePort(), freePort()]);
    const serve = (ports: number[]): string[] => ['sh', '-c', `${ports.map((p) => `httpd -p 127.0.0.1:${p} -h /`).join(' && ')} && exec sleep 3600`];
    await runContainer(env.dockerd.docker, { name: 'two', cmd: serve([p1 as number, p2 as number]), labels: { [`SERVICE_${p1}_NAME`]: 'web', [`SERVICE_${p2}_NAME`]: 'web', SERVICE_CHECK_TCP: 'true', SERVICE_CHECK_INTERVAL: '300ms' } });
    await runContainer(env.dockerd.docker, { name: 'other', cmd: serve([p3 as number]), labels: { [`SERVICE_${p3}_NAME`]: 'web', SERVICE_CHECK_TCP: 'true', SERVICE_CHECK_INTERVAL: '300ms' } });
    await waitFor(async () => (await rendered(out)).split('\n').filter(Boolean).length === 3, 20_000);

    const run = await sidekick(['drain', '--container', 'two', '--docker', env.dockerd.address, ...etcdArgs(), '--timeout', '10s']);
    expect(run.exitCode, String(run.stderr)).toBe(0);
    expect(String(run.stdout)).toMatch(/^container two \(docker:[0-9a-f]{64}\): drained in \d+\.\d s; acknowledged by lb1\/web\.toml$/);
    expect((await rendered(out)).trim()).toBe(`127.0.0.1:${p3}`);

    const undo = await sidekick(['drain', '--undo', '--container', 'two', '--docker', env.dockerd.address, ...etcdArgs()]);
    expect(undo.exitCode, String(undo.stderr)).toBe(0);
    await waitFor(async () => (await rendered(out)).split('\n').filter(Boolean).length === 3, 10_000);
    reg.kill('SIGTERM');
    render.kill('SIGTERM');
    await Promise.all([reg, render]);
  });

  it('ignores a malformed maintenance request with one warning naming the key, and keeps the instance in rotation', async () => {
    const backend = await startBackend('web1');
    try {
      const announce = env.track(
        sidekick(['announce', ...etcdArgs(), '--name', 'web', '--address', `127.0.0.1:${backend.port}`, '--node-name', 'h1', '--interval', '300ms', '--timeout', '200ms']),
      );
      const id = `h1:web:${backend.port}`;
      await waitFor(() => has(`/services/web/${id}`), 15_000);
      await env.etcd.client.put(`/sidekick/maintenance/${id}`).value('{"reason": 42}');
      await env.etcd.client.put('/sidekick/maintenance/no spaces!').value('{}');
      await env.etcd.client.put(`/sidekick/maintenance/${id}`).value('not json');
      await new Promise((r) => setTimeout(r, 1000));
      expect(await has(`/services/web/${id}`)).toBe(true);
      announce.kill('SIGTERM');
      const warnings = logLines(String((await announce).stderr)).filter((l) => l.msg === 'ignoring a malformed maintenance request');
      expect(warnings.map((w) => w.storeKey).sort()).toEqual([`/sidekick/maintenance/${id}`, '/sidekick/maintenance/no spaces!']);
    } finally {
      await backend.close();
    }
  });

  it('exits 1 with one line when no sidecar answers within --timeout', async () => {
    const run = await sidekick(['drain', 'h1:nobody:80', ...etcdArgs(), '--timeout', '1s']);
    expect(run.exitCode).toBe(1);
    expect(String(run.stdout)).toMatch(/^h1:nobody:80: no sidecar answered within 1\.\d s .*undo with --undo$/);
  });

  it.each([
    [[], /an instance id .* or --container is required/],
    [['bad id!'], /instance id: instance id "bad id!" may only hold/],
    [['h1:web:80', '--timeout', '0'], /--timeout: must be longer than 0/],
    [['h1:web:80', '--container', 'web'], /not both/],
    [['--container', 'no-such-container'], /--container: no container "no-such-container"/],
    [['h1:web:80', '--reason', 'x'.repeat(201)], /--reason: at most 200 characters/],
  ])('refuses %j with an error naming what is wrong', async (args, message) => {
    const extra = args.includes('--container') ? ['--docker', env.dockerd.address] : [];
    const run = await sidekick(['drain', ...args, ...extra, ...etcdArgs()]);
    expect(run.exitCode).toBe(2);
    expect(String(run.stderr)).toMatch(message);
  });
});

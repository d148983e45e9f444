// dockerFromAddress, listRunning, inspect and exec against a private dockerd.
import type Dockerode from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dockerFromAddress } from '../../../src/docker/address.js';
import { DockerWatcher, MAX_EXEC_OUTPUT } from '../../../src/docker/client.js';
import { CommandError, ConfigError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';
import {
  ensureBusyboxImage,
  removeAllTestContainers,
  removeContainer,
  runContainer,
  startDockerd,
  type DockerdHandle,
} from '../../support/docker.js';

let dockerd: DockerdHandle | undefined;
let watcher: DockerWatcher;

const d = (): DockerdHandle => {
  if (!dockerd) throw new Error('dockerd did not start');
  return dockerd;
};

beforeAll(async () => {
  dockerd = await startDockerd();
  await ensureBusyboxImage(dockerd.docker);
  watcher = new DockerWatcher({ docker: dockerd.docker, log: silentLogger });
});

afterEach(async () => {
  if (dockerd?.running) await removeAllTestContainers(dockerd.docker);
});

afterAll(async () => {
  await watcher?.close();
  await dockerd?.cleanup();
});

describe('dockerFromAddress', () => {
  const savedHost = process.env.DOCKER_HOST;
  afterEach(() => {
    if (savedHost === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = savedHost;
  });

  it('connects to unix:// addresses and bare socket paths', async () => {
    for (const address of [d().address, d().socketPath]) {
      const pong = await dockerFromAddress(address).ping();
      expect(String(pong)).toBe('OK');
    }
  });

  it('uses DOCKER_HOST without an address, and an explicit address over DOCKER_HOST', async () => {
    process.env.DOCKER_HOST = d().address;
    expect(String(await dockerFromAddress().ping())).toBe('OK');
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:1';
    expect(String(await dockerFromAddress(d().address).ping())).toBe('OK');
  });

  it('reads tcp:// as host and port', () => {
    const modem = dockerFromAddress('tcp://127.0.0.1:2375').modem as unknown as Record<string, unknown>;
    expect(modem).toMatchObject({ host: '127.0.0.1', port: 2375, protocol: 'http' });
    expect(modem.socketPath).toBeUndefined();
    const v6 = dockerFromAddress('tcp://[::1]:2380').modem as unknown as Record<string, unknown>;
    expect(v6).toMatchObject({ host: '::1', port: 2380 });
  });

  it('rejects bad addresses with a ConfigError naming them', () => {
    for (const bad of ['ftp://host:21', 'unix://relative.sock', 'tcp://', 'docker.sock', 'tcp://h:1/path']) {
      expect(() => dockerFromAddress(bad), bad).toThrow(ConfigError);
      expect(() => dockerFromAddress(bad), bad).toThrow(/--docker: bad Docker address/);
    }
    process.env.DOCKER_HOST = 'ftp://nope';
    expect(() => dockerFromAddress()).toThrow(/DOCKER_HOST: bad Docker address "ftp:\/\/nope"/);
  });
});

describe('listRunning and inspect', () => {
  it('lists exactly the running containers, fully inspected', async () => {
    const docker = d().docker;
    const a = await runContainer(docker, { name: 'sk-list-a', cmd: ['sleep', '600'], labels: { role: 'a' } });
    const b = await runContainer(docker, { name: 'sk-list-b', cmd: ['sleep', '600'], env: { SERVICE_NAME: 'bee' } });
    const created = await runContainer(docker, { name: 'sk-list-created', cmd: ['sleep', '600'], start: false });
    const exited = await runContainer(docker, { name: 'sk-list-exited', cmd: ['true'] });
    await docker.getContainer(exited.id).wait();

    const running = await watcher.listRunning();
    const byId = new Map(running.map((c) => [c.Id, c]));
    expect([...byId.keys()].sort()).toEqual([a.id, b.id].sort());
    expect(byId.get(a.id)?.Name).toBe('/sk-list-a');
    expect(byId.get(a.id)?.Config.Labels).toMatchObject({ role: 'a', 'sidekick-test': '1' });
    expect(byId.get(b.id)?.Config.Env).toContain('SERVICE_NAME=bee');
    expect(byId.get(b.id)?.State.Running).toBe(true);
    expect(byId.has(created.id)).toBe(false);

    // Paused containers are listed (State.Paused tells them apart).
    await docker.getContainer(b.id).pause();
    const withPaused = await watcher.listRunning();
    expect(withPaused.find((c) => c.Id === b.id)?.State.Paused).toBe(true);
    await docker.getContainer(b.id).unpause();
  });

  it('returns an empty list when nothing runs', async () => {
    expect(await watcher.listRunning()).toEqual([]);
  });

  it('inspect returns undefined for a removed container and data for a live one', async () => {
    const c = await runContainer(d().docker, { cmd: ['sleep', '600'] });
    expect((await watcher.inspect(c.id))?.Id).toBe(c.id);
    await removeContainer(d().docker, c.id);
    expect(await watcher.inspect(c.id)).toBeUndefined();
    expect(await watcher.inspect('0'.repeat(64))).toBeUndefined();
  });

  it('skips containers that vanish between list and inspect, inspecting at most 8 at a time', async () => {
    const real = await runContainer(d().docker, { cmd: ['sleep', '600'] });
    const ghosts = Array.from({ length: 30 }, (_, i) => `${String(i).padStart(2, '0')}${'f'.repeat(62)}`);
    let inFlight = 0;
    let maxInFlight = 0;
    const docker = d().docker;
    const wrapped = Object.create(docker) as Dockerode;
    wrapped.listContainers = (async () => [
      ...(await docker.listContainers()),
      ...ghosts.map((Id) => ({ Id })),
    ]) as unknown as Dockerode['listContainers'];
    wrapped.getContainer = (id: string) => {
      const container = docker.getContainer(id);
      const inspect = container.inspect.bind(container);
      container.inspect = (async (opts?: object) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          await new Promise((r) => setTimeout(r, 5));
          return await inspect(opts as Parameters<typeof inspect>[0]);
        } finally {
          inFlight--;
        }
      }) as typeof container.inspect;
      return container;
    };
    const w = new DockerWatcher({ docker: wrapped, log: silentLogger });
    const running = await w.listRunning();
    expect(running.map((c) => c.Id)).toEqual([real.id]);
    expect(maxInFlight).toBe(8);
  });
});

describe('exec', () => {
  // Each test runs its own container (afterEach removes them all).
  const live = async (): Promise<string> => (await runContainer(d().docker, { cmd: ['sleep', '600'] })).id;

  it('returns the exit code and stdout+stderr', async () => {
    const id = await live();
    const res = await watcher.exec(id, ['sh', '-c', 'echo hi; echo oops >&2; exit 3'], AbortSignal.timeout(10_000));
    expect(res.exitCode).toBe(3);
    expect(res.output).toContain('hi\n');
    expect(res.output).toContain('oops\n');
    const ok = await watcher.exec(id, ['true'], AbortSignal.timeout(10_000));
    expect(ok).toEqual({ exitCode: 0, output: '' });
  });

  it('runs argv without a shell', async () => {
    const id = await live();
    const res = await watcher.exec(id, ['echo', 'a b', '$HOME;', '*'], AbortSignal.timeout(10_000));
    expect(res).toEqual({ exitCode: 0, output: 'a b $HOME; *\n' });
  });

  it('caps the output it keeps', async () => {
    const id = await live();
    const res = await watcher.exec(id, ['sh', '-c', 'yes abcdefgh | head -c 200000; exit 1'], AbortSignal.timeout(10_000));
    expect(res.exitCode).toBe(1);
    expect(res.output.length).toBe(MAX_EXEC_OUTPUT);
    expect(res.output.startsWith('abcdefgh\nabcdefgh\n')).toBe(true);
  });

  it('reports a missing command as a failing exit code', async () => {
    const id = await live();
    const res = await watcher.exec(id, ['/no/such/binary'], AbortSignal.timeout(10_000));
    expect(res.exitCode).not.toBe(0);
  });

  it('rejects promptly with a timed-out CommandError when the signal times out', async () => {
    const id = await live();
    const started = Date.now();
    const err = await watcher.exec(id, ['sleep', '30'], AbortSignal.timeout(300)).catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).timedOut).toBe(true);
    expect((err as CommandError).message).toMatch(/timed out/);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2000);
    // The daemon and the container are fine afterwards.
    expect((await watcher.exec(id, ['echo', 'after'], AbortSignal.timeout(10_000))).output).toBe('after\n');
  });

  it('rejects on a plain abort (timedOut false), and at once for an already aborted signal', async () => {
    const id = await live();
    const ac = new AbortController();
    const pending = watcher.exec(id, ['sh', '-c', 'echo started; sleep 30'], ac.signal);
    setTimeout(() => ac.abort(), 300);
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).timedOut).toBe(false);
    expect((err as CommandError).message).toMatch(/aborted/);
    expect((err as CommandError).output).toBe('started\n');

    const started = Date.now();
    await expect(watcher.exec(id, ['true'], ac.signal)).rejects.toBeInstanceOf(CommandError);
    expect(Date.now() - started).toBeLessThan(100);
  });

  it('rejects with a CommandError for a stopped or removed container', async () => {
    const c = await runContainer(d().docker, { cmd: ['sleep', '600'] });
    await d().docker.getContainer(c.id).stop();
    await expect(watcher.exec(c.id, ['true'], AbortSignal.timeout(10_000))).rejects.toThrow(CommandError);
    await removeContainer(d().docker, c.id);
    await expect(watcher.exec(c.id, ['true'], AbortSignal.timeout(10_000))).rejects.toThrow(/cannot exec/);
  });

  it('runs execs in parallel', async () => {
    const id = await live();
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => watcher.exec(id, ['sh', '-c', `sleep 0.5; echo ${i}; exit ${i}`], AbortSignal.timeout(10_000))),
    );
    expect(results.map((r) => r.exitCode)).toEqual([0, 1, 2, 3, 4]);
    expect(results.map((r) => r.output)).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n']);
    expect(Date.now() - started).toBeLessThan(2400);
  });
});

// DockerWatcher's event stream against a private dockerd: events, dockerd restarts, starting while it is down,
// and (with a fake stream) newline-delimited JSON split and merged across chunks.
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DockerWatcher } from '../../../src/docker/client.js';
import { parseEvent, type DockerEvent } from '../../../src/docker/events.js';
import { silentLogger } from '../../../src/util/log.js';
import { captureLogger } from '../../support/logs.js';
import { waitFor } from '../../support/procs.js';
import {
  ensureBusyboxImage,
  removeAllTestContainers,
  removeContainer,
  runContainer,
  startDockerd,
  type DockerdHandle,
} from '../../support/docker.js';

let dockerd: DockerdHandle | undefined;
const watchers: DockerWatcher[] = [];

const d = (): DockerdHandle => {
  if (!dockerd) throw new Error('dockerd did not start');
  return dockerd;
};

/** A watcher with fast retries that records everything it emits. */
function watch(docker: Dockerode, log = silentLogger) {
  const w = new DockerWatcher({ docker, log, retryInitialMs: 50, retryMaxMs: 200 });
  watchers.push(w);
  const events: DockerEvent[] = [];
  const seen = { connected: 0, disconnected: 0 };
  w.on('event', (e) => events.push(e));
  w.on('connected', () => seen.connected++);
  w.on('disconnected', () => seen.disconnected++);
  return { w, events, seen, of: (id: string) => events.filter((e) => e.id === id) };
}

beforeAll(async () => {
  dockerd = await startDockerd();
  await ensureBusyboxImage(dockerd.docker);
});

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
  if (dockerd && !dockerd.running) await dockerd.start();
  if (dockerd) await removeAllTestContainers(dockerd.docker);
});

afterAll(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
  await dockerd?.cleanup();
});

describe('DockerWatcher events', () => {
  it('delivers start, health_status, pause/unpause, kill, die, stop and destroy with the container id and name', async () => {
    const { w, seen, of } = watch(d().docker);
    w.start();
    await waitFor(() => seen.connected === 1);
    expect(w.connected).toBe(true);

    const c = await runContainer(d().docker, {
      name: 'sk-events',
      cmd: ['sleep', '600'],
      labels: { app: 'web' },
      healthCmd: ['true'],
      healthIntervalMs: 100,
    });
    await waitFor(() => of(c.id).some((e) => e.kind === 'health_status'), 10_000);
    const health = of(c.id).find((e) => e.kind === 'health_status');
    expect(health).toMatchObject({ action: 'health_status: healthy', health: 'healthy', name: 'sk-events' });

    const container = d().docker.getContainer(c.id);
    await container.pause();
    await container.unpause();
    await container.stop();
    await removeContainer(d().docker, c.id);
    await waitFor(() => of(c.id).some((e) => e.kind === 'destroy'), 10_000);

    const kinds = of(c.id)
      .map((e) => e.kind)
      .filter((k) => k !== 'health_status');
    // Joining and leaving the host network come as network events naming the container.
    expect(kinds).toEqual(['connect', 'start', 'pause', 'unpause', 'kill', 'die', 'disconnect', 'stop', 'destroy']);
    const hostNetwork = (await d().docker.listNetworks({ filters: { name: ['host'] } }))[0]?.Id;
    expect(of(c.id)[0]).toMatchObject({ action: 'connect', kind: 'connect', id: c.id, attributes: { network: hostNetwork } });
    const start = of(c.id)[1] as DockerEvent;
    expect(start).toMatchObject({ action: 'start', kind: 'start', id: c.id, name: 'sk-events' });
    expect(start.attributes).toMatchObject({ app: 'web', 'sidekick-test': '1', image: 'sidekick-test/busybox:latest' });
    expect(Math.abs(start.time - Date.now())).toBeLessThan(60_000);
    const die = of(c.id).find((e) => e.kind === 'die');
    expect(die?.attributes.exitCode).toBe('143');
    expect(seen.connected).toBe(1);
    expect(seen.disconnected).toBe(0);
  });

  it('reports unhealthy transitions', async () => {
    const { w, seen, of } = watch(d().docker);
    w.start();
    await waitFor(() => seen.connected === 1);
    const c = await runContainer(d().docker, {
      cmd: ['sleep', '600'],
      healthCmd: ['sh', '-c', 'test ! -f /tmp/down'],
      healthIntervalMs: 100,
    });
    await waitFor(() => of(c.id).some((e) => e.health === 'healthy'), 10_000);
    await d().docker.getContainer(c.id).exec({ Cmd: ['touch', '/tmp/down'] }).then((x) => x.start({}));
    await waitFor(() => of(c.id).some((e) => e.health === 'unhealthy'), 10_000);
    expect(of(c.id).find((e) => e.health === 'unhealthy')?.action).toBe('health_status: unhealthy');
  });

  it('survives dockerd being killed and started again: disconnected, connected, then events from the new daemon', async () => {
    const { log, lines } = captureLogger();
    const { w, seen, of } = watch(d().docker, log);
    w.start();
    await waitFor(() => seen.connected === 1);

    await d().kill();
    await waitFor(() => seen.disconnected === 1);
    expect(w.connected).toBe(false);
    // Several failed attempts while it is down (50–200 ms backoff) ...
    await new Promise((r) => setTimeout(r, 1000));
    expect(seen.connected).toBe(1);
    await d().start();
    await waitFor(() => seen.connected === 2, 15_000);

    const c = await runContainer(d().docker, { cmd: ['sleep', '600'] });
    await waitFor(() => of(c.id).some((e) => e.kind === 'start'));
    // ... but one warning when lost and one info when back, not one per attempt.
    const warns = lines.filter((l) => l.level === 40);
    expect(warns.map((l) => l.msg)).toEqual(['docker event stream lost; reconnecting with backoff']);
    expect(lines.filter((l) => l.msg === 'docker reachable again; watching container events')).toHaveLength(1);
    expect(seen.disconnected).toBe(1);

    // A graceful restart (SIGTERM) too.
    await d().stop();
    await waitFor(() => seen.disconnected === 2);
    await d().start();
    await waitFor(() => seen.connected === 3, 15_000);
    const c2 = await runContainer(d().docker, { cmd: ['sleep', '600'] });
    await waitFor(() => of(c2.id).some((e) => e.kind === 'start'));
  });

  it('retries when started while dockerd is down, and connects once it comes up', async () => {
    await d().stop();
    const { log, lines } = captureLogger();
    const { w, seen, of } = watch(d().docker, log);
    w.start();
    await new Promise((r) => setTimeout(r, 800));
    expect(seen.connected).toBe(0);
    expect(w.connected).toBe(false);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['docker unreachable; retrying with backoff']);
    expect(seen.disconnected).toBe(0);

    await d().start();
    await waitFor(() => seen.connected === 1, 15_000);
    const c = await runContainer(d().docker, { cmd: ['sleep', '600'] });
    await waitFor(() => of(c.id).some((e) => e.kind === 'start'));
    expect(lines.filter((l) => l.msg === 'docker reachable again; watching container events')).toHaveLength(1);
  });

  it('close() stops reconnecting, even mid-backoff', async () => {
    const { w, seen } = watch(d().docker);
    w.start();
    await waitFor(() => seen.connected === 1);
    await d().kill();
    await waitFor(() => seen.disconnected === 1);
    const started = Date.now();
    await w.close();
    expect(Date.now() - started).toBeLessThan(1000);
    await d().start();
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.connected).toBe(1);
    expect(w.connected).toBe(false);
  });

  it('close() ends an open stream promptly', async () => {
    const { w, seen } = watch(d().docker);
    w.start();
    await waitFor(() => seen.connected === 1);
    const started = Date.now();
    await w.close();
    expect(Date.now() - started).toBeLessThan(500);
    expect(w.connected).toBe(false);
    expect(seen.disconnected).toBe(0);
  });
});

describe('DockerWatcher stream parsing (fake dockerd stream)', () => {
  const ev = (id: string, action: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ Type: 'container', Action: action, Actor: { ID: id, Attributes: { name: `n-${id}`, ...extra } },
      scope: 'local', time: 1_700_000_000, timeNano: 0 }).replace('"timeNano":0', '"timeNano":1700000000123456789');

  /** A Dockerode stand-in whose getEvents hands out PassThrough streams the test writes to. */
  function fakeDocker() {
    const streams: PassThrough[] = [];
    const requests: unknown[] = [];
    const docker = {
      getEvents: async (opts: unknown) => {
        requests.push(opts);
        const s = new PassThrough();
        streams.push(s);
        return s;
      },
    } as unknown as Dockerode;
    return { docker, streams, requests };
  }

  it('splits and joins lines across chunks, skips garbage and foreign events, survives a throwing listener', async () => {
    const { docker, streams, requests } = fakeDocker();
    const { log, lines } = captureLogger();
    const { w, events, seen } = watch(docker, log);
    let calls = 0;
    w.on('event', () => {
      calls++;
      if (calls === 2) throw new Error('listener bug');
    });
    w.start();
    await waitFor(() => seen.connected === 1);
    expect(requests[0]).toMatchObject({
      filters: { type: ['container', 'network'], event: ['start', 'die', 'stop', 'kill', 'destroy', 'pause', 'unpause', 'health_status', 'connect', 'disconnect'] },
    });
    const s = streams[0] as PassThrough;
    const one = ev('a1', 'start');
    const two = ev('b2', 'health_status: healthy', { label: 'héllo' });
    const three = ev('c3', 'die', { exitCode: '0' });
    const bytes = Buffer.from(`${one}\n${two}\n\n{not json}\n`);
    // Split inside the JSON of the first event and inside the two-byte "é".
    const cut = bytes.indexOf(Buffer.from('é')) + 1;
    s.write(bytes.subarray(0, 10));
    s.write(bytes.subarray(10, cut));
    s.write(bytes.subarray(cut));
    s.write(
      [
        JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'net1', Attributes: {} } }),
        JSON.stringify({ Type: 'network', Action: 'destroy', Actor: { ID: 'net2', Attributes: { name: 'back', type: 'bridge' } } }),
        JSON.stringify({ Type: 'network', Action: 'disconnect', Actor: { ID: 'net3', Attributes: { container: 'e5', name: 'back', type: 'bridge' } }, timeNano: 1_700_000_000_123_000_000 }),
        JSON.stringify({ status: 'start', id: 'old-style-only' }),
        ev('d4', 'exec_start: sh'),
        `${three}\n`,
      ].join('\n'),
    );
    await waitFor(() => events.length === 4);
    expect(events.map((e) => [e.id, e.action, e.kind])).toEqual([
      ['a1', 'start', 'start'],
      ['b2', 'health_status: healthy', 'health_status'],
      ['e5', 'disconnect', 'disconnect'],
      ['c3', 'die', 'die'],
    ]);
    expect(events[2]).toEqual({ action: 'disconnect', kind: 'disconnect', id: 'e5', attributes: { network: 'net3' }, time: 1_700_000_000_123 });
    expect(events[1]).toMatchObject({ health: 'healthy', name: 'n-b2', attributes: { label: 'héllo' } });
    expect(events[3]?.attributes.exitCode).toBe('0');
    expect(events[0]?.time).toBe(1_700_000_000_123);
    expect(lines.some((l) => l.msg === 'ignoring an unparsable docker event')).toBe(true);
    expect(lines.some((l) => l.msg === 'a docker watcher listener threw')).toBe(true);

    // The stream ending (dockerd restarting) → disconnected, a new request, connected again.
    s.end();
    await waitFor(() => seen.connected === 2);
    expect(seen.disconnected).toBe(1);
    expect(streams).toHaveLength(2);
    (streams[1] as PassThrough).write(`${ev('e5', 'stop')}\n`);
    await waitFor(() => events.some((e) => e.id === 'e5'));
    // A stream error counts the same.
    (streams[1] as PassThrough).destroy(new Error('ECONNRESET'));
    await waitFor(() => seen.connected === 3);
  });

  it('keeps retrying with backoff while getEvents fails', async () => {
    let attempts = 0;
    const docker = {
      getEvents: async () => {
        attempts++;
        throw Object.assign(new Error('connect ENOENT /x/docker.sock'), { code: 'ENOENT' });
      },
    } as unknown as Dockerode;
    const { log, lines } = captureLogger();
    const { w, seen } = watch(docker, log);
    w.start();
    await new Promise((r) => setTimeout(r, 700));
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(attempts).toBeLessThan(15);
    expect(seen.connected).toBe(0);
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
    expect(lines.find((l) => l.level === 40)?.err).toMatch(/ENOENT/);
  });

  it('parseEvent reads Action and Actor.ID only', () => {
    expect(parseEvent({ status: 'start', id: 'x', from: 'img' })).toBeUndefined();
    expect(parseEvent({ Action: 'start', Actor: { ID: '' } })).toBeUndefined();
    expect(parseEvent({ Action: 'attach', Actor: { ID: 'x' } })).toBeUndefined();
    expect(parseEvent(null)).toBeUndefined();
    expect(parseEvent({ Action: 'kill', Actor: { ID: 'x', Attributes: { signal: '15', name: '/web' } }, time: 5 })).toEqual({
      action: 'kill', kind: 'kill', id: 'x', name: 'web', attributes: { signal: '15', name: '/web' }, time: 5000,
    });
  });
});

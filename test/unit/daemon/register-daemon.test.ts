// RegisterDaemon's converge logic without Docker or etcd: a scripted container source, a recording registry and
// monitors the test flips by hand. The real parts are exercised in test/integration/cli-register.test.ts.
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEvent } from '../../../src/docker/events.js';
import type { MappingOptions, ServiceSpec } from '../../../src/docker/types.js';
import { RegisterDaemon, type ContainerInfo, type ContainerSource, type DrainTarget, type ServiceMonitor } from '../../../src/daemon/register-daemon.js';
import type { RecordWriter } from '../../../src/daemon/record-switch.js';
import type { ServiceRecord } from '../../../src/registry/record.js';
import { captureLogger } from '../../support/logs.js';
import { container, opts } from '../docker/fixtures.js';

type RunState = ContainerInfo['State'];
const RUNNING: RunState = { Running: true, Paused: false, Restarting: false, ExitCode: 0 };

/** Containers the test starts, pauses and kills; events are emitted as dockerd would. */
class FakeDocker extends EventEmitter implements ContainerSource {
  readonly containers = new Map<string, ContainerInfo>();
  listCalls = 0;
  inspectCalls = 0;
  /** When set, listRunning waits for it (a slow list during which events arrive). */
  listGate: Promise<void> | undefined;

  add(id: string, labels: Record<string, string>, state: Partial<RunState> = {}): void {
    const base = container({ id, name: `/${id}`, networkMode: 'host', labels, exposed: [] });
    this.containers.set(id, { ...base, State: { ...RUNNING, ...state } });
  }
  stopSignal(id: string, signal: string): void {
    const c = this.containers.get(id);
    if (c) this.containers.set(id, { ...c, Config: { ...c.Config, StopSignal: signal } });
  }
  setState(id: string, state: Partial<RunState>): void {
    const c = this.containers.get(id);
    if (c) this.containers.set(id, { ...c, State: { ...c.State, ...state } });
  }
  /** Emits what DockerWatcher would for this raw Docker event (through its own parser). */
  event(action: string, id: string, attributes: Record<string, string> = {}): void {
    const parsed = parseEvent({ Type: 'container', Action: action, Actor: { ID: id, Attributes: attributes } });
    if (!parsed) throw new Error(`not a watched container event: ${action}`);
    this.emit('event', parsed);
  }
  async listRunning(): Promise<ContainerInfo[]> {
    this.listCalls++;
    const listed = [...this.containers.values()].filter((c) => c.State.Running);
    await this.listGate;
    return listed;
  }
  async inspect(id: string): Promise<ContainerInfo | undefined> {
    this.inspectCalls++;
    return this.containers.get(id);
  }
}

/** Records the desired state the daemon asks for. */
class FakeRegistry implements RecordWriter {
  readonly records = new Map<string, ServiceRecord>();
  reconciles = 0;
  readonly state = 'synced';
  async flushed(): Promise<void> {}
  set(record: ServiceRecord): void {
    this.records.set(record.id, record);
  }
  remove(id: string): void {
    this.records.delete(id);
  }
  async reconcile(): Promise<void> {
    this.reconciles++;
  }
}

/** Monitors that do nothing until the test says healthy/unhealthy; `none` checks turn healthy at start. */
class FakeMonitors {
  readonly live = new Map<string, { spec: ServiceSpec; onChange: (h: boolean) => void; reports: string[]; stopped: boolean }>();
  readonly factory = (spec: ServiceSpec, onChange: (h: boolean) => void): ServiceMonitor => {
    const entry = { spec, onChange, reports: [] as string[], stopped: false };
    this.live.set(spec.record.id, entry);
    return {
      start: () => {
        if (spec.health.check.kind === 'none') onChange(true);
      },
      stop: () => {
        entry.stopped = true;
      },
      report: (status) => {
        entry.reports.push(status);
        if (status === 'healthy' || status === 'unhealthy') onChange(status === 'healthy');
      },
    };
  };
  flip(id: string, healthy: boolean): void {
    this.live.get(id)?.onChange(healthy);
  }
}

const daemons: RegisterDaemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.close()));
});

function setup(deregister: 'always' | 'on-success' = 'always', mapping: Partial<MappingOptions> = {}) {
  const docker = new FakeDocker();
  const registry = new FakeRegistry();
  const monitors = new FakeMonitors();
  const { log, lines } = captureLogger();
  const drains: DrainTarget[] = [];
  const daemon = new RegisterDaemon({ docker, registry, monitors: monitors.factory, mapping: opts({ hostIp: '127.0.0.1', node: 'h1', ...mapping }), resyncMs: 0, deregister, drain: async (t) => void drains.push(t), log });
  daemons.push(daemon);
  daemon.start();
  return { docker, registry, monitors, daemon, lines, drains };
}

const WEB = { SERVICE_8080_NAME: 'web' };
const ids = (r: FakeRegistry) => [...r.records.keys()].sort();

describe('RegisterDaemon', () => {
  it('registers running containers at connect, and only once their check passes', async () => {
    const { docker, registry, monitors, daemon } = setup();
    docker.add('a', WEB);
    docker.add('b', { SERVICE_8081_NAME: 'api', SERVICE_CHECK_TCP: 'true' });
    docker.add('c', WEB, { Running: false, ExitCode: 0 });
    docker.emit('connected');
    await daemon.idle();
    expect(ids(registry)).toEqual(['h1:a:8080']);
    monitors.flip('h1:b:8081', true);
    expect(ids(registry)).toEqual(['h1:a:8080', 'h1:b:8081']);
    monitors.flip('h1:b:8081', false);
    expect(ids(registry)).toEqual(['h1:a:8080']);
    expect(registry.reconciles).toBe(1);
  });

  it('removes a paused container and writes it again on unpause', async () => {
    const { docker, registry, daemon } = setup();
    docker.add('a', WEB);
    docker.event('start', 'a');
    await daemon.idle();
    docker.setState('a', { Paused: true });
    docker.event('pause', 'a');
    await daemon.idle();
    expect(ids(registry)).toEqual([]);
    docker.setState('a', { Paused: false });
    docker.event('unpause', 'a');
    await daemon.idle();
    expect(ids(registry)).toEqual(['h1:a:8080']);
  });

  it('trusts inspect over the event: a late `start` for a container that already died writes nothing', async () => {
    const { docker, registry, daemon } = setup();
    docker.add('a', WEB, { Running: false, ExitCode: 137 });
    docker.event('start', 'a');
    await daemon.idle();
    expect(ids(registry)).toEqual([]);
  });

  it('with --deregister on-success keeps the record of a container that failed, until it is removed', async () => {
    const { docker, registry, daemon, lines } = setup('on-success');
    docker.add('ok', WEB);
    docker.add('bad', { SERVICE_8081_NAME: 'web' });
    docker.emit('connected');
    await daemon.idle();
    docker.setState('ok', { Running: false, ExitCode: 0 });
    docker.setState('bad', { Running: false, ExitCode: 1 });
    docker.event('die', 'ok', { exitCode: '0' });
    docker.event('die', 'bad', { exitCode: '1' });
    await daemon.idle();
    expect(ids(registry)).toEqual(['h1:bad:8081']);
    // A resync does not undo it: the failed container still exists.
    await daemon.resync();
    expect(ids(registry)).toEqual(['h1:bad:8081']);
    expect(lines.filter((l) => l.msg?.includes('keeping its record'))).toHaveLength(1);
    docker.containers.delete('bad');
    docker.event('destroy', 'bad');
    await daemon.idle();
    expect(ids(registry)).toEqual([]);
  });

  it('with --deregister always removes a failed container at once', async () => {
    const { docker, registry, daemon } = setup('always');
    docker.add('bad', WEB);
    docker.emit('connected');
    await daemon.idle();
    docker.setState('bad', { Running: false, ExitCode: 1 });
    docker.event('die', 'bad', { exitCode: '1' });
    await daemon.idle();
    expect(ids(registry)).toEqual([]);
  });

  it('acts on die without an inspect, and ignores a kill with a reload signal', async () => {
    const { docker, registry, daemon } = setup();
    docker.add('a', WEB);
    docker.event('start', 'a');
    await daemon.idle();
    const inspects = docker.inspectCalls;
    for (const signal of ['1', '10', '28']) docker.event('kill', 'a', { signal });
    await daemon.idle();
    expect(ids(registry)).toEqual(['h1:a:8080']);
    docker.event('die', 'a', { exitCode: '143' });
    await daemon.idle();
    expect(ids(registry)).toEqual([]);
    expect(docker.inspectCalls).toBe(inspects);
  });

  it.each([
    ['15', 'kill SIGTERM'],
    ['9', 'kill SIGKILL'],
    ['2', 'kill SIGINT'],
    ['3', 'kill SIGQUIT'],
  ])('deregisters at once on a kill with signal %s, before the die, and a resync does not bring it back', async (signal, cause) => {
    const { docker, registry, daemon, lines } = setup('on-success');
    docker.add('a', WEB);
    docker.event('start', 'a');
    await daemon.idle();
    docker.event('kill', 'a', { signal });
    await daemon.idle();
    expect(ids(registry)).toEqual([]);
    expect(lines.find((l) => l.msg === 'deregistered')).toMatchObject({ cause });
    await daemon.resync();
    expect(ids(registry)).toEqual([]);
    docker.event('die', 'a', { exitCode: '143' });
    docker.event('start', 'a');
    await daemon.idle();
    expect(ids(registry)).toEqual(['h1:a:8080']);
  });

  it("deregisters on the container's own StopSignal and on a `stop` event", async () => {
    const { docker, registry, daemon } = setup();
    docker.add('a', WEB);
    docker.stopSignal('a', 'SIGUSR2');
    docker.add('b', { SERVICE_8081_NAME: 'api' });
    docker.event('start', 'a');
    docker.event('start', 'b');
    await daemon.idle();
    docker.event('kill', 'a', { signal: '12' });
    docker.event('stop', 'b');
    await daemon.idle();
    expect(ids(registry)).toEqual([]);
  });

  it('drains a SERVICE_DRAIN container on its StopSignal: records handed over, not removed, then the drain signal', async () => {
    const { docker, registry, monitors, daemon, drains } = setup();
    docker.add('a', { ...WEB, SERVICE_DRAIN: 'term' });
    docker.stopSignal('a', 'SIGWINCH');
    docker.event('start', 'a');
    await daemon.idle();
    docker.event('kill', 'a', { signal: '28' });
    await daemon.idle();
    expect(drains).toEqual([{ id: 'a', container: 'a', services: ['h1:a:8080'], signal: 'SIGTERM' }]);
    // The drain deregisters through the registry itself (to learn the deletion's revision).
    expect(ids(registry)).toEqual(['h1:a:8080']);
    expect(monitors.live.get('h1:a:8080')?.stopped).toBe(true);
    await daemon.resync();
    expect(drains).toHaveLength(1);
  });

  it('warns once about an unusable SERVICE_DRAIN, naming the container and label, and stops that container without a drain', async () => {
    const { docker, registry, daemon, drains, lines } = setup();
    docker.add('bad', { ...WEB, SERVICE_DRAIN: 'SIGNOPE' });
    docker.stopSignal('bad', 'SIGWINCH');
    docker.add('early', { SERVICE_8081_NAME: 'api', SERVICE_DRAIN: 'SIGTERM' });
    for (let i = 0; i < 3; i++) {
      docker.emit('connected');
      await daemon.idle();
    }
    expect(ids(registry)).toEqual(['h1:bad:8080', 'h1:early:8081']);
    const warnings = lines.filter((l) => l.label === 'SERVICE_DRAIN');
    expect(warnings).toHaveLength(2);
    expect(warnings.find((w) => w.container === 'bad')?.msg).toMatch(/"SIGNOPE" is not a signal/);
    expect(warnings.find((w) => w.container === 'early')?.msg).toMatch(/StopSignal is SIGTERM/);
    docker.event('kill', 'bad', { signal: '28' });
    docker.event('kill', 'early', { signal: '15' });
    await daemon.idle();
    expect(drains).toEqual([]);
    expect(ids(registry)).toEqual([]);
  });

  it('maintenance: holds a service or a whole container out while its checks pass, and lets it back on release', async () => {
    const { docker, registry, monitors, daemon } = setup();
    docker.add('a', { SERVICE_8080_NAME: 'web', SERVICE_8081_NAME: 'api' });
    docker.add('b', WEB);
    docker.emit('connected');
    await daemon.idle();
    expect(ids(registry)).toEqual(['h1:a:8080', 'h1:a:8081', 'h1:b:8080']);
    // The daemon hands the records over (the caller deregisters them to learn the revision).
    expect(daemon.hold('docker:a')).toEqual(['h1:a:8080', 'h1:a:8081']);
    expect(daemon.hold('h1:b:8080')).toEqual(['h1:b:8080']);
    expect(daemon.hold('h1:elsewhere:80')).toBeUndefined();
    for (const id of ['h1:a:8080', 'h1:a:8081', 'h1:b:8080']) registry.remove(id);
    monitors.flip('h1:a:8080', false);
    monitors.flip('h1:a:8080', true);
    expect(ids(registry)).toEqual([]);
    // A service that appears while its container is held starts held.
    docker.add('a', { SERVICE_8080_NAME: 'web', SERVICE_8081_NAME: 'api', SERVICE_8082_NAME: 'extra' });
    docker.event('start', 'a');
    await daemon.idle();
    expect(ids(registry)).toEqual([]);
    daemon.release('docker:a');
    expect(ids(registry)).toEqual(['h1:a:8080', 'h1:a:8081', 'h1:a:8082']);
    daemon.release('h1:b:8080');
    expect(ids(registry)).toEqual(['h1:a:8080', 'h1:a:8081', 'h1:a:8082', 'h1:b:8080']);
  });

  it('a resync does not bring back a container that died while it was listing', async () => {
    const { docker, registry, monitors, daemon } = setup();
    docker.add('a', WEB);
    docker.event('start', 'a');
    await daemon.idle();
    let release = (): void => undefined;
    docker.listGate = new Promise((r) => (release = r));
    const resync = daemon.resync();
    await new Promise((r) => setTimeout(r, 0)); // the list has been taken: 'a' is in it as running
    docker.setState('a', { Running: false, ExitCode: 137 });
    docker.event('die', 'a', { exitCode: '137' });
    release();
    await resync;
    await daemon.idle();
    expect(ids(registry)).toEqual([]);
    expect([...monitors.live.values()].filter((m) => !m.stopped)).toEqual([]);
  });

  it('resync drops containers whose events were missed (dockerd restarted) and adds new ones', async () => {
    const { docker, registry, daemon } = setup();
    docker.add('old', WEB);
    docker.emit('connected');
    await daemon.idle();
    docker.containers.delete('old');
    docker.add('new', { SERVICE_9090_NAME: 'web' });
    docker.emit('connected');
    await daemon.idle();
    expect(ids(registry)).toEqual(['h1:new:9090']);
  });

  it('feeds health_status events to Docker-HEALTHCHECK monitors, and uses the inspected status at start', async () => {
    const { docker, registry, monitors, daemon } = setup();
    docker.add('hc', WEB);
    const c = docker.containers.get('hc') as ContainerInfo;
    docker.containers.set('hc', { ...c, Config: { ...c.Config, Healthcheck: { Test: ['CMD', 'true'] } }, State: { ...c.State, Health: { Status: 'healthy' } } });
    docker.event('start', 'hc');
    await daemon.idle();
    expect(ids(registry)).toEqual(['h1:hc:8080']);
    docker.event('health_status: unhealthy', 'hc');
    expect(ids(registry)).toEqual([]);
    expect(monitors.live.get('h1:hc:8080')?.reports).toEqual(['healthy', 'unhealthy']);
  });

  it('logs a malformed label once per container however often it is seen', async () => {
    const { docker, daemon, lines } = setup();
    docker.add('bad', { SERVICE_8080_NAME: 'web', SERVICE_CHECK_INTERVAL: 'soon' });
    for (let i = 0; i < 3; i++) {
      docker.emit('connected');
      await daemon.idle();
    }
    const warnings = lines.filter((l) => l.msg?.startsWith('skipping service'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ container: 'bad', label: 'SERVICE_CHECK_INTERVAL' });
  });

  it('forgets the warnings of removed containers: what it remembers does not grow with container churn', async () => {
    const { docker, daemon, lines } = setup();
    for (let i = 0; i < 50; i++) {
      const id = `bad${i}`;
      docker.add(id, { SERVICE_8080_NAME: 'web', SERVICE_CHECK_INTERVAL: 'soon' });
      docker.event('start', id);
      await daemon.idle();
      expect(daemon.warnedContainers).toBe(1);
      docker.containers.delete(id);
      docker.event('destroy', id);
      await daemon.idle();
      expect(daemon.warnedContainers).toBe(0);
    }
    expect(lines.filter((l) => l.msg?.startsWith('skipping service'))).toHaveLength(50);
    // Removed while no event came through (Docker unreachable): the next resync forgets them.
    for (let i = 0; i < 20; i++) docker.add(`quiet${i}`, { SERVICE_8080_NAME: 'web', SERVICE_CHECK_INTERVAL: 'soon' });
    docker.emit('connected');
    await daemon.idle();
    expect(daemon.warnedContainers).toBe(20);
    docker.containers.clear();
    docker.emit('connected');
    await daemon.idle();
    expect(daemon.warnedContainers).toBe(0);
  });

  it('remembers the warnings of a running container across resyncs, and of an exited one until a resync', async () => {
    const { docker, daemon, lines } = setup();
    docker.add('bad', { SERVICE_8080_NAME: 'web', SERVICE_CHECK_INTERVAL: 'soon' });
    docker.event('start', 'bad');
    await daemon.idle();
    docker.emit('connected');
    await daemon.idle();
    expect(daemon.warnedContainers).toBe(1);
    docker.setState('bad', { Running: false, ExitCode: 1 });
    docker.event('die', 'bad', { exitCode: '1' });
    await daemon.idle();
    expect(daemon.warnedContainers).toBe(1);
    docker.emit('connected');
    await daemon.idle();
    expect(daemon.warnedContainers).toBe(0);
    expect(lines.filter((l) => l.msg?.startsWith('skipping service'))).toHaveLength(1);
  });

  it.each([
    [false, 0],
    [true, 1],
  ])('a network connect/disconnect re-inspects the container only with --internal (%s)', async (internal, inspects) => {
    const { docker, daemon } = setup('always', { internal });
    docker.add('a', WEB);
    for (const action of ['connect', 'disconnect']) {
      const before = docker.inspectCalls;
      const parsed = parseEvent({ Type: 'network', Action: action, Actor: { ID: 'net1', Attributes: { container: 'a', name: 'back' } } });
      expect(parsed?.kind).toBe(action);
      docker.emit('event', parsed);
      await daemon.idle();
      expect(docker.inspectCalls - before).toBe(inspects);
    }
  });

  it('logs a label that had no effect once, without "skipping", and registers the service', async () => {
    const { docker, registry, daemon, lines } = setup();
    docker.add('net', { SERVICE_8080_NAME: 'web', SERVICE_NETWORK: 'backend' });
    for (let i = 0; i < 3; i++) {
      docker.emit('connected');
      await daemon.idle();
    }
    expect(ids(registry)).toEqual(['h1:net:8080']);
    const warnings = lines.filter((l) => l.label === 'SERVICE_NETWORK');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ container: 'net', msg: expect.stringMatching(/^SERVICE_NETWORK: ignored: /) as unknown });
  });

  it('stops every monitor on close and ignores events after it', async () => {
    const { docker, registry, monitors, daemon } = setup();
    docker.add('a', WEB);
    docker.event('start', 'a');
    await daemon.idle();
    await daemon.close();
    expect([...monitors.live.values()].every((m) => m.stopped)).toBe(true);
    docker.add('b', { SERVICE_8081_NAME: 'web' });
    docker.event('start', 'b');
    await daemon.idle();
    expect(ids(registry)).toEqual(['h1:a:8080']);
  });
});

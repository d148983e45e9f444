// /healthz aggregation: named checks folded into one verdict, texts redacted, and each daemon's components.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { ApplyOutcome } from '../../../src/apply/apply.js';
import { dockerCheck, registryCheck, RenderStatus, type RenderSetup, type RenderView } from '../../../src/http/daemon-health.js';
import { Health, MAX_DETAIL, redact } from '../../../src/http/health.js';
import { createMetricsRegistry } from '../../../src/http/metrics.js';
import type { RegistryState } from '../../../src/registry/registry.js';
import type { SourceState } from '../../../src/store/types.js';

describe('Health', () => {
  it('is ok with no checks, and while every check is ok', () => {
    const health = new Health();
    expect(health.report()).toEqual({ status: 'ok', checks: {} });
    health.add('a', () => ({ ok: true, detail: 'fine' })).add('b', () => ({ ok: true, detail: 'also fine' }));
    expect(health.report()).toEqual({ status: 'ok', checks: { a: { ok: true, detail: 'fine' }, b: { ok: true, detail: 'also fine' } } });
  });

  it('fails when one check fails, showing every check and the reasons', () => {
    const health = new Health()
      .add('store', () => ({ ok: true, detail: 'etcd: synced' }))
      .add('apply', () => ({ ok: false, detail: '1 of 2 resources failing', failing: { 'nginx.toml': 'failed: check exited 1' } }));
    const report = health.report();
    expect(report.status).toBe('failing');
    expect(report.checks.store).toEqual({ ok: true, detail: 'etcd: synced' });
    expect(report.checks.apply).toEqual({ ok: false, detail: '1 of 2 resources failing', failing: { 'nginx.toml': 'failed: check exited 1' } });
  });

  it('evaluates checks at each report (live state), and a check that throws is failing', () => {
    let up = false;
    const health = new Health().add('x', () => ({ ok: up, detail: up ? 'up' : 'down' }));
    expect(health.report().status).toBe('failing');
    up = true;
    expect(health.report().status).toBe('ok');
    health.add('boom', () => {
      throw new Error('kaput');
    });
    expect(health.report()).toMatchObject({ status: 'failing', checks: { boom: { ok: false, detail: 'check failed: kaput' } } });
    health.remove('boom');
    expect(health.report().status).toBe('ok');
  });

  it('never shows secrets: URL credentials and registered secret values are masked', () => {
    const health = new Health(['s3cr3t-pw']);
    health.add('store', () => ({
      ok: false,
      detail: 'connecting: cannot reach http://root:s3cr3t-pw@10.0.0.1:2379 (auth s3cr3t-pw)',
      failing: { 'x.toml': 'failed: https://u:p@host/x' },
    }));
    health.addSecret('later-pw');
    health.add('other', () => ({ ok: true, detail: 'later-pw and more' }));
    const text = JSON.stringify(health.report());
    expect(text).not.toContain('s3cr3t-pw');
    expect(text).not.toContain('later-pw');
    expect(text).not.toContain('u:p@');
    expect(text).toContain('http://***@10.0.0.1:2379');
  });

  it('cuts long details', () => {
    expect(redact('x'.repeat(5000)).length).toBe(MAX_DETAIL);
    expect(redact('short')).toBe('short');
  });
});

describe('registryCheck', () => {
  const fake = (state: RegistryState, lease: string | undefined, records = 1) =>
    Object.assign(new EventEmitter(), {
      state,
      leaseId: () => lease,
      size: records,
    });

  it('is ok while a lease is held and etcd matches (or is being written)', () => {
    expect(registryCheck(fake('synced', '7'), 15)()).toEqual({ ok: true, detail: 'lease held; 1 record written' });
    expect(registryCheck(fake('syncing', '7'), 15)()).toMatchObject({ ok: true });
  });

  it('fails without a lease, while writes fail, and once closed', () => {
    expect(registryCheck(fake('connecting', undefined), 15)()).toMatchObject({ ok: false, detail: expect.stringMatching(/no lease/) });
    expect(registryCheck(fake('failing', '7'), 15)()).toMatchObject({ ok: false, detail: expect.stringMatching(/writes are failing/) });
    expect(registryCheck(fake('closed', undefined), 15)()).toMatchObject({ ok: false });
  });

  it('fails once a keepalive is missed (no renewal for TTL × 2/3 + 1 s), before etcd3 gives the lease up', () => {
    let now = 0;
    const reg = fake('synced', '7');
    const check = registryCheck(reg, 15, () => now);
    now = 10_900;
    expect(check().ok).toBe(true);
    reg.emit('lease-renewed', { leaseId: '7' });
    now = 21_000;
    expect(check().ok).toBe(true);
    now = 22_000;
    expect(check()).toEqual({ ok: false, detail: 'lease held, but not renewed for 11 s (etcd unreachable?); records expire 15 s after the last renewal' });
    reg.emit('lease-granted', { leaseId: '8', previous: '7' });
    expect(check().ok).toBe(true);
  });
});

describe('dockerCheck', () => {
  it('follows the event stream and says why it was lost', () => {
    const watcher = Object.assign(new EventEmitter(), { connected: false });
    const check = dockerCheck(watcher);
    expect(check()).toEqual({ ok: false, detail: 'connecting to Docker' });
    watcher.connected = true;
    expect(check()).toEqual({ ok: true, detail: 'event stream open' });
    watcher.connected = false;
    watcher.emit('disconnected', { error: 'socket hang up' });
    expect(check()).toEqual({ ok: false, detail: 'disconnected: socket hang up; reconnecting' });
  });
});

describe('RenderStatus (render daemon checks)', () => {
  const setup = (problems: string[] = []): RenderSetup => ({ backend: { kind: 'etcd', password: 'pw-123' }, resources: [{ name: 'a.toml' }, { name: 'b.toml' }], problems });
  const view = (state: SourceState, outcomes: ApplyOutcome[]): RenderView => ({
    source: { state },
    outcomes: new Map(outcomes.map((o) => [o.resource, o])),
  });
  const make = (s = setup()) => {
    const health = new Health();
    const status = new RenderStatus(health, createMetricsRegistry(), s);
    return { health, status };
  };

  it('is failing before the first daemon runs, saying why it is still connecting', () => {
    const { health, status } = make();
    status.startFailed(new Error('cannot read etcd: connect ECONNREFUSED 127.0.0.1:2379 (password pw-123)'));
    const report = health.report();
    expect(report.status).toBe('failing');
    expect(report.checks.store).toEqual({ ok: false, detail: 'etcd: connecting: cannot read etcd: connect ECONNREFUSED 127.0.0.1:2379 (password ***)' });
    expect(report.checks.apply).toEqual({ ok: false, detail: 'nothing applied yet' });
    expect(report.checks.config).toEqual({ ok: true, detail: 'every resource loaded' });
  });

  it('is ok when the store is synced and every resource applied (or was unchanged)', () => {
    const { health, status } = make();
    status.use(view('synced', [{ resource: 'a.toml', status: 'applied' }, { resource: 'b.toml', status: 'unchanged' }]));
    expect(health.report()).toEqual({
      status: 'ok',
      checks: {
        store: { ok: true, detail: 'etcd: synced' },
        apply: { ok: true, detail: '2 resources: last apply ok' },
        config: { ok: true, detail: 'every resource loaded' },
      },
    });
  });

  it('names each failing resource with its error; a resource never rendered is failing too', () => {
    const { health, status } = make();
    status.use(view('synced', [{ resource: 'a.toml', status: 'failed', error: new Error('a.toml: check: exit 1: emerg') }]));
    expect(health.report().checks.apply).toEqual({
      ok: false,
      detail: '2 of 2 resources failing',
      failing: { 'a.toml': 'failed: a.toml: check: exit 1: emerg', 'b.toml': 'not rendered yet' },
    });
  });

  it('reports a stale store with the reason the daemon was told', () => {
    const { health, status } = make();
    const daemon = { source: { state: 'synced' as SourceState }, outcomes: new Map<string, ApplyOutcome>() };
    status.use(daemon);
    daemon.source.state = 'stale';
    status.sourceState('stale', new Error('etcd watch lost: UNAVAILABLE'));
    expect(health.report().checks.store).toEqual({ ok: false, detail: 'etcd: stale (was synced, now cut off; keeping the last good files): etcd watch lost: UNAVAILABLE' });
    daemon.source.state = 'synced';
    status.sourceState('synced');
    expect(health.report().checks.store).toEqual({ ok: true, detail: 'etcd: synced' });
  });

  it('fails the config check while resources are skipped', () => {
    const { health } = make(setup(['conf.d/x.toml:5: unknown field "chek_cmd"']));
    expect(health.report().checks.config).toEqual({
      ok: false,
      detail: '1 problem in the configuration; those resources are skipped',
      failing: { '1': 'conf.d/x.toml:5: unknown field "chek_cmd"' },
    });
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FIRST_ATTEMPT_SPREAD_MS,
  HealthMonitor,
  STARTUP_RETRY_MS,
  slotMs,
  type HealthChange,
  type HealthMonitorOptions,
} from '../../../src/health/monitor.js';
import { SlotTimers } from '../../../src/health/slots.js';
import type { CheckResult, Checker, CheckSpec, HealthSettings } from '../../../src/health/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { captureLogger } from '../../support/logs.js';

const PASS: CheckResult = { ok: true, detail: 'HTTP 200' };
const FAIL: CheckResult = { ok: false, detail: 'HTTP 503' };

/** A checker answering from a script ('P' pass, 'F' fail; the last entry repeats), recording each call. */
function scripted(script: string, durationMs = 0): Checker & { calls: number[]; signals: AbortSignal[] } {
  const calls: number[] = [];
  const signals: AbortSignal[] = [];
  const fn = (signal: AbortSignal): Promise<CheckResult> => {
    const step = script[Math.min(calls.length, script.length - 1)];
    calls.push(Date.now());
    signals.push(signal);
    const result = step === 'P' ? PASS : FAIL;
    if (durationMs === 0) return Promise.resolve(result);
    return new Promise((resolve) => setTimeout(() => resolve(result), durationMs));
  };
  return Object.assign(fn, { calls, signals });
}

function settings(extra: Partial<HealthSettings> = {}, check: CheckSpec = { kind: 'tcp' }): HealthSettings {
  return { check, intervalMs: 10_000, timeoutMs: 2_000, rise: 1, fall: 2, ...extra };
}

/** A monitor with jitter 0.5 (first attempt at 50 ms, intervals exact) that records its changes. */
function monitor(opts: Partial<HealthMonitorOptions> & { settings: HealthSettings }): {
  m: HealthMonitor;
  changes: HealthChange[];
} {
  const changes: HealthChange[] = [];
  const m = new HealthMonitor({
    log: silentLogger,
    name: 'web-1',
    jitter: () => 0.5,
    onChange: (c) => changes.push(c),
    ...opts,
  });
  return { m, changes };
}

const states = (changes: HealthChange[]): string[] => changes.map((c) => c.state);

/** Advances the fake clock to `t` ms. Steady-state attempts land on the 500 ms grid: 50, then 10_500, 20_500, ... */
const until = (t: number): Promise<unknown> => vi.advanceTimersByTimeAsync(t - Date.now());

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('first attempt', () => {
  it('runs at once with jitter 0', async () => {
    const checker = scripted('P');
    const { m, changes } = monitor({ settings: settings(), checker, jitter: () => 0 });
    m.start();
    expect(checker.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(checker.calls).toEqual([0]);
    expect(states(changes)).toEqual(['healthy']);
    m.stop();
  });

  it('is spread over at most FIRST_ATTEMPT_SPREAD_MS', async () => {
    const checker = scripted('P');
    const { m } = monitor({ settings: settings(), checker, jitter: () => 0.99 });
    m.start();
    await vi.advanceTimersByTimeAsync(FIRST_ATTEMPT_SPREAD_MS * 0.99 - 1);
    expect(checker.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(checker.calls).toHaveLength(1);
    m.stop();
  });

  it('is spread over 10 % of a short interval', async () => {
    const checker = scripted('P');
    const { m } = monitor({ settings: settings({ intervalMs: 200 }), checker, jitter: () => 0.99 });
    m.start();
    await vi.advanceTimersByTimeAsync(18);
    expect(checker.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(checker.calls).toHaveLength(1);
    m.stop();
  });

  it('start() twice, or after stop(), starts nothing more', async () => {
    const checker = scripted('P');
    const { m } = monitor({ settings: settings(), checker });
    m.start();
    m.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(checker.calls).toHaveLength(1);
    m.stop();
    m.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(checker.calls).toHaveLength(1);
  });
});

describe('rise', () => {
  it('rise 1: the first pass makes it healthy, once', async () => {
    const { m, changes } = monitor({ settings: settings(), checker: scripted('P') });
    expect(m.state).toBe('unknown');
    m.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(changes).toEqual([{ name: 'web-1', state: 'healthy', previous: 'unknown', result: PASS }]);
    expect(m.state).toBe('healthy');
    expect(m.lastResult).toEqual(PASS);
    m.stop();
  });

  it('rise 3: three passes in a row, not two', async () => {
    const checker = scripted('PPFPPP');
    const { m, changes } = monitor({ settings: settings({ rise: 3 }), checker });
    m.start();
    await vi.advanceTimersByTimeAsync(50 + 4 * STARTUP_RETRY_MS);
    expect(checker.calls).toHaveLength(5);
    expect(changes).toEqual([]);
    expect(m.state).toBe('unknown');
    await vi.advanceTimersByTimeAsync(STARTUP_RETRY_MS);
    expect(checker.calls).toHaveLength(6);
    expect(states(changes)).toEqual(['healthy']);
    m.stop();
  });

  it('rise passes during startup come every second', async () => {
    const checker = scripted('FPFPP');
    const { m, changes } = monitor({ settings: settings({ rise: 2 }), checker });
    m.start();
    await vi.advanceTimersByTimeAsync(50 + 4 * STARTUP_RETRY_MS);
    expect(checker.calls).toEqual([50, 1050, 2050, 3050, 4050]);
    expect(states(changes)).toEqual(['healthy']);
    m.stop();
  });

  it('an unhealthy service needs rise passes to come back', async () => {
    const checker = scripted('PPFFFPP');
    const { m, changes } = monitor({ settings: settings({ rise: 2 }), checker });
    m.start();
    await until(50 + STARTUP_RETRY_MS);
    expect(states(changes)).toEqual(['healthy']);
    await until(21_500);
    expect(states(changes)).toEqual(['healthy', 'unhealthy']);
    await until(41_500);
    expect(checker.calls).toHaveLength(6);
    expect(states(changes)).toEqual(['healthy', 'unhealthy']);
    await until(51_500);
    // 1050 + 10_000 rounded up to the 500 ms grid, then exact intervals on it.
    expect(checker.calls).toEqual([50, 1050, 11_500, 21_500, 31_500, 41_500, 51_500]);
    expect(states(changes)).toEqual(['healthy', 'unhealthy', 'healthy']);
    m.stop();
  });
});

describe('fall', () => {
  it('fall 2: one failure does not flip, two do, more change nothing', async () => {
    const checker = scripted('PFFFF');
    const { m, changes } = monitor({ settings: settings(), checker });
    m.start();
    await until(50);
    expect(states(changes)).toEqual(['healthy']);
    await until(10_500);
    expect(checker.calls).toHaveLength(2);
    expect(states(changes)).toEqual(['healthy']);
    expect(m.lastResult).toEqual(FAIL);
    await until(20_500);
    expect(states(changes)).toEqual(['healthy', 'unhealthy']);
    expect(changes[1]).toEqual({ name: 'web-1', state: 'unhealthy', previous: 'healthy', result: FAIL });
    expect(m.state).toBe('unhealthy');
    await until(50_500);
    expect(checker.calls).toHaveLength(6);
    expect(states(changes)).toEqual(['healthy', 'unhealthy']);
    m.stop();
  });

  it('flapping P/F never reaches fall 2', async () => {
    const checker = scripted('PFPFPFPFP');
    const { m, changes } = monitor({ settings: settings(), checker });
    m.start();
    await until(80_500);
    expect(checker.calls).toHaveLength(9);
    expect(states(changes)).toEqual(['healthy']);
    m.stop();
  });

  it('flapping P/F never reaches rise 2', async () => {
    const checker = scripted('PFPFPFPF');
    const { m, changes } = monitor({ settings: settings({ rise: 2 }), checker });
    m.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(changes.filter((c) => c.state === 'healthy')).toEqual([]);
    m.stop();
  });

  it('fall 1 flips on the first failure', async () => {
    const { m, changes } = monitor({ settings: settings({ fall: 1 }), checker: scripted('PF') });
    m.start();
    await until(10_500);
    expect(states(changes)).toEqual(['healthy', 'unhealthy']);
    m.stop();
  });
});

describe('startup', () => {
  it('retries every second until the first pass, then uses the interval', async () => {
    const checker = scripted('FFPP');
    const { m, changes } = monitor({ settings: settings(), checker });
    m.start();
    await vi.advanceTimersByTimeAsync(50 + 2 * STARTUP_RETRY_MS);
    expect(checker.calls).toEqual([50, 1050, 2050]);
    expect(states(changes)).toEqual(['healthy']);
    await until(12_500);
    expect(checker.calls).toEqual([50, 1050, 2050, 12_500]);
    m.stop();
  });

  it('a service that never passes is reported unhealthy once, after its first interval', async () => {
    const { log, lines } = captureLogger();
    const checker = scripted('F');
    const { m, changes } = monitor({ settings: settings(), checker, log });
    m.start();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(changes).toEqual([]);
    expect(m.state).toBe('unknown');
    await vi.advanceTimersByTimeAsync(100);
    expect(changes).toEqual([{ name: 'web-1', state: 'unhealthy', previous: 'unknown', result: FAIL }]);
    const fastAttempts = checker.calls.length;
    expect(fastAttempts).toBe(11);
    await until(70_500);
    expect(checker.calls.slice(fastAttempts)).toEqual([20_500, 30_500, 40_500, 50_500, 60_500, 70_500]);
    expect(changes).toHaveLength(1);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: 'health check failing', service: 'web-1', detail: 'HTTP 503' });
    m.stop();
  });

  it('uses the interval itself when it is shorter than a second', async () => {
    const checker = scripted('F');
    const { m } = monitor({ settings: settings({ intervalMs: 400, timeoutMs: 100 }), checker });
    m.start();
    await vi.advanceTimersByTimeAsync(20 + 3 * 400);
    expect(checker.calls).toEqual([20, 420, 820, 1220]);
    m.stop();
  });
});

describe('schedule', () => {
  it('spreads later attempts over interval ± 10 %', async () => {
    let j = 0;
    const checker = scripted('P');
    const { m } = monitor({ settings: settings(), checker, jitter: () => j });
    m.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(checker.calls).toEqual([0]);
    // The delay is drawn when an attempt ends: 9 s after the first, ~11 s after the second (19_998, rounded up
    // to the 500 ms grid).
    j = 0.999;
    await until(9_000);
    expect(checker.calls).toEqual([0, 9_000]);
    await until(19_999);
    expect(checker.calls).toHaveLength(2);
    await until(20_000);
    expect(checker.calls).toEqual([0, 9_000, 20_000]);
    m.stop();
  });

  it('measures the interval start to start', async () => {
    const checker = scripted('P', 3_000);
    const { m } = monitor({ settings: settings({ timeoutMs: 5_000 }), checker });
    m.start();
    await until(20_500);
    expect(checker.calls).toEqual([50, 10_500, 20_500]);
    m.stop();
  });

  it('never overlaps attempts when a check outlasts the interval', async () => {
    let running = 0;
    let most = 0;
    const calls: number[] = [];
    const slow: Checker = async () => {
      calls.push(Date.now());
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 15_000));
      running--;
      return PASS;
    };
    const { m } = monitor({ settings: settings({ timeoutMs: 20_000 }), checker: slow });
    m.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(most).toBe(1);
    expect(calls).toHaveLength(4);
    // Each attempt starts as soon as the previous one ends (a zero-delay timer: ≤ 1 ms later).
    for (let i = 1; i < calls.length; i++) {
      const gap = (calls[i] as number) - (calls[i - 1] as number);
      expect(gap).toBeGreaterThanOrEqual(15_000);
      expect(gap).toBeLessThanOrEqual(15_001);
    }
    m.stop();
  });
});

describe('shared slots', () => {
  it('slot sizes: 5 % of the interval, at most 500 ms', () => {
    expect([10_000, 60_000, 2_000, 400, 10].map(slotMs)).toEqual([500, 500, 100, 20, 1]);
  });

  it('runs the steady attempts of monitors started apart from one timer', async () => {
    const a = scripted('P');
    const b = scripted('P');
    const slots = new SlotTimers();
    const ma = monitor({ settings: settings(), checker: a, slots }).m;
    const mb = monitor({ settings: settings(), checker: b, slots }).m;
    ma.start();
    await until(300);
    mb.start();
    await until(1_000);
    expect([a.calls, b.calls]).toEqual([[50], [350]]);
    // 10_050 and 10_350 share the slot ending at 10_500.
    expect(vi.getTimerCount()).toBe(1);
    await until(10_500);
    expect([a.calls, b.calls]).toEqual([[50, 10_500], [350, 10_500]]);
    expect(vi.getTimerCount()).toBe(1);
    ma.stop();
    expect(vi.getTimerCount()).toBe(1);
    await until(20_500);
    expect([a.calls, b.calls]).toEqual([[50, 10_500], [350, 10_500, 20_500]]);
    mb.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves exec checks on exact timers, so their processes are not bunched', async () => {
    const checker = scripted('P');
    const { m } = monitor({ settings: settings({}, { kind: 'exec', where: 'container', argv: ['true'] }), checker });
    m.start();
    await until(20_050);
    expect(checker.calls).toEqual([50, 10_050, 20_050]);
    m.stop();
  });

  it('SlotTimers: cancel removes one callback, the same function twice runs twice', async () => {
    const slots = new SlotTimers();
    const ran: string[] = [];
    const f = (): number => ran.push('f');
    slots.schedule(120, 100, f);
    slots.schedule(180, 100, f);
    const cancel = slots.schedule(150, 100, () => ran.push('g'));
    slots.schedule(250, 100, () => ran.push('h'));
    cancel();
    expect(vi.getTimerCount()).toBe(2);
    await until(199);
    expect(ran).toEqual([]);
    await until(200);
    expect(ran).toEqual(['f', 'f']);
    await until(300);
    expect(ran).toEqual(['f', 'f', 'h']);
  });
});

describe('timeout', () => {
  it('aborts a hung checker at timeoutMs and counts a failure', async () => {
    const signals: AbortSignal[] = [];
    let calls = 0;
    const hung: Checker = (signal) => {
      calls++;
      if (calls === 1) return Promise.resolve(PASS);
      signals.push(signal);
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve({ ok: false, detail: 'timeout' })));
    };
    const { m, changes } = monitor({ settings: settings(), checker: hung });
    m.start();
    await until(10_500 + 1_999);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(false);
    await until(10_500 + 2_000);
    expect(signals[0]?.aborted).toBe(true);
    expect(m.lastResult).toEqual({ ok: false, detail: 'timeout after 2000 ms' });
    expect(states(changes)).toEqual(['healthy']);
    await until(20_500 + 2_000);
    expect(states(changes)).toEqual(['healthy', 'unhealthy']);
    expect(changes[1]?.result.detail).toBe('timeout after 2000 ms');
    m.stop();
  });

  it('moves on even when a checker ignores its signal', async () => {
    let calls = 0;
    const deaf: Checker = () => {
      calls++;
      return calls === 1 ? Promise.resolve(PASS) : new Promise<CheckResult>(() => undefined);
    };
    const { m, changes } = monitor({ settings: settings(), checker: deaf });
    m.start();
    await until(20_500 + 2_000);
    expect(calls).toBe(3);
    expect(states(changes)).toEqual(['healthy', 'unhealthy']);
    m.stop();
  });

  it('a checker that throws counts as a failure', async () => {
    let calls = 0;
    const bad: Checker = () => {
      calls++;
      if (calls === 1) return Promise.resolve(PASS);
      throw new Error('boom');
    };
    const { m, changes } = monitor({ settings: settings({ fall: 1 }), checker: bad });
    m.start();
    await until(10_500);
    expect(states(changes)).toEqual(['healthy', 'unhealthy']);
    expect(m.lastResult).toEqual({ ok: false, detail: 'check threw: boom' });
    m.stop();
  });
});

describe('stop', () => {
  it('aborts the attempt in flight and reports nothing afterwards', async () => {
    const checker = scripted('PF', 1_000);
    const { m, changes } = monitor({ settings: settings({ fall: 1 }), checker });
    m.start();
    await until(50 + 1_000);
    expect(states(changes)).toEqual(['healthy']);
    await until(11_000);
    expect(checker.calls).toEqual([50, 10_500]);
    m.stop();
    expect(checker.signals[1]?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(checker.calls).toHaveLength(2);
    expect(states(changes)).toEqual(['healthy']);
    expect(m.state).toBe('healthy');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clears a pending timer', async () => {
    const checker = scripted('P');
    const { m } = monitor({ settings: settings(), checker });
    m.start();
    m.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(checker.calls).toEqual([]);
  });

  it('stop() inside onChange ends the monitor', async () => {
    const checker = scripted('P');
    const m: HealthMonitor = new HealthMonitor({
      settings: settings(),
      checker,
      log: silentLogger,
      name: 'web-1',
      onChange: () => m.stop(),
    });
    m.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(checker.calls).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('kind none', () => {
  it('is healthy right at start, with no timer', () => {
    const { m, changes } = monitor({ settings: settings({}, { kind: 'none' }) });
    m.start();
    expect(states(changes)).toEqual(['healthy']);
    expect(m.state).toBe('healthy');
    expect(vi.getTimerCount()).toBe(0);
    m.stop();
  });
});

describe('kind docker', () => {
  it('maps health_status: healthy and unhealthy at once, starting changes nothing', () => {
    const { m, changes } = monitor({ settings: settings({ rise: 3, fall: 3 }, { kind: 'docker' }) });
    m.start();
    expect(vi.getTimerCount()).toBe(0);
    m.report('starting');
    expect(m.state).toBe('unknown');
    m.report('healthy');
    m.report('healthy');
    expect(states(changes)).toEqual(['healthy']);
    m.report('starting');
    expect(m.state).toBe('healthy');
    m.report('unhealthy');
    expect(states(changes)).toEqual(['healthy', 'unhealthy']);
    expect(changes[1]).toEqual({
      name: 'web-1',
      state: 'unhealthy',
      previous: 'healthy',
      result: { ok: false, detail: 'docker: unhealthy' },
    });
    m.report('something-else');
    m.report('healthy');
    expect(states(changes)).toEqual(['healthy', 'unhealthy', 'healthy']);
    m.stop();
    m.report('unhealthy');
    expect(states(changes)).toEqual(['healthy', 'unhealthy', 'healthy']);
  });

  it('goes unhealthy straight from unknown', () => {
    const { m, changes } = monitor({ settings: settings({}, { kind: 'docker' }) });
    m.start();
    m.report('unhealthy');
    expect(changes).toEqual([
      { name: 'web-1', state: 'unhealthy', previous: 'unknown', result: { ok: false, detail: 'docker: unhealthy' } },
    ]);
  });

  it('ignores report() for other kinds', async () => {
    const { m, changes } = monitor({ settings: settings(), checker: scripted('F') });
    m.start();
    m.report('healthy');
    await vi.advanceTimersByTimeAsync(0);
    expect(changes).toEqual([]);
    m.stop();
  });
});

describe('robustness', () => {
  it('needs a checker for active kinds', () => {
    expect(() => new HealthMonitor({ settings: settings(), log: silentLogger, name: 'x' })).toThrow(/needs a checker/);
  });

  it('survives an onChange handler that throws, and logs it', async () => {
    const { log, lines } = captureLogger();
    const checker = scripted('PFFP');
    const m = new HealthMonitor({
      settings: settings(),
      checker,
      log,
      name: 'web-1',
      jitter: () => 0.5,
      onChange: () => {
        throw new Error('handler broke');
      },
    });
    m.start();
    await until(30_500);
    expect(checker.calls).toHaveLength(4);
    expect(m.state).toBe('healthy');
    expect(lines.filter((l) => l.msg === 'health change handler failed')).toHaveLength(3);
    m.stop();
  });

  it('logs one line per change, none per attempt', async () => {
    const { log, lines } = captureLogger();
    const { m } = monitor({ settings: settings(), checker: scripted('PFFFFFFPPPP'), log });
    m.start();
    await until(100_500);
    expect(lines.map((l) => [l.level, l.msg, l.detail])).toEqual([
      [30, 'health check passing', 'HTTP 200'],
      [40, 'health check failing', 'HTTP 503'],
      [30, 'health check passing', 'HTTP 200'],
    ]);
    m.stop();
  });
});

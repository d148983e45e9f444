// The stop logic of `register` on inspect data and event attributes alone: which kill events stop a container,
// and what SERVICE_DRAIN and StopSignal combinations can drain.
import { describe, expect, it } from 'vitest';
import { killMeaning, parseSignal, signalName, stopSettings, type StopInspect } from '../../../src/docker/stop.js';

const info = (stopSignal: string | undefined, labels: Record<string, string> = {}, env: string[] = []): StopInspect => ({
  Id: '0123456789abcdef',
  Name: '/web-1',
  Config: { ...(stopSignal !== undefined && { StopSignal: stopSignal }), Labels: labels, Env: env },
});

describe('parseSignal', () => {
  it('reads names as Docker accepts them, and numbers', () => {
    for (const v of ['SIGTERM', 'TERM', 'term', ' sigterm ', '15']) expect(parseSignal(v)).toBe(15);
    expect(parseSignal('SIGWINCH')).toBe(28);
    expect(signalName(28)).toBe('SIGWINCH');
  });

  it('refuses what is not a signal', () => {
    for (const v of ['', 'SIG', 'NOPE', '0', '32', '-1', '15s', 'SIGTERM;rm', 'RTMIN']) expect(parseSignal(v)).toBeUndefined();
  });
});

describe('stopSettings', () => {
  it('defaults the StopSignal to SIGTERM and has no drain without SERVICE_DRAIN', () => {
    expect(stopSettings(info(undefined))).toEqual({ container: 'web-1', stopSignal: 15 });
    expect(stopSettings(info('SIGQUIT'))).toEqual({ container: 'web-1', stopSignal: 3 });
  });

  it('drains when SERVICE_DRAIN names a signal and the StopSignal is one the app ignores; a label beats the env', () => {
    expect(stopSettings(info('SIGWINCH', { SERVICE_DRAIN: 'SIGTERM' }))).toEqual({ container: 'web-1', stopSignal: 28, drainSignal: 'SIGTERM' });
    expect(stopSettings(info('28', {}, ['SERVICE_DRAIN=quit'])).drainSignal).toBe('SIGQUIT');
    expect(stopSettings(info('WINCH', { SERVICE_DRAIN: 'SIGINT' }, ['SERVICE_DRAIN=SIGQUIT'])).drainSignal).toBe('SIGINT');
  });

  it.each([
    ['SIGWINCH', 'SIGTERMS', /"SIGTERMS" is not a signal; expected a name such as SIGTERM/],
    ['SIGWINCH', 'rm -rf /', /"rm -rf \/" is not a signal/],
    [undefined, 'SIGTERM', /StopSignal is SIGTERM, which stops the app before the drain/],
    ['SIGKILL', 'SIGTERM', /StopSignal is SIGKILL/],
    ['SIGUSR1', 'SIGUSR1', /StopSignal is SIGUSR1/],
    ['SIGBOGUS', 'SIGTERM', /StopSignal "SIGBOGUS" is not a signal/],
  ])('StopSignal %s with SERVICE_DRAIN=%s: no drain, one warning naming the label', (stop, drain, message) => {
    const s = stopSettings(info(stop, { SERVICE_DRAIN: drain }));
    expect(s.drainSignal).toBeUndefined();
    expect(s.warning).toMatchObject({ container: 'web-1', label: 'SERVICE_DRAIN' });
    expect(s.warning?.message).toMatch(message);
  });
});

describe('killMeaning', () => {
  const plain = stopSettings(info(undefined));
  const drained = stopSettings(info('SIGWINCH', { SERVICE_DRAIN: 'SIGTERM' }));

  it('the stopping signals stop any container; reload signals do not', () => {
    for (const s of ['15', '9', '2', '3']) expect(killMeaning(s, plain)).toBe('stop');
    for (const s of ['1', '10', '12', '28']) expect(killMeaning(s, plain)).toBe('none');
    expect(killMeaning(undefined, plain)).toBe('none');
    expect(killMeaning('bogus', plain)).toBe('none');
  });

  it("the container's own StopSignal stops it, or drains it when it opted in", () => {
    expect(killMeaning('12', stopSettings(info('SIGUSR2')))).toBe('stop');
    expect(killMeaning('28', drained)).toBe('drain');
    expect(killMeaning('15', drained)).toBe('stop');
    expect(killMeaning('9', drained)).toBe('stop');
    expect(killMeaning('1', drained)).toBe('none');
    // A container never inspected stops on the default set.
    expect(killMeaning('15', undefined)).toBe('stop');
    expect(killMeaning('28', undefined)).toBe('none');
  });
});

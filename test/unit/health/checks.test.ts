import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkerFor, execChecker, firstLine, statusVerdict, type ExecOutcome } from '../../../src/health/checks.js';
import { ConfigError } from '../../../src/util/errors.js';

const signal = (): AbortSignal => new AbortController().signal;

describe('execChecker', () => {
  it.each([
    [{ exitCode: 0 }, { ok: true, detail: 'exit 0' }],
    [{ exitCode: 0, output: 'all good' }, { ok: true, detail: 'exit 0' }],
    [{ exitCode: 1 }, { ok: false, detail: 'exit 1' }],
    [{ exitCode: 2, output: '\n  bad thing \nmore\n' }, { ok: false, detail: 'exit 2: bad thing' }],
    [{ exitCode: 126, output: '   ' }, { ok: false, detail: 'exit 126' }],
  ])('%j', async (outcome, expected) => {
    expect(await execChecker(() => Promise.resolve(outcome))(signal())).toEqual(expected);
  });

  it('turns a rejection into a failure', async () => {
    const run = (): Promise<ExecOutcome> => Promise.reject(new Error('container is not running'));
    expect(await execChecker(run)(signal())).toEqual({ ok: false, detail: 'container is not running' });
  });

  it('turns a synchronous throw into a failure', async () => {
    const run = (): Promise<ExecOutcome> => {
      throw new Error('no such container');
    };
    expect(await execChecker(run)(signal())).toEqual({ ok: false, detail: 'no such container' });
  });

  it('passes the signal and settles as soon as it aborts, even if the run does not', async () => {
    const controller = new AbortController();
    let given: AbortSignal | undefined;
    const pending = execChecker((s) => {
      given = s;
      return new Promise<ExecOutcome>(() => undefined);
    })(controller.signal);
    await Promise.resolve();
    controller.abort();
    expect(await pending).toEqual({ ok: false, detail: 'timeout' });
    expect(given).toBe(controller.signal);
  });

  it('does not run at all with an aborted signal', async () => {
    let ran = false;
    const result = await execChecker(() => {
      ran = true;
      return Promise.resolve({ exitCode: 0 });
    })(AbortSignal.abort());
    expect(result).toEqual({ ok: false, detail: 'timeout' });
    expect(ran).toBe(false);
  });
});

describe('checkerFor', () => {
  const target = { host: '10.0.0.5', port: 8080 };

  it('has no checker for docker and none', () => {
    expect(checkerFor({ kind: 'docker' }, target)).toBeUndefined();
    expect(checkerFor({ kind: 'none' }, target)).toBeUndefined();
  });

  it('builds checkers for http, tcp and exec', () => {
    expect(checkerFor({ kind: 'http', path: '/health' }, target)).toBeTypeOf('function');
    expect(checkerFor({ kind: 'tcp' }, target)).toBeTypeOf('function');
    expect(checkerFor({ kind: 'exec', argv: ['true'], where: 'host' }, target)).toBeTypeOf('function');
  });

  it('runs container exec checks through the Docker side', async () => {
    const calls: [string[], AbortSignal][] = [];
    const execInContainer = (argv: string[], s: AbortSignal): Promise<ExecOutcome> => {
      calls.push([argv, s]);
      return Promise.resolve({ exitCode: 1, output: 'not ready' });
    };
    const checker = checkerFor({ kind: 'exec', argv: ['pg_isready', '-q'], where: 'container' }, target, {
      execInContainer,
    });
    const s = signal();
    expect(await checker?.(s)).toEqual({ ok: false, detail: 'exit 1: not ready' });
    expect(calls).toEqual([[['pg_isready', '-q'], s]]);
  });

  it('refuses container exec checks without the Docker side, and empty commands', () => {
    expect(() => checkerFor({ kind: 'exec', argv: ['true'], where: 'container' }, target)).toThrow(ConfigError);
    const execInContainer = (): Promise<ExecOutcome> => Promise.resolve({ exitCode: 0 });
    expect(() => checkerFor({ kind: 'exec', argv: [], where: 'container' }, target, { execInContainer })).toThrow(
      /needs a command/,
    );
    expect(() => checkerFor({ kind: 'exec', argv: [], where: 'host' }, target)).toThrow(ConfigError);
  });
});

describe('helpers', () => {
  it('firstLine skips blank lines, trims and cuts', () => {
    expect(firstLine(undefined)).toBe('');
    expect(firstLine('\n\n  x  \ny')).toBe('x');
    expect(firstLine('a'.repeat(300))).toBe(`${'a'.repeat(200)}…`);
  });
});

describe('statusVerdict', () => {
  const response = fc.record({
    minor: fc.constantFrom('1.0', '1.1'),
    status: fc.integer({ min: 100, max: 599 }),
    reason: fc.stringMatching(/^[A-Za-z ]{0,20}$/),
    eol: fc.constantFrom('\r\n', '\n'),
  });

  it('waits for more on every cut of a status line, and judges the whole one by its status', () => {
    fc.assert(
      fc.property(response, fc.boolean(), ({ minor, status, reason, eol }, hints) => {
        const line = `HTTP/${minor} ${status}${reason ? ` ${reason}` : ''}${eol}`;
        const head = (hints ? `HTTP/1.1 103 Early Hints${eol}Link: </a>${eol}${eol}` : '') + line;
        for (let cut = 0; cut < head.length; cut++) expect(statusVerdict(head.slice(0, cut))).toBe('more');
        const whole = statusVerdict(`${head}Server: x${eol}${eol}`);
        // A 1xx is interim: the answer is still to come.
        if (status < 200) expect(whole).toBe('more');
        else expect(whole).toEqual({ ok: status < 400, detail: `HTTP ${status}` });
      }),
    );
  });
});

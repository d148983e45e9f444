// The two log formats: pino's JSON lines, and one readable text line per entry for journald.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, loggerOptions, parseLogFormat, type LogFormat } from '../../../src/util/log.js';
import { ConfigError } from '../../../src/util/errors.js';

/** A logger of `format` writing into memory, and what it wrote. */
function capture(format: LogFormat): { log: ReturnType<typeof createLogger>; text: () => string } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  return { log: createLogger({ level: 'info', format, destination }), text: () => text };
}

describe('log formats', () => {
  it('text: one line per entry, level names, the component in front, fields as key=value, secrets redacted', () => {
    const { log, text } = capture('text');
    log.info({ service: 'n1:web:8080', address: '127.0.0.1:8080', password: 'hunter2' }, 'registered');
    log.child({ component: 'announce' }).warn({ err: 'connect ECONNREFUSED 127.0.0.1:2379', pending: 1 }, 'etcd unreachable; retrying with backoff');
    log.error({ reason: { at: 'x' } }, 'two\nlines');
    log.debug('below the level');
    expect(text()).toBe(
      [
        'INFO: registered service=n1:web:8080 address=127.0.0.1:8080 password=[redacted]',
        'WARN: (announce) etcd unreachable; retrying with backoff err="connect ECONNREFUSED 127.0.0.1:2379" pending=1',
        'ERROR: two\\nlines reason={"at":"x"}',
        '',
      ].join('\n'),
    );
  });

  it('json: one JSON object a line, as pino writes it', () => {
    const { log, text } = capture('json');
    log.info({ service: 'web' }, 'registered');
    expect(JSON.parse(text())).toMatchObject({ level: 30, msg: 'registered', service: 'web' });
  });

  it('--log-format takes json or text; anything else is refused naming the flag', () => {
    expect(parseLogFormat(undefined)).toBeUndefined();
    expect(parseLogFormat(' TEXT ')).toBe('text');
    expect(loggerOptions({ logLevel: 'debug', logFormat: 'json' })).toEqual({ level: 'debug', format: 'json' });
    expect(loggerOptions({})).toEqual({});
    expect(() => loggerOptions({ logFormat: 'logfmt' })).toThrow(ConfigError);
    expect(() => loggerOptions({ logFormat: 'logfmt' })).toThrow('--log-format: expected json or text, got "logfmt"');
  });
});

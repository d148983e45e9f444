// A pino logger whose JSON lines the test can read back and assert on.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/util/log.js';

/** A parsed log line. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** A logger writing into memory, and the lines it wrote so far. */
export function captureLogger(level = 'debug'): { log: Logger; lines: LogLine[]; text: () => string } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as LogLine);
      }
      cb();
    },
  });
  return { log: createLogger({ level, destination }), lines, text: () => raw.join('\n') };
}

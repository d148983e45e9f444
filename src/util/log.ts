// One pino logger for the process; components take children so every line says where it came from.
import { pino, type DestinationStream, type Logger } from 'pino';
import { maskUrlCredentials } from './errors.js';

export type { Logger };

/** Paths whose values are secrets: pino replaces them before a line is written. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'passwd',
  '*.passwd',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'key',
  '*.key',
  'clientKey',
  '*.clientKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'credentials',
  '*.credentials',
];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level?: string;
  /** Human-readable output; defaults to true when stderr is a TTY. */
  pretty?: boolean;
  /** Where lines go (tests pass a capture stream); defaults to stderr. */
  destination?: DestinationStream;
}

/** Masks URL credentials in a line's message and in the string fields of its object (an etcd node in any text). */
function maskLogArgs(this: Logger, args: Parameters<pino.LogFn>, method: pino.LogFn): void {
  const masked = args.map((arg: unknown) => {
    if (typeof arg === 'string') return maskUrlCredentials(arg);
    if (typeof arg !== 'object' || arg === null || arg instanceof Error) return arg;
    return Object.fromEntries(Object.entries(arg).map(([k, v]) => [k, typeof v === 'string' ? maskUrlCredentials(v) : v]));
  });
  // pino's LogFn overloads cannot be spread into; the masked list has the same shape as the original.
  (method as (...a: unknown[]) => void).apply(this, masked);
}

/** Builds the root logger: JSON lines on stderr, pretty on a TTY, secrets redacted. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.SIDEKICK_LOG_LEVEL ?? process.env.CONFD_LOG_LEVEL ?? 'info';
  const options = { level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, hooks: { logMethod: maskLogArgs } };
  if (opts.destination) return pino(options, opts.destination);
  const pretty = opts.pretty ?? process.stderr.isTTY === true;
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } });
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}

/** A logger that drops everything: the default for library code used without a daemon around it. */
export const silentLogger: Logger = pino({ level: 'silent' });

// One pino logger for the process; components take children so every line says where it came from.
import { pino, type DestinationStream, type Logger } from 'pino';
import { ConfigError, maskUrlCredentials } from './errors.js';
import { prettyModule } from './lazy-modules.js';

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

/**
 * How lines are written: `json`, one JSON object a line (pino's own: numeric levels, for log shippers); `text`, one
 * readable line (`INFO (announce): registered service=…`), level names, no colour and no time (journald and
 * `docker logs -t` add it).
 */
export type LogFormat = 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text'];
/** The help text of every command's --log-format. */
export const LOG_FORMAT_HELP = 'json (one object a line) or text (one readable line with level names) (default: text on a terminal, else json)';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Default info; commands pass their settings' level (see config/settings-table.ts logLevel). */
  level?: string;
  /** Line format; without it: colourised text on a TTY, JSON otherwise. */
  format?: LogFormat;
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

/** Checks a --log-format value; `where` names the flag or variable in the error. */
export function parseLogFormat(value: string | undefined, where = '--log-format'): LogFormat | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if ((LOG_FORMATS as readonly string[]).includes(v)) return v as LogFormat;
  throw new ConfigError(`${where}: expected ${LOG_FORMATS.join(' or ')}, got "${value}"`);
}

/**
 * Logger options from a command's log level (the flag or its environment, see config/settings-table.ts logLevel)
 * and --log-format (checked: a ConfigError names the flag).
 */
export function loggerOptions(flags: { logLevel?: string; logFormat?: string }): LoggerOptions {
  const format = parseLogFormat(flags.logFormat);
  return { ...(flags.logLevel !== undefined && { level: flags.logLevel }), ...(format && { format }) };
}

/** Builds the root logger on stderr (or `destination`): JSON lines or text (see {@link LogFormat}), secrets redacted. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const options = { level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, hooks: { logMethod: maskLogArgs } };
  if (opts.format === 'text') return pino(options, textStream(opts.destination));
  if (opts.destination) return pino(options, opts.destination);
  if (opts.format === undefined && process.stderr.isTTY === true) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } });
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}

/** The text format: pino-pretty on one line, synchronous (nothing lost at exit), to `destination` or stderr. */
function textStream(destination: DestinationStream | undefined): DestinationStream {
  return prettyModule()({
    colorize: false,
    translateTime: false,
    hideObject: true,
    ignore: 'pid,hostname,time',
    errorLikeObjectKeys: [],
    messageFormat: textLine,
    sync: true,
    ...(destination ? { destination: destination as unknown as NodeJS.WritableStream } : { destination: 2 }),
  });
}

/** Fields pino adds to every line, or that the text form shows otherwise (the level, the component in front). */
const TEXT_OMITTED = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'component']);

/** `(component) msg key=value …`: values without spaces or quotes as they are, others as JSON. */
function textLine(line: Record<string, unknown>): string {
  const fields = Object.entries(line)
    .filter(([k]) => !TEXT_OMITTED.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`);
  const component = typeof line.component === 'string' ? `(${line.component}) ` : '';
  return [`${component}${String(line.msg ?? '').replace(/\r?\n/g, '\\n')}`, ...fields].join(' ');
}

/** A logger that drops everything: the default for library code used without a daemon around it. */
export const silentLogger: Logger = pino({ level: 'silent' });

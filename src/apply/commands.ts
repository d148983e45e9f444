// Check and reload commands: argv without a shell unless the operator's own line uses shell syntax.
import { parseCommand } from '../util/command-line.js';
import { CommandError } from '../util/errors.js';

/** Replaces confd's `{{.src}}` and sidekick's `{{src}}` placeholders. */
export function substitutePlaceholders(text: string, src: string): string {
  return text.replace(/\{\{\s*\.?src\s*\}\}/g, () => src);
}

/** Quotes a value for /bin/sh (single quotes; embedded ones closed and escaped). */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Options for {@link runCommand}. */
export interface RunOptions {
  timeoutMs: number;
  /** Path substituted for `{{.src}}` (the staged file, for check commands). */
  src?: string;
  /** Names the resource in errors. */
  where: string;
  /** What the command is for, in messages ("check", "reload"). */
  purpose: string;
}

/** Result of a successful command. */
export interface CommandResult {
  output: string;
  durationMs: number;
}

/**
 * Runs a check/reload command with a timeout; a hung command is killed (SIGTERM, then SIGKILL after 2 s).
 * Throws CommandError carrying exit code, signal, timeout flag and the combined output.
 */
export async function runCommand(line: string, opts: RunOptions): Promise<CommandResult> {
  const parsed = parseCommand(line);
  // Loaded on the first command: a renderer without check or reload never needs it (about 10 MB resident).
  const { execa } = await import('execa');
  const started = performance.now();
  const common = {
    timeout: opts.timeoutMs,
    forceKillAfterDelay: 2000,
    reject: false,
    all: true,
    stdin: 'ignore',
    stripFinalNewline: true,
  } as const;
  const result =
    parsed.shell === true
      ? await execa(opts.src === undefined ? line : substitutePlaceholders(line, shellQuote(opts.src)), {
          ...common,
          shell: '/bin/sh',
        })
      : await execa(
          parsed.argv[0] as string,
          parsed.argv.slice(1).map((a) => (opts.src === undefined ? a : substitutePlaceholders(a, opts.src as string))),
          common,
        );
  const durationMs = Math.round(performance.now() - started);
  const output = String(result.all ?? '').slice(-4000);
  if (result.failed) {
    const reason = result.timedOut
      ? `timed out after ${opts.timeoutMs} ms and was killed`
      : result.exitCode !== undefined
        ? `exited with code ${result.exitCode}`
        : result.signal
          ? `was killed by ${result.signal}`
          : `could not run: ${result.originalMessage ?? result.shortMessage}`;
    throw new CommandError(`${opts.purpose} command ${reason}${output ? `: ${output}` : ''}`, {
      where: opts.where,
      exitCode: result.exitCode,
      timedOut: result.timedOut,
      signal: result.signal,
      output,
      cause: result.cause,
    });
  }
  return { output, durationMs };
}

// Runs the built `sidekick` binary as a user would.
import { join } from 'node:path';
import { execa } from 'execa';

/** Path of the compiled CLI entry point. */
export const SIDEKICK = join(import.meta.dirname, '../../dist/cli/main.js');

/** Starts `sidekick ...args` with JSON logs on stderr; the caller awaits or kills it. */
export function sidekick(args: string[], env: Record<string, string> = {}) {
  return execa('node', [SIDEKICK, ...args], {
    reject: false,
    env: { ...env, SIDEKICK_LOG_LEVEL: env.SIDEKICK_LOG_LEVEL ?? 'info' },
    extendEnv: true,
    stdin: 'ignore',
  });
}

/** Parses the JSON log lines a run wrote to stderr. */
export function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

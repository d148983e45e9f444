// Runs the built `sidekick` binary as a user would.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

/** Path of the compiled CLI entry point. */
export const SIDEKICK = join(import.meta.dirname, '../../dist/cli/main.js');

/** The node flags of the binary's `#!/usr/bin/env -S node ...` line (read from the source, which is always there). */
export const NODE_FLAGS: string[] = (() => {
  const first = readFileSync(join(import.meta.dirname, '../../src/cli/main.ts'), 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env (?:-S )?node((?: \S+)*)$/.exec(first);
  if (!m) throw new Error(`src/cli/main.ts: unexpected first line ${JSON.stringify(first)}`);
  return (m[1] ?? '').split(' ').filter((f) => f !== '');
})();

/** node's argv for `sidekick ...args`, as the binary's shebang runs it. */
export function sidekickArgv(args: string[]): string[] {
  return [...NODE_FLAGS, SIDEKICK, ...args];
}

/** Starts `sidekick ...args` with JSON logs on stderr; the caller awaits or kills it. */
export function sidekick(args: string[], env: Record<string, string> = {}) {
  return execa('node', sidekickArgv(args), {
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

#!/usr/bin/env node
// Entry point of the `sidekick` binary.
import { buildProgram } from './program.js';

const [node = 'node', script = 'sidekick', ...args] = process.argv;

async function main(): Promise<void> {
  let argv = args;
  if (args[0] === 'render') {
    // confd users pass Go-style flags (`-onetime`, `-backend etcd`); accept them for `render`.
    const { normalizeConfdArgv } = await import('../config/render-config.js');
    argv = ['render', ...normalizeConfdArgv(args.slice(1))];
  }
  const program = await buildProgram(args[0]);
  await program.parseAsync([node, script, ...argv]);
}

main().catch((err: unknown) => {
  process.stderr.write(`sidekick: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
});

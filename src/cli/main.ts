#!/usr/bin/env -S node --v8-pool-size=1 --max-semi-space-size=2
// Entry point of the `sidekick` binary.
// One V8 platform thread instead of four: each one's malloc arena keeps several MB of a sidecar's RSS, and render's
// latency does not depend on them. A young generation of 2 MB semi-spaces instead of 16: 13–40 MB less RSS from an
// idle process to 100,000 records, for ~10 % more CPU per change at 100,000 (figures in docs/benchmarks.md). Test and
// bench spawns read these flags from this line (test/support/cli.ts), so they run what the binary runs.
import { buildProgram } from './program.js';
import { errorMessage } from '../util/errors.js';

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
  process.stderr.write(`sidekick: ${errorMessage(err)}\n`);
  process.exitCode = 2;
});

#!/usr/bin/env node
// Entry point of the `sidekick` binary.
import { normalizeConfdArgv } from '../config/render-config.js';
import { buildProgram } from './program.js';

const [node = 'node', script = 'sidekick', ...args] = process.argv;
// confd users pass Go-style flags (`-onetime`, `-backend etcd`); accept them for `render`.
const argv = args[0] === 'render' ? ['render', ...normalizeConfdArgv(args.slice(1))] : args;

buildProgram()
  .parseAsync([node, script, ...argv])
  .catch((err: unknown) => {
    process.stderr.write(`sidekick: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  });

// The `sidekick` command tree: one subcommand per job; argument parsing only, the work lives in daemon/.
import { Command } from 'commander';
import { renderCommand } from './render.js';

/** Builds the CLI; exported so the README's command reference is generated from the same help text. */
export function buildProgram(): Command {
  return new Command('sidekick')
    .description('Service-discovery sidecar: registers services in etcd and renders load-balancer configs from it')
    .version('0.1.0')
    .showHelpAfterError()
    .addCommand(renderCommand());
}

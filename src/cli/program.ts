// The `sidekick` command tree: one subcommand per job; argument parsing only, the work lives in daemon/.
// Each command's module is imported only when needed: `sidekick elb` never loads etcd or Docker clients, and
// `sidekick announce` never loads the AWS SDK or the template engine (start-up time and memory).
import { Command } from 'commander';
import { packageVersion } from '../util/package-version.js';

const COMMANDS: Record<string, () => Promise<Command>> = {
  render: async () => (await import('./render.js')).renderCommand(),
  register: async () => (await import('./register.js')).registerCommand(),
  announce: async () => (await import('./announce.js')).announceCommand(),
  drain: async () => (await import('./drain.js')).drainCommand(),
  ls: async () => (await import('./ls.js')).lsCommand(),
  elb: async () => (await import('./elb.js')).elbCommand(),
};

/** The subcommands, in help order. */
export const COMMAND_NAMES = Object.keys(COMMANDS);

/**
 * Builds the CLI with every command, or only `only` when it names one (what `sidekick <command> …` needs).
 * Exported so the command reference in docs/cli.md is generated from the same help text.
 */
export async function buildProgram(only?: string): Promise<Command> {
  const names = only !== undefined && COMMANDS[only] ? [only] : COMMAND_NAMES;
  const program = new Command('sidekick')
    .description('Service-discovery sidecar: registers services in etcd and renders load-balancer configs from it')
    .version(packageVersion())
    .showHelpAfterError();
  for (const cmd of await Promise.all(names.map((n) => (COMMANDS[n] as () => Promise<Command>)()))) program.addCommand(cmd);
  return program;
}

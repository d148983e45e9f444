// The help text of each command at a fixed width: the command reference in docs/cli.md is generated from it.
import type { Command } from 'commander';
import { buildProgram } from './program.js';

/** `sidekick <name> --help` as printed on an 80-column terminal (including text added after the options). */
export async function helpText(name?: string): Promise<string> {
  const program = await buildProgram();
  const cmd: Command | undefined = name ? program.commands.find((c) => c.name() === name) : program;
  if (!cmd) throw new Error(`no command "${name}"`);
  let out = '';
  cmd.configureHelp({ helpWidth: 80 });
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out.trimEnd();
}

// The body may be empty (a new block); it never runs past its own closing fence.
const BLOCK = /(<!-- help:([a-z]*) -->\n```\n)(?:(?!```)[\s\S])*?(\n?```\n<!-- \/help -->)/g;

/** Rewrites every `<!-- help:NAME -->` fenced block of a markdown text with the current help of that command. */
export async function refreshHelpBlocks(markdown: string): Promise<string> {
  const texts = new Map<string, string>();
  for (const m of markdown.matchAll(BLOCK)) texts.set(m[2] as string, await helpText((m[2] as string) || undefined));
  return markdown.replace(BLOCK, (_m, open: string, name: string, close: string) => `${open}${texts.get(name)}\n${close.replace(/^\n/, '')}`);
}

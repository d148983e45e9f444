// The README's command reference is the CLI's own help: this fails when one drifts from the other (fix: npm run docs).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helpText, refreshHelpBlocks } from '../../../src/cli/help.js';
import { COMMAND_NAMES } from '../../../src/cli/program.js';

const readme = readFileSync(join(import.meta.dirname, '../../../README.md'), 'utf8');

describe('README command reference', () => {
  it('has a help block for the program and every command', () => {
    const names = ['', ...COMMAND_NAMES];
    for (const name of names) expect(readme).toContain(`<!-- help:${name} -->`);
  });

  it('matches the current help text (run `npm run docs` after changing a flag)', async () => {
    expect(await refreshHelpBlocks(readme)).toBe(readme);
  });

  it('renders each command at 80 columns', async () => {
    for (const line of (await helpText('register')).split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(await helpText('announce')).toMatch(/^Usage: sidekick announce \[options\]/);
  });
});

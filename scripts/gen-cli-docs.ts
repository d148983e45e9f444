// Regenerates the command reference in docs/cli.md from the CLI's own help (run: npm run docs).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { refreshHelpBlocks } from '../src/cli/help.js';

const path = join(import.meta.dirname, '..', 'docs', 'cli.md');
const before = readFileSync(path, 'utf8');
const after = await refreshHelpBlocks(before);
if (after !== before) writeFileSync(path, after);
process.stdout.write(after === before ? 'docs/cli.md is up to date\n' : 'docs/cli.md command reference regenerated\n');

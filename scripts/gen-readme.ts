// Regenerates the command reference in README.md from the CLI's own help (run: npm run docs).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { refreshHelpBlocks } from '../src/cli/help.js';

const path = join(import.meta.dirname, '..', 'README.md');
const before = readFileSync(path, 'utf8');
const after = await refreshHelpBlocks(before);
if (after !== before) writeFileSync(path, after);
process.stdout.write(after === before ? 'README.md is up to date\n' : 'README.md command reference regenerated\n');

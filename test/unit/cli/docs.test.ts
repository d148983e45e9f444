// The command reference in docs/cli.md is the CLI's own help: this fails when one drifts from the other (fix: npm run
// docs). The README links it and states the supported Node version.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helpText, refreshHelpBlocks } from '../../../src/cli/help.js';
import { COMMAND_NAMES } from '../../../src/cli/program.js';

const root = join(import.meta.dirname, '../../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const cli = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');

describe('docs/cli.md command reference', () => {
  it('has a help block for the program and every command', () => {
    const names = ['', ...COMMAND_NAMES];
    for (const name of names) expect(cli).toContain(`<!-- help:${name} -->`);
  });

  it('matches the current help text (run `npm run docs` after changing a flag)', async () => {
    expect(await refreshHelpBlocks(cli)).toBe(cli);
  });

  it('renders each command at 80 columns', async () => {
    for (const line of (await helpText('register')).split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(await helpText('announce')).toMatch(/^Usage: sidekick announce \[options\]/);
  });
});

describe('README', () => {
  it('links the generated command reference and holds no help block of its own, which nothing would keep current', () => {
    expect(readme).toContain('](docs/cli.md)');
    expect(readme).not.toMatch(/<!-- help:/);
  });

  it("states the Node version package.json's engines gives, the highest minimum of the production dependencies", () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as LockFile;
    const floor = minimumOf(pkg.engines.node);
    const needed = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && !p.dev && p.engines?.node !== undefined)
      .map(([, p]) => minimumOf(p.engines?.node as string))
      .reduce((a, b) => (compare(a, b) >= 0 ? a : b));
    expect(floor).toEqual(needed);
    const stated = [...readme.matchAll(/Node(?:\.js)? ≥ ([\d.]+)/g)].map((m) => m[1]);
    expect(stated.length).toBeGreaterThan(0);
    for (const v of stated) expect(minimumOf(`>=${v}`)).toEqual(floor);
  });
});

type Version = [number, number, number];
interface LockFile {
  packages: Record<string, { dev?: boolean; engines?: { node?: string } }>;
}

const compare = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** The lowest version a node engines range admits (the forms npm packages use: >=, ^, ~, x.*, *, joined by ||). */
function minimumOf(range: string): Version {
  const lows = range.split('||').map((alt): Version => {
    const m = /^\s*(?:>=|\^|~)?\s*(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?/.exec(alt);
    if (!m) {
      if (/^\s*(\*|)\s*$/.test(alt)) return [0, 0, 0];
      throw new Error(`unexpected engines range ${JSON.stringify(range)}`);
    }
    const n = (s: string | undefined): number => (s === undefined || Number.isNaN(Number(s)) ? 0 : Number(s));
    return [n(m[1]), n(m[2]), n(m[3])];
  });
  return lows.reduce((a, b) => (compare(a, b) <= 0 ? a : b));
}

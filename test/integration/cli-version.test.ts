// `sidekick --version` prints the version package.json declares.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sidekick } from '../support/cli.js';

const pkg = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };

describe('sidekick --version', () => {
  it("prints package.json's version", async () => {
    const run = await sidekick(['--version']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout.trim()).toBe(pkg.version);
  });
});

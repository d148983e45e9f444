// packageVersion reads package.json, the one place the version is written.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/program.js';
import { packageVersion } from '../../../src/util/package-version.js';

const pkg = JSON.parse(await readFile(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string };

describe('packageVersion', () => {
  it("is package.json's version, and the one the program reports", async () => {
    expect(packageVersion()).toBe(pkg.version);
    expect((await buildProgram('ls')).version()).toBe(pkg.version);
  });
});

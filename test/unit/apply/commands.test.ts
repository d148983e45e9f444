import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, substitutePlaceholders } from '../../../src/apply/commands.js';
import { CommandError } from '../../../src/util/errors.js';
import { tempDir } from '../../support/tmp.js';

const fixtures = join(import.meta.dirname, '../../fixtures');

describe('substitutePlaceholders', () => {
  it('substitutes both placeholder spellings', () => {
    expect(substitutePlaceholders('x {{.src}} {{src}} {{ .src }}', '/p')).toBe('x /p /p /p');
  });
});

describe('runCommand', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await tempDir()));
  afterAll(async () => cleanup());

  it('passes the staged path as one argv word, spaces and all, with no shell', async () => {
    const out = join(dir, 'rec.txt');
    await runCommand(`${fixtures}/record.sh ${out} check {{.src}}`, {
      src: '/tmp/a file; rm -rf x',
      timeoutMs: 5000,
      where: 'r1',
      purpose: 'check',
    });
    expect(await readFile(out, 'utf8')).toBe('check /tmp/a file; rm -rf x\n');
  });

  it('quotes the staged path for shell lines', async () => {
    const out = join(dir, 'rec2.txt');
    await runCommand(`${fixtures}/record.sh ${out} {{.src}} && true`, {
      src: "/tmp/it's here",
      timeoutMs: 5000,
      where: 'r1',
      purpose: 'check',
    });
    expect(await readFile(out, 'utf8')).toBe("/tmp/it's here\n");
  });

  it('reports the exit code and output of a failing command', async () => {
    const err = await runCommand(`${fixtures}/fail.sh 7`, { timeoutMs: 5000, where: 'nginx.toml', purpose: 'check' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).exitCode).toBe(7);
    expect((err as CommandError).message).toMatch(/^nginx\.toml: check command exited with code 7: fixture failure: 7/);
  });

  it('kills a hung command at its timeout and says so', async () => {
    const started = Date.now();
    const err = (await runCommand(`${fixtures}/hang.sh`, { timeoutMs: 300, where: 'r', purpose: 'reload' }).catch(
      (e: unknown) => e,
    )) as CommandError;
    expect(err.timedOut).toBe(true);
    expect(err.message).toMatch(/reload command timed out after 300 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reports a missing program', async () => {
    await expect(runCommand('/nonexistent/prog', { timeoutMs: 1000, where: 'r', purpose: 'check' })).rejects.toThrow(
      /check command (could not run|exited)/,
    );
  });
});

// `sidekick render` (the binary) with something other than a regular file at one resource's dest: that resource
// fails with one error naming it, the others are written, --onetime returns and --watch still stops on SIGTERM.
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { logLines, sidekick } from '../support/cli.js';
import { waitFor } from '../support/procs.js';
import { tempDir } from '../support/tmp.js';

let dir: string;
let cleanup: () => Promise<void>;

const resource = (dest: string) => `[template]\nsrc = "app.tmpl"\ndest = "${dest}"\nkeys = ["/app"]\n`;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  await mkdir(join(dir, 'conf.d'));
  await mkdir(join(dir, 'templates'));
  await writeFile(join(dir, 'templates/app.tmpl'), 'value = {{getv "/app/value"}}\n');
  await writeFile(join(dir, 'data.yaml'), 'app:\n  value: one\n');
  await writeFile(join(dir, 'conf.d/a-fifo.toml'), resource(join(dir, 'fifo.conf')));
  await writeFile(join(dir, 'conf.d/b-good.toml'), resource(join(dir, 'good.conf')));
  execFileSync('mkfifo', [join(dir, 'fifo.conf')]);
});
afterEach(async () => cleanup());

const base = (): string[] => ['render', '--confdir', dir, '--backend', 'file', '--file', join(dir, 'data.yaml')];
const refusal = (stderr: string) => logLines(stderr).filter((l) => l.msg === 'resource not applied; destination left as it was');

describe('a FIFO at dest', () => {
  it('--onetime returns: that resource fails naming itself and the FIFO, the other is written, exit 1', async () => {
    const run = await sidekick([...base(), '--onetime'], {});
    expect(run.exitCode).toBe(1);
    expect(await readFile(join(dir, 'good.conf'), 'utf8')).toBe('value = one\n');
    expect(refusal(String(run.stderr))).toEqual([
      expect.objectContaining({ resource: 'a-fifo.toml', err: `dest ${join(dir, 'fifo.conf')}: is a FIFO; sidekick only replaces regular files (set dest to the real file's path)` }),
    ]);
  });

  it('--watch keeps writing the other resource and stops on SIGTERM', async () => {
    const proc = sidekick([...base(), '--watch']);
    await waitFor(async () => (await readFile(join(dir, 'good.conf'), 'utf8').catch(() => '')) === 'value = one\n');
    await writeFile(join(dir, 'data.yaml'), 'app:\n  value: two\n');
    await waitFor(async () => (await readFile(join(dir, 'good.conf'), 'utf8')) === 'value = two\n');
    proc.kill('SIGTERM');
    const run = await proc;
    expect(run.exitCode).toBe(0);
    expect(refusal(String(run.stderr)).length).toBeGreaterThan(0);
  });
});

// The `sidekick render` binary end to end, with confd's own conf.d layout and the file backend.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { logLines, sidekick } from '../support/cli.js';
import { waitFor } from '../support/procs.js';
import { jsonLogs } from './examples/support.js';
import { tempDir } from '../support/tmp.js';

let dir: string;
let cleanup: () => Promise<void>;

// confd's quick-start example, unchanged but for the template syntax.
const TOML = (dest: string): string => `[template]
src = "myconfig.conf.tmpl"
dest = "${dest}"
keys = [
    "/myapp/database/url",
    "/myapp/database/user",
]
`;
const TEMPLATE = `[myconfig]
database_url = {{getv "/myapp/database/url"}}
database_user = {{getv "/myapp/database/user"}}
`;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  await mkdir(join(dir, 'conf.d'));
  await mkdir(join(dir, 'templates'));
  await writeFile(join(dir, 'conf.d/myconfig.toml'), TOML(join(dir, 'myconfig.conf')));
  await writeFile(join(dir, 'templates/myconfig.conf.tmpl'), TEMPLATE);
  await writeFile(join(dir, 'data.yaml'), 'myapp:\n  database:\n    url: db.example.com\n    user: rob\n');
});
afterEach(async () => cleanup());

const base = (): string[] => ['render', '--confdir', dir, '--backend', 'file', '--file', join(dir, 'data.yaml')];

describe('sidekick render (binary)', () => {
  it('--onetime renders confd resources from the file backend and exits 0', async () => {
    const run = await sidekick([...base(), '--onetime']);
    expect(run.exitCode).toBe(0);
    expect(await readFile(join(dir, 'myconfig.conf'), 'utf8')).toBe(
      '[myconfig]\ndatabase_url = db.example.com\ndatabase_user = rob\n',
    );
  });

  it("accepts confd's single-dash flags", async () => {
    const run = await sidekick(['render', '-onetime', '-confdir', dir, '-backend', 'file', '-file', join(dir, 'data.yaml')]);
    expect(run.exitCode).toBe(0);
    expect(await readFile(join(dir, 'myconfig.conf'), 'utf8')).toContain('database_user = rob');
  });

  it('a bad resource file is named with file:line, the good one still renders, exit 1', async () => {
    await writeFile(join(dir, 'conf.d/broken.toml'), '[template]\nsrc = "x.tmpl"\ndest = "/tmp/x"\nkeys = ["/a"]\nchek_cmd = "true"\n');
    const run = await sidekick([...base(), '--onetime']);
    expect(run.exitCode).toBe(1);
    const problems = logLines(String(run.stderr)).map((l) => String(l.problem ?? ''));
    expect(problems.some((p) => /conf\.d\/broken\.toml:5: unknown field "chek_cmd"/.test(p))).toBe(true);
    expect(await readFile(join(dir, 'myconfig.conf'), 'utf8')).toContain('database_user = rob');
  });

  it('a missing key fails that resource with the key named and leaves dest alone', async () => {
    await writeFile(join(dir, 'myconfig.conf'), 'last good\n');
    await writeFile(join(dir, 'data.yaml'), 'myapp:\n  database:\n    url: db.example.com\n');
    const run = await sidekick([...base(), '--onetime']);
    expect(run.exitCode).toBe(1);
    expect(String(run.stderr)).toMatch(/myconfig\.conf\.tmpl:3:\d+.*\/myapp\/database\/user/);
    expect(await readFile(join(dir, 'myconfig.conf'), 'utf8')).toBe('last good\n');
  });

  it('--onetime says when a destination is already up to date', async () => {
    expect((await sidekick([...base(), '--onetime'])).exitCode).toBe(0);
    const again = await sidekick([...base(), '--onetime']);
    expect(again.exitCode).toBe(0);
    const said = logLines(String(again.stderr)).filter((l) => l.msg === 'destination unchanged');
    expect(said).toMatchObject([{ resource: 'myconfig.toml', dest: join(dir, 'myconfig.conf') }]);
  });

  // Under systemd Restart=on-failure (or a container restart policy) a daemon with nothing to do must fail visibly.
  it.each([
    ['conf.d is missing', () => rm(join(dir, 'conf.d'), { recursive: true }), /conf\.d does not exist/],
    ['conf.d is empty', () => rm(join(dir, 'conf.d/myconfig.toml')), /conf\.d holds no \*\.toml files/],
    ['every resource is broken', () => writeFile(join(dir, 'conf.d/myconfig.toml'), '[template]\nsrc = 1\n'), /myconfig\.toml/],
  ])('--watch exits 1 with the reason when %s', async (_, breakIt, reason) => {
    await breakIt();
    for (const mode of ['--watch', '--interval=5']) {
      const run = await sidekick([...base(), mode]);
      expect(run.exitCode).toBe(1);
      const lines = logLines(String(run.stderr));
      expect(lines.some((l) => l.msg === 'resource skipped' && reason.test(String(l.problem)))).toBe(true);
      expect(lines.at(-1)?.msg).toMatch(/^no template resource to render; exiting/);
    }
  });

  it('--watch: a SIGHUP re-read that would leave no resource is refused and the running one keeps rendering', async () => {
    const proc = sidekick([...base(), '--watch']);
    const logs = jsonLogs(proc);
    const dest = join(dir, 'myconfig.conf');
    await waitFor(async () => (await readFile(dest, 'utf8')).includes('rob'));
    await rm(join(dir, 'conf.d/myconfig.toml'));
    proc.kill('SIGHUP');
    await waitFor(() => logs().some((l) => l.msg === 'SIGHUP: config not reloaded (no template resource would load); keeping the running one'));
    await writeFile(join(dir, 'data.yaml'), 'myapp:\n  database:\n    url: db2.example.com\n    user: alice\n');
    await waitFor(async () => (await readFile(dest, 'utf8')).includes('alice'));
    proc.kill('SIGTERM');
    expect((await proc).exitCode).toBe(0);
  });

  it('--noop prints a unified diff and writes nothing', async () => {
    await writeFile(join(dir, 'myconfig.conf'), '[myconfig]\ndatabase_url = old\ndatabase_user = rob\n');
    const run = await sidekick([...base(), '--onetime', '--noop']);
    expect(run.exitCode).toBe(0);
    expect(String(run.stdout)).toContain('-database_url = old\n+database_url = db.example.com');
    expect(await readFile(join(dir, 'myconfig.conf'), 'utf8')).toContain('database_url = old');
  });

  it('--watch follows the file backend and stops cleanly on SIGTERM', async () => {
    const proc = sidekick([...base(), '--watch']);
    const dest = join(dir, 'myconfig.conf');
    await waitFor(async () => (await readFile(dest, 'utf8')).includes('rob'));
    await writeFile(join(dir, 'data.yaml'), 'myapp:\n  database:\n    url: db2.example.com\n    user: alice\n');
    await waitFor(async () => (await readFile(dest, 'utf8')).includes('alice'));
    proc.kill('SIGTERM');
    const run = await proc;
    expect(run.exitCode).toBe(0);
    expect(logLines(String(run.stderr)).some((l) => l.msg === 'stopping')).toBe(true);
  });

  it('a second SIGTERM while a render is finishing is logged, not fatal: the render completes, exit 0', async () => {
    // A check that takes a second keeps the daemon busy in close() (it lets the render in progress finish).
    const marker = join(dir, 'check-started');
    await writeFile(join(dir, 'conf.d/myconfig.toml'), `${TOML(join(dir, 'myconfig.conf'))}check_cmd = "/bin/sh -c 'touch ${marker}; sleep 1'"\n`);
    const proc = sidekick([...base(), '--watch']);
    let stderr = '';
    proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    await waitFor(async () => (await readFile(join(dir, 'myconfig.conf'), 'utf8').catch(() => '')).includes('rob'));
    await rm(marker);
    await writeFile(join(dir, 'data.yaml'), 'myapp:\n  database:\n    url: db.example.com\n    user: alice\n');
    await waitFor(() => readFile(marker).then(() => true, () => false)); // the second render's check is running
    proc.kill('SIGTERM');
    await waitFor(() => stderr.includes('"stopping"'));
    proc.kill('SIGTERM');
    const run = await proc;
    expect(run.signal).toBeUndefined();
    expect(run.exitCode).toBe(0);
    expect(await readFile(join(dir, 'myconfig.conf'), 'utf8')).toContain('alice');
  });
});

// The npm package as a user installs it: `npm pack`, then `npm install -g` of the tarball into a private prefix
// (dependencies from the npm cache `npm ci` filled, the registry for anything missing), then the `sidekick` command.
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/tmp.js';

const repo = join(import.meta.dirname, '../..');
const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { name: string; version: string };

let dir: string;
let cleanup: () => Promise<void>;
let prefix: string;
let install: { stdout: string; stderr: string };

const sidekick = (args: string[]) => execa(join(prefix, 'bin/sidekick'), args, { cwd: dir, reject: false, env: { PATH: process.env.PATH } });

describe(`npm install -g ${pkg.name}`, () => {
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    prefix = join(dir, 'prefix');
    // dist/ is built by the suite's global setup; --ignore-scripts skips building it a second time.
    const pack = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: repo });
    const [{ filename }] = JSON.parse(pack.stdout) as [{ filename: string }];
    install = await execa('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, filename)], {
      cwd: dir,
    });
  }, 300_000);
  afterAll(async () => cleanup?.());

  it('installs the sidekick command from the package', async () => {
    expect(install.stderr).not.toMatch(/npm (warn|error) (?!install-scripts)/); // skipped install scripts are listed, nothing else
    const link = await readlink(join(prefix, 'bin/sidekick'));
    expect(resolve(prefix, 'bin', link)).toBe(join(prefix, 'lib/node_modules', pkg.name, 'dist/cli/main.js'));
    const version = await sidekick(['--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.trim()).toBe(pkg.version);
  });

  it('the installed command renders a resource once from the file backend', async () => {
    const confdir = join(dir, 'etc');
    const dest = join(dir, 'app.conf');
    await mkdir(join(confdir, 'conf.d'), { recursive: true });
    await mkdir(join(confdir, 'templates'));
    await writeFile(join(confdir, 'conf.d/app.toml'), `[template]\nsrc = "app.tmpl"\ndest = "${dest}"\nkeys = ["/app"]\n`);
    await writeFile(join(confdir, 'templates/app.tmpl'), 'upstream = {{getv "/app/upstream"}}\n');
    await writeFile(join(dir, 'keys.yaml'), 'app:\n  upstream: 127.0.0.1:8081\n');
    const run = await sidekick(['render', '--onetime', '--confdir', confdir, '--backend', 'file', '--file', join(dir, 'keys.yaml')]);
    expect(run.stderr).not.toMatch(/"level":(40|50)/);
    expect(run.exitCode).toBe(0);
    expect(await readFile(dest, 'utf8')).toBe('upstream = 127.0.0.1:8081\n');
  });
});

describe('npm ci in a checkout', () => {
  // A dependency whose install script nobody reviewed makes every npm ci (./scripts/demo, ./scripts/test) warn.
  it('every dependency install script is approved or denied in package.json allowScripts', async () => {
    const ls = await execa('npm', ['install-scripts', 'ls'], { cwd: repo, reject: false });
    expect(`${ls.stdout}${ls.stderr}`).toContain('No packages with unreviewed install scripts.');
    expect(ls.exitCode).toBe(0);
  });
});

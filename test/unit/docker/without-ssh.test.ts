// docker-modem would load ssh2 (and native crypto addons) at require time; src/docker/without-ssh.ts stands in for
// the one file that does. Checked in a fresh process, since this one may have loaded dockerode already.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** Loads `module` (a path under src/) in a fresh node and reports which packages the CommonJS cache holds. */
async function loadedPackages(module: string, then = ''): Promise<{ ssh2: boolean; dockerode: boolean; out: string }> {
  const script = `
    import { createRequire } from 'node:module';
    const m = await import(${JSON.stringify(`./${module}`)});
    ${then}
    const keys = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify({ ssh2: keys.some((k) => k.includes('/node_modules/ssh2/')), dockerode: keys.some((k) => k.includes('/node_modules/dockerode/')) }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT });
  const last = stdout.trim().split('\n').pop() ?? '';
  return { ...(JSON.parse(last) as { ssh2: boolean; dockerode: boolean }), out: stdout };
}

describe('docker client without ssh2', () => {
  it('loads dockerode but not ssh2', async () => {
    expect(await loadedPackages('src/docker/address.ts')).toMatchObject({ ssh2: false, dockerode: true });
  });

  it('the stand-in refuses SSH clearly if docker-modem ever reaches it', async () => {
    const then = `
      const { createRequire: cr } = await import('node:module');
      const { modemSshFile } = await import('./src/docker/without-ssh.ts');
      try { cr(import.meta.url)(modemSshFile())({}); } catch (err) { console.log('refused: ' + err.message); }`;
    const { out } = await loadedPackages('src/docker/address.ts', then);
    expect(out).toContain('refused: sidekick does not talk to Docker over SSH');
  });

  it('without the stand-in, docker-modem does load ssh2 (so the test above can fail)', async () => {
    const script = `
      import { createRequire } from 'node:module';
      await import('dockerode');
      console.log(Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/ssh2/')));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
    expect(stdout.trim()).toBe('true');
  });
});

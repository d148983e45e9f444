// A renderer reading etcd with JSON logs and no --listen loads neither yaml, pino-pretty nor prom-client: each costs
// several MB resident. Checked in a fresh process (this one may have loaded them), through the CommonJS cache, which
// holds all three.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PACKAGES = ['yaml', 'pino-pretty', 'prom-client'] as const;

/** Runs `then` after importing the render command and the apply path in a fresh node; says which packages it loaded. */
async function loadedAfter(then: string): Promise<Record<(typeof PACKAGES)[number], boolean>> {
  const script = `
    import { createRequire } from 'node:module';
    await import('./src/cli/render.ts');
    await import('./src/daemon/render-daemon.ts');
    const { createLogger } = await import('./src/util/log.ts');
    ${then}
    const keys = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify(Object.fromEntries(${JSON.stringify(PACKAGES)}.map((p) => [p, keys.some((k) => k.includes('/node_modules/' + p + '/'))]))));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<(typeof PACKAGES)[number], boolean>;
}

describe('modules loaded on first use', () => {
  it('JSON logs, no YAML, no --listen: none of them', async () => {
    expect(await loadedAfter(`createLogger({ format: 'json' }).info('x');`)).toEqual({ yaml: false, 'pino-pretty': false, 'prom-client': false });
  });

  it('each is loaded when its feature is used: text logs, a YAML file, /metrics', async () => {
    const then = `
      const { Writable } = await import('node:stream');
      createLogger({ format: 'text', destination: new Writable({ write: (_c, _e, done) => done() }) }).info('x');
      (await import('./src/config/file.ts')).parseConfigFile('/tmp/x.yaml', 'log-level: info\\n');
      const { startObservability } = await import('./src/http/server.ts');
      const obs = await startObservability('127.0.0.1:0', createLogger({ format: 'json', destination: { write() {} } }));
      await obs.close();`;
    expect(await loadedAfter(then)).toEqual({ yaml: true, 'pino-pretty': true, 'prom-client': true });
  });
});

// examples/nginx-canary: the resource renders a fixture store with the real `sidekick render --onetime` and its own
// check_cmd (nginx -t on the staged snippet); the exact upstreams are checked, and a real nginx loading them sends
// the canary instance exactly its share of the requests (weighted round robin, one worker, so deterministic).
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidekick } from '../../support/cli.js';
import { freePort } from '../../support/ports.js';
import { httpGet, nginxHttpPaths, nginxPreamble, startNginx, type NginxHandle } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';
import { recordingBackend, REPO_TEMPLATES, storeDocument, type Instance, type RecordingBackend } from '../templates/support.js';
import { EXAMPLES, stageConfdir } from './support.js';

const EXAMPLE = join(EXAMPLES, 'nginx-canary');

let dir: string;
let cleanup: () => Promise<void>;
let dest: string;
let stable: RecordingBackend[];
let canary: RecordingBackend;
let nginx: NginxHandle | undefined;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sidekick-canary-'));
  // The resource as shipped, but writing into the temp dir, its check script staged there too, and no reload.
  await stageConfdir(EXAMPLE, dir, (_name, r) => {
    const { reload_cmd: _reload, ...rest } = r;
    dest = join(dir, 'canary.conf');
    return { ...rest, dest, check_cmd: String(r.check_cmd).replaceAll('/etc/sidekick', dir) };
  });
  await mkdir(join(dir, 'templates/nginx'), { recursive: true });
  await copyFile(join(REPO_TEMPLATES, 'nginx/check-snippet.sh'), join(dir, 'templates/nginx/check-snippet.sh'));
  stable = [await recordingBackend('stable-1'), await recordingBackend('stable-2')];
  canary = await recordingBackend('canary-1');
});

afterAll(async () => {
  await nginx?.stop();
  await Promise.all([...(stable ?? []), canary].map((b) => b?.close()));
  await cleanup?.();
});

const local = (name: string, id: string, port: number, tags: string[] = []): Instance => ({ name, id, host: '127.0.0.1', port, tags });

/** Writes the store and renders the example's resource once; the render's own check_cmd runs nginx -t. */
async function render(instances: Instance[]): Promise<string> {
  const store = join(dir, 'store.json');
  await writeFile(store, storeDocument({ instances }));
  const run = await sidekick(['render', '--onetime', '--confdir', dir, '--backend', 'file', '--file', store]);
  expect(run.stderr).not.toMatch(/"level":(50|60)/);
  expect(run.exitCode).toBe(0);
  return await readFile(dest, 'utf8');
}

const upstream = (name: string, servers: string[]): string => [`upstream ${name} {`, ...servers.map((s) => `    server ${s};`), '    keepalive 16;', '}', ''].join('\n');

describe('examples/nginx-canary', () => {
  it('renders weighted upstreams for a service with canaries, plain ones otherwise, and nginx -t accepts them', async () => {
    const text = await render([
      local('web', 'web-1', stable[0]?.port ?? 0, ['v1']),
      local('web', 'web-2', stable[1]?.port ?? 0, ['v1']),
      local('web', 'web-3', canary.port, ['v2', 'canary']),
      { name: 'api', id: 'api-1', host: '10.0.0.1', port: 80 },
      { name: 'beta', id: 'beta-1', host: '10.0.0.2', port: 80, tags: ['canary'] },
    ]);
    expect(text).toBe(
      upstream('api', ['10.0.0.1:80']) +
        upstream('beta', ['10.0.0.2:80']) +
        [
          'upstream web {',
          // Canaries get 2 / (9 + 9 + 2): each weighs the 2 others, each other weighs 9 × the 1 canary.
          `    server 127.0.0.1:${stable[0]?.port} weight=9;`,
          `    server 127.0.0.1:${stable[1]?.port} weight=9;`,
          `    server 127.0.0.1:${canary.port} weight=2;  # canary`,
          '    keepalive 16;',
          '}',
          '',
        ].join('\n'),
    );
  });

  it('a real nginx sends the canary 10% of the requests', async () => {
    const port = await freePort();
    const main = join(dir, 'nginx.conf');
    const server = `server {\n    listen 127.0.0.1:${port};\n    location / { proxy_pass http://web; proxy_http_version 1.1; proxy_set_header Connection ""; }\n  }`;
    await writeFile(main, `${nginxPreamble(dir)}\nhttp {\n  ${nginxHttpPaths(dir)}\n  include ${dest};\n  ${server}\n}\n`);
    nginx = await startNginx(dir, main);
    const answers = new Map<string, number>();
    // Five whole rounds of the weights 9, 9, 2: exactly 10 of 100.
    for (let i = 0; i < 100; i++) {
      const { status, body } = await httpGet(`http://127.0.0.1:${port}/`);
      expect(status).toBe(200);
      answers.set(body.trim(), (answers.get(body.trim()) ?? 0) + 1);
    }
    expect(Object.fromEntries(answers)).toEqual({ 'stable-1': 45, 'stable-2': 45, 'canary-1': 10 });
  });

  it('without a canary the service renders plain servers again', async () => {
    const text = await render([local('web', 'web-1', stable[0]?.port ?? 0, ['v1']), local('web', 'web-2', stable[1]?.port ?? 0)]);
    expect(text).toBe(upstream('web', [`127.0.0.1:${stable[0]?.port}`, `127.0.0.1:${stable[1]?.port}`]));
  });
});

// The render daemon's start → first render → follow sequence, in process: a scripted source, a real template and
// destination file. Changes that land while the first render runs must not be lost.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RenderConfig } from '../../../src/config/types.js';
import type { ResourceConfig } from '../../../src/apply/types.js';
import { captureLogger } from '../../support/logs.js';
import { RenderDaemon, type BatchReport } from '../../../src/daemon/render-daemon.js';
import { silentLogger } from '../../../src/util/log.js';
import { waitFor } from '../../support/procs.js';
import { appConfig, appResource, ScriptedSource, useAppTemplateDir } from '../../support/scripted-source.js';

const app = useAppTemplateDir();
let daemon: RenderDaemon | undefined;
afterEach(async () => {
  await daemon?.close();
  daemon = undefined;
});

const config = (watch: boolean): RenderConfig => appConfig(app.dir, appResource(app.dir), watch);
const dest = (): Promise<string> => readFile(join(app.dir, 'app.conf'), 'utf8');

describe('RenderDaemon start → renderAll → follow', () => {
  it('watch mode: a key change that lands while the first render is applied is rendered afterwards', async () => {
    const source = new ScriptedSource();
    source.view.set('/app/x', '1');
    let passes = 0;
    // The first pass's report comes after its file is written and before the caller gets to follow(): the window in
    // which a watch event must still lead to a render, not only to an updated mirror.
    const observer = { batch: () => ++passes === 1 && source.put('/app/x', '2') };
    daemon = new RenderDaemon({ config: config(true), log: silentLogger, source, observer });
    await daemon.start();
    await daemon.renderAll();
    expect(await dest()).toBe('value = 1\n');
    daemon.follow();
    await waitFor(async () => (await dest()) === 'value = 2\n', 5000);
    expect(passes).toBe(2);
  });

  it('watch mode: a change made before the first read completes is in that first render, rendered once', async () => {
    const source = new ScriptedSource();
    source.view.set('/app/x', '1');
    const start = source.start.bind(source);
    source.start = async () => {
      source.put('/app/x', '3');
      await start();
    };
    let passes = 0;
    daemon = new RenderDaemon({ config: config(true), log: silentLogger, source, observer: { batch: () => void passes++ } });
    await daemon.start();
    await daemon.renderAll();
    daemon.follow();
    expect(await dest()).toBe('value = 3\n');
    await daemon.idle();
    expect(passes).toBe(1);
  });

  it('follow() on a source that went stale after the first render reports it, and re-renders once it syncs', async () => {
    const source = new ScriptedSource();
    source.view.set('/app/x', '1');
    const states: string[] = [];
    daemon = new RenderDaemon({ config: config(true), log: silentLogger, source, observer: { sourceState: (s) => void states.push(s) } });
    await daemon.start();
    await daemon.renderAll();
    source.move('stale');
    source.view.set('/app/x', '4'); // a re-read after the gap, without a change event
    daemon.follow();
    expect(states).toEqual(['stale']);
    source.move('synced');
    await waitFor(async () => (await dest()) === 'value = 4\n', 5000);
  });

  it('watch mode: a first render whose reload fails keeps its file and retries the reload until it succeeds', async () => {
    const marker = join(app.dir, 'service-up');
    const fixture = join(import.meta.dirname, '../../fixtures/fail-until.sh');
    const source = new ScriptedSource();
    source.view.set('/app/x', '1');
    const watchConfig = appConfig(app.dir, appResource(app.dir, { reloadCmd: `${fixture} ${marker}` }), true);
    daemon = new RenderDaemon({ config: watchConfig, log: silentLogger, source });
    await daemon.start();
    const [first] = await daemon.renderAll();
    daemon.follow();
    expect(first).toMatchObject({ status: 'failed', reloadOwed: true });
    expect(await dest()).toBe('value = 1\n');
    await writeFile(marker, ''); // the service starts
    await waitFor(() => daemon?.outcomes.get('app.toml')?.status === 'applied', 10_000);
    const runs = (await readFile(`${marker}.log`, 'utf8')).trim().split('\n');
    expect(runs.at(-1)).toBe('ok');
    expect(await dest()).toBe('value = 1\n');
  });
});

describe('min_endpoints', () => {
  it('guards {{#each (services)}}: deleting the last instance keeps the last good file', async () => {
    await writeFile(join(app.dir, 'app.tmpl'), '{{#each (services root="/app")}}{{#each (service this root="/app")}}{{address}};{{/each}}{{/each}}\n');
    const source = new ScriptedSource();
    source.view.set('/app/web/a', '127.0.0.1:8081');
    const errors: string[] = [];
    const observer = { batch: (r: BatchReport) => void errors.push(...r.outcomes.map((o) => o.error?.message ?? o.status)) };
    daemon = new RenderDaemon({ config: appConfig(app.dir, appResource(app.dir, { minEndpoints: 1 }), true), log: silentLogger, source, observer });
    await daemon.start();
    await daemon.renderAll();
    expect(await dest()).toBe('127.0.0.1:8081;\n');
    daemon.follow();
    source.view.delete('/app/web/a');
    source.emit('change', ['/app/web/a']);
    await waitFor(() => errors.length === 2, 5000);
    expect(errors[1]).toBe('app.toml: min_endpoints: services "/app" has 0 entries, fewer than 1; keeping the last good file');
    expect(await dest()).toBe('127.0.0.1:8081;\n');
  });

  it('guards what a tag= selection returns; where filters a list that was counted whole', async () => {
    await writeFile(join(app.dir, 'app.tmpl'), '{{#each (service "web" root="/app" tag="v2")}}{{address}};{{/each}}|{{#each (where (service "api" root="/app") "tags" "v2")}}{{address}};{{/each}}\n');
    const source = new ScriptedSource();
    const v2 = '{"host":"127.0.0.1","port":8081,"tags":["v2"]}';
    source.view.set('/app/web/a', v2);
    source.view.set('/app/api/b', '127.0.0.1:8082');
    const errors: string[] = [];
    const observer = { batch: (r: BatchReport) => void errors.push(...r.outcomes.map((o) => o.error?.message ?? o.status)) };
    daemon = new RenderDaemon({ config: appConfig(app.dir, appResource(app.dir, { minEndpoints: 1 }), true), log: silentLogger, source, observer });
    await daemon.start();
    await daemon.renderAll();
    // api has no v2 instance: where selects none, and that is not refused.
    expect(await dest()).toBe('127.0.0.1:8081;|\n');
    daemon.follow();
    source.view.set('/app/web/a', '127.0.0.1:8081'); // the instance stays, its tag goes
    source.emit('change', ['/app/web/a']);
    await waitFor(() => errors.length === 2, 5000);
    expect(errors[1]).toBe('app.toml: min_endpoints: service "/app/web tag=v2" has 0 entries, fewer than 1; keeping the last good file');
    expect(await dest()).toBe('127.0.0.1:8081;|\n');
  });
});

describe('RenderDaemon with a file set', () => {
  const record = (name: string, id: string, port: number): string => JSON.stringify({ name, id, host: '127.0.0.1', port, tags: [], meta: {} });
  const setConfig = (extra: Partial<ResourceConfig> = {}): RenderConfig =>
    appConfig(
      app.dir,
      appResource(app.dir, {
        src: join(app.dir, 'upstream.tmpl'),
        dest: join(app.dir, 'up', '{{service}}.conf'),
        fileSet: { member: 'service', dir: join(app.dir, 'up'), before: '', after: '.conf' },
        keys: ['/services'],
        ...extra,
      }),
      false,
    );
  const upstream = 'upstream {{this}} {\n{{#each (service this)}}\n  server {{address}};\n{{/each}}\n}\n';

  it('renders one file per service, the member as the root context; a vanished service loses its file', async () => {
    await mkdir(join(app.dir, 'up'));
    await writeFile(join(app.dir, 'upstream.tmpl'), upstream);
    const source = new ScriptedSource();
    source.view.set('/services/web/a', record('web', 'a', 8001));
    source.view.set('/services/api/a', record('api', 'a', 9001));
    source.view.set('/services/empty/a', 'not a record');
    daemon = new RenderDaemon({ config: setConfig(), log: silentLogger, source });
    await daemon.start();
    expect((await daemon.renderAll())[0]?.status).toBe('applied');
    expect(await readFile(join(app.dir, 'up/web.conf'), 'utf8')).toBe('upstream web {\n  server 127.0.0.1:8001;\n}\n');
    expect((await readdir(join(app.dir, 'up'))).sort()).toEqual(['.sidekick-app.toml.files', 'api.conf', 'web.conf']);
    source.view.delete('/services/api/a');
    expect((await daemon.renderAll())[0]?.status).toBe('applied');
    expect((await readdir(join(app.dir, 'up'))).sort()).toEqual(['.sidekick-app.toml.files', 'web.conf']);
  });

  it('a change renders and compares only the members it can concern: the others are neither rendered nor read', async () => {
    await mkdir(join(app.dir, 'up'));
    await writeFile(join(app.dir, 'upstream.tmpl'), upstream);
    const source = new ScriptedSource();
    source.view.set('/services/web/a', record('web', 'a', 8001));
    source.view.set('/services/api/a', record('api', 'a', 9001));
    daemon = new RenderDaemon({ config: setConfig(), log: silentLogger, source });
    await daemon.start();
    await daemon.renderAll();
    // Not read again while nothing web's file was rendered from changes: a hand edit shows it.
    await writeFile(join(app.dir, 'up/web.conf'), 'edited by hand\n');
    source.view.set('/services/api/a', record('api', 'a', 9002));
    expect((await daemon.renderAll())[0]?.status).toBe('applied');
    expect(await readFile(join(app.dir, 'up/api.conf'), 'utf8')).toContain('127.0.0.1:9002');
    expect(await readFile(join(app.dir, 'up/web.conf'), 'utf8')).toBe('edited by hand\n');
    source.view.set('/services/web/a', record('web', 'a', 8002));
    expect((await daemon.renderAll())[0]?.status).toBe('applied');
    expect(await readFile(join(app.dir, 'up/web.conf'), 'utf8')).toBe('upstream web {\n  server 127.0.0.1:8002;\n}\n');
  });

  it('min_endpoints per member: a short member keeps its file and the outcome names it; no member at all removes nothing', async () => {
    await mkdir(join(app.dir, 'up'));
    await writeFile(join(app.dir, 'upstream.tmpl'), upstream);
    const source = new ScriptedSource();
    for (const id of ['a', 'b']) {
      source.view.set(`/services/web/${id}`, record('web', id, 8000));
      source.view.set(`/services/api/${id}`, record('api', id, 9000));
    }
    const logs = captureLogger();
    daemon = new RenderDaemon({ config: setConfig({ minEndpoints: 2 }), log: logs.log, source });
    await daemon.start();
    await daemon.renderAll();
    const apiBefore = await readFile(join(app.dir, 'up/api.conf'), 'utf8');
    source.view.delete('/services/api/b');
    source.view.set('/services/web/b', record('web', 'b', 8002));
    const [out] = await daemon.renderAll();
    expect(out?.status).toBe('failed');
    expect(out?.error?.message).toMatch(/^member api: min_endpoints: service "api" has 1 entries, fewer than 2; keeping its last file \(the other members applied\)$/);
    expect(await readFile(join(app.dir, 'up/api.conf'), 'utf8')).toBe(apiBefore);
    expect(await readFile(join(app.dir, 'up/web.conf'), 'utf8')).toContain('127.0.0.1:8002');
    expect(logs.lines.filter((l) => l.msg === 'file set members not rendered; their files left as they were')).toHaveLength(1);
    for (const key of ['/services/web/a', '/services/web/b', '/services/api/a']) source.view.delete(key);
    const [none] = await daemon.renderAll();
    expect(none?.error?.message).toMatch(/min_endpoints: the file set has no members \(no service has an instance\); keeping the last good files, none removed/);
    expect((await readdir(join(app.dir, 'up'))).sort()).toEqual(['.sidekick-app.toml.files', 'api.conf', 'web.conf']);
  });

  it('{{key}}: one file per child of its key; an unsafe child name is skipped with one warning however often it renders', async () => {
    await mkdir(join(app.dir, 'up'));
    await writeFile(join(app.dir, 'upstream.tmpl'), 'host {{this}} = {{getv (printf "/hosts/%s" this)}}\n');
    const source = new ScriptedSource();
    source.view.set('/hosts/one', '1');
    source.view.set('/hosts/two', '2');
    source.view.set('/hosts/..', 'climb');
    source.view.set('/hosts/a b', 'space');
    const logs = captureLogger();
    const config = setConfig({ keys: ['/hosts'], dest: join(app.dir, 'up', 'h-{{key}}'), fileSet: { member: 'key', dir: join(app.dir, 'up'), before: 'h-', after: '' } });
    daemon = new RenderDaemon({ config, log: logs.log, source });
    await daemon.start();
    expect((await daemon.renderAll())[0]?.status).toBe('applied');
    await daemon.renderAll();
    expect((await readdir(join(app.dir, 'up'))).sort()).toEqual(['.sidekick-app.toml.files', 'h-one', 'h-two']);
    expect(await readFile(join(app.dir, 'up/h-two'), 'utf8')).toBe('host two = 2\n');
    const skipped = logs.lines.filter((l) => l.msg === 'file set member skipped: its name cannot name a file');
    expect(skipped.map((l) => l.storeKey).sort()).toEqual(['/hosts/..', '/hosts/a b']);
  });
});

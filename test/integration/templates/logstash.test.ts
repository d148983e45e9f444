// templates/logstash: rendered by the real `sidekick render` from a fixture store. Logstash is not installed
// here, so its check is dropped and the output is asserted byte for byte; min_endpoints keeps the last good file.
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines } from '../../support/cli.js';
import { EVIL_HOST, fixtureStore, shippedConfdir, type Confdir, type StoreSpec } from './support.js';

let conf: Confdir;
let store: StoreSpec;

beforeAll(async () => {
  store = fixtureStore({ webA: 8001, webB: 8002, internal: 8003 });
  conf = await shippedConfdir('logstash', (r) => {
    expect(String(r.check_cmd)).toContain('--config.test_and_exit');
    delete r.check_cmd;
  });
});
afterAll(async () => conf?.cleanup());

describe('templates/logstash', () => {
  it('renders one elasticsearch host per valid instance: scheme from meta.scheme, IPv6 bracketed', async () => {
    expect(conf.resource.min_endpoints).toBe(1);
    const run = await conf.render({
      ...store,
      raw: [['elasticsearch', 'evil', JSON.stringify({ name: 'elasticsearch', id: 'evil', host: EVIL_HOST, port: 9200 })]],
    });
    expect(run.exitCode).toBe(0);
    expect(await readFile(conf.dest, 'utf8')).toBe(
      [
        'output {',
        '  elasticsearch {',
        '    hosts => [',
        '      "http://10.0.0.21:9200",',
        '      "https://[fd00::22]:9200"',
        '    ]',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('with no valid elasticsearch instance the render is refused (min_endpoints) and the last good file stays', async () => {
    await writeFile(conf.dest, '# last good\n');
    const run = await conf.render({
      instances: store.instances.filter((i) => i.name !== 'elasticsearch'),
      raw: [['elasticsearch', 'evil', JSON.stringify({ name: 'elasticsearch', id: 'evil', host: EVIL_HOST, port: 9200 })]],
    });
    expect(run.exitCode).not.toBe(0);
    const errors = logLines(String(run.stderr)).filter((l) => Number(l.level) >= 50);
    expect(errors.some((l) => /min_endpoints/.test(String(l.err)) && /elasticsearch/.test(String(l.err)))).toBe(true);
    expect(await readFile(conf.dest, 'utf8')).toBe('# last good\n');
  });
});

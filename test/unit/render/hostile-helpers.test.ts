// Helpers facing hostile store contents or template authors: refused service folders, sidekick's own credentials.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TemplateEngine } from '../../../src/render/engine.js';
import { TemplateError } from '../../../src/util/errors.js';
import { captureLog, MapView } from './fixtures.js';

describe('services', () => {
  it('a folder with an invalid service name is left out with one warning naming it, as a refused record is', async () => {
    const { log, lines } = captureLog();
    const engine = new TemplateEngine({ log });
    const t = engine.compileTemplate('lb.tmpl', '{{join (services) ","}}');
    const view = new MapView({ '/services/Bad Name/x': '10.0.0.1:80', '/services/web/a': '10.0.0.2:80' });
    for (let i = 0; i < 3; i++) expect((await t.render({ view, prefix: '/' })).text).toBe('web');
    const warned = lines.filter((l) => l.msg === 'ignoring invalid service record');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ storeKey: '/services/Bad Name/x', template: 'lb.tmpl', level: 40 });
    expect(String(warned[0]?.reason)).toContain('Bad Name');
  });
});

describe('getenv', () => {
  afterEach(() => vi.unstubAllEnvs());
  const render = (source: string) => new TemplateEngine().compileTemplate('t.tmpl', source).render({ view: new MapView(), prefix: '/' });

  it("refuses sidekick's own credential variables, naming the file, line and variable", async () => {
    vi.stubEnv('SIDEKICK_PASSWORD', 'etcd-secret');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'aws-secret');
    for (const name of ['SIDEKICK_PASSWORD', 'AWS_SECRET_ACCESS_KEY']) {
      const err = await render(`x\n{{getenv "${name}"}}`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TemplateError);
      expect((err as Error).message).toBe(
        `t.tmpl:2:1: getenv: "${name}" holds sidekick's own credentials and is not given to templates (list it in SIDEKICK_GETENV_ALLOW to allow it)`,
      );
    }
  });

  it('gives one when the operator lists it in SIDEKICK_GETENV_ALLOW; other variables as before', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
    vi.stubEnv('SIDEKICK_GETENV_ALLOW', 'AWS_ACCESS_KEY_ID');
    vi.stubEnv('HOSTNAME', 'lb1');
    expect((await render('{{getenv "AWS_ACCESS_KEY_ID"}} {{getenv "HOSTNAME"}}')).text).toBe('AKIDEXAMPLE lb1');
  });
});

// The template cache: a template compiled once is evaluated from its stored spec afterwards; a cache that others can
// write, a damaged entry or a link is never run; the cache changes nothing about what is rendered or refused.
import { chmod, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { specKey, templateCacheDir } from '../../../src/render/compile-cache.js';
import { TemplateEngine } from '../../../src/render/engine.js';
import { TemplateError } from '../../../src/util/errors.js';
import { tempDir } from '../../support/tmp.js';
import { captureLog, MapView } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let templates: string;
let cache: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  templates = join(dir, 'templates');
  cache = join(dir, 'cache');
  await mkdir(templates);
});
afterEach(() => cleanup());

const SOURCE = 'upstream app {\n{{#each (getvs "/app/*")}}  server {{this}};\n{{/each}}\n}\n';
const view = new MapView({ '/app/a': '10.0.0.1:80', '/app/b': '10.0.0.2:80' });
const EXPECTED = 'upstream app {\n  server 10.0.0.1:80;\n  server 10.0.0.2:80;\n}\n';

async function load(source = SOURCE, opts: { cacheDir?: string } = { cacheDir: cache }) {
  const path = join(templates, 'app.tmpl');
  await writeFile(path, source);
  const captured = captureLog();
  const engine = new TemplateEngine({ templatesDir: templates, log: captured.log, ...opts });
  const template = await engine.loadTemplateFile(path);
  return { text: (await template.render({ view, prefix: '' })).text, lines: captured.lines };
}

async function entries(): Promise<string[]> {
  return (await readdir(cache)).filter((f) => f.endsWith('.js'));
}

/** Rewrites the one stored entry's static text, so a render shows whether the entry was used. */
async function tamperEntry(): Promise<string> {
  const [entry] = await entries();
  const path = join(cache, entry as string);
  await writeFile(path, (await readFile(path, 'utf8')).replace('upstream app', 'upstream FROM_CACHE'));
  return path;
}

describe('template cache', () => {
  it('stores a compiled template and evaluates the stored spec on the next load', async () => {
    expect((await load()).text).toBe(EXPECTED);
    expect(await entries()).toHaveLength(1);
    await tamperEntry();
    expect((await load()).text).toBe(EXPECTED.replace('upstream app', 'upstream FROM_CACHE'));
  });

  it('renders the same as a template compiled without the cache', async () => {
    const uncached = (await load(SOURCE, {})).text;
    expect((await load()).text).toBe(uncached);
    expect((await load()).text).toBe(uncached);
  });

  it('keys entries by the template text: an edited template is compiled again', async () => {
    await load();
    await tamperEntry();
    const edited = SOURCE.replace('server', 'server  ');
    expect((await load(edited)).text).toBe(EXPECTED.replaceAll('server', 'server  '));
    expect(await entries()).toHaveLength(2);
  });

  it('compiles again over a damaged entry and replaces it', async () => {
    await load();
    const [entry] = await entries();
    const path = join(cache, entry as string);
    const header = (await readFile(path, 'utf8')).split('\n', 1)[0] as string;
    await writeFile(path, `${header}\n{"main": function( {`);
    expect((await load()).text).toBe(EXPECTED);
    expect(await readFile(path, 'utf8')).toContain('"main"');
    await tamperEntry(); // the replaced entry is valid and used again
    expect((await load()).text).toContain('FROM_CACHE');
  });

  it('ignores an entry that others can write, and an entry that is a symlink', async () => {
    await load();
    const path = await tamperEntry();
    await chmod(path, 0o666);
    expect((await load()).text).toBe(EXPECTED);
    await chmod(path, 0o600);
    const real = `${path}.real`;
    await writeFile(real, await readFile(path, 'utf8'), { mode: 0o600 });
    await import('node:fs/promises').then((fs) => fs.rm(path));
    await symlink(real, path);
    expect((await load()).text).toBe(EXPECTED);
  });

  it('never uses a folder that others can write: compiles, stores nothing, warns once', async () => {
    await mkdir(cache, { mode: 0o700 });
    await chmod(cache, 0o777);
    const { text, lines } = await load();
    expect(text).toBe(EXPECTED);
    expect(await entries()).toHaveLength(0);
    expect(lines.filter((l) => String(l.msg).startsWith('template cache not used'))).toHaveLength(1);
  });

  it('a folder that cannot be created means compiling as without a cache', async () => {
    await writeFile(join(dir, 'file'), '');
    expect((await load(SOURCE, { cacheDir: join(dir, 'file', 'cache') })).text).toBe(EXPECTED);
  });

  it('a template that does not compile is refused with its position, and nothing is stored', async () => {
    const err = await load('a\n{{#each (getvs "/app/*")}}\n{{/if}}\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).message).toMatch(/app\.tmpl:2:\d+: /);
    expect(await entries().catch(() => [])).toHaveLength(0);
  });

  it('strict lookups keep failing at file:line:column with a stored spec', async () => {
    const source = 'x\n{{#each (getvs "/app/*")}}{{nosuch}}{{/each}}\n';
    const first = await load(source).catch((e: unknown) => e);
    const second = await load(source).catch((e: unknown) => e);
    expect(await entries()).toHaveLength(1);
    expect((first as Error).message).toMatch(/app\.tmpl:2:\d+: unknown name "nosuch"/);
    expect((second as Error).message).toBe((first as Error).message);
  });
});

describe('specKey', () => {
  it('differs with the text, the options and the compiler version', () => {
    const base = specKey('a', { strict: true }, '4.7.0');
    expect(specKey('a', { strict: true }, '4.7.0')).toBe(base);
    expect(specKey('b', { strict: true }, '4.7.0')).not.toBe(base);
    expect(specKey('a', { strict: false }, '4.7.0')).not.toBe(base);
    expect(specKey('a', { strict: true }, '4.7.1')).not.toBe(base);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('templateCacheDir', () => {
  it('is off, an explicit folder, or the per-user default', () => {
    expect(templateCacheDir({ SIDEKICK_TEMPLATE_CACHE: 'off' })).toBeUndefined();
    expect(templateCacheDir({ SIDEKICK_TEMPLATE_CACHE: '/srv/cache' })).toBe('/srv/cache');
    const fallback = templateCacheDir({ XDG_CACHE_HOME: '/home/u/.cache' });
    if (process.geteuid?.() === 0) expect(fallback).toBe('/var/cache/sidekick/templates');
    else expect(fallback).toBe('/home/u/.cache/sidekick/templates');
  });
});

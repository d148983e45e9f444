// Template bounds: size, tag count, nesting; and where template files may be read from.
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TemplateEngine } from '../../../src/render/engine.js';
import { MAX_MUSTACHES, MAX_NESTING, MAX_TEMPLATE_BYTES } from '../../../src/render/limits.js';
import { TemplateError } from '../../../src/util/errors.js';
import { tempDir } from '../../support/tmp.js';
import { MapView } from './fixtures.js';

const compile = (source: string) => new TemplateEngine().compileTemplate('templates/big.tmpl', source);

function refusal(source: string): string {
  try {
    compile(source);
  } catch (err) {
    expect(err).toBeInstanceOf(TemplateError);
    return (err as Error).message;
  }
  throw new Error('expected the template to be refused');
}

describe('template limits', () => {
  it('refuses a template over the size bound, naming the file', () => {
    const source = `${'x'.repeat(MAX_TEMPLATE_BYTES)}{{a}}`;
    expect(refusal(source)).toBe(`templates/big.tmpl: template is ${MAX_TEMPLATE_BYTES + 5} bytes, over the limit of ${MAX_TEMPLATE_BYTES} (split it into several resources)`);
  });

  it('refuses 170,000 tags and 40,000 getv lines before Handlebars parses them', () => {
    const tooMany = `templates/big.tmpl: template has more than ${MAX_MUSTACHES} {{…}} tags, the limit (loop over a list with {{#each}}, or split the file)`;
    expect(refusal('{{a}}'.repeat(170_000))).toBe(tooMany);
    expect(refusal(Array.from({ length: 40_000 }, (_, i) => `{{getv "/k${i}"}}`).join('\n'))).toBe(tooMany);
  });

  it('refuses 5,000 nested blocks at the line where the limit is crossed', () => {
    const source = `${'{{#if a}}\n'.repeat(5000)}x${'{{/if}}'.repeat(5000)}`;
    expect(refusal(source)).toBe(`templates/big.tmpl:${MAX_NESTING + 1}: blocks nested more than ${MAX_NESTING} deep, the limit`);
  });

  it('accepts what a person writes: nesting up to the bound, else branches and comments not counted as blocks', async () => {
    const deep = `${'{{#if a}}{{else}}{{#if b}}y{{^}}'.repeat(MAX_NESTING / 2)}x${'{{/if}}'.repeat(MAX_NESTING)}`;
    expect(() => compile(deep)).not.toThrow();
    const commented = `{{!-- ${'{{#if a}}'.repeat(MAX_NESTING + 5)} --}}{{! {{#x}}{{#each (getvs "/a/*")}}{{this}}{{/each}}`;
    const { text } = await compile(commented).render({ view: new MapView({ '/a/1': 'one' }), prefix: '/' });
    expect(text).toBe('one');
    const lines = Array.from({ length: 3000 }, (_, i) => `server s${i} {{getv "/a/${i}" "0"}}:80;`).join('\n');
    expect((await compile(lines).render({ view: new MapView({}), prefix: '/' })).text.split('\n')).toHaveLength(3000);
  });
});

describe('template files', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('are read only from <confdir>/templates, symlinks followed', async () => {
    await mkdir(join(dir, 'templates'));
    await writeFile(join(dir, 'secret'), 'not a template');
    await symlink(join(dir, 'secret'), join(dir, 'templates', 'leak.tmpl'));
    await writeFile(join(dir, 'templates', 'ok.tmpl'), 'ok');
    const engine = new TemplateEngine({ sandboxDir: dir });
    await expect(engine.loadTemplateFile(join(dir, 'templates', 'leak.tmpl'))).rejects.toThrow(
      `${join(dir, 'templates', 'leak.tmpl')}: template lies outside ${join(dir, 'templates')} (symlinks followed); sidekick reads templates only from there`,
    );
    await expect(engine.loadTemplateFile(join(dir, 'templates', 'ok.tmpl'))).resolves.toMatchObject({ path: join(dir, 'templates', 'ok.tmpl') });
  });

  it('a FIFO is refused without blocking; an oversized file without being read', async () => {
    const fifo = join(dir, 'fifo.tmpl');
    execFileSync('mkfifo', [fifo]);
    const engine = new TemplateEngine();
    await expect(engine.loadTemplateFile(fifo)).rejects.toThrow(`${fifo}: template is not a regular file`);
    const big = join(dir, 'big.tmpl');
    await writeFile(big, 'x'.repeat(MAX_TEMPLATE_BYTES + 1));
    await expect(engine.loadTemplateFile(big)).rejects.toThrow(`template is ${MAX_TEMPLATE_BYTES + 1} bytes, over the limit`);
  });
});

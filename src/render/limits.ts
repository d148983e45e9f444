// Bounds on what a template file may be, checked before Handlebars sees it: its parser and compiler grow faster
// than linearly with nesting and with the number of mustaches, so an unbounded file can stall the renderer.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { TemplateError } from '../util/errors.js';
import { inside, realInside } from '../util/paths.js';

/** The largest template file: hand-written configs are a few hundred KiB at most. */
export const MAX_TEMPLATE_BYTES = 1024 * 1024;
/** The most `{{…}}` tags in one template: a 3,000-line config with a tag on every line stays under it. */
export const MAX_MUSTACHES = 5_000;
/** The deepest nesting of blocks (`{{#if}}`, `{{#each}}`, …): real templates stay under ten. */
export const MAX_NESTING = 100;

// Comments first (their text is not counted); then an opening `{{#…}}` / `{{^name}}`, a closing `{{/…}}`, or any other tag.
const TAG_RE = /\{\{!--[\s\S]*?--~?\}\}|\{\{~?!(?!--)[^}]*\}\}|\{\{~?\s*(#|\^(?!\s*~?\}\})|\/)?/g;

/** Throws a TemplateError naming `path` when the source exceeds a bound; linear in the source length. */
export function checkTemplateLimits(path: string, source: string): void {
  const bytes = Buffer.byteLength(source);
  if (bytes > MAX_TEMPLATE_BYTES) throw tooLarge(path, bytes);
  let tags = 0;
  let depth = 0;
  for (const m of source.matchAll(TAG_RE)) {
    if (m[0].startsWith('{{!')) continue;
    if (++tags > MAX_MUSTACHES) {
      throw new TemplateError(`template has more than ${MAX_MUSTACHES} {{…}} tags, the limit (loop over a list with {{#each}}, or split the file)`, { where: path });
    }
    if (m[1] === '/') depth = Math.max(0, depth - 1);
    else if (m[1] && ++depth > MAX_NESTING) {
      const line = source.slice(0, m.index).split('\n').length;
      throw new TemplateError(`blocks nested more than ${MAX_NESTING} deep, the limit`, { where: `${path}:${line}` });
    }
  }
}

function tooLarge(path: string, bytes: number): TemplateError {
  return new TemplateError(`template is ${bytes} bytes, over the limit of ${MAX_TEMPLATE_BYTES} (split it into several resources)`, { where: path });
}

/**
 * Reads a template file that lies in `dir` (symlinks followed) and is a regular file within the size bound;
 * a FIFO or device is refused without blocking on it.
 */
export async function readTemplateSource(path: string, dir: string | undefined): Promise<string> {
  if (dir !== undefined && !(inside(dir, path) && realInside(dir, path))) {
    throw new TemplateError(`template lies outside ${dir} (symlinks followed); sidekick reads templates only from there`, { where: path });
  }
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new TemplateError('template is not a regular file', { where: path });
    if (st.size > MAX_TEMPLATE_BYTES) throw tooLarge(path, st.size);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

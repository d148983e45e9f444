// conf.d loading: every `conf.d/**/*.toml` is one resource; a bad file is reported and skipped, the others load.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { errorMessage } from '../util/errors.js';
import { tomlLocator } from './diagnostics.js';
import { displayPath, parseTomlResource, type ResourceContext } from './resource.js';
import type { ResourceConfig } from '../apply/types.js';

/** Result of reading conf.d: the resources that loaded, one message per file that did not. */
export interface ConfdDirResult {
  resources: ResourceConfig[];
  /** `conf.d/x.toml:4: unknown field "chek_cmd"`-style lines, one per skipped file. */
  problems: string[];
  /** False when `<confdir>/conf.d` does not exist (fine when a YAML config lists the resources). */
  found: boolean;
}

/** Reads `<confdir>/conf.d/**\/*.toml` in sorted order (recursive like confd; dot files skipped as editor leftovers). */
export async function loadConfdDir(
  confdir: string,
  globalPrefix: string,
  extra: Pick<ResourceContext, 'lookupId'> = {},
): Promise<ConfdDirResult> {
  const dir = join(confdir, 'conf.d');
  let names: string[];
  try {
    names = await readdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { resources: [], problems: [], found: false };
    return { resources: [], problems: [`${displayPath(dir, confdir)}: cannot read: ${errorMessage(err)}`], found: true };
  }
  const files = names
    .filter((n) => n.endsWith('.toml') && !n.split(sep).some((part) => part.startsWith('.')))
    .sort()
    .map((n) => join(dir, n));
  const resources: ResourceConfig[] = [];
  const problems: string[] = [];
  for (const file of files) {
    try {
      if (!(await stat(file)).isFile()) continue;
      const text = await readFile(file, 'utf8');
      const resource = parseTomlResource(file, text, { confdir, globalPrefix, ...extra });
      const missing = await missingTemplate(resource, `${displayPath(file, confdir)}:${tomlLocator(text, 'template').line(['src']) ?? 1}`);
      if (missing) problems.push(missing);
      else resources.push(resource);
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  return { resources, problems, found: true };
}

/** A problem line when the resource's template file does not exist (checked at load, so the operator hears it at once). */
export async function missingTemplate(resource: ResourceConfig, where: string): Promise<string | undefined> {
  try {
    if ((await stat(resource.src)).isFile()) return undefined;
    return `${where}: src: not a file: ${resource.src}`;
  } catch {
    return `${where}: src: template not found: ${resource.src}`;
  }
}

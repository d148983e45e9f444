// A confd-style confdir for `sidekick render --watch` in the fault suite: one resource listing every instance of
// one service, a reload_cmd that appends a line to a counter file (so "zero reloads" can be asserted), and helpers
// to read what was rendered.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { countLines, fileHash } from './figures.js';

/** The confdir, its destination file and reload counter. */
export interface RenderFixture {
  confdir: string;
  dest: string;
  /** One line is appended per reload. */
  reloadsFile: string;
  /** Number of reloads so far. */
  reloads(): Promise<number>;
  /** Instance ids in the destination file, sorted (undefined: no file yet). */
  ids(): Promise<string[] | undefined>;
  /** sha256 of the destination file. */
  hash(): Promise<string>;
  /** The destination's text ('' when missing). */
  text(): Promise<string>;
}

/**
 * Writes `<dir>/conf.d/<service>.toml` and its template: the destination lists `<id> <address>` per instance of
 * `service` under the native layout (`/services/<service>/<id>`), sorted by id, after a header line.
 */
export async function renderFixture(dir: string, service = 'svc'): Promise<RenderFixture> {
  await mkdir(join(dir, 'conf.d'), { recursive: true });
  await mkdir(join(dir, 'templates'), { recursive: true });
  const dest = join(dir, `${service}.conf`);
  const reloadsFile = join(dir, 'reloads');
  await writeFile(
    join(dir, 'templates', `${service}.tmpl`),
    `# instances of ${service}\n{{#each (service "${service}")}}\n{{id}} {{address}}\n{{/each}}\n`,
  );
  // `>>` is shell syntax, so sidekick runs the line through /bin/sh.
  await writeFile(
    join(dir, 'conf.d', `${service}.toml`),
    `[template]\nsrc = "${service}.tmpl"\ndest = "${dest}"\nkeys = ["/services/${service}"]\nreload_cmd = "echo reload >> ${reloadsFile}"\n`,
  );
  const text = (): Promise<string> => readFile(dest, 'utf8').catch(() => '');
  return {
    confdir: dir,
    dest,
    reloadsFile,
    reloads: () => countLines(reloadsFile),
    async ids() {
      const t = await readFile(dest, 'utf8').catch(() => undefined);
      if (t === undefined) return undefined;
      return t
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(' ')[0] as string)
        .sort();
    },
    hash: () => fileHash(dest),
    text,
  };
}

/** `sidekick render --watch` arguments for a fixture and a list of etcd endpoints. */
export function renderArgs(fx: RenderFixture, endpoints: string[]): string[] {
  return ['render', '--backend', 'etcd', ...endpoints.flatMap((e) => ['--node', e]), '--confdir', fx.confdir, '--watch'];
}

/** A native-layout record value. */
export function recordValue(service: string, id: string, port: number, host = '127.0.0.1'): string {
  return JSON.stringify({ name: service, id, host, port, tags: [], meta: {} });
}

/** Same members, regardless of order. */
export function sameSet(a: Iterable<string> | undefined, b: Iterable<string>): boolean {
  if (a === undefined) return false;
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

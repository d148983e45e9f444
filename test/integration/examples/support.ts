// Helpers for the example tests: read systemd units, compose files and conf.d resources as shipped, and run the
// pieces they name (sidekick's own command lines, stand-in services) on loopback.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import type Dockerode from 'dockerode';
import { runContainer } from '../../support/docker.js';
import { freePort } from '../../support/ports.js';
import { tcpOpen, waitFor } from '../../support/procs.js';

/** The repository's examples/ folder. */
export const EXAMPLES = join(import.meta.dirname, '../../../examples');

/** One unit file: its sections in order, each a list of [key, value] (keys may repeat, e.g. ExecStartPre). */
export type Unit = Map<string, Array<[string, string]>>;

/** Parses a systemd unit file: sections, `Key=Value` lines, `#`/`;` comments, backslash continuations. */
export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Array<[string, string]> | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${(lines[++i] as string).trim()}`;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = [];
      unit.set(header[1] as string, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq <= 0) throw new Error(`not a unit file line: ${line}`);
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** Every value of `key` in `section` (empty when none). */
export function unitValues(unit: Unit, section: string, key: string): string[] {
  return (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
}

/** Reads `KEY=VALUE` lines as systemd's EnvironmentFile= does (comments and blank lines skipped, quotes removed). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not an environment line: ${line}`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return env;
}

/**
 * Turns an ExecStart= value into argv as systemd does for these units: words split on whitespace (quotes group),
 * specifiers (%i, %H, %%, … from `specifiers`) replaced, `${VAR}` replaced inside a word and a lone `$VAR` word
 * split into words, from `env`. A leading `-`, `@`, `+` or `!` prefix is not supported (none is used).
 */
export function execArgv(value: string, specifiers: Record<string, string>, env: Record<string, string>): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(value); m; m = re.exec(value)) words.push(m[1] ?? m[2] ?? (m[3] as string));
  const spec = (w: string): string =>
    w.replace(/%(.)/g, (_all, c: string) => {
      if (c === '%') return '%';
      const v = specifiers[c];
      if (v === undefined) throw new Error(`specifier %${c} has no value in this test`);
      return v;
    });
  const argv: string[] = [];
  for (const word of words.map(spec)) {
    const lone = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (lone) {
      argv.push(...(env[lone[1] as string] ?? '').split(/\s+/).filter(Boolean));
      continue;
    }
    argv.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_all, name: string) => env[name] ?? ''));
  }
  return argv;
}

/** A compose service as far as the tests read it. */
export interface ComposeService {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  init?: boolean;
  environment?: Record<string, string>;
  volumes?: Array<string | { type: string; source: string; target: string; read_only?: boolean; volume?: { nocopy?: boolean } }>;
  labels?: Record<string, string>;
  depends_on?: string[];
  container_name?: string;
  user?: string;
  profiles?: string[];
  ports?: string[];
}

/** A parsed docker-compose.yml (YAML merge keys resolved). */
export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Reads an example's docker-compose.yml. */
export async function readCompose(dir: string): Promise<ComposeFile> {
  return parseYaml(await readFile(join(dir, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;
}

/** A service's mounts as { source, target, readOnly, bind }: short and long syntax alike. */
export function mountsOf(service: ComposeService): Array<{ source: string; target: string; readOnly: boolean; bind: boolean }> {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target, readOnly: v.read_only === true, bind: v.type === 'bind' };
    const [source = '', target = '', mode = ''] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro'), bind: source.startsWith('.') || source.startsWith('/') };
  });
}

/** A conf.d resource as shipped: the [template] table of one TOML file. */
export type ResourceTable = Record<string, unknown>;

/** Reads every conf.d/*.toml of an example confdir: file name → [template] table. */
export async function readResources(confdir: string): Promise<Map<string, ResourceTable>> {
  const out = new Map<string, ResourceTable>();
  for (const name of (await readdir(join(confdir, 'conf.d'))).filter((n) => n.endsWith('.toml')).sort()) {
    const doc = parseToml(await readFile(join(confdir, 'conf.d', name), 'utf8')) as { template: ResourceTable };
    out.set(name, doc.template);
  }
  return out;
}

/**
 * Copies an example confdir (conf.d/ and templates/) into `into`, passing each resource through `rewrite`: the tests
 * change only where files land and how reloads reach the processes, never src, keys or the guards.
 */
export async function stageConfdir(
  confdir: string,
  into: string,
  rewrite: (name: string, resource: ResourceTable) => ResourceTable,
): Promise<Map<string, ResourceTable>> {
  await mkdir(join(into, 'conf.d'), { recursive: true });
  await mkdir(join(into, 'templates'), { recursive: true });
  for (const name of await readdir(join(confdir, 'templates'))) await copyFile(join(confdir, 'templates', name), join(into, 'templates', name));
  const staged = new Map<string, ResourceTable>();
  for (const [name, resource] of await readResources(confdir)) {
    const next = rewrite(name, { ...resource });
    staged.set(name, next);
    await writeFile(join(into, 'conf.d', name), stringifyToml({ template: next }));
  }
  return staged;
}

/** A busybox httpd on loopback serving `files` (path → body) from `root`. */
export interface Httpd {
  port: number;
  proc: ResultPromise;
  stop(): Promise<void>;
}

/** Writes `files` under `root` (created), then returns the argv of a busybox httpd serving it on 127.0.0.1:port. */
export async function httpdArgv(root: string, port: number, files: Record<string, string>): Promise<string[]> {
  for (const [path, body] of Object.entries(files)) {
    const file = join(root, path);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, body);
  }
  return ['busybox', 'httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', root];
}

/** Starts a busybox httpd stand-in on a free (or given) port and waits until it listens. */
export async function startHttpd(root: string, files: Record<string, string>, port?: number): Promise<Httpd> {
  const p = port ?? (await freePort());
  const [bin, ...args] = await httpdArgv(root, p, files);
  const proc = execa(bin as string, args, { reject: false, stdin: 'ignore' });
  await waitFor(() => tcpOpen(p), 5000);
  return {
    port: p,
    proc,
    stop: async () => {
      proc.kill('SIGTERM');
      await proc;
    },
  };
}

/** Collects a child's stderr as it comes and parses sidekick's JSON log lines from it. */
export function jsonLogs(proc: ResultPromise): () => Array<Record<string, unknown>> {
  let text = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return () =>
    text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The reverse-proxy example's backends: web-blue and web-green with their compose labels, busybox httpd on a free loopback port each. */
export async function startComposeBackends(docker: Dockerode, compose: ComposeFile): Promise<{ ports: Record<string, number>; ids: Record<string, string> }> {
  const ports: Record<string, number> = {};
  const ids: Record<string, string> = {};
  for (const name of ['web-blue', 'web-green']) {
    const port = await freePort();
    ports[name] = port;
    const c = await runContainer(docker, {
      name,
      labels: compose.services[name]?.labels,
      exposedPorts: [String(port)],
      cmd: ['sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p 127.0.0.1:${port} -h /www`],
    });
    ids[name] = c.id;
  }
  return { ports, ids };
}

// Builds sidekick's container images with no registry in reach: no `docker pull`, no `npm ci` inside a build.
//
//   base      sidekick-local/node:<major>: the host's own node binary, /usr/bin/env and their shared libraries
//             (from ldd) in a merged-/usr rootfs, `docker import`ed. Stands in for node:<major>-slim.
//   sidekick  docker/Dockerfile on a context staged here: dist/ plus production-only node_modules (copied from
//             the local node_modules by package-lock.json, or `npm ci --omit=dev` with --npm-ci), trimmed.
//   endpoint  docker/nginx-endpoint/Dockerfile: the sidekick image plus the host's nginx and its libraries,
//             a template, a conf.d resource and the supervisor (supervise.mjs).
//
// Run: docker/build [all|base|sidekick|endpoint|stage] [options] (node --import tsx scripts/docker-image.ts …).
// The docker-image integration test imports the same functions against a private dockerd.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, cp, lstat, mkdir, mkdtemp, readFile, readdir, readlink, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import { dockerFromAddress } from '../src/docker/address.js';

const run = promisify(execFile);

/** The repository root. */
export const REPO = resolve(import.meta.dirname, '..');

/** Progress lines (build output, staging steps); default: nothing. */
export type Log = (line: string) => void;
const quiet: Log = () => undefined;

// ---------------------------------------------------------------------------------------------------------------
// Shared libraries

/**
 * The shared objects `binary` loads, as ldd prints them (interpreter included), e.g.
 * /lib/x86_64-linux-gnu/libc.so.6 and /lib64/ld-linux-x86-64.so.2. vdso and "not found" lines are dropped; a
 * missing library is an error.
 */
export async function sharedLibraries(binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [binary]));
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '');
    // ldd exits 1 on a static binary ("not a dynamic executable"): nothing to copy.
    if (/not a dynamic executable|statically linked/.test(out + String((err as { stderr?: string }).stderr ?? ''))) return [];
    throw err;
  }
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    if (/=>\s*not found/.test(line)) throw new Error(`${binary}: ${line.trim()}`);
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return [...new Set(libs)];
}

/** Where a host path goes in a merged-/usr rootfs: /lib/… → /usr/lib/…, /lib64, /bin, /sbin likewise. */
export function usrMerged(path: string): string {
  return /^\/(lib|lib32|lib64|libx32|bin|sbin)\//.test(path) ? `/usr${path}` : path;
}

/** Copies the content behind `hostPath` (symlinks followed) to `root` + `inRoot` with `mode`. */
async function place(root: string, hostPath: string, inRoot: string, mode = 0o755): Promise<void> {
  const dest = join(root, inRoot);
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(await realpath(hostPath), dest);
  await chmod(dest, mode);
}

// ---------------------------------------------------------------------------------------------------------------
// Base image: the host's node

/** What {@link stageBaseRootfs} put in the rootfs. */
export interface BaseRootfs {
  nodeVersion: string;
  /** sha256 of the node binary: the base is re-imported only when it changes. */
  nodeSha256: string;
  /** The shared libraries copied (host paths). */
  libraries: string[];
}

/** The user sidekick runs as in every image (numeric: the official node images have no such user). */
export const APP_UID = 10001;

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Writes a minimal rootfs into `root` (which must exist and be empty): /usr/local/bin/node (the host's binary),
 * /usr/bin/env (for the `#!/usr/bin/env node` of bin scripts), their shared libraries under /usr/lib, the
 * merged-/usr links (/lib → usr/lib, …), /etc/passwd and /etc/group with root, nobody and sidekick (10001),
 * /etc/nsswitch.conf and a sticky /tmp. No shell, no package manager.
 */
export async function stageBaseRootfs(root: string, nodeBin = process.execPath): Promise<BaseRootfs> {
  const node = await realpath(nodeBin);
  const env = (await stat('/usr/bin/env').catch(() => undefined)) ? '/usr/bin/env' : '/bin/env';
  const { stdout: version } = await run(node, ['--version']);
  await chmod(root, 0o755);
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'usr/local/bin', 'etc', 'root', 'proc', 'sys', 'dev', 'run', 'var/tmp']) {
    await mkdir(join(root, d), { recursive: true, mode: 0o755 });
  }
  for (const d of ['bin', 'sbin', 'lib', 'lib64']) await symlink(`usr/${d}`, join(root, d));
  await mkdir(join(root, 'tmp'));
  await chmod(join(root, 'tmp'), 0o1777);
  await chmod(join(root, 'var/tmp'), 0o1777);
  await chmod(join(root, 'root'), 0o700);
  await place(root, node, '/usr/local/bin/node');
  await place(root, env, '/usr/bin/env');
  const libraries = [...new Set([...(await sharedLibraries(node)), ...(await sharedLibraries(env))])];
  for (const lib of libraries) await place(root, lib, usrMerged(lib));
  await writeFile(
    join(root, 'etc/passwd'),
    `root:x:0:0:root:/root:/usr/sbin/nologin\nsidekick:x:${APP_UID}:${APP_UID}:sidekick:/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  );
  await writeFile(join(root, 'etc/group'), `root:x:0:\nsidekick:x:${APP_UID}:\nnogroup:x:65534:\n`);
  await writeFile(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  return { nodeVersion: version.trim().replace(/^v/, ''), nodeSha256: await sha256(node), libraries };
}

// ---------------------------------------------------------------------------------------------------------------
// sidekick context: dist/ + production node_modules

interface LockPackage {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  link?: boolean;
}

/** What was left out of node_modules (see {@link dropped}). */
export interface TrimReport {
  removedBytes: number;
  removedFiles: number;
}

/** A package being walked: its folder and its name (`@scope/name`). */
interface PackageDir {
  root: string;
  name: string;
}

const KEEP_DOC = /^(licen[cs]e|notice|copying|authors|patents)/i;
/** Folders at a package's root that no package loads at run time (unless its package.json points into them). */
const PACKAGE_JUNK_DIRS = new Set(['test', 'tests', '__tests__', 'benchmark', 'benchmarks', 'example', 'examples', '.github']);
/**
 * Package-specific prunes, each a browser/AMD build Node never loads: handlebars' lib/index.js loads dist/cjs;
 * protobufjs' index.js loads src/; source-map's main is source-map.js → lib/.
 */
const PACKAGE_PRUNES: Record<string, (rel: string) => boolean> = {
  handlebars: (rel) => rel === 'dist/amd' || /^dist\/handlebars[^/]*\.js$/.test(rel),
  protobufjs: (rel) => rel === 'dist',
  'source-map': (rel) => rel === 'dist',
};

/**
 * True for what Node never loads from a production node_modules: docs (*.md; licences and notices kept), source
 * maps, TypeScript sources and declarations, dist-types/, dist-es/ beside a dist-cjs/ (the AWS SDK and smithy:
 * their "exports" pick dist-cjs under the "node" condition), native build outputs (build/ beside binding.gyp: no
 * install script runs for the image, so those would be built for the host's Node ABI), test/example folders at a
 * package's root, and the browser bundles of {@link PACKAGE_PRUNES}.
 */
async function dropped(path: string, isDir: boolean, siblings: Set<string>, pkg: PackageDir): Promise<boolean> {
  const name = basename(path);
  const rel = relative(pkg.root, path);
  if (PACKAGE_PRUNES[pkg.name]?.(rel)) return true;
  if (!isDir) return (/\.(md|markdown)$/i.test(name) && !KEEP_DOC.test(name)) || /\.(map|ts|mts|cts|tsbuildinfo)$/.test(name);
  return (
    name === 'dist-types' ||
    (name === 'dist-es' && siblings.has('dist-cjs')) ||
    (name === 'build' && siblings.has('binding.gyp')) ||
    (dirname(path) === pkg.root && PACKAGE_JUNK_DIRS.has(name) && !(await packageUses(pkg.root, name)))
  );
}

/**
 * Walks one package (not its nested node_modules), calling `keep` for what stays and `drop` for what {@link dropped}
 * leaves out (with trimming off, everything stays).
 */
async function walkPackage(
  pkg: PackageDir,
  trim: boolean,
  keep: (path: string, kind: 'dir' | 'file' | 'link') => Promise<void>,
  drop: (path: string) => Promise<void>,
): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    const names = new Set(entries.map((e) => e.name));
    for (const e of entries) {
      const path = join(dir, e.name);
      if (dir === pkg.root && e.name === 'node_modules') continue;
      if (trim && (await dropped(path, e.isDirectory(), names, pkg))) {
        await drop(path);
      } else if (e.isDirectory()) {
        await keep(path, 'dir');
        await walk(path);
      } else if (e.isSymbolicLink()) {
        await keep(path, 'link');
      } else if (e.isFile()) {
        await keep(path, 'file');
      }
    }
  };
  await walk(pkg.root);
}

/** Size of what `path` holds (a file, or a folder's files). */
async function sizeOf(path: string): Promise<{ bytes: number; files: number }> {
  const info = await lstat(path);
  return info.isDirectory() ? treeSize(path) : { bytes: info.size, files: 1 };
}

/**
 * Copies the production, non-optional packages of package-lock.json from `repo`/node_modules into
 * `dest`/node_modules, leaving out what {@link dropped} says Node never loads (unless `trim` is false). Each package
 * is copied without its nested node_modules; nested packages are lock entries of their own. Throws when an
 * installed version differs from the lock (node_modules out of date: run npm ci), or when trimming lost a package's
 * entry point. Optional dependencies are left out as `npm ci --omit=optional` does: here uglify-js (handlebars'
 * precompiler --min) and cpu-features/nan/buildcheck (ssh2's native speed-ups, which need install scripts).
 */
export async function copyProductionModules(repo: string, dest: string, trim = true): Promise<{ packages: number; trimmed: TrimReport }> {
  const lock = JSON.parse(await readFile(join(repo, 'package-lock.json'), 'utf8')) as { packages?: Record<string, LockPackage> };
  if (!lock.packages) throw new Error('package-lock.json has no "packages" map (lockfileVersion 2 or later needed)');
  const trimmed: TrimReport = { removedBytes: 0, removedFiles: 0 };
  let packages = 0;
  for (const [path, pkg] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || pkg.dev || pkg.optional || pkg.devOptional) continue;
    if (pkg.link) throw new Error(`${path}: linked packages (workspaces) are not supported`);
    const src = join(repo, path);
    const installed = await packageJson(src);
    if (!installed) throw new Error(`${path} is in package-lock.json but not installed: run npm ci`);
    if (installed.version !== pkg.version) {
      throw new Error(`${path} is ${installed.version ?? '?'} but package-lock.json says ${pkg.version ?? '?'}: run npm ci`);
    }
    const to = join(dest, path);
    await mkdir(to, { recursive: true });
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    await walkPackage(
      { root: src, name },
      trim,
      async (p, kind) => {
        const target = join(to, relative(src, p));
        if (kind === 'dir') await mkdir(target, { recursive: true });
        else if (kind === 'link') await symlink(await readlink(p), target);
        else await copyFile(p, target);
      },
      async (p) => {
        const size = await sizeOf(p);
        trimmed.removedBytes += size.bytes;
        trimmed.removedFiles += size.files;
      },
    );
    if ((await entryExists(src)) && !(await entryExists(to))) throw new Error(`trimming ${path} lost its entry point`);
    packages++;
  }
  return { packages, trimmed };
}

/** `npm ci --omit=dev --omit=optional --ignore-scripts` in `dest` (needs the npm registry or a warm cache). */
async function npmCiProduction(repo: string, dest: string, log: Log): Promise<void> {
  await copyFile(join(repo, 'package.json'), join(dest, 'package.json'));
  await copyFile(join(repo, 'package-lock.json'), join(dest, 'package-lock.json'));
  log('npm ci --omit=dev --omit=optional --ignore-scripts');
  await run('npm', ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dest, maxBuffer: 16 << 20 });
  await rm(join(dest, 'package-lock.json'));
  await rm(join(dest, 'node_modules/.package-lock.json'), { force: true });
}

/** Bytes and files of a tree (apparent sizes, what a layer holds). */
export async function treeSize(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    bytes += (await lstat(join(entry.parentPath, entry.name))).size;
    files++;
  }
  return { bytes, files };
}

/** Every package folder under a node_modules, nested ones included. */
async function packagesUnder(nodeModules: string): Promise<PackageDir[]> {
  const out: PackageDir[] = [];
  for (const e of await readdir(nodeModules, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const names = e.name.startsWith('@')
      ? (await readdir(join(nodeModules, e.name), { withFileTypes: true })).filter((s) => s.isDirectory()).map((s) => `${e.name}/${s.name}`)
      : [e.name];
    for (const name of names) {
      const root = join(nodeModules, name);
      out.push({ root, name });
      const nested = join(root, 'node_modules');
      if (await stat(nested).then((st) => st.isDirectory(), () => false)) out.push(...(await packagesUnder(nested)));
    }
  }
  return out;
}

/** Removes in place what {@link dropped} says Node never loads (for a tree npm installed); checks entry points. */
export async function trimModules(nodeModules: string): Promise<TrimReport> {
  const report: TrimReport = { removedBytes: 0, removedFiles: 0 };
  for (const pkg of await packagesUnder(nodeModules)) {
    const before = await entryExists(pkg.root);
    const doomed: string[] = [];
    await walkPackage(pkg, true, async () => undefined, async (p) => {
      doomed.push(p);
    });
    for (const p of doomed) {
      const size = await sizeOf(p);
      report.removedBytes += size.bytes;
      report.removedFiles += size.files;
      await rm(p, { recursive: true, force: true });
    }
    if (before && !(await entryExists(pkg.root))) throw new Error(`trimming ${relative(nodeModules, pkg.root)} lost its entry point`);
  }
  return report;
}

/** The fields of package.json read here. */
interface PackageJson {
  name?: string;
  version?: string;
  main?: string;
  exports?: unknown;
  imports?: unknown;
  bin?: unknown;
}

async function packageJson(root: string): Promise<PackageJson | undefined> {
  try {
    return JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

/** True when a package's main, exports, imports or bin point into `dir`: then the folder stays. */
async function packageUses(root: string, dir: string): Promise<boolean> {
  const pj = await packageJson(root);
  const text = JSON.stringify([pj?.main, pj?.exports, pj?.imports, pj?.bin]);
  return text.includes(`${dir}/`) || text.includes(`"${dir}"`) || text.includes(`"./${dir}"`);
}

/** The file Node would load for `import 'pkg'` or `require('pkg')` (first of the node/import/require/default conditions). */
function entryTarget(exports: unknown): string | undefined {
  if (typeof exports === 'string') return exports;
  if (Array.isArray(exports)) return exports.map(entryTarget).find((t) => t !== undefined);
  if (exports === null || typeof exports !== 'object') return undefined;
  const map = exports as Record<string, unknown>;
  if ('.' in map) return entryTarget(map['.']);
  if (Object.keys(map).some((k) => k.startsWith('.'))) return undefined;
  for (const [cond, target] of Object.entries(map)) {
    if (['node', 'import', 'require', 'default'].includes(cond)) {
      const t = entryTarget(target);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

/** True when a package's main entry (exports ".", else main, else index.js) is a file that exists. */
async function entryExists(root: string): Promise<boolean> {
  const pj = await packageJson(root);
  if (!pj) return false;
  const isFile = (p: string): Promise<boolean> => stat(join(root, p)).then((s) => s.isFile(), () => false);
  if (pj.exports !== undefined) {
    const t = entryTarget(pj.exports);
    return t !== undefined && isFile(t);
  }
  const main = pj.main ?? 'index.js';
  for (const candidate of [main, `${main}.js`, `${main}.json`, `${main}.node`, join(main, 'index.js')]) {
    if (await isFile(candidate)) return true;
  }
  return false;
}

/** What {@link stageSidekickContext} staged. */
export interface SidekickContext {
  /** Bytes and files of /opt/sidekick (our dist + package.json + templates + node_modules). */
  app: { bytes: number; files: number };
  dist: { bytes: number; files: number };
  nodeModules: { bytes: number; files: number };
  trimmed: TrimReport;
  packages: number;
  /** The biggest packages after trimming, bytes. */
  heaviest: Array<[string, number]>;
}

/** Options for {@link stageSidekickContext}. */
export interface StageSidekickOptions {
  repo?: string;
  /** Compile src/ first (`tsc -p tsconfig.build.json`). Default true. */
  build?: boolean;
  /** Install with `npm ci --omit=dev` instead of copying the local node_modules. Default false. */
  npmCi?: boolean;
  log?: Log;
}

/**
 * Stages docker/Dockerfile's context in `ctx`: Dockerfile, sidekick/ (→ /opt/sidekick: package.json, dist/
 * without source maps, templates/, trimmed production node_modules/) and bin/sidekick (→ /usr/local/bin, a link to
 * dist/cli/main.js).
 */
export async function stageSidekickContext(ctx: string, opts: StageSidekickOptions = {}): Promise<SidekickContext> {
  const repo = opts.repo ?? REPO;
  const log = opts.log ?? quiet;
  if (opts.build ?? true) {
    log('compiling src/ (tsc -p tsconfig.build.json)');
    await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(repo, 'tsconfig.build.json')], { cwd: repo });
  }
  await stat(join(repo, 'dist/cli/main.js')).catch(() => {
    throw new Error('dist/cli/main.js is missing: run npm run build');
  });
  await chmod(ctx, 0o755);
  const app = join(ctx, 'sidekick');
  await mkdir(app, { recursive: true, mode: 0o755 });
  await copyFile(join(repo, 'docker/Dockerfile'), join(ctx, 'Dockerfile'));
  await copyFile(join(repo, 'package.json'), join(app, 'package.json'));
  await cp(join(repo, 'dist'), join(app, 'dist'), { recursive: true, filter: (p) => !p.endsWith('.map') && !p.endsWith('.tsbuildinfo') });
  await chmod(join(app, 'dist/cli/main.js'), 0o755);
  if (await stat(join(repo, 'templates')).then(() => true, () => false)) {
    await cp(join(repo, 'templates'), join(app, 'templates'), { recursive: true });
  }
  let packages: number;
  let trimmed: TrimReport;
  if (opts.npmCi) {
    await npmCiProduction(repo, app, log);
    packages = (await packagesUnder(join(app, 'node_modules'))).length;
    log('trimming node_modules');
    trimmed = await trimModules(join(app, 'node_modules'));
  } else {
    log('copying production dependencies from node_modules (package-lock.json: no dev, no optional; trimmed)');
    ({ packages, trimmed } = await copyProductionModules(repo, app));
  }
  await mkdir(join(ctx, 'bin'), { mode: 0o755 });
  await symlink('/opt/sidekick/dist/cli/main.js', join(ctx, 'bin/sidekick'));
  await normalizeModes(ctx);
  const heaviest: Array<[string, number]> = [];
  const nm = join(app, 'node_modules');
  for (const e of await readdir(nm)) {
    const names = e.startsWith('@') ? (await readdir(join(nm, e))).map((s) => `${e}/${s}`) : [e];
    for (const n of names) heaviest.push([n, (await treeSize(join(nm, n))).bytes]);
  }
  heaviest.sort((a, b) => b[1] - a[1]);
  return {
    app: await treeSize(app),
    dist: await treeSize(join(app, 'dist')),
    nodeModules: await treeSize(nm),
    trimmed,
    packages,
    heaviest: heaviest.slice(0, 12),
  };
}

/** Directories 0755, files 0644 (0755 when executable by the owner): a temp dir's 0700 must not reach the image. */
async function normalizeModes(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name);
    if (e.isDirectory()) await chmod(path, 0o755);
    else if (e.isFile()) await chmod(path, (await stat(path)).mode & 0o100 ? 0o755 : 0o644);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// nginx endpoint context

/** Options for {@link stageEndpointContext}. */
export interface StageEndpointOptions {
  repo?: string;
  /** nginx binary to copy; default /usr/sbin/nginx. */
  nginx?: string;
  /** Node binary whose libraries the base already has (not copied again); default this process's. */
  node?: string;
}

/**
 * Stages docker/nginx-endpoint's context in `ctx`: Dockerfile and rootfs/ holding /usr/sbin/nginx with the shared
 * libraries the node base lacks (under /usr/lib: never a top-level /lib, which would replace the base's link),
 * /etc/nginx/mime.types, the endpoint's template and conf.d resource under /etc/sidekick, and the supervisor.
 */
export async function stageEndpointContext(ctx: string, opts: StageEndpointOptions = {}): Promise<{ rootfs: { bytes: number; files: number }; libraries: string[] }> {
  const repo = opts.repo ?? REPO;
  const nginx = opts.nginx ?? '/usr/sbin/nginx';
  const src = join(repo, 'docker/nginx-endpoint');
  const root = join(ctx, 'rootfs');
  await copyFile(join(src, 'Dockerfile'), join(ctx, 'Dockerfile'));
  await mkdir(root, { recursive: true });
  const have = new Set(await Promise.all((await sharedLibraries(await realpath(opts.node ?? process.execPath))).map((l) => basename(l))));
  const libraries = (await sharedLibraries(nginx)).filter((l) => !have.has(basename(l)) && !/\/ld-linux/.test(l));
  await place(root, nginx, '/usr/sbin/nginx');
  for (const lib of libraries) await place(root, lib, usrMerged(lib), 0o644);
  if (await stat('/etc/nginx/mime.types').then(() => true, () => false)) {
    await place(root, '/etc/nginx/mime.types', '/etc/nginx/mime.types', 0o644);
  } else {
    // nginx installed without its Debian config: a few types keep `include mime.types` valid.
    await mkdir(join(root, 'etc/nginx'), { recursive: true });
    await writeFile(join(root, 'etc/nginx/mime.types'), 'types {\n  text/html html htm;\n  text/plain txt;\n  text/css css;\n  application/javascript js;\n  application/json json;\n}\n');
  }
  await place(root, join(src, 'nginx.conf.tmpl'), '/etc/sidekick/templates/nginx.conf.tmpl', 0o644);
  await place(root, join(src, 'nginx.toml'), '/etc/sidekick/conf.d/nginx.toml', 0o644);
  await place(root, join(src, 'supervise.mjs'), '/usr/local/lib/sidekick-nginx-endpoint/supervise.mjs', 0o755);
  await normalizeModes(ctx);
  return { rootfs: await treeSize(root), libraries };
}

// ---------------------------------------------------------------------------------------------------------------
// Docker

/** A tar stream of `dir` (owner root, numeric ids), from the host's tar. */
function tarStream(dir: string): Readable {
  const tar = spawn('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  tar.on('close', (code) => {
    if (code !== 0) tar.stdout.destroy(new Error(`tar -C ${dir} failed (${code}): ${stderr}`));
  });
  return tar.stdout;
}

interface ProgressLine {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** Waits for a build/import progress stream to end; rejects with the daemon's error; forwards output lines. */
function follow(docker: Dockerode, stream: NodeJS.ReadableStream, what: string, log: Log): Promise<ProgressLine[]> {
  return new Promise((resolveIt, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, out: ProgressLine[]) => {
        const failed = out?.find((o) => o.error);
        if (err) reject(new Error(`${what}: ${err.message}`, { cause: err }));
        else if (failed) reject(new Error(`${what}: ${failed.errorDetail?.message ?? failed.error}`));
        else resolveIt(out);
      },
      (line: ProgressLine) => {
        const text = (line.stream ?? '').trimEnd();
        if (text) for (const l of text.split('\n')) log(l);
      },
    );
  });
}

/** True when `tag` exists. */
async function imageExists(docker: Dockerode, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

/** The image size the daemon reports (all layers, uncompressed), bytes. */
export async function imageSize(docker: Dockerode, tag: string): Promise<number> {
  return (await docker.getImage(tag).inspect()).Size;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Options for {@link buildBase}. */
export interface BuildBaseOptions {
  /** Default sidekick-local/node:<major of the node binary>. */
  tag?: string;
  node?: string;
  /** Import even when an image with the same node binary exists. */
  force?: boolean;
  log?: Log;
}

/** `docker import`s the local node base (see {@link stageBaseRootfs}) unless the same binary is there already. */
export async function buildBase(docker: Dockerode, opts: BuildBaseOptions = {}): Promise<{ tag: string; imported: boolean; base: BaseRootfs }> {
  const log = opts.log ?? quiet;
  const tmp = await mkdtemp(join(tmpdir(), 'sk-base-'));
  try {
    const root = join(tmp, 'rootfs');
    await mkdir(root);
    const base = await stageBaseRootfs(root, opts.node);
    const major = base.nodeVersion.split('.')[0] ?? '0';
    const tag = opts.tag ?? `sidekick-local/node:${major}`;
    if (!opts.force && (await imageExists(docker, tag))) {
      const labels = (await docker.getImage(tag).inspect()).Config.Labels ?? {};
      if (labels['sidekick.node.sha256'] === base.nodeSha256) {
        log(`${tag}: up to date (node ${base.nodeVersion})`);
        return { tag, imported: false, base };
      }
    }
    log(`importing ${tag}: node ${base.nodeVersion} and ${base.libraries.length} libraries from this host`);
    const colon = tag.lastIndexOf(':');
    const [repo, version] = colon > tag.lastIndexOf('/') ? [tag.slice(0, colon), tag.slice(colon + 1)] : [tag, 'latest'];
    const progress = await docker.importImage(tarStream(root), {
      repo,
      tag: version,
      message: `node ${base.nodeVersion} from ${process.execPath} (sidekick scripts/docker-image.ts)`,
      changes: [
        `ENV PATH=${DEFAULT_PATH}`,
        `ENV NODE_VERSION=${base.nodeVersion}`,
        `LABEL sidekick.node.sha256=${base.nodeSha256}`,
        'CMD ["node"]',
      ],
    });
    await follow(docker, progress, `importing ${tag}`, log);
    return { tag, imported: true, base };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** `docker build` of a staged context dir (classic builder; nothing is pulled when the FROM image exists). */
export async function buildContext(docker: Dockerode, ctx: string, tags: string[], buildargs: Record<string, string>, log: Log = quiet): Promise<void> {
  const [first, ...more] = tags;
  if (!first) throw new Error('no tag');
  const stream = await docker.buildImage(tarStream(ctx), { t: first, buildargs, rm: true, forcerm: true, pull: false });
  await follow(docker, stream, `building ${first}`, log);
  for (const t of more) {
    const colon = t.lastIndexOf(':');
    const [repo, tag] = colon > t.lastIndexOf('/') ? [t.slice(0, colon), t.slice(colon + 1)] : [t, 'latest'];
    await docker.getImage(first).tag({ repo, tag });
  }
}

/** Options for {@link buildImages}. */
export interface BuildImagesOptions {
  repo?: string;
  /** Which images; default all three. */
  targets?: Array<'base' | 'sidekick' | 'endpoint'>;
  /** FROM of the sidekick image; default: the local base built here (`--base node:24-bookworm-slim` uses the official one). */
  base?: string;
  sidekickTags?: string[];
  endpointTags?: string[];
  build?: boolean;
  npmCi?: boolean;
  forceBase?: boolean;
  log?: Log;
}

/** Sizes in bytes, as the daemon reports them. */
export interface BuiltImages {
  base?: { tag: string; size: number };
  sidekick?: { tag: string; size: number; layer: number; context: SidekickContext };
  endpoint?: { tag: string; size: number; layer: number; libraries: string[] };
}

/** Builds the requested images in order base → sidekick → endpoint; each FROM the previous one. */
export async function buildImages(docker: Dockerode, opts: BuildImagesOptions = {}): Promise<BuiltImages> {
  const log = opts.log ?? quiet;
  const targets = new Set(opts.targets ?? ['base', 'sidekick', 'endpoint']);
  const version = (JSON.parse(await readFile(join(opts.repo ?? REPO, 'package.json'), 'utf8')) as { version: string }).version;
  const sidekickTags = opts.sidekickTags ?? [`sidekick:${version}`, 'sidekick:latest'];
  const endpointTags = opts.endpointTags ?? [`sidekick-nginx-endpoint:${version}`, 'sidekick-nginx-endpoint:latest'];
  const out: BuiltImages = {};
  let base = opts.base;
  if (targets.has('base') || (targets.has('sidekick') && base === undefined)) {
    const b = await buildBase(docker, { force: opts.forceBase ?? false, log });
    base ??= b.tag;
    out.base = { tag: b.tag, size: await imageSize(docker, b.tag) };
  }
  const tmp = await mkdtemp(join(tmpdir(), 'sk-ctx-'));
  try {
    if (targets.has('sidekick')) {
      const ctx = join(tmp, 'sidekick');
      await mkdir(ctx);
      const context = await stageSidekickContext(ctx, { repo: opts.repo ?? REPO, build: opts.build ?? true, npmCi: opts.npmCi ?? false, log });
      log(`building ${sidekickTags[0]} FROM ${base}`);
      await buildContext(docker, ctx, sidekickTags, { BASE: base as string }, log);
      const size = await imageSize(docker, sidekickTags[0] as string);
      out.sidekick = { tag: sidekickTags[0] as string, size, layer: size - (await imageSize(docker, base as string)), context };
    }
    if (targets.has('endpoint')) {
      const ctx = join(tmp, 'endpoint');
      await mkdir(ctx);
      const staged = await stageEndpointContext(ctx, { repo: opts.repo ?? REPO });
      log(`building ${endpointTags[0]} FROM ${sidekickTags[0]}`);
      await buildContext(docker, ctx, endpointTags, { SIDEKICK_IMAGE: sidekickTags[0] as string }, log);
      const size = await imageSize(docker, endpointTags[0] as string);
      const layer = size - (await imageSize(docker, sidekickTags[0] as string));
      out.endpoint = { tag: endpointTags[0] as string, size, layer, libraries: staged.libraries };
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return out;
}

/** "12.3 MB" (10^6 bytes). */
export const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/** A human summary of {@link buildImages}' result. */
export function sizeReport(built: BuiltImages): string {
  const lines: string[] = [];
  if (built.base) lines.push(`${built.base.tag}: ${mb(built.base.size)}`);
  if (built.sidekick) {
    const c = built.sidekick.context;
    lines.push(
      `${built.sidekick.tag}: ${mb(built.sidekick.size)} (sidekick layers ${mb(built.sidekick.layer)}: dist ${mb(c.dist.bytes)}, ` +
        `node_modules ${mb(c.nodeModules.bytes)} in ${c.nodeModules.files} files from ${c.packages} packages; trimmed ${mb(c.trimmed.removedBytes)})`,
      `  heaviest: ${c.heaviest.map(([n, b]) => `${n} ${mb(b)}`).join(', ')}`,
    );
  }
  if (built.endpoint) {
    lines.push(`${built.endpoint.tag}: ${mb(built.endpoint.size)} (endpoint layers ${mb(built.endpoint.layer)}: nginx + ${built.endpoint.libraries.map((l) => basename(l)).join(', ')})`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

const USAGE = `Usage: docker/build [all|base|sidekick|endpoint] [options]
       docker/build stage|stage-endpoint|stage-base DIR [options]

Builds sidekick's images with no registry: the local node base (docker import of this host's node), the sidekick
image (docker/Dockerfile) and the nginx endpoint (docker/nginx-endpoint/Dockerfile). Talks to the Docker API
directly (no docker CLI needed).

  all (default)        base, then sidekick FROM it, then the endpoint FROM sidekick
  base                 only sidekick-local/node:<major>
  sidekick             base (unless --base) and sidekick
  endpoint             the endpoint, FROM an existing sidekick image
  stage DIR            stage the sidekick context in DIR only:  docker build --build-arg BASE=node:24-bookworm-slim DIR
  stage-endpoint DIR   stage the endpoint context in DIR only:  docker build DIR
  stage-base DIR       stage the base rootfs in DIR only:       tar -C DIR -c . | docker import - IMAGE

Options:
  --docker ADDRESS     Docker API (default: $DOCKER_HOST, then /var/run/docker.sock)
  --base IMAGE         FROM of the sidekick image, e.g. node:24-bookworm-slim (default: the local base)
  --tag TAG            sidekick image tag (repeatable; default sidekick:<version> and sidekick:latest)
  --endpoint-tag TAG   endpoint tag (repeatable; default sidekick-nginx-endpoint:<version> and :latest)
  --npm-ci             npm ci --omit=dev in the staging dir instead of copying the local node_modules
  --no-build           do not run tsc first (dist/ must be current)
  --force-base         re-import the base even if the same node binary is there
`;

async function main(argv: string[]): Promise<void> {
  const args = [...argv];
  const take = (flag: string): string => {
    const v = args.shift();
    if (v === undefined) throw new Error(`${flag} needs a value`);
    return v;
  };
  let command = 'all';
  let stageDir: string | undefined;
  let address: string | undefined;
  let base: string | undefined;
  const tags: string[] = [];
  const endpointTags: string[] = [];
  let npmCi = false;
  let build = true;
  let forceBase = false;
  while (args.length > 0) {
    const a = args.shift() as string;
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return;
    } else if (a === '--docker') address = take(a);
    else if (a === '--base') base = take(a);
    else if (a === '--tag') tags.push(take(a));
    else if (a === '--endpoint-tag') endpointTags.push(take(a));
    else if (a === '--npm-ci') npmCi = true;
    else if (a === '--no-build') build = false;
    else if (a === '--force-base') forceBase = true;
    else if (['all', 'base', 'sidekick', 'endpoint'].includes(a)) command = a;
    else if (a === 'stage' || a === 'stage-endpoint' || a === 'stage-base') {
      command = a;
      stageDir = resolve(take(a));
    } else throw new Error(`unknown argument ${a}\n\n${USAGE}`);
  }
  const log: Log = (line) => process.stderr.write(`${line}\n`);
  if (stageDir !== undefined) {
    await mkdir(stageDir, { recursive: true });
    if ((await readdir(stageDir)).length > 0) throw new Error(`${stageDir} is not empty`);
    if (command === 'stage') {
      const ctx = await stageSidekickContext(stageDir, { build, npmCi, log });
      process.stdout.write(`staged ${stageDir}: /opt/sidekick ${mb(ctx.app.bytes)} (node_modules ${mb(ctx.nodeModules.bytes)})\n`);
    } else if (command === 'stage-endpoint') {
      const ctx = await stageEndpointContext(stageDir);
      process.stdout.write(`staged ${stageDir}: rootfs ${mb(ctx.rootfs.bytes)}\n`);
    } else {
      const b = await stageBaseRootfs(stageDir);
      process.stdout.write(`staged ${stageDir}: node ${b.nodeVersion} and ${b.libraries.length} libraries\n`);
    }
    return;
  }
  const docker = dockerFromAddress(address);
  const targets: Array<'base' | 'sidekick' | 'endpoint'> =
    command === 'all' ? ['base', 'sidekick', 'endpoint'] : command === 'sidekick' ? ['sidekick'] : [command as 'base' | 'endpoint'];
  const started = Date.now();
  const built = await buildImages(docker, {
    targets,
    ...(base ? { base } : {}),
    ...(tags.length ? { sidekickTags: tags } : {}),
    ...(endpointTags.length ? { endpointTags } : {}),
    build,
    npmCi,
    forceBase,
    log,
  });
  process.stdout.write(`${sizeReport(built)}\n(${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`docker/build: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}

// Compiled templates, kept by content. Handlebars' compiler costs tens of milliseconds per hundred tags, every
// time a process starts (`--onetime` from cron, a restart, SIGHUP). Its output — the precompiled template spec,
// plain JavaScript — depends only on the template text, the compile options and the Handlebars version, so it is
// stored under a hash of the three and evaluated on the next load instead of compiled again: milliseconds.
//
// The stored spec is code this process runs, so the cache is used only where nobody else can write: a folder owned
// by the effective user and writable by nobody else, entries likewise, read without following symlinks. Anything
// else (missing, foreign, a stale or damaged entry) means compiling as without a cache; the cache never changes
// what a template renders.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/** Environment variable naming the cache folder, or `off`. */
export const TEMPLATE_CACHE_ENV = 'SIDEKICK_TEMPLATE_CACHE';
/** Bumped when the entry format changes, so entries of another format are never read. */
const FORMAT = 'sidekick-template-spec-1';
/** The largest entry read back: specs run about eight times the template's size, and templates stop at 1 MiB. */
const MAX_ENTRY_BYTES = 16 * 1024 * 1024;

/**
 * The cache folder: `$SIDEKICK_TEMPLATE_CACHE` (`off` disables it); else `/var/cache/sidekick/templates` for root,
 * `$XDG_CACHE_HOME/sidekick/templates` or `~/.cache/sidekick/templates` for anyone else.
 */
export function templateCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const set = env[TEMPLATE_CACHE_ENV]?.trim();
  if (set === 'off') return undefined;
  if (set) return set;
  if (process.geteuid?.() === 0) return '/var/cache/sidekick/templates';
  const base = env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache');
  return join(base, 'sidekick', 'templates');
}

/** The cache key of a template: its text, the compile options and the compiler version. */
export function specKey(source: string, options: object, compilerVersion: string): string {
  return createHash('sha256')
    .update(JSON.stringify([FORMAT, compilerVersion, options]))
    .update('\0')
    .update(source)
    .digest('hex');
}

/** Precompiled specs on disk, by key; every failure is a miss (logged once at debug level), never an error. */
export class SpecCache {
  private usable: Promise<boolean> | undefined;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** The stored spec text of `key`, or undefined. */
  async get(key: string): Promise<string | undefined> {
    if (!(await this.ready())) return undefined;
    const path = this.entry(key);
    try {
      const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const st = await fh.stat();
        if (!ownedAndPrivate(st) || !st.isFile() || st.size > MAX_ENTRY_BYTES) return undefined;
        const text = await fh.readFile('utf8');
        const header = `// ${FORMAT} ${key}\n`;
        return text.startsWith(header) ? text.slice(header.length) : undefined;
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.debug({ path, err: errorMessage(err) }, 'template cache entry unreadable');
      return undefined;
    }
  }

  /** Stores `spec` under `key`: written to a private temporary file, then renamed over the entry. */
  async put(key: string, spec: string): Promise<void> {
    if (!(await this.ready())) return;
    const path = this.entry(key);
    const tmp = `${path}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
    try {
      const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await fh.writeFile(`// ${FORMAT} ${key}\n${spec}`);
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      this.log.debug({ dir: this.dir, err: errorMessage(err) }, 'template cache entry not written');
    }
  }

  /** Drops a stored entry that failed to load (damaged, or from an incompatible build). */
  async drop(key: string): Promise<void> {
    await rm(this.entry(key), { force: true }).catch(() => undefined);
  }

  private entry(key: string): string {
    return join(this.dir, `${key}.js`);
  }

  /** Creates the folder (0700) when missing; usable only when it is ours and nobody else can write to it. */
  private ready(): Promise<boolean> {
    this.usable ??= (async () => {
      try {
        await mkdir(this.dir, { recursive: true, mode: 0o700 });
        const st = await lstat(this.dir);
        if (st.isDirectory() && ownedAndPrivate(st)) return true;
        this.log.warn({ dir: this.dir }, `template cache not used: the folder must be a directory owned by this user and writable by nobody else (${TEMPLATE_CACHE_ENV}=off silences this)`);
      } catch (err) {
        this.log.debug({ dir: this.dir, err: errorMessage(err) }, 'template cache not used');
      }
      return false;
    })();
    return this.usable;
  }
}

/** Owned by the effective user, and not writable by group or others. */
function ownedAndPrivate(st: { uid: number; mode: number }): boolean {
  const euid = process.geteuid?.();
  return (euid === undefined || st.uid === euid) && (st.mode & 0o022) === 0;
}

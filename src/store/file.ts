// File source (confd's file backend): YAML/JSON files flattened to /a/b/c keys, re-read when chokidar sees a change.
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { StoreError, errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { Mirror } from './mirror.js';
import { keyUnder } from '../util/key-path.js';
import { yamlModule } from '../util/lazy-modules.js';
import type { Entry, Source, SourceEvents, SourceState } from './types.js';

/** Options for {@link FileSource}. */
export interface FileSourceOptions {
  /** Data files, merged in order (a later file wins on the same key). */
  files: string[];
  /** Keep only keys under these path prefixes; empty or absent keeps everything. */
  prefixes?: string[];
  log?: Logger;
  /** Watch the files for changes (default true). */
  watch?: boolean;
  /** How long a file must stay unchanged before it is re-read, in ms (default 50): no half-written reads. */
  stabilityMs?: number;
}

/**
 * Flattens parsed YAML/JSON the way confd's file backend does: maps and arrays become path segments
 * (arrays by index), scalars become strings, null is skipped; keys are joined and cleaned like Go's path.Join.
 */
export function flattenData(node: unknown, key = '/', out: Entry[] = []): Entry[] {
  if (node === null || node === undefined) return out;
  if (Array.isArray(node)) {
    node.forEach((v, i) => flattenData(v, posix.join(key, String(i)), out));
  } else if (node instanceof Map) {
    for (const [k, v] of node) flattenData(v, posix.join(key, String(k)), out);
  } else if (typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) flattenData(v, posix.join(key, k), out);
  } else {
    out.push([key, String(node)]);
  }
  return out;
}

/** Reads and flattens one data file; throws StoreError naming `file:line:col` when it does not parse. */
export async function readDataFile(file: string): Promise<Entry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new StoreError(`cannot read data file: ${errorMessage(err)}`, { cause: err, where: file });
  }
  // YAML 1.2 is a superset of JSON, and its errors carry line positions; one parser serves both.
  const { LineCounter, parseDocument } = yamlModule();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0] ?? lineCounter.linePos(first.pos[0]);
    const where = `${file}:${pos.line}:${pos.col}`;
    throw new StoreError(`invalid YAML/JSON: ${first.message}`, { cause: first, where });
  }
  const data: unknown = doc.toJS();
  if (data !== null && typeof data !== 'object') {
    throw new StoreError('expected a map of keys at the top level', { where: file });
  }
  return flattenData(data);
}

/** Serves keys from YAML/JSON files; on a change re-reads the file, keeping the last good content on errors. */
export class FileSource extends EventEmitter<SourceEvents> implements Source {
  readonly id: string;
  readonly view = new Mirror();
  private _state: SourceState = 'connecting';
  private readonly files: string[];
  /** Last good content of each file. */
  private readonly contents = new Map<string, Entry[]>();
  /** Last error logged per file, so a file that stays broken is reported once. */
  private readonly reported = new Map<string, string>();
  private readonly log: Logger;
  private watcher: FSWatcher | undefined;
  /** Reloads run one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: FileSourceOptions) {
    super();
    this.files = opts.files.map((f) => resolve(f));
    this.id = `file:${this.files.join(',')}`;
    this.log = (opts.log ?? silentLogger).child({ component: 'store', source: this.id });
  }

  /** Current state: synced once the first read worked (a broken file later keeps the old data). */
  get state(): SourceState {
    return this._state;
  }

  /** Reads every file (rejects naming file:line if one is missing or broken), then starts watching. */
  async start(): Promise<void> {
    if (this.files.length === 0) throw new StoreError('no data files configured', { where: 'file backend' });
    const all = await Promise.all(this.files.map((f) => readDataFile(f)));
    this.files.forEach((f, i) => this.contents.set(f, all[i] ?? []));
    this.view.replacePrefix('', this.merged());
    this.log.info({ keys: this.view.size }, 'data files read');
    if (this.opts.watch !== false) await this.startWatching();
    this._state = 'synced';
    this.emit('state', 'synced');
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.closed = true;
    const watcher = this.watcher;
    this.watcher = undefined;
    await watcher?.close();
    await this.queue;
  }

  private async startWatching(): Promise<void> {
    const stability = this.opts.stabilityMs ?? 50;
    const watcher = watch(this.files, {
      ignoreInitial: true,
      awaitWriteFinish: { stabilityThreshold: stability, pollInterval: Math.max(10, Math.round(stability / 4)) },
    });
    this.watcher = watcher;
    const onEvent = (path: string) => this.enqueue(resolve(path));
    watcher.on('add', onEvent).on('change', onEvent).on('unlink', onEvent);
    watcher.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'file watcher error'));
    await new Promise<void>((r) => watcher.once('ready', () => r()));
  }

  private enqueue(file: string): void {
    this.queue = this.queue.then(() => this.reload(file));
  }

  /** Re-reads one file; emits one change batch with the keys that actually differ. */
  private async reload(file: string): Promise<void> {
    if (this.closed || !this.contents.has(file)) return;
    try {
      this.contents.set(file, await readDataFile(file));
      this.reported.delete(file);
    } catch (err) {
      const msg = errorMessage(err);
      if (this.reported.get(file) !== msg) {
        this.reported.set(file, msg);
        this.log.error({ file, err: msg }, 'data file unreadable; keeping its last good content');
      }
      return;
    }
    if (this.closed) return;
    const changed = this.view.replacePrefix('', this.merged());
    if (changed.length > 0) {
      this.log.debug({ file, keys: changed.length }, 'change');
      this.emit('change', changed);
    }
  }

  /** All files' entries, later files winning, restricted to the configured prefixes. */
  private merged(): Entry[] {
    const map = new Map<string, string>();
    for (const f of this.files) for (const [k, v] of this.contents.get(f) ?? []) map.set(k, v);
    const prefixes = this.opts.prefixes ?? [];
    const keep = (k: string) => prefixes.length === 0 || prefixes.some((p) => keyUnder(k, p));
    return [...map].filter(([k]) => keep(k));
  }
}

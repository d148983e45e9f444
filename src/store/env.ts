// Environment source (confd's env backend): key /foo/bar <-> variable FOO_BAR, read once at start.
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../util/log.js';
import { Mirror } from './mirror.js';
import type { Entry, Source, SourceEvents, SourceState } from './types.js';

/** Options for {@link EnvSource}. */
export interface EnvSourceOptions {
  /** Key prefixes to expose ("/" for every variable). */
  prefixes: string[];
  /** Variables to read; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

/** confd's key → variable name: strip the leading '/', '/' becomes '_', upper-case ("/foo/bar" → "FOO_BAR"). */
export function envName(key: string): string {
  return key.replace(/^\/+/, '').replace(/\/+$/, '').replaceAll('/', '_').toUpperCase();
}

/** confd's variable name → key: lower-case, '_' becomes '/', leading '/' ("FOO_BAR" → "/foo/bar"). */
export function envKey(name: string): string {
  return `/${name.toLowerCase().replaceAll('_', '/')}`;
}

/** The entries confd's env backend would serve for `prefixes`, sorted by key. */
export function envEntries(prefixes: string[], env: NodeJS.ProcessEnv): Entry[] {
  const names = prefixes.map(envName);
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    // A variable belongs to a prefix as a path: FOO covers FOO and FOO_BAR, not FOOD.
    if (names.some((p) => p === '' || name === p || name.startsWith(`${p}_`))) out.set(envKey(name), value);
  }
  return [...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Static source over environment variables: one read at start, never changes. */
export class EnvSource extends EventEmitter<SourceEvents> implements Source {
  readonly id = 'env';
  readonly view = new Mirror();
  private _state: SourceState = 'connecting';
  private readonly log: Logger;

  constructor(private readonly opts: EnvSourceOptions) {
    super();
    this.log = (opts.log ?? silentLogger).child({ component: 'store', source: this.id });
  }

  /** connecting before start(), synced after (the environment cannot go away). */
  get state(): SourceState {
    return this._state;
  }

  /** Reads the variables under the prefixes into the mirror. */
  start(): Promise<void> {
    this.view.replacePrefix('', envEntries(this.opts.prefixes, this.opts.env ?? process.env));
    // Values may be secrets: log how many, never what.
    this.log.info({ keys: this.view.size }, 'environment read');
    this._state = 'synced';
    this.emit('state', 'synced');
    return Promise.resolve();
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

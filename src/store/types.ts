// The contract between sources (etcd, file, env), the in-memory mirror and the renderer.
import type { EventEmitter } from 'node:events';

/** One key and its value, as read from a source. Keys are absolute and '/'-separated ("/services/web/1"). */
export type Entry = readonly [key: string, value: string];

/** Read-only view of the key space as templates see it. */
export interface KeyView {
  /** The value at `key`, or undefined. */
  get(key: string): string | undefined;
  /**
   * Every entry at `prefix` or below it, sorted by key. `prefix` is a path: "/a" matches "/a" and
   * "/a/b", not "/ab". "/" (or "") matches everything.
   */
  list(prefix: string): Entry[];
  /** Number of keys held. */
  readonly size: number;
  /** Optional: a number that changes whenever anything at or below `prefix` changes (for memoizing). */
  version?(prefix: string): number;
  /** Optional: distinct names directly below `prefix` (key order), without listing every key under it. */
  children?(prefix: string): string[];
  /** Optional, with `changedSince`: a counter that moves with every change. */
  readonly changeMark?: number;
  /** Optional: keys changed after the mark `mark` (undefined: too far back to tell; treat everything as changed). */
  changedSince?(mark: number): string[] | undefined;
}

/** connecting: no complete read yet; synced: the mirror is complete and current; stale: was synced, now cut off. */
export type SourceState = 'connecting' | 'synced' | 'stale';

/** Events a source emits. */
export interface SourceEvents {
  /** Keys that changed (put or deleted) in one batch: one watch response, one file reload. */
  change: [keys: string[]];
  /** Connection state moved; `error` says why when it moved away from synced. */
  state: [state: SourceState, error?: Error];
}

/**
 * A source feeds a mirror for a set of prefixes. It starts with one full read, then applies changes
 * incrementally. A render only uses a source whose state is `synced`.
 */
export interface Source extends EventEmitter<SourceEvents> {
  /** Stable id, e.g. "etcd:http://127.0.0.1:2379" or "file:/etc/sidekick/data.yaml". */
  readonly id: string;
  readonly state: SourceState;
  /** etcd only: the store revision the mirror is current to (for renderer acknowledgements). */
  readonly revision?: number;
  /** The mirror this source writes into. */
  readonly view: KeyView;
  /** Starts feeding; resolves after the first full read is in the mirror, rejects if it cannot be made. */
  start(): Promise<void>;
  /** Stops watching and releases connections. */
  close(): Promise<void>;
}

/** Where keys come from. */
export type BackendConfig =
  | {
      kind: 'etcd';
      nodes: string[];
      username?: string;
      password?: string;
      clientCert?: string;
      clientKey?: string;
      clientCaKeys?: string;
    }
  | { kind: 'file'; files: string[] }
  | { kind: 'env' };

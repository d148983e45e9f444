// Test doubles shared by the render tests: a KeyView over a Map and a logger whose lines can be read back.
import type { Entry, KeyView } from '../../../src/store/types.js';
import { createLogger, type Logger } from '../../../src/util/log.js';

/** A KeyView over a Map, with the contract's path semantics for list() (sorted, "/a" ≠ "/ab"). */
export class MapView implements KeyView {
  private readonly m: Map<string, string>;
  constructor(entries: Record<string, string> = {}) {
    this.m = new Map(Object.entries(entries));
  }
  get(key: string): string | undefined {
    return this.m.get(key);
  }
  list(prefix: string): Entry[] {
    const p = prefix === '/' ? '' : prefix;
    return [...this.m]
      .filter(([k]) => p === '' || k === p || k.startsWith(`${p}/`))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
  get size(): number {
    return this.m.size;
  }
}

/** A debug-level logger writing parsed JSON lines into `lines`. */
export function captureLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { log, lines };
}

// A store source a test drives in process (for the render daemon): puts emit change events, states move when told.
import { EventEmitter } from 'node:events';
import { Mirror } from '../../src/store/mirror.js';
import type { Source, SourceEvents, SourceState } from '../../src/store/types.js';

/** A source the test drives: puts emit change events, states move when told. */
export class ScriptedSource extends EventEmitter<SourceEvents> implements Source {
  readonly id = 'scripted';
  state: SourceState = 'connecting';
  readonly view = new Mirror();
  async start(): Promise<void> {
    this.state = 'synced';
  }
  async close(): Promise<void> {}
  put(key: string, value: string): void {
    this.view.set(key, value);
    this.emit('change', [key]);
  }
  move(state: SourceState, error?: Error): void {
    this.state = state;
    this.emit('state', state, error);
  }
}

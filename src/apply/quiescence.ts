// Quiescence: coalesce a burst of changes into one render (consul-template's wait min:max).
import type { WaitConfig } from '../config/types.js';

/**
 * Calls `fire` once things have been quiet for `minMs`, but never later than `maxMs` after the first
 * poke of a burst. With no wait configured, fires from setImmediate: after the I/O callbacks of this
 * event-loop turn, so several watch events read together are still one render, without the ~1 ms a
 * zero-delay setTimeout costs every change.
 */
export class Quiescence {
  private immediate: NodeJS.Immediate | undefined;
  private minTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly wait: WaitConfig | undefined,
    private readonly fire: () => void,
  ) {}

  /** Something changed: (re)start the quiet period. */
  poke(): void {
    if (!this.wait) {
      this.immediate ??= setImmediate(() => this.flush());
      return;
    }
    if (this.minTimer) clearTimeout(this.minTimer);
    this.minTimer = setTimeout(() => this.flush(), this.wait.minMs);
    this.maxTimer ??= setTimeout(() => this.flush(), this.wait.maxMs);
  }

  /** True while a render is pending. */
  get pending(): boolean {
    return this.immediate !== undefined || this.minTimer !== undefined;
  }

  /** Drops a pending render (on shutdown). */
  cancel(): void {
    if (this.immediate) clearImmediate(this.immediate);
    if (this.minTimer) clearTimeout(this.minTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.immediate = undefined;
    this.minTimer = undefined;
    this.maxTimer = undefined;
  }

  private flush(): void {
    this.cancel();
    this.fire();
  }
}

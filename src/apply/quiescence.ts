// Quiescence: coalesce a burst of changes into one render (consul-template's wait min:max).
import type { WaitConfig } from '../config/types.js';

/**
 * Calls `fire` once things have been quiet for `minMs`, but never later than `maxMs` after the first
 * poke of a burst. With no wait configured, fires on the next macrotask so one synchronous burst
 * (several watch events in one tick) is still one render.
 */
export class Quiescence {
  private minTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly wait: WaitConfig | undefined,
    private readonly fire: () => void,
  ) {}

  /** Something changed: (re)start the quiet period. */
  poke(): void {
    const minMs = this.wait?.minMs ?? 0;
    if (this.minTimer) clearTimeout(this.minTimer);
    this.minTimer = setTimeout(() => this.flush(), minMs);
    if (this.wait && !this.maxTimer) this.maxTimer = setTimeout(() => this.flush(), this.wait.maxMs);
  }

  /** True while a render is pending. */
  get pending(): boolean {
    return this.minTimer !== undefined;
  }

  /** Drops a pending render (on shutdown). */
  cancel(): void {
    if (this.minTimer) clearTimeout(this.minTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.minTimer = undefined;
    this.maxTimer = undefined;
  }

  private flush(): void {
    this.cancel();
    this.fire();
  }
}

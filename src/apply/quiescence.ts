// Quiescence: coalesce a burst of changes into one render (consul-template's wait min:max).
import type { ResourceConfig, WaitConfig } from './types.js';

/**
 * The wait of a resource that sets none: a burst window of a few milliseconds. One etcd transaction arrives as one
 * watch response, but a client writing a record replacement as two requests (put the new record, then delete the
 * old) makes two revisions one client round trip apart, and each would cost a render and a reload of its own. On
 * loopback that round trip is 3–5 ms at p50 and 8–12 ms at p90 on a busy 2-core host (bench/traffic-nginx.ts
 * measures it, docs/benchmarks.md). The window is added to every change; a second reload costs a whole reload
 * cycle (~170 ms for nginx there). `wait = "0"` renders what one event-loop turn delivered, without a window.
 */
export const DEFAULT_WAIT: WaitConfig = { minMs: 10, maxMs: 40 };

/**
 * The wait of a resource that sets none: the burst window when a change costs a reload. None with `haproxy_socket`
 * (a membership change costs a few runtime commands, so two in a row are cheap) or without a reload (`reload_cmd`,
 * `reload_signal`): a second write of the file costs about a millisecond, and a window would only hold it back.
 */
export function waitOf(resource: Pick<ResourceConfig, 'wait' | 'haproxySocket' | 'reloadCmd' | 'reloadSignal'>): WaitConfig {
  if (resource.wait) return resource.wait;
  return resource.haproxySocket || (!resource.reloadCmd && !resource.reloadSignal) ? { minMs: 0, maxMs: 0 } : DEFAULT_WAIT;
}

/**
 * Calls `fire` once things have been quiet for `minMs`, but never later than `maxMs` after the first
 * poke of a burst. With a zero `minMs`, fires from setImmediate:
 * after the I/O callbacks of this event-loop turn, so several watch events read together are still one render,
 * without the ~1 ms a zero-delay setTimeout costs every change.
 */
export class Quiescence {
  private immediate: NodeJS.Immediate | undefined;
  private minTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly wait: WaitConfig,
    private readonly fire: () => void,
  ) {}

  /** Something changed: (re)start the quiet period. */
  poke(): void {
    if (this.wait.minMs === 0) {
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

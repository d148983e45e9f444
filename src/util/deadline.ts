// A signal that aborts at a deadline or with any of the caller's signals.
//
// `AbortSignal.any([AbortSignal.timeout(ms), …])` is not safe for this on Node 20: the combined signal holds its
// sources weakly and the timeout's timer holds its signal weakly, so after a garbage collection the timeout can be
// gone and the combined signal never aborts (a wait bounded by --drain-timeout then waits forever). Here the timer
// owns the controller until it fires or the deadline is disposed.

/** A deadline signal; dispose() clears its timer and its listeners on the caller's signals. */
export interface Deadline {
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * A signal that aborts after `ms` (reason: a `TimeoutError`) or as soon as one of `signals` aborts (its reason).
 * Call dispose() when the work is done, so the listeners on `signals` go.
 */
export function deadlineSignal(ms: number, ...signals: ReadonlyArray<AbortSignal | undefined>): Deadline {
  const controller = new AbortController();
  const sources = signals.filter((s): s is AbortSignal => s !== undefined);
  let timer: NodeJS.Timeout | undefined;
  const dispose = (): void => {
    clearTimeout(timer);
    for (const s of sources) s.removeEventListener('abort', onAbort);
  };
  const finish = (reason: unknown): void => {
    dispose();
    controller.abort(reason);
  };
  function onAbort(this: AbortSignal): void {
    finish(this.reason);
  }
  const already = sources.find((s) => s.aborted);
  if (already) finish(already.reason);
  else {
    for (const s of sources) s.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => finish(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), Math.max(0, ms));
    // As AbortSignal.timeout's: the work bounded keeps the process alive, not its deadline.
    timer.unref();
  }
  return { signal: controller.signal, dispose };
}

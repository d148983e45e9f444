// Graceful stop for the long-running commands; a module of its own so that every command can use it without
// loading another command's dependencies (elb must not load the etcd client).
import type { Logger } from '../util/log.js';

/** Resolves with the signal's name at the first SIGTERM or SIGINT; later ones are logged and ignored. */
export function stopSignal(log: Logger): Promise<string> {
  return new Promise((resolve) => {
    let stopping = false;
    // `on`, not `once`: a second signal while the daemon cleans up (lease revoke, deregistration) must not kill it
    // half-way.
    const stop = (signal: string): void => {
      log.info({ signal }, stopping ? 'already stopping' : 'stopping');
      stopping = true;
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/** Aborted by a SIGTERM/SIGINT; dispose() removes the listeners. */
export interface SkipSignal {
  signal: AbortSignal;
  dispose(): void;
}

/** The next SIGTERM or SIGINT skips a drain wait (what must be done, a deregistration, still is). */
export function skipOnSignal(log: Logger): SkipSignal {
  const skip = new AbortController();
  const onSignal = (signal: string): void => {
    if (!skip.signal.aborted) log.info({ signal }, 'signal while stopping: the drain wait is skipped');
    skip.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    signal: skip.signal,
    dispose: () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

// Apply outcomes as the render daemon, /healthz and the exit code read them; a type-only import keeps this light.
import type { ApplyStatus } from './apply.js';

/** True for the statuses that leave dest as rendered (applied, unchanged, noop); failed and rolled-back did not. */
export function isDone(status: ApplyStatus): boolean {
  return status === 'applied' || status === 'unchanged' || status === 'noop';
}

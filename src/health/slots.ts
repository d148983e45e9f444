// Coarse shared timers: callbacks due in the same slot of a time grid run from one timer, in one event-loop turn.
//
// Why: `register` with 100 services on 10 s checks wakes 10 times a second, and on this kind of machine each wakeup
// (timer, then the check's socket events) costs more CPU than the check's own work. Rounding steady-state attempts
// up onto a 500 ms grid lets the attempts due in the same half second share their wakeups, which roughly halves the CPU
// per check of 100 spread-out http checks (figures in docs/benchmarks.md).

interface Slot {
  timer: NodeJS.Timeout;
  fns: Set<() => void>;
}

/** A set of grid slots, each with one timer; see the file comment. */
export class SlotTimers {
  private readonly slots = new Map<number, Slot>();

  /**
   * Runs `fn` at the first multiple of `slotMs` (on performance.now()'s clock) that is at least `delayMs` away,
   * together with everything else due in that slot, in the order scheduled. Returns the cancel function; the
   * slot's timer is cleared with its last callback.
   */
  schedule(delayMs: number, slotMs: number, fn: () => void): () => void {
    const due = Math.ceil((performance.now() + Math.max(0, delayMs)) / slotMs) * slotMs;
    let slot = this.slots.get(due);
    if (!slot) {
      const fns = new Set<() => void>();
      const timer = setTimeout(() => {
        this.slots.delete(due);
        for (const f of fns) f();
      }, due - performance.now());
      slot = { timer, fns };
      this.slots.set(due, slot);
    }
    const entry = slot;
    // A wrapper of its own, so that one function scheduled twice in a slot runs twice and cancels once.
    const run = (): void => fn();
    entry.fns.add(run);
    return () => {
      entry.fns.delete(run);
      if (entry.fns.size === 0 && this.slots.get(due) === entry) {
        clearTimeout(entry.timer);
        this.slots.delete(due);
      }
    };
  }
}

/** The process's slots: every monitor shares them, which is the point. */
export const sharedSlots = new SlotTimers();

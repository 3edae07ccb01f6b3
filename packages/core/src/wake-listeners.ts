/**
 * The listeners of a store's `watch` (see `WorkflowStore.watch`): `notify()` after a change that
 * may have made work claimable calls every listener once, in a microtask, however many changes
 * were notified in the same turn (a batch of inserts wakes a worker once, not a thousand times).
 * A listener that throws is ignored: a wake-up is advice, and the write it follows has committed.
 */
export class WakeListeners {
  private readonly listeners = new Set<() => void>();
  private scheduled = false;

  /** Adds `listener`; returns the function that removes it (idempotent). */
  add(listener: () => void): () => void {
    // A wrapper per call, so the same function subscribed twice is two subscriptions.
    const entry = (): void => listener();
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** How many listeners are subscribed. */
  get size(): number {
    return this.listeners.size;
  }

  /** Calls every listener once, soon (coalesced within the current turn). */
  notify(): void {
    if (this.scheduled || this.listeners.size === 0) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const listener of [...this.listeners]) {
        try {
          listener();
        } catch {
          // Ignored by contract: see the class comment.
        }
      }
    });
  }
}

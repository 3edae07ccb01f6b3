import { DurableError, ErrorCode } from './errors.js';
import { WakeListeners } from './wake-listeners.js';

/**
 * The listeners of a storage's `watch` (see `StorageManager.watch`), by prefix: `changed(key)`
 * after a write commits calls, once per turn however many writes there were, every listener
 * whose prefix the key starts with. A listener that throws is ignored (the write has committed).
 */
export class PrefixWatchers {
  private readonly byPrefix = new Map<string, WakeListeners>();

  /** Adds `listener` for `prefix`; returns the function that removes it (idempotent). */
  add(prefix: string, listener: () => void): () => void {
    if (typeof listener !== 'function') {
      throw new DurableError(ErrorCode.CONFIG, 'storage watch: the listener must be a function');
    }
    let listeners = this.byPrefix.get(prefix);
    if (listeners === undefined) this.byPrefix.set(prefix, (listeners = new WakeListeners()));
    const remove = listeners.add(listener);
    const set = listeners;
    return () => {
      remove();
      if (set.size === 0 && this.byPrefix.get(prefix) === set) this.byPrefix.delete(prefix);
    };
  }

  /** The prefixes that have listeners. */
  prefixes(): IterableIterator<string> {
    return this.byPrefix.keys();
  }

  /** Whether some listener watches a prefix of `key`. */
  watches(key: string): boolean {
    for (const prefix of this.byPrefix.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }

  /** Calls the listeners of every prefix of `key`, soon. */
  changed(key: string): void {
    for (const [prefix, listeners] of this.byPrefix) if (key.startsWith(prefix)) listeners.notify();
  }

  /** Calls the listeners of `prefix` (all of them when omitted), soon. */
  notify(prefix?: string): void {
    if (prefix !== undefined) this.byPrefix.get(prefix)?.notify();
    else for (const listeners of this.byPrefix.values()) listeners.notify();
  }
}

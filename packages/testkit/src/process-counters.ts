import type { LockManager, StorageManager } from '@durable/core';
import { isDurableError } from '@durable/core';

// The two counters every backend's multi-process test runs in its worker processes (N processes
// x M increments of one key, then the test checks the total): one by compare-and-swap, one by
// blind writes under the lock. A worker fixture calls them with its backend's managers.

const text = (entry: { data: Uint8Array } | undefined): string =>
  entry === undefined ? '' : Buffer.from(entry.data).toString('utf8');

// A pause between reading and writing back, as an application's own work would make: without it
// the race window is a few microseconds and a broken compare-and-swap would rarely show.
const think = (): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.random() < 0.5 ? 0 : 1));

/**
 * Adds 1 to the number stored at `key`, `iterations` times, each by a read and a conditional
 * write (retried on `CONFLICT`): with a correct compare-and-swap no increment of any process is
 * lost.
 */
export async function casCounter(
  storage: StorageManager,
  iterations: number,
  key = 'cas-counter',
): Promise<void> {
  for (let i = 0; i < iterations; i++) {
    for (;;) {
      const entry = await storage.read(key);
      const next = String(Number(text(entry) || '0') + 1);
      await think();
      try {
        await storage.write(key, next, { ifVersion: entry === undefined ? null : entry.version });
        break;
      } catch (error) {
        if (!isDurableError(error, 'CONFLICT')) throw error;
      }
    }
  }
}

/** Options for {@link lockCounter}. */
export interface LockCounterOptions {
  /** The key counted (the lock takes the same key). @default "counter" */
  key?: string;
  /** How long one acquire may wait. @default 300000 */
  waitMs?: number;
  /** Called with each grant's fencing token, while the lease is held (a log for the test). */
  onGrant?: (fencingToken: number) => void;
}

/**
 * Adds 1 to the number stored at `key`, `iterations` times, each under the lock with a blind
 * (unconditional) write: only mutual exclusion keeps increments from being lost. Throws if a
 * release reports the lease lost.
 */
export async function lockCounter(
  lock: LockManager,
  storage: StorageManager,
  iterations: number,
  options: LockCounterOptions = {},
): Promise<void> {
  const key = options.key ?? 'counter';
  for (let i = 0; i < iterations; i++) {
    const lease = await lock.acquire(key, { ttlMs: 30_000, waitMs: options.waitMs ?? 300_000 });
    const current = Number(text(await storage.read(key)) || '0');
    await think();
    await storage.write(key, String(current + 1));
    options.onGrant?.(lease.fencingToken);
    if (!(await lease.release())) throw new Error('release reported the lease lost');
  }
}

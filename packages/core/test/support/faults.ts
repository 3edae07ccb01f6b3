// Test helpers: storage and lock wrappers that inject faults at a chosen point.
import { DurableError } from '../../src/index.js';
import type { LockManager, StorageManager } from '../../src/index.js';

/** Collects what a pino-shaped logger receives. */
export function collectingLogger(): {
  warn: (details: Record<string, unknown>, message: string) => void;
  lines: Array<{ details: Record<string, unknown>; message: string }>;
} {
  const lines: Array<{ details: Record<string, unknown>; message: string }> = [];
  return { lines, warn: (details, message) => lines.push({ details, message }) };
}

/** A lock whose leases fail to release (the lock's server went away after the save). */
export function lockFailingRelease(lock: LockManager): LockManager & { releases: number } {
  const wrapper = {
    capabilities: lock.capabilities,
    releases: 0,
    async acquire(key: string, options?: Parameters<LockManager['acquire']>[1]) {
      const lease = await lock.acquire(key, options);
      return {
        key: lease.key,
        token: lease.token,
        fencingToken: lease.fencingToken,
        get expiresAt() {
          return lease.expiresAt;
        },
        extend: (ttlMs?: number) => lease.extend(ttlMs),
        release: async (): Promise<boolean> => {
          wrapper.releases++;
          throw new DurableError('BACKEND', `lock: release failed for ${key}: connection refused`, {
            retryable: true,
          });
        },
      };
    },
    release: lock.release.bind(lock),
    extend: lock.extend.bind(lock),
  };
  return wrapper;
}

/**
 * A storage whose writes land and then report `code` (a lost reply that the storage client
 * retried, the retry finding our own write in place), `times` times.
 */
export function storageLosingReplies(
  storage: StorageManager,
  code: 'CONFLICT' | 'UNKNOWN_OUTCOME',
  times = 1,
): StorageManager & { writes: number } {
  let left = times;
  const wrapper = Object.assign(Object.create(storage) as StorageManager, {
    writes: 0,
    write: async (...args: Parameters<StorageManager['write']>) => {
      wrapper.writes++;
      const version = await storage.write(...args);
      if (left > 0) {
        left--;
        throw new DurableError(code, `storage: write of ${args[0]}: the reply was lost`, {
          retryable: code === 'CONFLICT',
        });
      }
      return version;
    },
  });
  return wrapper;
}

/** A storage whose first `times` writes fail with UNKNOWN_OUTCOME without landing. */
export function storageFailingUnknown(
  storage: StorageManager,
  times = 1,
): StorageManager & { writes: number } {
  let left = times;
  const wrapper = Object.assign(Object.create(storage) as StorageManager, {
    writes: 0,
    write: async (...args: Parameters<StorageManager['write']>) => {
      wrapper.writes++;
      if (left > 0) {
        left--;
        throw new DurableError(
          'UNKNOWN_OUTCOME',
          `storage: write of ${args[0]}: the outcome is unknown`,
        );
      }
      return storage.write(...args);
    },
  });
  return wrapper;
}

/** Counts writes. */
export function countingStorage(storage: StorageManager): StorageManager & { writes: number } {
  const wrapper = Object.assign(Object.create(storage) as StorageManager, {
    writes: 0,
    write: (...args: Parameters<StorageManager['write']>) => {
      wrapper.writes++;
      return storage.write(...args);
    },
  });
  return wrapper;
}

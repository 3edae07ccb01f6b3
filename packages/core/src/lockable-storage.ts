import { checkOptions } from './option-checks.js';
import { assertStorageValue } from './values.js';
import type { AcquireOptions, Lease, LockCapabilities, LockHolder, LockManager } from './lock.js';
import type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StoredEntry,
  StorageValue,
} from './storage.js';

/** Options for {@link LockableStorageManager}. */
export interface LockableStorageOptions {
  /** Where values live. */
  storage: StorageManager;
  /** Who serialises writers (any backend: S3 storage + DynamoDB lock is fine). */
  lock: LockManager;
}

/** Options for {@link LockableStorageManager.update}. */
export interface UpdateOptions extends AcquireOptions {}

/**
 * Any storage composed with any lock: one object that is both, plus `withLock` and a
 * read-modify-write `update` that holds the lease and still writes conditionally.
 */
export class LockableStorageManager implements StorageManager, LockManager {
  readonly storage: StorageManager;
  readonly lock: LockManager;

  constructor(options: LockableStorageOptions) {
    checkOptions(options, 'LockableStorageManager', {
      known: ['storage', 'lock'],
      required: ['storage', 'lock'],
      renamed: { storageManager: 'storage', lockingManager: 'lock', lockManager: 'lock' },
    });
    this.storage = options.storage;
    this.lock = options.lock;
  }

  get capabilities(): StorageCapabilities & LockCapabilities {
    return { ...this.storage.capabilities, ...this.lock.capabilities };
  }

  read(key: string): Promise<StoredEntry | undefined> {
    return this.storage.read(key);
  }
  write(key: string, value: StorageValue, options?: ConditionalOptions): Promise<string> {
    return this.storage.write(key, value, options);
  }
  delete(key: string, options?: ConditionalOptions): Promise<boolean> {
    return this.storage.delete(key, options);
  }
  exists(key: string): Promise<boolean> {
    return this.storage.exists(key);
  }
  list(prefix: string, options?: ListOptions): Promise<ListPage> {
    return this.storage.list(prefix, options);
  }
  acquire(key: string, options?: AcquireOptions): Promise<Lease> {
    return this.lock.acquire(key, options);
  }
  release(key: string, token: string): Promise<boolean> {
    return this.lock.release(key, token);
  }
  extend(key: string, token: string, ttlMs: number): Promise<number> {
    return this.lock.extend(key, token, ttlMs);
  }
  /** The live lease on `key`, when the composed lock can tell (`undefined` when free or unknown). */
  async holder(key: string): Promise<LockHolder | undefined> {
    return this.lock.holder === undefined ? undefined : this.lock.holder(key);
  }

  /** Runs `fn` while holding the lease on `key`; the lease is released on every path. */
  async withLock<T>(key: string, fn: (lease: Lease) => Promise<T>, options?: AcquireOptions): Promise<T> {
    const lease = await this.lock.acquire(key, options);
    try {
      return await fn(lease);
    } finally {
      await lease.release();
    }
  }

  /**
   * Read-modify-write under the lease. The write is also conditional on the version read, so a
   * holder whose lease expired mid-update gets `CONFLICT` instead of overwriting a newer value.
   * Returning `undefined` from `fn` leaves the value as it is.
   */
  update(
    key: string,
    fn: (current: StoredEntry | undefined) => StorageValue | undefined | Promise<StorageValue | undefined>,
    options?: UpdateOptions,
  ): Promise<string | undefined> {
    return this.withLock(
      key,
      async () => {
        const current = await this.storage.read(key);
        const next = await fn(current);
        if (next === undefined) return current?.version;
        assertStorageValue(next, 'LockableStorageManager.update', key);
        return this.storage.write(key, next, { ifVersion: current?.version ?? null });
      },
      options,
    );
  }

  async close(): Promise<void> {
    await this.storage.close?.();
    await this.lock.close?.();
  }
}

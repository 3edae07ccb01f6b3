import { DurableError, ErrorCode } from './errors.js';
import { describeValue } from './lock-options.js';
import type { DurableLogger } from './logger.js';
import { consoleLogger, reportAfterCommit } from './logger.js';
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
  /**
   * Where a lease release that fails after the work committed is reported (pino's
   * `warn(details, message)` shape): the call still resolves, and the lease expires by itself.
   * @default the console
   */
  logger?: DurableLogger;
}

/** Options for {@link LockableStorageManager.update}. */
export type UpdateOptions = AcquireOptions;

/**
 * Any storage composed with any lock: one object that is both, plus `withLock` and a
 * read-modify-write `update` that holds the lease and still writes conditionally.
 */
export class LockableStorageManager implements StorageManager, LockManager {
  readonly storage: StorageManager;
  readonly lock: LockManager;
  /**
   * The inner storage's `watch`, where it has one (see {@link StorageManager.watch}); absent
   * otherwise, as `capabilities.watch` then says.
   */
  readonly watch?: (prefix: string, listener: () => void) => () => void;
  private readonly logger: DurableLogger;

  constructor(options: LockableStorageOptions) {
    checkOptions(options, 'LockableStorageManager', {
      known: ['storage', 'lock', 'logger'],
      required: ['storage', 'lock'],
      renamed: { storageManager: 'storage', lockingManager: 'lock', lockManager: 'lock' },
    });
    const { logger } = options;
    if (logger !== undefined && typeof (logger as Partial<DurableLogger>).warn !== 'function') {
      throw new DurableError(
        ErrorCode.CONFIG,
        `LockableStorageManager: logger must have a warn(details, message) method (pino's shape), got ${describeValue(
          logger,
        )}`,
      );
    }
    this.storage = options.storage;
    this.lock = options.lock;
    this.logger = logger ?? consoleLogger;
    const storage = options.storage;
    if (typeof storage.watch === 'function')
      this.watch = (prefix, listener) => storage.watch!(prefix, listener);
  }

  get capabilities(): StorageCapabilities & LockCapabilities {
    const { watch, ...storage } = this.storage.capabilities;
    // Declares watch only when the method is here to honour it.
    return {
      ...storage,
      ...(watch === true && this.watch !== undefined ? { watch } : {}),
      ...this.lock.capabilities,
    };
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

  /**
   * Runs `fn` while holding the lease on `key`; the lease is released on every path. A release
   * that fails never changes the outcome: `fn`'s result (or its error) is what the call reports,
   * and the release failure goes to the logger. Rejecting after `fn` committed a write would
   * invite a retry of work already done; the lease left behind expires by itself.
   */
  async withLock<T>(
    key: string,
    fn: (lease: Lease) => Promise<T>,
    options?: AcquireOptions,
  ): Promise<T> {
    const lease = await this.lock.acquire(key, options);
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await fn(lease) };
    } catch (error) {
      outcome = { error };
    }
    try {
      await lease.release();
    } catch (error) {
      const after = 'value' in outcome ? 'after the work completed' : 'after the work failed';
      reportAfterCommit(
        this.logger,
        `LockableStorageManager: releasing the lease on ${key} failed ${after} (it expires by itself)`,
        error,
        {
          key,
          fencingToken: lease.fencingToken,
        },
      );
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  /**
   * Read-modify-write under the lease. The write is also conditional on the version read, so a
   * holder whose lease expired mid-update gets `CONFLICT` instead of overwriting a newer value.
   * Returning `undefined` from `fn` leaves the value as it is.
   */
  update(
    key: string,
    fn: (
      current: StoredEntry | undefined,
    ) => StorageValue | undefined | Promise<StorageValue | undefined>,
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

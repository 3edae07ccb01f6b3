import type { Clock } from './clock.js';
import { settle } from './settle.js';
import { systemClock } from './clock.js';
import { DurableError, ErrorCode } from './errors.js';
import { assertValidKey } from './keys.js';
import { createLease, createLockToken } from './lease.js';
import type { AcquireOptions, Lease, LockCapabilities, LockHolder, LockManager } from './lock.js';
import { acquireWithRetry, resolveTtl } from './lock-options.js';
import { checkOptions } from './option-checks.js';

/** Options for {@link MemoryLockManager}. */
export interface MemoryLockOptions {
  /** Lease duration when `acquire` names none. @default 30000 */
  defaultTtlMs?: number;
  /** Time source; inject one to expire leases in tests without sleeping. @default Date.now */
  clock?: Clock;
}

interface Holder {
  token: string;
  expiresAt: number;
}

/** In-process {@link LockManager}: exclusive within one process only. */
export class MemoryLockManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: false };
  private readonly holders = new Map<string, Holder>();
  // Kept after release so fencing tokens keep increasing for the life of the manager.
  private readonly fencing = new Map<string, number>();
  private readonly clock: Clock;
  private readonly defaultTtlMs: number;

  constructor(options: MemoryLockOptions = {}) {
    checkOptions(options, 'memory lock', { known: ['defaultTtlMs', 'clock'] });
    this.clock = options.clock ?? systemClock;
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, 'memory lock');
  }

  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    const attempt = (ttlMs: number): Promise<Lease | undefined> =>
      settle(() => this.tryAcquire(key, ttlMs));
    return acquireWithRetry({
      context: 'memory lock',
      key,
      options,
      defaultTtlMs: this.defaultTtlMs,
      attempt,
    });
  }

  release(key: string, token: string): Promise<boolean> {
    return settle(() => {
      assertValidKey(key, 'memory lock');
      const holder = this.holders.get(key);
      if (holder === undefined || holder.token !== token) return false;
      this.holders.delete(key);
      return true;
    });
  }

  extend(key: string, token: string, ttlMs: number): Promise<number> {
    return settle(() => {
      assertValidKey(key, 'memory lock');
      const ttl = resolveTtl(ttlMs, this.defaultTtlMs, 'memory lock');
      const holder = this.holders.get(key);
      const now = this.clock();
      if (holder === undefined || holder.token !== token || holder.expiresAt <= now) {
        throw new DurableError(
          ErrorCode.LOCK_LOST,
          `memory lock: extend failed for ${key}: the lease is no longer held`,
          {
            details: { key },
          },
        );
      }
      holder.expiresAt = now + ttl;
      return holder.expiresAt;
    });
  }

  holder(key: string): Promise<LockHolder | undefined> {
    return settle(() => {
      assertValidKey(key, 'memory lock');
      const holder = this.holders.get(key);
      if (holder === undefined || holder.expiresAt <= this.clock()) return undefined;
      return { fencingToken: this.fencing.get(key) ?? 0, expiresAt: holder.expiresAt };
    });
  }

  private tryAcquire(key: string, ttlMs: number): Lease | undefined {
    const now = this.clock();
    const holder = this.holders.get(key);
    if (holder !== undefined && holder.expiresAt > now) return undefined;
    const token = createLockToken();
    const fencingToken = (this.fencing.get(key) ?? 0) + 1;
    this.fencing.set(key, fencingToken);
    const expiresAt = now + ttlMs;
    this.holders.set(key, { token, expiresAt });
    return createLease(this, { key, token, fencingToken, expiresAt, ttlMs });
  }
}

/** A granted lock. Only its holder (by `token`) can extend or release it. */
export interface Lease {
  /** The locked key. */
  readonly key: string;
  /** Owner token: secret to the holder, compared on extend and release. */
  readonly token: string;
  /**
   * Strictly increases with every new grant of the same key (also across restarts), so a
   * resource can refuse a write from a holder whose lease has since been taken over.
   */
  readonly fencingToken: number;
  /** Epoch milliseconds after which others may take the lock over. */
  readonly expiresAt: number;
  /** Pushes expiry to now + `ttlMs` (default: the acquire TTL); `LOCK_LOST` if no longer held. */
  extend(ttlMs?: number): Promise<void>;
  /** Releases the lock; false when it was no longer ours (expired and taken over, or released). */
  release(): Promise<boolean>;
}

/** Options for {@link LockManager.acquire}. */
export interface AcquireOptions {
  /** Lease duration. Defaults are the manager's own. */
  ttlMs?: number;
  /** How long to wait for a held lock before `LOCK_TIMEOUT`; 0 tries once. @default 0 */
  waitMs?: number;
  /** Aborts the wait early with `LOCK_TIMEOUT`. */
  signal?: AbortSignal;
}

/** What a lock can tell about the live lease on a key (never its owner token). */
export interface LockHolder {
  /** The holder's fencing token. */
  readonly fencingToken: number;
  /** Epoch milliseconds at which the holder's lease expires unless extended. */
  readonly expiresAt: number;
}

/** Abilities a lock implementation declares. */
export interface LockCapabilities {
  /** Fencing tokens strictly increase per key. */
  readonly fencing: boolean;
  /** Mutual exclusion holds across processes (not just inside one). */
  readonly crossProcess: boolean;
}

/**
 * The lock contract: leases with owner tokens, TTL, takeover of expired leases at once, and
 * strictly increasing fencing tokens.
 */
export interface LockManager {
  /** What this implementation guarantees. */
  readonly capabilities: LockCapabilities;
  /** Grants a lease on `key`, waiting up to `waitMs`; `LOCK_TIMEOUT` when it stays held. */
  acquire(key: string, options?: AcquireOptions): Promise<Lease>;
  /** Releases `key` if `token` still owns it; false otherwise (a no-op). */
  release(key: string, token: string): Promise<boolean>;
  /** Extends `key` if `token` still owns it; returns the new expiry or throws `LOCK_LOST`. */
  extend(key: string, token: string, ttlMs: number): Promise<number>;
  /**
   * Optional, read only: the live lease on `key` (fencing token and expiry), or `undefined` when
   * it is free. Used to say in a `LOCK_TIMEOUT` who holds the lock and until when.
   */
  holder?(key: string): Promise<LockHolder | undefined>;
  /** Releases resources the manager created itself (never an injected client). */
  close?(): Promise<void>;
}

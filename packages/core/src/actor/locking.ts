import { DurableError, ErrorCode, isDurableError } from '../errors.js';
import type { Lease, LockManager } from '../lock.js';
import { assertWaitMs, resolveTtl } from '../lock-options.js';

/** How a persisted actor keeps concurrent invocations apart. */
export const LockingMode = {
  /** Lease taken before the read and held (and extended) until `close()`. */
  READ_WRITE: 'read-write',
  /** No lease for reading; `save()` is conditional on the version read (`CONFLICT` otherwise). */
  WRITE: 'write',
} as const;

/** One of {@link LockingMode}. */
export type LockingMode = (typeof LockingMode)[keyof typeof LockingMode];

/** Default lease of an actor or an orchestrated subject (a live holder extends it every third). */
export const DEFAULT_LOCK_TTL_MS = 10_000;

/**
 * Default wait for a lease, as a multiple of the lease: longer than a lease can outlive a crashed
 * holder, so the caller after a crash gets the lease instead of a `LOCK_TIMEOUT`.
 */
export const DEFAULT_WAIT_PER_TTL = 1.5;

/**
 * @internal The locking mode of an actor or orchestrator: `read-write` when a lock is given,
 * else `write`; an unknown mode, or `read-write` without a lock, is `CONFIG`.
 */
export function resolveLocking(
  locking: LockingMode | undefined,
  hasLock: boolean,
  context: string,
  about?: string,
): LockingMode {
  const mode = locking ?? (hasLock ? LockingMode.READ_WRITE : LockingMode.WRITE);
  if (mode !== LockingMode.READ_WRITE && mode !== LockingMode.WRITE) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: unknown locking mode ${JSON.stringify(mode)}${
        about === undefined ? '' : ` for ${about}`
      }`,
    );
  }
  if (mode === LockingMode.READ_WRITE && !hasLock) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: locking "read-write" needs a lock manager${
        about === undefined ? '' : ` (${about})`
      }`,
    );
  }
  return mode;
}

/**
 * @internal The lease of a `read-write` actor or orchestrator: its TTL (default 10 s) and how long
 * to wait for it (default 1.5 TTL). Bad numbers are `CONFIG`.
 */
export function leaseOptions(
  options: { ttlMs?: number; waitMs?: number },
  context: string,
): { ttlMs: number; waitMs: number } {
  const ttlMs = resolveTtl(options.ttlMs, DEFAULT_LOCK_TTL_MS, `${context}: ttlMs`);
  assertWaitMs(options.waitMs, `${context}: waitMs`);
  return { ttlMs, waitMs: options.waitMs ?? Math.ceil(ttlMs * DEFAULT_WAIT_PER_TTL) };
}

/**
 * @internal Takes a lease; a `LOCK_TIMEOUT` is re-thrown saying who holds the lock (fencing token)
 * and until when, where the lock can tell (`LockManager.holder`).
 */
export async function acquireLease(
  lock: LockManager,
  key: string,
  options: { ttlMs: number; waitMs: number },
  context: string,
): Promise<Lease> {
  try {
    return await lock.acquire(key, options);
  } catch (error) {
    if (!isDurableError(error, ErrorCode.LOCK_TIMEOUT)) throw error;
    throw await describeLockTimeout(lock, key, options, context, error);
  }
}

async function describeLockTimeout(
  lock: LockManager,
  key: string,
  options: { ttlMs: number; waitMs: number },
  context: string,
  cause: DurableError,
): Promise<DurableError> {
  let holder: { fencingToken: number; expiresAt: number } | undefined;
  let known = false;
  if (typeof lock.holder === 'function') {
    try {
      holder = await lock.holder(key);
      known = true;
    } catch {
      // Only a better message was at stake: keep the timeout.
    }
  }
  const now = Date.now();
  const who = !known
    ? `another invocation holds its lease (this lock cannot tell until when; a lease lasts at most its TTL, ${options.ttlMs} ms here, unless its holder extends it)`
    : holder === undefined
      ? 'the lease was freed just after the wait ended'
      : `fencing token ${holder.fencingToken} holds its lease until ${new Date(
          holder.expiresAt,
        ).toISOString()} (in ${Math.max(
          0,
          holder.expiresAt - now,
        )} ms; a crashed holder's lease expires then by itself)`;
  return new DurableError(
    ErrorCode.LOCK_TIMEOUT,
    `${context}: no lease on ${key} after waiting ${options.waitMs} ms: ${who}; retry later or raise waitMs`,
    {
      cause,
      retryable: true,
      details: {
        key,
        waitMs: options.waitMs,
        ...(holder === undefined
          ? {}
          : { fencingToken: holder.fencingToken, expiresAt: holder.expiresAt }),
      },
    },
  );
}

import { sleep } from './clock.js';
import { DurableError, ErrorCode } from './errors.js';
import type { BackoffOptions } from './backoff.js';
import { retryUntil } from './backoff.js';
import { assertValidKey } from './keys.js';
import type { AcquireOptions, Lease } from './lock.js';

/**
 * Longest lease TTL any lock accepts: the largest `setTimeout` delay (about 24.8 days). Longer
 * leases overflow backend expiry arithmetic (a DynamoDB number, an S3 date) or never expire.
 */
export const MAX_TTL_MS = 2_147_483_647;

/** Validates a TTL in milliseconds (a positive finite number up to {@link MAX_TTL_MS}), falling back to `fallback`. */
export function resolveTtl(ttlMs: number | undefined, fallback: number, context: string): number {
  const ttl = ttlMs ?? fallback;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0 || ttl > MAX_TTL_MS) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: ttlMs must be a positive number of milliseconds up to ${MAX_TTL_MS} (about 24.8 days), got ${describeValue(
        ttl,
      )}`,
    );
  }
  return ttl;
}

/** Throws `CONFIG` unless `waitMs` is omitted or a number >= 0 (Infinity waits for good; NaN would never end). */
export function assertWaitMs(waitMs: unknown, context: string): void {
  if (waitMs === undefined || (typeof waitMs === 'number' && waitMs >= 0)) return;
  throw new DurableError(
    ErrorCode.CONFIG,
    `${context}: waitMs must be a number of milliseconds >= 0, got ${describeValue(waitMs)}`,
  );
}

/** Throws `CONFIG` unless the acquire options are an object whose `waitMs` is usable. */
export function assertAcquireOptions(
  options: unknown,
  context: string,
): asserts options is AcquireOptions {
  if (typeof options !== 'object' || options === null) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: acquire options must be an object, got ${describeValue(options)}`,
    );
  }
  assertWaitMs((options as { waitMs?: unknown }).waitMs, context);
}

/** Throws `CONFIG` unless `token` is a non-empty string (an owner token). */
export function assertLockToken(token: unknown, context: string): asserts token is string {
  if (typeof token === 'string' && token !== '') return;
  throw new DurableError(
    ErrorCode.CONFIG,
    `${context}: the owner token must be a non-empty string, got ${describeValue(token)}`,
  );
}

/**
 * Validates a lock manager's `backoff` option: `baseMs` and `maxMs` positive finite numbers (a NaN
 * or negative delay would turn waiting into a busy loop against the backend), `random` a function.
 * Returns the options, or `{}` (the defaults) when none are given.
 */
export function resolveBackoff(
  backoff: BackoffOptions | undefined,
  context: string,
): BackoffOptions {
  if (backoff === undefined) return {};
  if (backoff === null || typeof backoff !== 'object') {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: backoff must be an object { baseMs?, maxMs?, random? }, got ${describeValue(
        backoff,
      )}`,
    );
  }
  for (const name of ['baseMs', 'maxMs'] as const) {
    const value = backoff[name];
    if (
      value !== undefined &&
      (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: backoff.${name} must be a positive number of milliseconds, got ${describeValue(
          value,
        )}`,
      );
    }
  }
  if (backoff.random !== undefined && typeof backoff.random !== 'function') {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: backoff.random must be a function returning [0, 1), got ${describeValue(
        backoff.random,
      )}`,
    );
  }
  return backoff;
}

/** A short description of a bad option value for error messages (its type, and a number's value). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean')
    return `${typeof value} ${String(value)}`;
  return typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}

/**
 * The wait between two attempts of an acquire loop that a notification ("the lock may be free")
 * ends early. Call `reset()` when an attempt starts and `notify()` from the notification; a
 * notification that arrived during the attempt makes the next `wait` return at once.
 */
class WakeableWait {
  private notified = false;
  private wakeUp: (() => void) | undefined;

  /** Forgets earlier notifications: call as an attempt starts. */
  reset(): void {
    this.notified = false;
  }

  /** Ends the wait in progress, or the next one at once. */
  notify(): void {
    this.notified = true;
    this.wakeUp?.();
  }

  /** Sleeps `ms` unless notified since the last reset; rejects with the reason when `signal` aborts. */
  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.notified) return;
    const woken = new AbortController();
    this.wakeUp = () => woken.abort();
    const onAbort = (): void => woken.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await sleep(ms, woken.signal);
    } catch {
      if (signal?.aborted) throw signal.reason;
    } finally {
      this.wakeUp = undefined;
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** What {@link acquireWithRetry} needs from a lock backend. */
export interface AcquireAttempts {
  /** Names the backend in error messages ("redis-lock", "fs lock", ...). */
  context: string;
  key: string;
  /** The caller's acquire options. */
  options: AcquireOptions;
  /** TTL when the options name none. */
  defaultTtlMs: number;
  /** The backend's backoff settings. */
  backoff?: BackoffOptions;
  /** One try: the lease, or `undefined` while someone else holds the lock. */
  attempt: (ttlMs: number) => Promise<Lease | undefined>;
  /**
   * Optional wake-up: subscribes `onChange` to "the lock may have changed" notifications (a
   * release, a new grant, an extension) and returns the unsubscribe function, or `undefined` when
   * notifications are not available. A waiting acquire then retries as soon as a notification
   * arrives instead of sleeping out its backoff; the backoff still bounds each wait, so a missed or
   * absent notification (an expiry is never announced) costs no more than before. Only called when
   * `waitMs` > 0, after the first attempt failed, and always followed by an attempt.
   */
  watch?: (onChange: () => void) => (() => void) | undefined;
  /**
   * Optional: the longest wait worth making before the next attempt, asked after each failed
   * one (e.g. how long the holder's lease still runs, since an expiry is never announced).
   */
  maxWaitMs?: () => number;
}

/**
 * The acquire loop every lock backend shares: checks the key and options (rejecting, never
 * throwing synchronously, before any I/O), then tries with jittered backoff until `waitMs`,
 * woken early by the backend's `watch` notifications when it has them.
 */
export async function acquireWithRetry(attempts: AcquireAttempts): Promise<Lease> {
  const { context, key, options } = attempts;
  assertValidKey(key, context);
  assertAcquireOptions(options, context);
  const ttlMs = resolveTtl(options.ttlMs, attempts.defaultTtlMs, context);
  const retry = {
    ...attempts.backoff,
    waitMs: options.waitMs ?? 0,
    signal: options.signal,
    timeoutMessage: `${context}: acquire timed out for ${key}`,
    details: { key },
  };
  const { watch, maxWaitMs } = attempts;
  const bounded = (ms: number): number =>
    maxWaitMs === undefined ? ms : Math.max(1, Math.min(ms, maxWaitMs()));
  if (watch === undefined || retry.waitMs <= 0) {
    return retryUntil(() => attempts.attempt(ttlMs), {
      ...retry,
      ...(maxWaitMs === undefined
        ? {}
        : { wait: (ms: number, signal?: AbortSignal) => sleep(bounded(ms), signal) }),
    });
  }

  let subscribed = false;
  let unwatch: (() => void) | undefined;
  const waker = new WakeableWait();
  const attempt = (): Promise<Lease | undefined> => {
    waker.reset();
    return attempts.attempt(ttlMs);
  };
  const wait = async (ms: number, signal?: AbortSignal): Promise<void> => {
    if (!subscribed) {
      // Subscribe after the first failed attempt (the backend may create what it watches then),
      // and try again at once, so a change between that attempt and the subscription is not missed.
      subscribed = true;
      unwatch = watch(() => waker.notify());
      if (unwatch !== undefined) return;
    }
    await waker.wait(bounded(ms), signal);
  };
  try {
    return await retryUntil(attempt, { ...retry, wait });
  } finally {
    unwatch?.();
  }
}

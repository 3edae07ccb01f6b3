import { ErrorCode, isDurableError } from '@durable/core';
import { Unwind } from './errors.js';

// Mistakes in the code or the data that a rerun would only repeat: they abort the workflow at
// once instead of counting as a failure to retry (and re-running side effects for nothing).
const PROGRAMMING_ERRORS: ReadonlySet<string> = new Set([
  ErrorCode.CONFIG,
  ErrorCode.SERIALIZATION,
  ErrorCode.NON_DETERMINISTIC,
  ErrorCode.HANDLER_UNKNOWN,
  ErrorCode.INVALID_KEY,
]);

/** True for an error no retry can heal (`CONFIG`, `SERIALIZATION`, `NON_DETERMINISTIC`, ...). */
export function isProgrammingError(error: unknown): boolean {
  try {
    return isDurableError(error) && PROGRAMMING_ERRORS.has(error.code);
  } catch {
    return false; // a thrown proxy that refuses to be looked at
  }
}

/** `isDurableError` that never throws, whatever a handler threw. */
export function isDurableErrorSafe(error: unknown, code: string): boolean {
  try {
    return isDurableError(error, code);
  } catch {
    return false;
  }
}

/**
 * Marks `promise` as handled and returns it unchanged: a handler that forgets to `await` a ctx
 * operation must not turn its rejection into an unhandled rejection that kills the worker
 * (Node's default). The handler still sees the rejection when it does await.
 */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Throws `error` unchanged: what a step, a store or a misuse threw is passed on as it is. */
export function rethrow(error: unknown): never {
  throw error;
}

/** A promise rejected with `error` unchanged (a user's non-Error throw stays what it was). */
export function rejected<T>(error: unknown): Promise<T> {
  return Promise.reject(error);
}

/** The event a finished child sends its parent (`ctx.child` waits for it). */
export function childEventName(childId: string): string {
  return `$child:${childId}`;
}

/** `error instanceof Unwind` that never throws (a revoked proxy throws on instanceof). */
export function isUnwind(error: unknown): boolean {
  try {
    return error instanceof Unwind;
  } catch {
    return false;
  }
}

/** True for a `DurableError` marked retryable (a store outage); never throws. */
export function isRetryable(error: unknown): boolean {
  try {
    return isDurableError(error) && error.retryable && error.code !== ErrorCode.LOCK_LOST;
  } catch {
    return false; // a store that threw something that cannot be looked at
  }
}

import type { BackoffOptions } from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import { backoffDelay, describeValue, sleep, wasRetried } from '@durable/core/adapter';
import { isConcurrentConditionalWrite } from './s3-errors.js';

// Why retry in place: S3 answers a conditional PutObject/DeleteObject with 409
// ConditionalRequestConflict when another conditional write on the same key is in progress. It
// applied nothing, and S3's own message says "you can retry the request". Sending the very same
// conditional request again is safe, since S3 still checks its condition: if the other writer
// committed, the retry gets 412 (CONFLICT, as always); if it did not, ours may now go through. So
// a 409 is not reported as a CONFLICT (which means "re-read, then decide") until the attempts are
// spent. A blind (unconditional) write is never retried here: S3 does not answer it 409.

/** How a conditional write or delete that S3 answered `409 ConditionalRequestConflict` is sent again. */
export interface ConflictRetryOptions extends BackoffOptions {
  /**
   * Attempts in all, the first included (1: report the first 409 as `CONFLICT`). Each waits a
   * "full jitter" delay in [1, min(maxMs, baseMs * 2^n)] ms first. @default 4
   */
  maxAttempts?: number;
}

/** The defaults of {@link ConflictRetryOptions}: 4 attempts, delays up to 20, 40, 80 ms. */
export const DEFAULT_CONFLICT_RETRY = { maxAttempts: 4, baseMs: 20, maxMs: 500 } as const;

/** Validated {@link ConflictRetryOptions}. */
export interface ConflictRetry {
  readonly maxAttempts: number;
  readonly backoff: BackoffOptions;
}

/** What one conditional request met: how many times S3 answered it 409 (all attempts included). */
export interface ConflictTally {
  conflicts: number;
}

/** Validates the `conflictRetry` option at construction (`CONFIG` for a bad value, before any I/O). */
export function resolveConflictRetry(
  options: ConflictRetryOptions | undefined,
  context: string,
): ConflictRetry {
  if (options === undefined)
    return { maxAttempts: DEFAULT_CONFLICT_RETRY.maxAttempts, backoff: DEFAULT_CONFLICT_RETRY };
  if (options === null || typeof options !== 'object') {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: conflictRetry must be an object { maxAttempts?, baseMs?, maxMs?, random? }, got ${describeValue(options)}`,
    );
  }
  const { maxAttempts = DEFAULT_CONFLICT_RETRY.maxAttempts, random } = options;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: conflictRetry.maxAttempts must be an integer from 1 to 100 (1: never retry a 409), got ${describeValue(maxAttempts)}`,
    );
  }
  for (const name of ['baseMs', 'maxMs'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value <= 0))
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: conflictRetry.${name} must be a positive number of milliseconds, got ${describeValue(value)}`,
      );
  }
  if (random !== undefined && typeof random !== 'function') {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: conflictRetry.random must be a function returning [0, 1), got ${describeValue(random)}`,
    );
  }
  return {
    maxAttempts,
    backoff: {
      baseMs: options.baseMs ?? DEFAULT_CONFLICT_RETRY.baseMs,
      maxMs: options.maxMs ?? DEFAULT_CONFLICT_RETRY.maxMs,
      ...(random === undefined ? {} : { random }),
    },
  };
}

/**
 * Sends a conditional request, and sends it again, after a jittered wait, while S3 answers it 409
 * on the SDK's first and only attempt (then nothing was applied). A 409 that answered an SDK retry
 * is not retried here: the earlier attempt may have been applied, and the caller settles it by
 * reading back. The last error is rethrown as is; `tally.conflicts` says how many 409s were met.
 */
export async function sendRetrying409<T>(
  retry: ConflictRetry,
  tally: ConflictTally,
  send: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!isConcurrentConditionalWrite(error)) throw error;
      tally.conflicts++;
      if (wasRetried(error) || attempt >= retry.maxAttempts) throw error;
      await sleep(backoffDelay(attempt - 1, retry.backoff));
    }
  }
}

import { sleep } from './clock.js';
import { DurableError, ErrorCode } from './errors.js';

/** Options for {@link backoffDelay}. */
export interface BackoffOptions {
  /** First delay ceiling. @default 5 */
  baseMs?: number;
  /** Largest delay ceiling. @default 250 */
  maxMs?: number;
  /** Random source in [0, 1). @default Math.random */
  random?: () => number;
}

/**
 * "Full jitter" exponential backoff: a random delay in [0, min(max, base * 2^attempt)], so
 * contending waiters spread out instead of retrying in lockstep.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 5;
  const max = options.maxMs ?? 250;
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor((options.random ?? Math.random)() * ceiling) + 1;
}

/** Options for {@link retryUntil}. */
export interface RetryUntilOptions extends BackoffOptions {
  /** Total time to keep trying; 0 tries once. */
  waitMs: number;
  /** Stops waiting early. */
  signal?: AbortSignal | undefined;
  /** Message of the `LOCK_TIMEOUT` error. */
  timeoutMessage: string;
  /**
   * Waits between attempts; defaults to a plain sleep. A backend with release notifications
   * resolves early when the lock is freed.
   */
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Extra facts for the timeout error. */
  details?: Record<string, unknown>;
}

/**
 * Calls `attempt` until it returns a value, with jittered backoff, for at most `waitMs`;
 * then throws `LOCK_TIMEOUT`. Errors thrown by `attempt` propagate at once (a backend failure is
 * never retried as if it were contention).
 */
export async function retryUntil<T>(
  attempt: () => Promise<T | undefined>,
  options: RetryUntilOptions,
): Promise<T> {
  if (typeof options.waitMs !== 'number' || Number.isNaN(options.waitMs) || options.waitMs < 0) {
    // NaN would never pass the deadline and wait forever.
    throw new DurableError(
      ErrorCode.CONFIG,
      `waitMs must be a number of milliseconds >= 0, got ${String(options.waitMs)}`,
    );
  }
  const deadline = Date.now() + options.waitMs;
  const wait = options.wait ?? sleep;
  for (let n = 0; ; n++) {
    const result = await attempt();
    if (result !== undefined) return result;
    const remaining = deadline - Date.now();
    if (remaining <= 0 || options.signal?.aborted) break;
    try {
      await wait(Math.min(remaining, backoffDelay(n, options)), options.signal);
    } catch {
      break; // aborted
    }
  }
  throw new DurableError(ErrorCode.LOCK_TIMEOUT, options.timeoutMessage, {
    retryable: true,
    ...(options.details === undefined ? {} : { details: options.details }),
  });
}

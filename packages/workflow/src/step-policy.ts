import type { DurableErrorOptions } from '@durable/core';
import { DurableError, isDurableError } from '@durable/core';
import { checkOptions, describeValue } from '@durable/core/adapter';
import { WorkflowErrorCode } from './errors.js';

/**
 * A step's retry policy, for `ctx.step(id, fn, options)`. Without one a step runs once per run
 * and a failure fails the run (retried by the workflow's `maxFailures`), as before.
 */
export interface StepOptions {
  /**
   * Retries in place after a failed attempt, before the run fails (each run of the workflow gets
   * them afresh). An error with `retryable: false` (a {@link NonRetryableError}, or any
   * `DurableError` not marked retryable) is never retried. @default 0
   */
  retries?: number;
  /** Wait before the first retry; the worker keeps the workflow meanwhile. @default 1000 */
  retryIntervalMs?: number;
  /** Growth factor of the wait with each further retry (1: a fixed wait). @default 2 */
  backoff?: number;
  /**
   * An attempt that has not settled after this long fails with `STEP_TIMEOUT` (retryable); its
   * function's `signal` is aborted and its late result ignored. @default no timeout
   */
  timeoutMs?: number;
}

/** {@link StepOptions} with defaults applied. */
export interface StepPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Wait before the first retry. */
  retryIntervalMs: number;
  /** Growth factor of the wait. */
  backoff: number;
  /** Per-attempt timeout, if any. */
  timeoutMs: number | undefined;
}

// Waits longer than a day are not what an in-place retry is for: a durable ctx.sleep is.
const MAX_RETRY_WAIT_MS = 86_400_000;

/** Checks a step's options (a `CONFIG` error names the step) and applies the defaults. */
export function resolveStepPolicy(options: StepOptions | undefined, context: string): StepPolicy {
  if (options === undefined)
    return { retries: 0, retryIntervalMs: 1000, backoff: 2, timeoutMs: undefined };
  checkOptions(options, context, { known: ['retries', 'retryIntervalMs', 'backoff', 'timeoutMs'] });
  const whole = (value: unknown, name: string, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new DurableError(
        'CONFIG',
        `${context}: ${name} must be a whole number >= 0, got ${describeValue(value)}`,
      );
    }
    return value;
  };
  const backoff = options.backoff;
  if (
    backoff !== undefined &&
    (typeof backoff !== 'number' || !Number.isFinite(backoff) || backoff < 1)
  ) {
    throw new DurableError(
      'CONFIG',
      `${context}: backoff must be a number >= 1, got ${String(backoff)}`,
    );
  }
  const timeoutMs =
    options.timeoutMs === undefined ? undefined : whole(options.timeoutMs, 'timeoutMs', 0);
  if (timeoutMs === 0) throw new DurableError('CONFIG', `${context}: timeoutMs must be > 0`);
  return {
    retries: whole(options.retries, 'retries', 0),
    retryIntervalMs: whole(options.retryIntervalMs, 'retryIntervalMs', 1000),
    backoff: backoff ?? 2,
    timeoutMs,
  };
}

/** The wait before retry number `retry` (1 for the first retry). */
export function stepRetryDelay(policy: StepPolicy, retry: number): number {
  return Math.min(
    policy.retryIntervalMs * policy.backoff ** Math.min(retry - 1, 60),
    MAX_RETRY_WAIT_MS,
  );
}

/**
 * An error that no retry can heal (a declined card, a refused request): thrown from a step it
 * skips the step's retries and aborts the workflow at once (unless the workflow catches it).
 */
export class NonRetryableError extends DurableError {
  /** @param message What failed and why retrying cannot help (stored with the workflow). */
  constructor(message: string, options: Omit<DurableErrorOptions, 'retryable'> = {}) {
    super(WorkflowErrorCode.NON_RETRYABLE, message, { ...options, retryable: false });
    this.name = 'NonRetryableError';
  }
}

/** True for an error a step's policy must not retry: `retryable: false` on a DurableError. */
export function isNonRetryable(error: unknown): boolean {
  try {
    return isDurableError(error) && !error.retryable;
  } catch {
    return false;
  }
}

/** True for a {@link NonRetryableError} (by code, so it works across duplicate installs). */
export function isNonRetryableError(error: unknown): boolean {
  try {
    return isDurableError(error, WorkflowErrorCode.NON_RETRYABLE);
  } catch {
    return false;
  }
}

/** The error of an attempt that ran past its `timeoutMs`. */
export function stepTimeoutError(
  workflowId: string,
  stepId: string,
  attempt: number,
  timeoutMs: number,
): DurableError {
  return new DurableError(
    WorkflowErrorCode.STEP_TIMEOUT,
    `workflow ${workflowId}: step ${JSON.stringify(
      stepId,
    )} attempt ${attempt} did not settle within timeoutMs (${timeoutMs} ms)`,
    { retryable: true, details: { step: stepId, attempt, timeoutMs } },
  );
}

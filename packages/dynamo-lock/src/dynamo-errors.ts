import type { DurableError } from '@durable/core';
import { DurableError as Err, ErrorCode, isDurableError } from '@durable/core';

interface SdkErrorShape {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

/** True for a failed ConditionExpression: the only error that means "contended" or "not yours". */
export function isConditionFailure(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as SdkErrorShape).name === 'ConditionalCheckFailedException';
}

/**
 * True unless the SDK says this condition failure answered the first and only attempt: after a
 * retry it may answer our own earlier attempt, applied but with its reply lost.
 */
export function wasRetried(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true;
  const attempts = (error as SdkErrorShape).$metadata?.attempts;
  return attempts === undefined || attempts > 1;
}

// Connection failures where no byte of the request left this process. Matched in the message too:
// the SDK wraps an error from another realm (jest's VM contexts) without its `code`.
const NOT_SENT = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH)\b/;

/**
 * True when a failed request may nevertheless have been applied: the SDK retried it (an earlier
 * attempt may have succeeded with its reply lost), or it got no HTTP answer after it may have
 * been sent (a reset connection, a timeout).
 */
export function mayHaveBeenApplied(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || isDurableError(error)) return false;
  const shape = error as SdkErrorShape;
  if ((shape.$metadata?.attempts ?? 1) > 1) return true;
  const reason = `${shape.code ?? ''} ${error instanceof Error ? error.message : ''}`;
  return shape.$metadata?.httpStatusCode === undefined && !NOT_SENT.test(reason);
}

const RETRYABLE = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
]);

/**
 * Wraps any other SDK failure as `BACKEND` (durable-x-state's lock reported every error as
 * "contended"): throttling, 5xx and network failures are retryable, validation errors and
 * missing tables are not.
 */
export function dynamoBackendError(error: unknown, message: string, key?: string): DurableError {
  if (isDurableError(error)) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const status = shape.$metadata?.httpStatusCode;
  const name = shape.name;
  const retryable = status === undefined || status >= 500 || (name !== undefined && RETRYABLE.has(name));
  const reason = error instanceof Error ? error.message || name || 'unknown error' : String(error);
  return new Err(ErrorCode.BACKEND, `${message}: ${name ?? 'error'}: ${reason}`, {
    cause: error,
    retryable,
    details: { ...(key === undefined ? {} : { key }), ...(status === undefined ? {} : { status }), ...(name === undefined ? {} : { name }) },
  });
}

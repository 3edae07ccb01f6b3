import type { DurableError } from '@durable/core';
import { DurableError as Err, ErrorCode, isDurableError } from '@durable/core';

interface SdkErrorShape {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

/** True for a failed ConditionExpression: the only error that means "contended" or "not yours". */
export function isConditionFailure(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as SdkErrorShape).name === 'ConditionalCheckFailedException'
  );
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
  const retryable =
    status === undefined || status >= 500 || (name !== undefined && RETRYABLE.has(name));
  const reason = error instanceof Error ? error.message || name || 'unknown error' : String(error);
  return new Err(ErrorCode.BACKEND, `${message}: ${name ?? 'error'}: ${reason}`, {
    cause: error,
    retryable,
    details: {
      ...(key === undefined ? {} : { key }),
      ...(status === undefined ? {} : { status }),
      ...(name === undefined ? {} : { name }),
    },
  });
}

import { DurableError, ErrorCode, isDurableError } from '@durable/core';

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $retryable?: unknown;
}

/** The HTTP status of an SDK error, or undefined for a network failure. */
export function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  return (error as SdkErrorShape).$metadata?.httpStatusCode;
}

/** The S3 error code (`NoSuchKey`, `PreconditionFailed`, ...) of an SDK error. */
function errorName(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const shape = error as SdkErrorShape;
  return shape.Code ?? shape.name;
}

/**
 * True for "the object is not there" (GetObject/HeadObject 404). A missing bucket
 * (`NoSuchBucket`) is not: it is a configuration failure and must not read as "absent".
 */
export function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(error) === 404;
}

/** True for S3's 409 ConditionalRequestConflict: another conditional write on the key was in flight; trying again may succeed. */
export function isConcurrentConditionalWrite(error: unknown): boolean {
  return errorName(error) === 'ConditionalRequestConflict' || httpStatus(error) === 409;
}

/** True for a failed `If-None-Match`/`If-Match` (412), or S3's 409 for a concurrent conditional write. */
export function isPreconditionFailure(error: unknown): boolean {
  const status = httpStatus(error);
  const name = errorName(error);
  return (
    status === 412 ||
    name === 'PreconditionFailed' ||
    name === 'ConditionalRequestConflict' ||
    status === 409
  );
}

/**
 * Wraps an SDK failure as `BACKEND`: throttling, 5xx and network failures are retryable; other
 * 4xx (access denied, no such bucket, bad request) are not.
 */
export function s3BackendError(error: unknown, message: string, key?: string): DurableError {
  if (isDurableError(error)) return error;
  const status = httpStatus(error);
  const name = errorName(error);
  const throttled =
    name === 'SlowDown' ||
    name === 'Throttling' ||
    name === 'ThrottlingException' ||
    status === 429;
  const retryable = status === undefined || status >= 500 || throttled;
  const reason = error instanceof Error ? error.message || name || 'unknown error' : String(error);
  return new DurableError(
    ErrorCode.BACKEND,
    `${message}: ${name ?? 'error'}${status === undefined ? '' : ` (HTTP ${status})`}: ${reason}`,
    {
      cause: error,
      retryable,
      details: {
        ...(key === undefined ? {} : { key }),
        ...(status === undefined ? {} : { status }),
        ...(name === undefined ? {} : { name }),
      },
    },
  );
}

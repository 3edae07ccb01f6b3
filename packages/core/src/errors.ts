/** Stable error codes shared by every durable package. */
export const ErrorCode = {
  INVALID_KEY: 'INVALID_KEY',
  CONFLICT: 'CONFLICT',
  LOCK_TIMEOUT: 'LOCK_TIMEOUT',
  LOCK_LOST: 'LOCK_LOST',
  NOT_FOUND: 'NOT_FOUND',
  INVALID_EVENT: 'INVALID_EVENT',
  INVALID_SNAPSHOT: 'INVALID_SNAPSHOT',
  VERSION_UNKNOWN: 'VERSION_UNKNOWN',
  PATH_ESCAPE: 'PATH_ESCAPE',
  BACKEND: 'BACKEND',
  CONFIG: 'CONFIG',
  NON_DETERMINISTIC: 'NON_DETERMINISTIC',
  HANDLER_UNKNOWN: 'HANDLER_UNKNOWN',
  SERIALIZATION: 'SERIALIZATION',
  CANCELLED: 'CANCELLED',
  /**
   * A conditional write or delete whose outcome could not be found out (its reply was lost and the
   * backend cannot tell whose write is there): it may or may not have been applied. Re-read the
   * key before deciding; never treat it as a CONFLICT (the write may be yours) nor blindly retry.
   */
  UNKNOWN_OUTCOME: 'UNKNOWN_OUTCOME',
} as const;

/** One of the stable {@link ErrorCode} strings (third-party codes are allowed too). */
export type DurableErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode] | (string & {});

/** Options for {@link DurableError}. */
export interface DurableErrorOptions {
  /** Whether retrying the same operation may succeed. @default false */
  retryable?: boolean;
  /** The underlying error (a backend SDK error, a parse error, ...). */
  cause?: unknown;
  /** Extra structured facts (key, version, ...) for logs. */
  details?: Record<string, unknown>;
}

// A registry-wide symbol, so that two copies of @durable/core (duplicate installs, ESM + CJS)
// still recognise each other's errors.
const BRAND = Symbol.for('durable.error');

/** The one error type thrown across every durable package boundary. */
export class DurableError extends Error {
  /** Stable machine-readable code. */
  readonly code: DurableErrorCode;
  /** Whether retrying the same operation may succeed. */
  readonly retryable: boolean;
  /** Extra structured facts for logs. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: DurableErrorCode, message: string, options: DurableErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DurableError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** True for a {@link DurableError} from any copy of @durable/core; optionally of one code. */
export function isDurableError(error: unknown, code?: DurableErrorCode): error is DurableError {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (error as DurableError).code === code;
}

/**
 * Wraps an unknown backend failure as a `BACKEND` error (kept as is when it already is a
 * DurableError), so no package ever leaks a raw SDK error or reports it as contention.
 */
export function toBackendError(
  error: unknown,
  message: string,
  options: { retryable?: boolean; details?: Record<string, unknown> } = {},
): DurableError {
  if (isDurableError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new DurableError(ErrorCode.BACKEND, `${message}: ${reason}`, {
    cause: error,
    retryable: options.retryable ?? true,
    ...(options.details === undefined ? {} : { details: options.details }),
  });
}

/** What {@link conflictError} reports about a failed `ifVersion` condition. */
export interface ConflictFacts {
  /** Who reports it, as in every message: `'fs storage'`, `'s3 storage'`, ... */
  context: string;
  /** The refused operation: `'write'` or `'delete'`. */
  operation: 'write' | 'delete';
  /** The key the condition was on. */
  key: string;
  /** The `ifVersion` given: a version, or `null` for "only if absent". */
  expected: string | null;
  /** The version found instead (`null`: absent), when the backend knows it. */
  actual?: string | null;
  /** Why, when more is known than "the version differs" (a backend's own reason). */
  reason?: string;
  /** The backend's error, when there was one (a 412, a duplicate key, ...). */
  cause?: unknown;
}

function describeVersion(version: string | null): string {
  return version === null ? 'no value' : `version ${version}`;
}

/**
 * The one `CONFLICT` every storage throws when an `ifVersion` condition does not hold. The shape
 * is the same on every backend: never `retryable` (the same write would fail again: re-read the
 * key, then decide), and `details` is `{ key, operation, expected }` plus `actual` when the
 * backend knows what it found (`null`: absent).
 */
export function conflictError(facts: ConflictFacts): DurableError {
  const { context, operation, key, expected, actual, reason, cause } = facts;
  const found = actual === undefined ? '' : `, found ${describeVersion(actual)}`;
  const why = reason === undefined ? '' : ` (${reason})`;
  return new DurableError(
    ErrorCode.CONFLICT,
    `${context}: ${operation} conflict for ${key}: expected ${describeVersion(
      expected,
    )}${found}${why}; nothing was changed: read the key again and decide`,
    {
      ...(cause === undefined ? {} : { cause }),
      retryable: false,
      details: { key, operation, expected, ...(actual === undefined ? {} : { actual }) },
    },
  );
}

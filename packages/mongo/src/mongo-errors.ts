import type { DurableError } from '@durable/core';
import { toBackendError } from '@durable/core/adapter';

interface MongoErrorShape {
  name?: string;
  code?: unknown;
  codeName?: string;
  hasErrorLabel?: (label: string) => boolean;
}

// Server codes that say "try again": primary stepped down, shutting down, timeouts, interrupted.
const TRANSIENT_CODES = new Set([
  6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50, 112, 251,
]);
// Driver-side failures where the request may not have reached a server or its reply was lost.
const TRANSIENT_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoServerClosedError',
  'MongoTopologyClosedError',
  'MongoOperationTimeoutError',
  'MongoWriteConcernError',
  'PoolClearedError',
  'PoolClearedOnNetworkError',
  'ConnectionPoolClosedError',
]);

/** True for a duplicate key error (E11000): an insert-if-absent that lost, or an upsert that met a held lock. */
export function isDuplicateKey(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as MongoErrorShape).code === 11000;
}

/**
 * For a bulk write refused only by duplicate keys (code 11000 on every write error, and no write
 * concern error), the positions in the batch of the refused documents; otherwise undefined. The
 * count of inserted documents is not used: mongo-java-server reports the whole batch as inserted.
 */
export function duplicatesOnly(error: unknown): Set<number> | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const shape = error as {
    name?: unknown;
    writeErrors?: unknown;
    writeConcernError?: unknown;
    result?: { hasWriteErrors?: () => boolean; getWriteConcernError?: () => unknown };
  };
  if (shape.name !== 'MongoBulkWriteError') return undefined;
  if (shape.result?.getWriteConcernError?.() !== undefined) return undefined;
  const writeErrors = Array.isArray(shape.writeErrors) ? shape.writeErrors : [shape.writeErrors];
  const positions = new Set<number>();
  for (const writeError of writeErrors as Array<{ code?: unknown; index?: unknown }>) {
    if (writeError?.code !== 11000 || typeof writeError.index !== 'number') return undefined;
    positions.add(writeError.index);
  }
  return positions.size === 0 ? undefined : positions;
}

/**
 * True for a bulk write that failed with no write error of its own: the driver wraps its own
 * failures (a broken connection, a timeout) and write concern errors so, and the class of the
 * original is lost. The batch may then have been applied, in part or whole: read it back.
 */
export function isBulkFailureWithoutWriteErrors(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const shape = error as { name?: unknown; writeErrors?: unknown };
  if (shape.name !== 'MongoBulkWriteError') return false;
  const writeErrors = shape.writeErrors;
  return writeErrors === undefined || (Array.isArray(writeErrors) && writeErrors.length === 0);
}

/** Whether trying the same operation again may succeed (network, failover, timeouts). */
export function isTransientMongoError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const shape = error as MongoErrorShape;
  if (typeof shape.hasErrorLabel === 'function') {
    if (
      shape.hasErrorLabel('RetryableWriteError') ||
      shape.hasErrorLabel('TransientTransactionError') ||
      shape.hasErrorLabel('ResetPool')
    ) {
      return true;
    }
  }
  if (shape.name !== undefined && TRANSIENT_NAMES.has(shape.name)) return true;
  return typeof shape.code === 'number' && TRANSIENT_CODES.has(shape.code);
}

/**
 * Wraps a driver failure as `BACKEND` (never as contention or "absent"): network failures,
 * failovers and timeouts are retryable; validation, authorisation and document-too-large errors
 * are not.
 */
export function mongoBackendError(error: unknown, message: string, key?: string): DurableError {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as MongoErrorShape;
  return toBackendError(error, `${message}: ${shape.name ?? 'Error'}`, {
    retryable: isTransientMongoError(error),
    details: {
      ...(key === undefined ? {} : { key }),
      ...(shape.name === undefined ? {} : { name: shape.name }),
      ...(typeof shape.code === 'number' ? { code: shape.code } : {}),
    },
  });
}

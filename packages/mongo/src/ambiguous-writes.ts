import type { Collection, Document, Filter } from 'mongodb';
import { DurableError, ErrorCode } from '@durable/core';
import { mongoBackendError } from './mongo-errors.js';

interface ErrorShape {
  name?: string;
  hasErrorLabel?: (label: string) => boolean;
}

// Failures after which a write may have been applied although no answer said so: the connection
// broke or timed out with the request sent, or the driver's own retry (retryable writes, on a
// replica set) failed too. Server selection errors are not here: nothing was sent.
const AMBIGUOUS_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoOperationTimeoutError',
  'MongoWriteConcernError',
]);

/** Whether a write that failed this way may nevertheless have been applied. */
export function isAmbiguousWriteError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const shape = error as ErrorShape;
  if (shape.name !== undefined && AMBIGUOUS_NAMES.has(shape.name)) return true;
  return typeof shape.hasErrorLabel === 'function' && shape.hasErrorLabel('RetryableWriteError');
}

/**
 * After an ambiguous failure of a storage write, finds out what happened by reading the document
 * back: the version this write chose is unique (a fresh ObjectId), so finding it means the write
 * was applied, and the caller gets that version. Otherwise the write was not applied yet, or was
 * and has been overwritten since, or is still in flight: nobody can tell, so a conditional write
 * is `UNKNOWN_OUTCOME` (never `CONFLICT`, which would tell a caller whose write landed that it
 * did not), and a blind one is the original retryable `BACKEND` error (a blind retry is harmless).
 */
export async function settleAmbiguousWrite<T extends Document & { _id: string; version: string }>(
  documents: Collection<T>,
  id: string,
  version: string,
  conditional: boolean,
  failure: unknown,
  what: { context: string; key: string },
): Promise<string> {
  let current: Document | null;
  try {
    current = await documents.findOne({ _id: id } as Filter<T>, { projection: { version: 1 } });
  } catch (readError) {
    throw unknownOutcome(
      what,
      'reading it back failed too',
      failure,
      { readError: String(readError) },
      conditional,
    );
  }
  if (current !== null && current.version === version) return version;
  throw unknownOutcome(
    what,
    'it is not in place (not applied yet, or applied and overwritten since)',
    failure,
    {},
    conditional,
  );
}

/** After an ambiguous failure of a conditional delete: gone or not, nobody can tell whose delete it was. */
export async function settleAmbiguousDelete<T extends Document & { _id: string }>(
  documents: Collection<T>,
  id: string,
  failure: unknown,
  what: { context: string; key: string },
): Promise<never> {
  let gone: boolean | undefined;
  try {
    gone = (await documents.findOne({ _id: id } as Filter<T>, { projection: { _id: 1 } })) === null;
  } catch {
    gone = undefined;
  }
  throw new DurableError(
    ErrorCode.UNKNOWN_OUTCOME,
    `${what.context}: the outcome of delete for ${
      what.key
    } is unknown: the connection failed after the request was sent; ${
      gone === undefined
        ? 'reading it back failed too'
        : gone
          ? 'the value is gone'
          : 'the value is still there'
    }. Read the key to decide what to do`,
    {
      retryable: true,
      cause: failure,
      details: { key: what.key, ...(gone === undefined ? {} : { gone }) },
    },
  );
}

function unknownOutcome(
  what: { context: string; key: string },
  reason: string,
  failure: unknown,
  details: Record<string, unknown>,
  conditional: boolean,
): DurableError {
  if (!conditional)
    return mongoBackendError(failure, `${what.context}: write failed for ${what.key}`, what.key);
  return new DurableError(
    ErrorCode.UNKNOWN_OUTCOME,
    `${what.context}: the outcome of the conditional write of ${what.key} is unknown: the connection failed after the request was sent and ${reason}. Read the key to decide what to do`,
    { retryable: true, cause: failure, details: { key: what.key, ...details } },
  );
}

import { isDurableError } from './errors.js';

// The error shape of SDKs that retry on their own and report it (the AWS SDK v3's `$metadata`).
interface RetryingSdkError {
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

// Connection failures where no byte of the request left this process: nothing can have been
// applied. Matched in the message too: an SDK may wrap an error from another realm (jest's VM
// contexts) as "... connect ECONNREFUSED ..." without its `code`.
const NOT_SENT = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH)\b/;

/**
 * True when a failed request may nevertheless have been applied: the SDK retried it (an earlier
 * attempt may have succeeded with its reply lost; `$metadata.attempts` > 1), or it got no HTTP
 * answer after it may have been sent (a reset connection, a timeout). An adapter then reads back
 * before it reports `CONFLICT` or a failure.
 */
export function mayHaveBeenApplied(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || isDurableError(error)) return false;
  const shape = error as RetryingSdkError;
  if ((shape.$metadata?.attempts ?? 1) > 1) return true;
  const reason = `${shape.code ?? ''} ${error instanceof Error ? error.message : ''}`;
  return shape.$metadata?.httpStatusCode === undefined && !NOT_SENT.test(reason);
}

/**
 * True unless the SDK says this answer came from the first and only attempt: a condition failure
 * on a retry (or from a client that does not report attempts) may answer our own earlier write.
 */
export function wasRetried(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true;
  const attempts = (error as RetryingSdkError).$metadata?.attempts;
  return attempts === undefined || attempts > 1;
}

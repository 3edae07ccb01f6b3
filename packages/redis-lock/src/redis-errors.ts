import type { DurableError } from '@durable/core';
import { DurableError as Err, ErrorCode, isDurableError } from '@durable/core';

// Reply errors that say "the server is busy or failing over": trying again may succeed.
const TRANSIENT_REPLIES = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|MOVED|ASK)\b/;

/** True when Redis answered NOSCRIPT (the script cache was flushed or the server restarted). */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/**
 * Wraps an ioredis failure as `BACKEND`: connection failures and transient server replies are
 * retryable; other reply errors (WRONGTYPE, NOPERM, a script error) are not. Never "contended".
 */
export function redisBackendError(error: unknown, message: string, key?: string): DurableError {
  if (isDurableError(error)) return error;
  const name = error instanceof Error ? error.name : 'Error';
  const reason = error instanceof Error ? error.message : String(error);
  const retryable = name !== 'ReplyError' || TRANSIENT_REPLIES.test(reason);
  return new Err(ErrorCode.BACKEND, `${message}: ${reason}`, {
    cause: error,
    retryable,
    details: { ...(key === undefined ? {} : { key }), name },
  });
}

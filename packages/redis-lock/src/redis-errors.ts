import type { DurableError } from '@durable/core';
import { toBackendError } from '@durable/core/adapter';

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
  const name = error instanceof Error ? error.name : 'Error';
  const retryable =
    name !== 'ReplyError' || TRANSIENT_REPLIES.test(error instanceof Error ? error.message : '');
  return toBackendError(error, message, {
    retryable,
    details: { ...(key === undefined ? {} : { key }), name },
  });
}

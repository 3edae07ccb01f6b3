import type { DurableError } from '@durable/core';
import { toBackendError } from '@durable/core/adapter';

interface PgErrorShape {
  code?: unknown;
  message?: unknown;
}

// Failures of the network before a request could leave this process: nothing was applied.
const NOT_SENT = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH)\b/;

/** The SQLSTATE of a server error (5 characters), or undefined for a client-side failure. */
export function sqlState(error: unknown): string | undefined {
  const code =
    typeof error === 'object' && error !== null ? (error as PgErrorShape).code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Whether a failed statement may nevertheless have been applied. A server error answers the
 * statement (it was rolled back), except the ones that end the connection (class 08, and 57P01 /
 * 57P02: a shutdown or crash of the server) which may arrive after a commit whose reply is lost. A
 * failure without a SQLSTATE (a reset socket, "Connection terminated unexpectedly") after the
 * statement was sent is ambiguous; a refused connection is not.
 */
export function mayHaveBeenApplied(error: unknown): boolean {
  const state = sqlState(error);
  if (state !== undefined) return state.startsWith('08') || state === '57P01' || state === '57P02';
  const code =
    typeof error === 'object' && error !== null ? (error as PgErrorShape).code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return !NOT_SENT.test(`${typeof code === 'string' ? code : ''} ${message}`);
}

/**
 * Whether trying again may succeed: connection failures, a server shutting down or starting up,
 * serialization failures and deadlocks, lock and statement timeouts, too many connections.
 * Programming and data errors (syntax, constraint, permission) are not.
 */
export function isTransientPgError(error: unknown): boolean {
  const state = sqlState(error);
  if (state === undefined) return true;
  return (
    state.startsWith('08') ||
    state.startsWith('53') ||
    state.startsWith('57P') ||
    state === '40001' ||
    state === '40P01' ||
    state === '55P03' ||
    state === '57014' ||
    state === '58030'
  );
}

/** Wraps a driver or server failure as `BACKEND` naming the operation and key (DurableErrors pass through). */
export function pgBackendError(error: unknown, message: string, key?: string): DurableError {
  const state = sqlState(error);
  return toBackendError(error, message, {
    retryable: isTransientPgError(error),
    details: {
      ...(key === undefined ? {} : { key }),
      ...(state === undefined ? {} : { sqlState: state }),
    },
  });
}

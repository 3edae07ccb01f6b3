import { DurableError } from '@durable/core';
import type { DurableErrorOptions } from '@durable/core';

/**
 * Error codes of the fsm server beside core's (`NOT_FOUND`, `CONFLICT`, `BACKEND`, ...). Each
 * maps to one HTTP status and one gRPC status (see `rest.ts`, `grpc.ts`).
 */
export const FsmErrorCode = {
  /** A request body, message or argument is malformed: the message names the field. */
  INVALID_REQUEST: 'INVALID_REQUEST',
  /** The machine's current state has no transition on this event. */
  EVENT_NOT_ALLOWED: 'EVENT_NOT_ALLOWED',
  /** A method of the Go sm-server's API that this server does not serve (the message says why). */
  UNIMPLEMENTED: 'UNIMPLEMENTED',
} as const;

/** Creates a `DurableError` prefixed with the package name. */
export function fsmError(
  code: string,
  message: string,
  options: DurableErrorOptions = {},
): DurableError {
  return new DurableError(code, `fsm-server: ${message}`, options);
}

/** A malformed request: `field` is named in the message and in `details.field`. */
export function invalidRequest(field: string, problem: string): DurableError {
  return fsmError(FsmErrorCode.INVALID_REQUEST, `${field} ${problem}`, { details: { field } });
}

import { ErrorCode, isDurableError } from '@durable/core';
import { FsmErrorCode } from './errors.js';

/** The Go sm-server's `EventOutcome.StatusCode` names, used in error notifications and gRPC replies. */
export const OutcomeCode = {
  Ok: 'Ok',
  GenericError: 'GenericError',
  EventNotAllowed: 'EventNotAllowed',
  FsmNotFound: 'FsmNotFound',
  TransitionNotAllowed: 'TransitionNotAllowed',
  InternalError: 'InternalError',
  MissingDestination: 'MissingDestination',
  ConfigurationNotFound: 'ConfigurationNotFound',
} as const;

/** One of the {@link OutcomeCode} names. */
export type OutcomeCode = (typeof OutcomeCode)[keyof typeof OutcomeCode];

/** The outcome code of a failure (a `DurableError` from the service, or anything else). */
export function outcomeCodeOf(error: unknown): OutcomeCode {
  if (!isDurableError(error)) return OutcomeCode.InternalError;
  switch (error.code) {
    case FsmErrorCode.EVENT_NOT_ALLOWED:
      return OutcomeCode.EventNotAllowed;
    case FsmErrorCode.INVALID_REQUEST:
      return error.details?.['field'] === 'dest'
        ? OutcomeCode.MissingDestination
        : OutcomeCode.GenericError;
    case ErrorCode.NOT_FOUND:
      return /configuration/.test(error.message)
        ? OutcomeCode.ConfigurationNotFound
        : OutcomeCode.FsmNotFound;
    default:
      return OutcomeCode.InternalError;
  }
}

/** True for a failure that will fail again the same way (never worth a redelivery). */
export function isPermanent(error: unknown): boolean {
  if (!isDurableError(error)) return false;
  if (
    error.code === FsmErrorCode.INVALID_REQUEST ||
    error.code === FsmErrorCode.EVENT_NOT_ALLOWED ||
    error.code === ErrorCode.NOT_FOUND
  )
    return true;
  return !error.retryable && error.code !== ErrorCode.CONFLICT;
}

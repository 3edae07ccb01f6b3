import type { StoredError } from '@durable/core';
import { DurableError } from '@durable/core';

/** Error codes of @durable/workflow, beside the core's `ErrorCode`s. */
export const WorkflowErrorCode = {
  /** The workflow (or an awaited child) ended `aborted`; `details.error` holds the stored error. */
  WORKFLOW_FAILED: 'WORKFLOW_FAILED',
  /** `result()` of a workflow that has not finished yet. */
  NOT_FINISHED: 'NOT_FINISHED',
  /**
   * A handler spent more than `timeoutIntervalMs` outside any ctx operation without settling
   * (awaiting something that never settles): the run fails (and is retried) with this cause.
   */
  HANDLER_STALLED: 'HANDLER_STALLED',
  /** A step attempt ran past its policy's `timeoutMs` (retryable: the policy may retry it). */
  STEP_TIMEOUT: 'STEP_TIMEOUT',
  /** A {@link NonRetryableError}: no step retry, no workflow retry. */
  NON_RETRYABLE: 'NON_RETRYABLE',
  /** A workflow id already used by another workflow (`start` of a different definition). */
  WORKFLOW_CONFLICT: 'WORKFLOW_CONFLICT',
} as const;

/** One of the {@link WorkflowErrorCode} values. */
export type WorkflowErrorCode = (typeof WorkflowErrorCode)[keyof typeof WorkflowErrorCode];

/** Rebuilds a thrown error from a stored one, keeping its name, message and stack. */
export function workflowFailedError(id: string, stored: StoredError): DurableError {
  const error = new DurableError(
    WorkflowErrorCode.WORKFLOW_FAILED,
    `workflow ${id} failed: ${stored.name}: ${stored.message}`,
    {
      details: { id, error: stored },
    },
  );
  if (stored.stack !== undefined)
    error.stack = `${error.name}: ${error.message}\n--- stored stack ---\n${stored.stack}`;
  return error;
}

/**
 * Thrown through a handler once its workflow has been suspended (sleep, event or child wait) or
 * released (graceful stop). Not an Error, so `catch (e) { if (e instanceof Error) ... }` lets it
 * pass; a handler that swallows it anyway is still treated as suspended.
 */
export class Unwind {
  /** @param reason Why the handler is unwound. */
  constructor(readonly reason: 'suspended' | 'released') {}
}

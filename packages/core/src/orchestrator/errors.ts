/** Error codes of the orchestrator, beside the shared `ErrorCode` set. */
export const OrchestratorErrorCode = {
  /** A `cloudevent` or `orchestration` middleware threw or returned something unusable. */
  MIDDLEWARE: 'MIDDLEWARE',
  /** The machine itself failed (an action or guard threw); its state was not saved. */
  ACTOR_FAILED: 'ACTOR_FAILED',
} as const;

/** One of {@link OrchestratorErrorCode}. */
export type OrchestratorErrorCode =
  (typeof OrchestratorErrorCode)[keyof typeof OrchestratorErrorCode];

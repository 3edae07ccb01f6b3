// `@durable/core/adapter`: what an adapter author needs beyond the contracts (which stay in the
// main entry): the shared checks, the one CONFLICT, paging, the lock's acquire loop and lease
// helpers, the workflow store's pure transitions and claim writes. An application needs none.
export { conflictError, toBackendError } from './errors.js';
export type { ConflictFacts } from './errors.js';
export { assertValidKey, assertValidPrefix, isWellFormedText, keyProblem } from './keys.js';
export { MAX_VERSION_LENGTH, assertConditionalOptions, assertStorageValue } from './values.js';
export { checkOptions } from './option-checks.js';
export type { OptionRules } from './option-checks.js';
export { mayHaveBeenApplied, wasRetried } from './request-outcome.js';
export { toBytes } from './storage.js';
export { createLease, createLockToken } from './lease.js';
export type { LeaseGrant } from './lease.js';
export { backoffDelay, retryUntil } from './backoff.js';
export type { RetryUntilOptions } from './backoff.js';
export { sleep } from './clock.js';
export { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, compareKeys, listLimit, pageKeys } from './paging.js';
export {
  MAX_TTL_MS,
  acquireWithRetry,
  assertAcquireOptions,
  assertLockToken,
  assertWaitMs,
  describeValue,
  resolveBackoff,
  resolveTtl,
} from './lock-options.js';
export type { AcquireAttempts } from './lock-options.js';
export {
  MAX_WORKFLOW_ID_LENGTH,
  WORKFLOW_RECORD_FORMAT,
  assertClaimHeld,
  assertJsonValue,
  assertValidWorkflowId,
  cloneJson,
  claimedStart,
  createClaimToken,
  decodeWorkflowId,
  encodeWorkflowId,
  isWorkflowDue,
  parseWorkflowRecord,
  checkStepPlacement,
  toStoredError,
  workflowTransitions,
} from './workflow-store.js';
export {
  checkWorkflowListQuery,
  compareWorkflowPositions,
  countWorkflows,
  decodeWorkflowCursor,
  emptyWorkflowCounts,
  encodeWorkflowCursor,
  isAfterWorkflowCursor,
  matchesWorkflowQuery,
  pageWorkflows,
  toWorkflowSummary,
} from './workflow-listing.js';
export type { CheckedWorkflowListQuery, WorkflowListPosition } from './workflow-listing.js';
export { WakeListeners } from './wake-listeners.js';
export { PrefixWatchers } from './prefix-watchers.js';
export { ClaimWrites } from './claim-writes.js';
export type { ClaimTransition } from './claim-writes.js';

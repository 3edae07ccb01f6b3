export { DurableError, ErrorCode, conflictError, isDurableError, toBackendError } from './errors.js';
export type { ConflictFacts, DurableErrorCode, DurableErrorOptions } from './errors.js';
export { MAX_KEY_LENGTH, assertValidKey, assertValidPrefix, isValidKey, isWellFormedText, joinKey, keyProblem } from './keys.js';
export { MAX_VERSION_LENGTH, assertConditionalOptions, assertStorageValue } from './values.js';
export { checkOptions } from './option-checks.js';
export { mayHaveBeenApplied, wasRetried } from './request-outcome.js';
export type { OptionRules } from './option-checks.js';
export { bytesToText, listAll, readText, toBytes } from './storage.js';
export type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StorageValue,
  StoredEntry,
} from './storage.js';
export type { AcquireOptions, Lease, LockCapabilities, LockHolder, LockManager } from './lock.js';
export { createLease, createLockToken } from './lease.js';
export type { LeaseGrant } from './lease.js';
export { backoffDelay, retryUntil } from './backoff.js';
export type { BackoffOptions, RetryUntilOptions } from './backoff.js';
export { sleep, systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { DEFAULT_LIST_LIMIT, compareKeys, listLimit, pageKeys } from './paging.js';
export { MAX_TTL_MS, acquireWithRetry, assertAcquireOptions, assertLockToken, assertWaitMs, describeValue, resolveBackoff, resolveTtl } from './lock-options.js';
export type { AcquireAttempts } from './lock-options.js';
export { MemoryStorageManager, createMemoryStorage } from './memory-storage.js';
export { MemoryLockManager, createMemoryLock } from './memory-lock.js';
export type { MemoryLockOptions } from './memory-lock.js';
export { LockableStorageManager } from './lockable-storage.js';
export type { LockableStorageOptions, UpdateOptions } from './lockable-storage.js';
export type { DurableLogger } from './logger.js';
export {
  MAX_WORKFLOW_ID_LENGTH,
  RESUMABLE_STATUSES,
  StepKind,
  WORKFLOW_RECORD_FORMAT,
  WorkflowStatus,
  assertClaimHeld,
  assertJsonValue,
  assertValidWorkflowId,
  checkStepPlacement,
  cloneJson,
  createClaimToken,
  decodeWorkflowId,
  encodeWorkflowId,
  isFinishedStatus,
  isWorkflowDue,
  parseWorkflowRecord,
  toStoredError,
  workflowTransitions,
} from './workflow-store.js';
export type {
  ClaimedWorkflow,
  NewWorkflow,
  StepMemo,
  StoredError,
  SuspendOptions,
  WorkflowClaim,
  WorkflowEvent,
  WorkflowOutcome,
  WorkflowRecord,
  WorkflowStore,
} from './workflow-store.js';
export {
  MAX_WORKFLOW_LIST_LIMIT,
  WorkflowListOrder,
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
export type {
  CheckedWorkflowListQuery,
  WorkflowCounts,
  WorkflowListPosition,
  WorkflowListQuery,
  WorkflowPage,
  WorkflowSummary,
} from './workflow-listing.js';
export { ClaimWrites } from './claim-writes.js';
export type { ClaimTransition } from './claim-writes.js';
export { WakeListeners } from './wake-listeners.js';
export { MemoryWorkflowStore, createMemoryWorkflowStore } from './memory-workflow-store.js';
export type { MemoryWorkflowStoreOptions } from './memory-workflow-store.js';
export { StoragePendingIndex, StorageWorkflowStore, createStorageWorkflowStore } from './storage-workflow-store.js';
export type { PendingIndex, StorageWorkflowStoreOptions } from './storage-workflow-store.js';
export { contextFromTraceparent, isTracing, loadTelemetry, logEvent, stampTraceContext, startSpan } from './telemetry.js';
export type { DurableSpan, LogLevel, SpanAttributes, SpanParent, TraceContext } from './telemetry.js';

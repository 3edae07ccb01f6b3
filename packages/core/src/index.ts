// `@durable/core`: what an application uses: errors, the contracts, the in-memory
// implementations, LockableStorageManager and the workflow stores. Helpers for writing an adapter
// are in `@durable/core/adapter`; the persisted actor and the orchestrator in their own subpaths.
export { DurableError, ErrorCode, isDurableError } from './errors.js';
export type { DurableErrorCode, DurableErrorOptions } from './errors.js';
export { MAX_KEY_LENGTH, isValidKey, joinKey } from './keys.js';
export { bytesToText, listAll, readText } from './storage.js';
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
export type { BackoffOptions } from './backoff.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { MemoryStorageManager } from './memory-storage.js';
export { MemoryLockManager } from './memory-lock.js';
export type { MemoryLockOptions } from './memory-lock.js';
export { LockableStorageManager } from './lockable-storage.js';
export type { LockableStorageOptions, UpdateOptions } from './lockable-storage.js';
export type { DurableLogger } from './logger.js';
export {
  RESUMABLE_STATUSES,
  StepKind,
  WorkflowStatus,
  isFinishedStatus,
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
export { MAX_WORKFLOW_LIST_LIMIT, WorkflowListOrder } from './workflow-listing.js';
export type {
  WorkflowCounts,
  WorkflowListQuery,
  WorkflowPage,
  WorkflowSummary,
} from './workflow-listing.js';
export { MemoryWorkflowStore } from './memory-workflow-store.js';
export type { MemoryWorkflowStoreOptions } from './memory-workflow-store.js';
export { StoragePendingIndex, StorageWorkflowStore } from './storage-workflow-store.js';
export type { PendingIndex, StorageWorkflowStoreOptions } from './storage-workflow-store.js';
export {
  contextFromTraceparent,
  isTracing,
  loadTelemetry,
  logEvent,
  stampTraceContext,
  startSpan,
} from './telemetry.js';
export type {
  DurableSpan,
  LogLevel,
  SpanAttributes,
  SpanParent,
  TraceContext,
} from './telemetry.js';

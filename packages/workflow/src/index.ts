export { WorkflowClient, createWorkflowClient, makeClient } from './client.js';
export type { DrainOptions, LidexStatus, PollOptions, StartOptions } from './client.js';
export type { EventResult, WaitForEventOptions, WorkflowContext } from './context-api.js';
export { WorkflowErrorCode } from './errors.js';
export type { WorkflowClientOptions, WorkflowHandler } from './options.js';
export { WorkflowWorker } from './worker.js';
export type { WorkerStats } from './worker.js';
export { StorageWorkflowStore, StoragePendingIndex, createStorageWorkflowStore } from './storage-workflow-store.js';
export type { PendingIndex, StorageWorkflowStoreOptions } from './storage-workflow-store.js';

export { WorkflowClient } from './client.js';
export type { StartArgs, StartRequest, WorkflowClientOptions } from './client.js';
export type {
  BaseWorkflowContext,
  EventResult,
  StepAttempt,
  WaitForEventOptions,
  WorkflowContext,
  WorkflowInputArgs,
} from './context-api.js';
export { defineWorkflow } from './definition.js';
export type {
  AnyWorkflow,
  WorkflowDefinition,
  WorkflowInput,
  WorkflowResult,
} from './definition.js';
export type { DrainOptions, PollOptions, StartOptions } from './engine.js';
export { WorkflowErrorCode } from './errors.js';
export type { ResultOptions, StartedWorkflowHandle, WorkflowHandle } from './handle.js';
export type { EngineOptions } from './options.js';
export { NonRetryableError } from './step-policy.js';
export type { StepOptions } from './step-policy.js';
export { WorkflowWorker } from './worker.js';
export type { WorkerStats } from './worker.js';
export {
  DEFAULT_WORKFLOW_PAGE,
  cancelWorkflow,
  countWorkflowsByStatus,
  iterateWorkflows,
  listWorkflows,
  resumeWorkflow,
} from './operations.js';
export type { ListWorkflowsQuery } from './operations.js';

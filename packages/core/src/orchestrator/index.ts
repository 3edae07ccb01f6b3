export { CloudOrchestrationActor, INPUT_TYPE_PREFIX } from './cloud-orchestration-actor.js';
export type {
  CloudEventMiddleware,
  CloudOrchestrationActorOptions,
  CloudOrchestratorMiddlewares,
  MachineEvent,
  OrchestrationEmit,
  OrchestrationMiddleware,
} from './cloud-orchestration-actor.js';
export {
  assertCloudEvent,
  cloudEventProblem,
  createCloudEvent,
  deterministicEventId,
} from './cloudevent.js';
export type { CreateCloudEventOptions, DurableCloudEvent } from './cloudevent.js';
export { OrchestratorErrorCode } from './errors.js';
export { ORCHESTRATION_ERROR_TYPE } from './error-events.js';
export type { ErrorCause } from './error-events.js';
export { orchestrateCloudEvents } from './orchestrate.js';
export { fireDueTimers } from './timer-run.js';
export type { FireDueTimersOptions, TimerPublish, TimerRunResult } from './timer-run.js';
export { startTimerWorker } from './timer-worker.js';
export type { TimerWorker, TimerWorkerOptions } from './timer-worker.js';
export type { PendingTimer } from '../actor/timers.js';
export { inspectOrchestration } from './inspect.js';
export { DEFAULT_ORCHESTRATION_PAGE, listOrchestrations } from './list.js';
export type { OrchestrationListQuery, OrchestrationPage, OrchestrationSummary } from './list.js';
export type { ProcessView } from './inspect.js';
export type {
  NotAcceptedEvent,
  OnSnapshot,
  OrchestrateCloudEventsOptions,
  OrchestrationResult,
  OrchestrationStart,
  OrchestrationVersion,
  ProcessState,
} from './orchestrate-options.js';
export { toMermaid } from './mermaid.js';
export type { MermaidOptions } from './mermaid.js';
export { activePaths, leafPaths } from './state-paths.js';
export { resolveStateKey, statePaths } from './state-keys.js';
export { LockingMode } from '../actor/locking.js';
export type { DurableLogger } from '../actor/logger.js';

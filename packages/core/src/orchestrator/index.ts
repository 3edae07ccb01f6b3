export {
  CloudOrchestrationActor,
  createCloudOrchestrationActor,
} from './cloud-orchestration-actor.js';
export type {
  CloudEventMiddleware,
  CloudOrchestrationActorOptions,
  CloudOrchestratorMiddlewares,
  MachineEvent,
  OrchestrationEmit,
  OrchestrationMiddleware,
} from './cloud-orchestration-actor.js';
export { assertCloudEvent, cloudEventProblem, createCloudEvent, deterministicEventId } from './cloudevent.js';
export type { CreateCloudEventOptions, DurableCloudEvent } from './cloudevent.js';
export { OrchestratorErrorCode } from './errors.js';
export { ORCHESTRATION_ERROR_TYPE, orchestrateCloudEvents } from './orchestrate.js';
export type {
  OnSnapshot,
  OrchestrateCloudEventsOptions,
  OrchestrationResult,
  OrchestrationStart,
  OrchestrationVersion,
  ProcessState,
} from './orchestrate.js';
export { toMermaid } from './mermaid.js';
export type { MermaidOptions } from './mermaid.js';
export { activePaths, leafPaths } from './state-paths.js';
export { LockingMode } from '../actor/locking.js';

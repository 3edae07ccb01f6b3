export { createFsmServer, FSM_SERVER_VERSION } from './server.js';
export type { FsmLogger, FsmServer, FsmServerOptions, FsmSqsOptions } from './server.js';
export { FsmService } from './fsm-service.js';
export type { EventOutcome, FsmServiceOptions, MachineView } from './fsm-service.js';
export type {
  Configuration,
  HistoryEntry,
  IncomingEvent,
  MachineRecord,
  Timestamp,
  Transition,
} from './model.js';
export { configurationId, normaliseConfiguration } from './model.js';
export { FsmErrorCode } from './errors.js';
export { OutcomeCode } from './outcome-codes.js';
export { ERROR_EVENT_TYPE, Notifier, TRANSITION_EVENT_TYPE } from './notifier.js';
export type {
  ErrorNotification,
  EventChannel,
  EventErrorReport,
  NotifierOptions,
} from './notifier.js';
export { SqsConsumer } from './sqs-consumer.js';
export type { SqsConsumerOptions, SqsConsumerStats } from './sqs-consumer.js';
export {
  PROTO_LOADER_OPTIONS,
  loadStatemachineProto,
  statemachineClientConstructor,
} from './grpc.js';
export type { StatemachineApiVersion } from './grpc.js';
export { STATEMACHINE_PROTO, STATEMACHINE_V2_PROTO } from './proto-source.js';
export { parseFsmServerArgs } from './cli-args.js';
export type { FsmServerArgs } from './cli-args.js';

export { runStorageSuite, INVALID_KEYS, assertReplyDropped } from './storage-suite.js';
export type { LostReplyHook, StorageSuiteOptions } from './storage-suite.js';
export type { OutageHook, StorageEdgeOptions } from './storage-edge-cases.js';
export { runLockSuite } from './lock-suite.js';
export type { LockSuiteOptions } from './lock-suite.js';
export {
  delay,
  expectConflict,
  expectDurableError,
  resolveRunner,
  uniquePrefix,
} from './runner.js';
export type { ExpectedConflict, HookFn, SuiteRunner, TestFn } from './runner.js';
export { runWorkflowStoreSuite } from './workflow-store-suite.js';
export type { WorkflowStoreSuiteOptions } from './workflow-store-suite.js';
export { startChildServer, wrapChildServer } from './child-server.js';
export type { ChildServer } from './child-server.js';
export { startLostReplyProxy } from './lost-reply-proxy.js';
export type { LostReplyProxy, LostReplyProxyOptions, ProxiedRequest } from './lost-reply-proxy.js';
export { casCounter, lockCounter } from './process-counters.js';
export type { LockCounterOptions } from './process-counters.js';

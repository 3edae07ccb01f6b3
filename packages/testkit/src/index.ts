export { runStorageSuite, INVALID_KEYS } from './storage-suite.js';
export type { StorageSuiteOptions } from './storage-suite.js';
export { runLockSuite } from './lock-suite.js';
export type { LockSuiteOptions } from './lock-suite.js';
export { delay, expectDurableError, resolveRunner, uniquePrefix } from './runner.js';
export type { HookFn, SuiteRunner, TestFn } from './runner.js';
export { runWorkflowStoreSuite } from './workflow-store-suite.js';
export type { WorkflowStoreSuiteOptions } from './workflow-store-suite.js';

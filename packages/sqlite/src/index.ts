export { SqliteStorageManager } from './storage.js';
export type { SqliteStorageOptions } from './storage.js';
export { SqliteLockManager } from './lock.js';
export type { SqliteLockOptions } from './lock.js';
export { SqliteWorkflowStore } from './workflow-store.js';
export type { SqliteWorkflowStoreOptions } from './workflow-store.js';
export type { SqliteConnectionOptions } from './database.js';

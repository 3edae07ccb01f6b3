export { PostgresStorageManager } from './storage.js';
export type { PostgresStorageOptions } from './storage.js';
export { PostgresLockManager } from './lock.js';
export type { PostgresLockOptions } from './lock.js';
export { PostgresWorkflowStore } from './workflow-store.js';
export type { PostgresWorkflowStoreOptions } from './workflow-store.js';
export type { PostgresConnectionOptions } from './options.js';
export { MAX_KEY_BYTES } from './keys.js';

export { LocalFileStorageManager } from './file-storage.js';
export type { LocalFileStorageOptions } from './file-storage.js';
export { FileLockManager } from './file-lock.js';
export type { FileLockOptions } from './file-lock.js';
export { FileWorkflowStore } from './workflow-store.js';
export type { FileWorkflowStoreOptions } from './workflow-store.js';

export { LocalFileStorageManager, createFileStorage } from './file-storage.js';
export type { LocalFileStorageOptions } from './file-storage.js';
export { FileLockManager, createFileLock } from './file-lock.js';
export type { FileLockOptions } from './file-lock.js';
export { FileWorkflowStore, createFileWorkflowStore } from './workflow-store.js';
export type { FileWorkflowStoreOptions } from './workflow-store.js';

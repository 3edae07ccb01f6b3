export { MongoStorageManager, createMongoStorage, listFilter, storageDocumentId, valueBytes, STORAGE_DOCUMENT_FORMAT } from './mongo-storage.js';
export type { MongoStorageOptions, StorageDocument } from './mongo-storage.js';
export { LOCK_DOCUMENT_FORMAT, MongoLockManager, createMongoLock, acquireUpdate, grantedFencingToken } from './mongo-lock.js';
export type { LockDocument, MongoLockOptions } from './mongo-lock.js';
export { MongoWorkflowStore, createMongoWorkflowStore, workflowDueAt, workflowFields } from './mongo-workflow-store.js';
export type { MongoWorkflowStoreOptions, WorkflowDocument } from './mongo-workflow-store.js';
export { DEFAULT_DATABASE, assertCollectionName, assertDatabaseName } from './connection.js';
export type { MongoConnectionOptions } from './connection.js';
export { isDuplicateKey, isTransientMongoError, mongoBackendError } from './mongo-errors.js';

export {
  MongoStorageManager,
  listFilter,
  storageDocumentId,
  valueBytes,
  STORAGE_DOCUMENT_FORMAT,
} from './mongo-storage.js';
export type { MongoStorageOptions, StorageDocument } from './mongo-storage.js';
export {
  LOCK_DOCUMENT_FORMAT,
  MongoLockManager,
  acquireUpdate,
  grantedFencingToken,
} from './mongo-lock.js';
export type { LockDocument, MongoLockOptions } from './mongo-lock.js';
export { MongoWorkflowStore } from './mongo-workflow-store.js';
export type { MongoWorkflowStoreOptions } from './mongo-workflow-store.js';
export {
  WORKFLOW_DOCUMENT_FORMAT,
  newWorkflowDocument,
  workflowDueAt,
  workflowFields,
} from './workflow-document.js';
export type { WorkflowDocument } from './workflow-document.js';
export { DEFAULT_DATABASE, assertCollectionName, assertDatabaseName } from './connection.js';
export type { MongoConnectionOptions } from './connection.js';
export { isDuplicateKey, isTransientMongoError, mongoBackendError } from './mongo-errors.js';
export { isAmbiguousWriteError } from './ambiguous-writes.js';

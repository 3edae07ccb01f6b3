export { S3StorageManager } from './s3-storage.js';
export type { S3StorageOptions } from './s3-storage.js';
export { DEFAULT_LOCK_PREFIX, S3LockManager } from './s3-lock.js';
export type { S3LockOptions } from './s3-lock.js';
export type { S3ConnectionOptions, S3Credentials } from './connection.js';
export { DEFAULT_CONFLICT_RETRY } from './conflict-retry.js';
export type { ConflictRetryOptions } from './conflict-retry.js';

export { DynamoLockingManager } from './dynamo-lock.js';
export type { DynamoLockOptions, LockItemState } from './dynamo-lock.js';
export { createLockTable } from './lock-table.js';
export type { CreateLockTableOptions } from './lock-table.js';
export type { DynamoConnectionOptions, DynamoCredentials } from './connection.js';

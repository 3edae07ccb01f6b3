export { RedisLockManager, createRedisLock, parseAcquireReply } from './redis-lock.js';
export type { RedisLockOptions } from './redis-lock.js';
export type { RedisClient, RedisConnectionOptions } from './connection.js';
export { DEFAULT_REDIS_LOCK_PREFIX, lockKeyNames, releaseChannel } from './redis-keys.js';
export type { LockKeyNames } from './redis-keys.js';
export { redisBackendError } from './redis-errors.js';
export { RedisQuorumLockManager, createRedisQuorumLock } from './quorum-lock.js';
export type { RedisQuorumLockOptions } from './quorum-lock.js';
export {
  DEFAULT_REDIS_STORAGE_PREFIX,
  RedisStorageManager,
  createRedisStorage,
} from './redis-storage.js';
export type { RedisStorageOptions } from './redis-storage.js';

// Any storage composes with any lock: every pair available here runs the persisted-actor and the
// lock-protected counter scenario and gives the exact count. In process for every pair
// (memory, fs, s3 storages x memory, fs, dynamo, redis, s3 locks), and across processes for the
// pairs where both sides work across processes. Servers: s3rver with our conditional-write layer
// (or S3_ENDPOINT), dynalite (or DYNAMODB_ENDPOINT), redis-server (or REDIS_URL); the same
// scenarios run on moto in moto-composition.test.ts.
import { startRedisServer } from '@durable/test-support';
import type { LockKind, StorageKind } from './fixtures/composition-matrix.js';
import { runCompositionMatrix } from './fixtures/composition-matrix.js';
import { startDynamoWithTable, startS3 } from './fixtures/composition-support.js';

const CROSS_PROCESS_STORAGES: readonly StorageKind[] = ['fs', 's3'];
const CROSS_PROCESS_LOCKS: readonly LockKind[] = ['fs', 'dynamo', 'redis', 's3'];
const tableName = 'durable-composition';

runCompositionMatrix({
  label: '',
  start: async () => {
    const [s3, dynamo, redis] = await Promise.all([
      startS3(),
      startDynamoWithTable(tableName),
      startRedisServer(),
    ]);
    return {
      s3,
      s3Local: s3.directory !== undefined,
      dynamo,
      tableName,
      redisUrl: redis.url,
      stop: async () => {
        await Promise.all([s3.stop(), dynamo.stop(), redis.stop()]);
      },
    };
  },
  storages: ['memory', 'fs', 's3'],
  locks: ['memory', 'fs', 'dynamo', 'redis', 's3'],
  crossPairs: CROSS_PROCESS_STORAGES.flatMap((s) =>
    CROSS_PROCESS_LOCKS.map((l) => [s, l] as const),
  ),
});

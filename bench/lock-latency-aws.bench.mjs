// Acquire latency p50/p99 of the AWS-side locks: DynamoLockingManager (against dynalite) and
// S3LockManager (against s3rver + our conditional layer), both local processes. Uncontended:
// one client, acquire then release, one key. 8-way contended: 8 managers with 8 separate SDK
// clients in this process loop on one key; latency is from the acquire call to the grant
// (it includes waiting for the other holders).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoLockingManager, createLockTable } from '@durable/dynamo-lock';
import { S3LockManager } from '@durable/s3';
import { startDynamo, startS3 } from '@durable/test-support';
import { quantile } from './support/stats.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const SOLO = Number(process.env.BENCH_LOCK_SOLO ?? 500);
const CONTENDERS = 8;
const PER_CONTENDER = Number(process.env.BENCH_LOCK_PER ?? 40);

function summary(samples) {
  return `p50 ${quantile(samples, 0.5).toFixed(2)} ms, p99 ${quantile(samples, 0.99).toFixed(
    2,
  )} ms (n=${samples.length})`;
}

async function measure(makeManager) {
  const solo = makeManager();
  const uncontended = [];
  for (let i = 0; i < SOLO + 20; i++) {
    const started = performance.now();
    const lease = await solo.acquire('solo', { ttlMs: 30_000 });
    if (i >= 20) uncontended.push(performance.now() - started);
    await lease.release();
  }
  await solo.close();
  const managers = Array.from({ length: CONTENDERS }, () => makeManager());
  const contended = [];
  await Promise.all(
    managers.map(async (manager) => {
      for (let i = 0; i < PER_CONTENDER; i++) {
        const started = performance.now();
        const lease = await manager.acquire('contended', { ttlMs: 30_000, waitMs: 120_000 });
        contended.push(performance.now() - started);
        await lease.release();
      }
    }),
  );
  await Promise.all(managers.map((m) => m.close()));
  return { uncontended, contended };
}

const dynalite = await startDynamo({ memory: true });
const s3 = await startS3({ external: false });
try {
  const dynamoClient = () =>
    new DynamoDBClient({
      endpoint: dynalite.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
  const setup = dynamoClient();
  await createLockTable({ client: setup, tableName: 'bench-locks', timeToLive: false });
  setup.destroy();
  const s3Client = () =>
    new S3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });

  const dynamo = await measure(() => {
    const client = dynamoClient();
    const manager = new DynamoLockingManager({
      client,
      tableName: 'bench-locks',
      backoff: { maxMs: 50 },
    });
    return { acquire: (k, o) => manager.acquire(k, o), close: async () => client.destroy() };
  });
  const s3lock = await measure(() => {
    const client = s3Client();
    const manager = new S3LockManager({
      client,
      bucket: s3.bucket,
      prefix: 'locks/',
      backoff: { maxMs: 50 },
    });
    return { acquire: (k, o) => manager.acquire(k, o), close: async () => client.destroy() };
  });
  console.log('Lock acquire latency (local servers on 127.0.0.1; backoff maxMs 50):');
  console.log(`  dynamo (dynalite)  uncontended: ${summary(dynamo.uncontended)}`);
  console.log(`  dynamo (dynalite)  8-way contended: ${summary(dynamo.contended)}`);
  console.log(`  s3 (s3rver+layer)  uncontended: ${summary(s3lock.uncontended)}`);
  console.log(`  s3 (s3rver+layer)  8-way contended: ${summary(s3lock.contended)}`);
} finally {
  await dynalite.stop();
  await s3.stop();
}

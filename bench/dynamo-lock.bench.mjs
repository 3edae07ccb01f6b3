// DynamoDB lock: uncontended acquire+release pairs per second through DynamoLockingManager,
// against the same two conditional UpdateItem requests (same expressions) made by hand with the bare SDK, on
// the same dynalite process in the same run (so the ratio is our overhead, not DynamoDB's).
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoLockingManager, createLockTable } from '@durable/dynamo-lock';
import { startDynamo } from '@durable/test-support';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const N = Number(process.env.BENCH_DYNAMO_PAIRS ?? 1000);
const server = await startDynamo({ memory: true });
const client = new DynamoDBClient({
  endpoint: server.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
const TableName = 'bench-locks';
await createLockTable({ client, tableName: TableName, timeToLive: false });
const lock = new DynamoLockingManager({ client, tableName: TableName });

async function ours(key, count) {
  for (let i = 0; i < count; i++) {
    const lease = await lock.acquire(key, { ttlMs: 30_000 });
    await lease.release();
  }
}

// The same two requests DynamoLockingManager sends (same expressions), made by hand.
async function bare(key, count) {
  const names = {
    '#id': 'id',
    '#owner': 'owner',
    '#exp': 'expireAt',
    '#expMs': 'expiresAtMs',
    '#fence': 'fencingToken',
  };
  for (let i = 0; i < count; i++) {
    const now = Date.now();
    const token = `t${i}`;
    await client.send(
      new UpdateItemCommand({
        TableName,
        Key: { id: { S: key } },
        UpdateExpression:
          'SET #owner = :token, #expMs = :expMs, #exp = :expSec, #fence = if_not_exists(#fence, :seed) + :one',
        ConditionExpression:
          'attribute_not_exists(#id) OR attribute_not_exists(#owner) OR #expMs < :now OR #owner = :token',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ':token': { S: token },
          ':now': { N: String(now) },
          ':expMs': { N: String(now + 30_000) },
          ':expSec': { N: String(Math.ceil((now + 30_000) / 1000)) },
          ':seed': { N: String(now) },
          ':one': { N: '1' },
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    await client.send(
      new UpdateItemCommand({
        TableName,
        Key: { id: { S: key } },
        UpdateExpression: 'REMOVE #owner SET #expMs = :zero, #exp = :nowSec',
        ConditionExpression: '#owner = :token',
        ExpressionAttributeNames: {
          '#owner': 'owner',
          '#expMs': 'expiresAtMs',
          '#exp': 'expireAt',
        },
        ExpressionAttributeValues: {
          ':token': { S: token },
          ':zero': { N: '0' },
          ':nowSec': { N: String(Math.floor(now / 1000)) },
        },
      }),
    );
  }
}

async function rate(fn, key) {
  await fn(`${key}-warmup`, 50);
  const started = performance.now();
  await fn(key, N);
  return N / ((performance.now() - started) / 1000);
}

const results = { ours: [], bare: [] };
for (let round = 0; round < 3; round++) {
  results.bare.push(await rate(bare, `bare-${round}`));
  results.ours.push(await rate(ours, `ours-${round}`));
}
const best = (xs) => Math.max(...xs);
console.log(
  `DynamoDB lock, uncontended acquire+release pairs per second (${N} pairs, dynalite on 127.0.0.1):`,
);
console.log(
  `  DynamoLockingManager acquire + release   : ${best(results.ours).toFixed(0)} pairs/s`,
);
console.log(
  `  two bare conditional UpdateItem by hand   : ${best(results.bare).toFixed(0)} pairs/s`,
);
console.log(
  `  ours / bare                               : ${(
    best(results.ours) / best(results.bare)
  ).toFixed(2)}`,
);
client.destroy();
await server.stop();

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { runLockSuite } from '@durable/testkit';
import { DynamoLockingManager, createLockTable } from '../src/index.js';
import type { MotoTestServer } from '@durable/test-support';
import { motoOrSkip, startMoto } from '@durable/test-support';

// The lock conformance suite against moto's DynamoDB (moto_server 5.2.5): condition expressions,
// the TTL API and errors from an implementation written independently of dynalite. Skipped
// loudly when moto_server is not installed.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

if (motoOrSkip('@durable/dynamo-lock', 'the DynamoDB lock suite')) {
  const tableName = `durable-locks-moto-${process.pid}`;
  let moto: MotoTestServer;
  let client: DynamoDBClient;
  let peer: DynamoDBClient;
  const makeClient = (): DynamoDBClient =>
    new DynamoDBClient({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'moto', secretAccessKey: 'moto' },
    });

  beforeAll(async () => {
    moto = await startMoto();
    client = makeClient();
    peer = makeClient();
    // moto has the UpdateTimeToLive API (dynalite has not).
    await createLockTable({ client, tableName, timeToLive: true });
  }, 90_000);
  afterAll(async () => {
    client?.destroy();
    peer?.destroy();
    await moto?.stop();
  }, 30_000);

  // moto answers in tens of ms, one request at a time: a 300 ms lease could expire before the
  // suite's extend reaches it on a loaded machine.
  runLockSuite('dynamo on moto', {
    create: () => new DynamoLockingManager({ client, tableName, backoff: { maxMs: 50 } }),
    createPeer: () => new DynamoLockingManager({ client: peer, tableName, backoff: { maxMs: 50 } }),
    shortTtlMs: 1500,
    timeoutMs: 120_000,
  });
}

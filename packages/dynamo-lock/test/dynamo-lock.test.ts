import { runLockSuite } from '@durable/testkit';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoLockingManager, createLockTable } from '../src/index.js';
import type { DynamoTestEndpoint } from '@durable/test-support';
import { DYNAMODB_TTL_API, startDynamo } from '@durable/test-support';
import type { LossyDynamo } from './support/lossy-dynamo.js';
import { startLossyDynamo } from './support/lossy-dynamo.js';

// The lock conformance suite against dynalite (or DYNAMODB_ENDPOINT), two clients. The first
// manager's client goes through the lost-reply proxy (plain HTTP endpoints only), so the suite's
// lost-reply test runs too.
let server: DynamoTestEndpoint;
let client: DynamoDBClient;
let peerClient: DynamoDBClient;
let lossy: LossyDynamo | undefined;
const proxied = !(process.env.DYNAMODB_ENDPOINT ?? '').startsWith('https:');
const tableName = `durable-locks-${process.pid}`;

beforeAll(async () => {
  server = await startDynamo();
  peerClient = server.client();
  await createLockTable({ client: peerClient, tableName, timeToLive: DYNAMODB_TTL_API });
  if (proxied) lossy = await startLossyDynamo(server);
  client = lossy?.client() ?? server.client();
}, 30_000);
afterAll(async () => {
  if (lossy === undefined) client?.destroy();
  peerClient?.destroy();
  await lossy?.close();
  await server?.stop();
}, 30_000);

if (!proxied) {
  const why = `DYNAMODB_ENDPOINT is https (${process.env.DYNAMODB_ENDPOINT}); the lost-reply proxy speaks plain HTTP`;
  test(`SKIPPED: the lock suite's lost-reply cases: ${why}`, () => {
    console.warn(`@durable/dynamo-lock: SKIPPED: the lock suite's lost-reply cases: ${why}`);
    expect(proxied).toBe(false);
  });
}

runLockSuite('dynamo', {
  create: () => new DynamoLockingManager({ client, tableName, backoff: { maxMs: 50 } }),
  createPeer: () =>
    new DynamoLockingManager({ client: peerClient, tableName, backoff: { maxMs: 50 } }),
  ...(proxied
    ? {
        lostReply: {
          dropNextReply: () => lossy!.proxy.dropNextReply(),
          dropsPending: () => lossy!.proxy.dropsPending(),
        },
      }
    : {}),
});

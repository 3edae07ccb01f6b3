import { runLockSuite } from '@durable/testkit';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoLockingManager, createLockTable } from '../src/index.js';
import type { DynamoTestEndpoint } from './support/dynalite.js';
import { TTL_API, startDynamo } from './support/dynalite.js';

// The lock conformance suite against dynalite (or DYNAMODB_ENDPOINT), two clients.
let server: DynamoTestEndpoint;
let client: DynamoDBClient;
let peerClient: DynamoDBClient;
const tableName = `durable-locks-${process.pid}`;

beforeAll(async () => {
  server = await startDynamo();
  client = server.client();
  peerClient = server.client();
  await createLockTable({ client, tableName, timeToLive: TTL_API });
}, 30_000);
afterAll(async () => {
  client?.destroy();
  peerClient?.destroy();
  await server?.stop();
}, 30_000);

runLockSuite('dynamo', {
  create: () => new DynamoLockingManager({ client, tableName, backoff: { maxMs: 50 } }),
  createPeer: () => new DynamoLockingManager({ client: peerClient, tableName, backoff: { maxMs: 50 } }),
});

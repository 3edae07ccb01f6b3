import { DynamoLockingManager } from '@durable/dynamo-lock';
import type { DynamoTestEndpoint } from './fixtures/composition-support.js';
import { startDynamoWithTable } from './fixtures/composition-support.js';
import { defineLockReliabilityTests } from './fixtures/composition-reliability.js';

// Reliability of @durable/dynamo-lock against dynalite (a real DynamoDB API server in a child
// process, data on disk so it survives a kill), with fs storage for the SIGSTOP scenario.
const tableName = 'durable-reliability';
let server: DynamoTestEndpoint;
beforeAll(async () => {
  server = await startDynamoWithTable(tableName);
}, 30_000);
afterAll(async () => {
  await server?.stop();
}, 30_000);

defineLockReliabilityTests('dynamo', {
  lockSpec: (maxAttempts) => ({
    kind: 'dynamo',
    endpoint: server.endpoint,
    tableName,
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  }),
  storageSpec: (root) => ({ kind: 'fs', root }),
  createLock: () =>
    new DynamoLockingManager({ client: server.client({ maxAttempts: 1 }), tableName }),
  kill: () => server.kill(),
  restart: () => server.restart(),
  canKill: () => process.env.DYNAMODB_ENDPOINT === undefined,
});

import { MongoClient } from 'mongodb';
import { runLockSuite, runStorageSuite, runWorkflowStoreSuite, uniquePrefix } from '@durable/testkit';
import { MongoLockManager, MongoStorageManager, MongoWorkflowStore } from '../src/index.js';

// The storage, lock and workflow-store conformance suites against a real MongoDB. No MongoDB
// server can be had on the machines this project is built on (see INFRA.md), so they run only
// when MONGODB_URI is set, and say so loudly when they do not.
const uri = process.env.MONGODB_URI;
const SKIP_MESSAGE =
  'SKIPPED: set MONGODB_URI to run the MongoDB conformance suites (storage, lock, workflow store); no MongoDB server was available';

if (uri === undefined || uri === '') {
  describe('MongoDB conformance suites', () => {
    it(SKIP_MESSAGE, () => {
      console.warn(`@durable/mongo: ${SKIP_MESSAGE}`);
      expect(process.env.MONGODB_URI ?? '').toBe('');
    });
  });
} else {
  const database = process.env.MONGODB_DATABASE ?? `durable_test_${process.pid}`;
  let client: MongoClient;
  let peer: MongoClient;

  beforeAll(async () => {
    client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
    peer = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
    await Promise.all([client.connect(), peer.connect()]);
  }, 30_000);
  afterAll(async () => {
    if (process.env.MONGODB_DATABASE === undefined) await client?.db(database).dropDatabase();
    await client?.close();
    await peer?.close();
  }, 30_000);

  runStorageSuite('mongo', { create: () => new MongoStorageManager({ client, database }) });
  runLockSuite('mongo', {
    create: () => new MongoLockManager({ client, database, backoff: { maxMs: 50 } }),
    createPeer: () => new MongoLockManager({ client: peer, database, backoff: { maxMs: 50 } }),
  });
  let collection = '';
  runWorkflowStoreSuite('mongo', {
    // claim() must not see the workflows of earlier tests: one collection per test.
    create: ({ clock }) => {
      collection = `wf_${uniquePrefix('t').replace(/-/g, '_')}`;
      return new MongoWorkflowStore({ client, database, collection, clock });
    },
    createPeer: (_store, { clock }) => new MongoWorkflowStore({ client: peer, database, collection, clock }),
    destroy: async () => {
      await client.db(database).collection(collection).drop().catch(() => undefined);
    },
  });
}

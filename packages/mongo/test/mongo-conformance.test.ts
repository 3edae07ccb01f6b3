import { MongoClient } from 'mongodb';
import {
  runLockSuite,
  runStorageSuite,
  runWorkflowStoreSuite,
  uniquePrefix,
} from '@durable/testkit';
import { MongoLockManager, MongoStorageManager, MongoWorkflowStore } from '../src/index.js';
import type { MongoLostReplyProxy } from './support/lost-reply-proxy.js';
import { startMongoLostReplyProxy } from './support/lost-reply-proxy.js';
import type { MongoTestServer } from '@durable/test-support';
import { mongoServerOrSkip, startMongoTestServer } from '@durable/test-support';

// The storage, lock and workflow-store conformance suites against a MongoDB-wire server:
// MONGODB_URI when set, else mongo-java-server started on a free port (skipped loudly without
// either). FerretDB runs them too, without the races: mongo-ferretdb.test.ts.
if (
  mongoServerOrSkip(
    'the MongoDB conformance suites (storage, lock, workflow store) on mongo-java-server',
    'mongo-java-server',
  )
) {
  const database = process.env.MONGODB_DATABASE ?? `durable_test_${process.pid}`;
  let server: MongoTestServer;
  let client: MongoClient;
  let peer: MongoClient;
  // The storage suite's client goes through a proxy that can lose a write's reply after the
  // server applied it (a single mongodb:// host only, as the servers started here are).
  const target = new URL(process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:0/');
  const proxied = target.protocol === 'mongodb:' && !target.host.includes(',');
  let proxy: MongoLostReplyProxy | undefined;
  let lossy: MongoClient;

  beforeAll(async () => {
    server = await startMongoTestServer('mongo-java-server');
    client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 10_000 });
    peer = new MongoClient(server.uri, { serverSelectionTimeoutMS: 10_000 });
    const address = new URL(server.uri);
    if (proxied)
      proxy = await startMongoLostReplyProxy({
        host: address.hostname,
        port: Number(address.port || 27017),
      });
    lossy =
      proxy === undefined
        ? client
        : new MongoClient(proxy.uri, { serverSelectionTimeoutMS: 10_000 });
    await Promise.all([client.connect(), peer.connect(), lossy.connect()]);
  }, 60_000);
  afterAll(async () => {
    if (process.env.MONGODB_DATABASE === undefined) await client?.db(database).dropDatabase();
    if (lossy !== client) await lossy?.close();
    await client?.close();
    await peer?.close();
    await proxy?.close();
    await server?.stop();
  }, 30_000);

  runStorageSuite('mongo', {
    create: () => new MongoStorageManager({ client: lossy, database }),
    ...(proxied
      ? {
          lostReply: {
            dropNextReply: () => proxy!.dropNextReply(),
            dropsPending: () => proxy!.dropsPending(),
          },
        }
      : {}),
    createIsolated: () =>
      new MongoStorageManager({ client, database, collection: 'durable_isolated' }),
    // MongoDB compares strings by their UTF-8 bytes; mongo-java-server by Java's UTF-16 compareTo.
    ...(process.env.MONGODB_URI === undefined
      ? {
          listOrderUncheckedBecause:
            'mongo-java-server sorts strings in UTF-16 order, MongoDB in UTF-8 byte order',
        }
      : {}),
  });
  runLockSuite('mongo', {
    create: () => new MongoLockManager({ client, database, backoff: { maxMs: 50 } }),
    createPeer: () => new MongoLockManager({ client: peer, database, backoff: { maxMs: 50 } }),
  });
  let collection = '';
  runWorkflowStoreSuite('mongo', {
    listing: true,
    // claim() must not see the workflows of earlier tests: one collection per test.
    create: ({ clock }) => {
      collection = `wf_${uniquePrefix('t').replace(/-/g, '_')}`;
      return new MongoWorkflowStore({ client, database, collection, clock });
    },
    createPeer: (_store, { clock }) =>
      new MongoWorkflowStore({ client: peer, database, collection, clock }),
    destroy: async () => {
      await client
        .db(database)
        .collection(collection)
        .drop()
        .catch(() => undefined);
    },
  });
}

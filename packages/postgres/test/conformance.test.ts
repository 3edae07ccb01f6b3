import { runLockSuite, runStorageSuite, runWorkflowStoreSuite } from '@durable/testkit';
import {
  PostgresLockManager,
  PostgresStorageManager,
  PostgresWorkflowStore,
} from '../src/index.js';
import type { PgLostReplyProxy } from './support/lost-reply-proxy.js';
import { startPgLostReplyProxy } from './support/lost-reply-proxy.js';
import type { TestPostgres } from '@durable/test-support';
import { postgresOrSkip, startTestPostgres, uniqueSchema } from '@durable/test-support';

// The storage, lock and workflow-store conformance suites against a real PostgreSQL: the one of
// DATABASE_URL, or a throwaway cluster started here. The storage and lock managers under test
// reach it through a proxy that can lose a write's reply after the server committed it; the
// outage test stops and restarts the server (our own only).
if (postgresOrSkip('the PostgreSQL conformance suites (storage, lock, workflow store)')) {
  let server: TestPostgres;
  let proxy: PgLostReplyProxy;
  const schema = uniqueSchema('conf');

  beforeAll(async () => {
    server = await startTestPostgres();
    proxy = await startPgLostReplyProxy(server.url);
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  }, 60_000);

  const lostReply = {
    dropNextReply: () => proxy.dropNextReply(),
    dropsPending: () => proxy.dropsPending(),
  };

  runStorageSuite('postgres', {
    capabilities: { conditionalWrite: true, watch: true },
    create: () => new PostgresStorageManager({ connectionString: proxy.url, schema }),
    destroy: (storage) => storage.close?.(),
    lostReply,
    createIsolated: () =>
      new PostgresStorageManager({ connectionString: server.url, schema, tablePrefix: 'other_' }),
    ...(process.env.DATABASE_URL
      ? {}
      : {
          outage: {
            begin: async () => server.stopServer('fast'),
            end: async () => server.startServer(),
          },
        }),
  });

  runLockSuite('postgres', {
    create: () => new PostgresLockManager({ connectionString: proxy.url, schema }),
    createPeer: () => new PostgresLockManager({ connectionString: server.url, schema }),
    destroy: async (a, b) => {
      await a.close?.();
      await b.close?.();
    },
    lostReply,
    // The suite's expiry cases extend a lease within its short TTL, one round trip (through the
    // lost-reply proxy) after acquiring it: 300 ms was not always enough at load ~35.
    shortTtlMs: 1500,
  });

  // claim() must not see the workflows of earlier tests: one schema per test.
  const schemas = new WeakMap<object, string>();
  runWorkflowStoreSuite('postgres', {
    create: ({ clock }) => {
      const own = uniqueSchema('wf');
      const store = new PostgresWorkflowStore({ connectionString: server.url, schema: own, clock });
      schemas.set(store, own);
      return store;
    },
    createPeer: (store, { clock }) =>
      new PostgresWorkflowStore({
        connectionString: server.url,
        schema: schemas.get(store) as string,
        clock,
      }),
    destroy: (store) => store.close?.(),
    listing: true,
  });
}

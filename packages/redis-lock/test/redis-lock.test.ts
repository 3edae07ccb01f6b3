import { Redis } from 'ioredis';
import { runLockSuite } from '@durable/testkit';
import { RedisLockManager } from '../src/index.js';
import { closeClient } from '../src/connection.js';
import type { RedisTestServer } from '@durable/test-support';
import { startRedisServer } from '@durable/test-support';

// The lock conformance suite against a real redis-server (or REDIS_URL), two connections.
let server: RedisTestServer;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await startRedisServer();
}, 30_000);
afterAll(async () => {
  await server?.stop();
}, 30_000);

function connect(): Redis {
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  clients.push(client);
  return client;
}

runLockSuite('redis', {
  create: () => new RedisLockManager({ client: connect(), backoff: { maxMs: 50 } }),
  createPeer: () => new RedisLockManager({ client: connect(), backoff: { maxMs: 50 } }),
  destroy: async (a, b) => {
    await a.close?.();
    await b.close?.();
    await Promise.all(clients.splice(0).map((client) => closeClient(client)));
  },
});

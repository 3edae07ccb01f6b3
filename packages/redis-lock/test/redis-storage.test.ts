import { Redis } from 'ioredis';
import { isDurableError } from '@durable/core';
import { runStorageSuite, uniquePrefix } from '@durable/testkit';
import { RedisStorageManager } from '../src/index.js';
import { closeClient } from '../src/connection.js';
import type { RedisTestServer } from '@durable/test-support';
import { startRedisServer } from '@durable/test-support';

// The storage conformance suite against a real redis-server (or REDIS_URL).
let server: RedisTestServer;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await startRedisServer();
}, 30_000);
afterAll(async () => {
  await Promise.all(clients.splice(0).map((client) => closeClient(client)));
  await server?.stop();
}, 30_000);

function connect(): Redis {
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  clients.push(client);
  return client;
}

runStorageSuite('redis storage', {
  create: () => new RedisStorageManager({ client: connect() }),
  createIsolated: () =>
    new RedisStorageManager({ client: connect(), prefix: `${uniquePrefix('iso')}:` }),
});

describe('redis storage specifics', () => {
  it('a write script resent with the same writer id reports its own commit, not a CONFLICT', async () => {
    const client = connect();
    const storage = new RedisStorageManager({ client, prefix: `${uniquePrefix('resend')}:` });
    const first = await storage.write('k', 'one', { ifVersion: null });
    // Simulate ioredis resending the same EVALSHA after a reconnect: same arguments, same writer id.
    const sent: unknown[][] = [];
    const original = client.evalsha.bind(client);
    (client as unknown as { evalsha: (...args: unknown[]) => unknown }).evalsha = (
      ...args: unknown[]
    ) => {
      sent.push(args);
      return (original as (...a: unknown[]) => unknown)(...args);
    };
    const second = await storage.write('k', 'two', { ifVersion: first });
    const replay = (await (original as (...a: unknown[]) => Promise<unknown>)(
      ...(sent[0] as unknown[]),
    )) as [number, string];
    expect(replay).toEqual([1, second]);
    expect((await storage.read('k'))?.version).toBe(second);
    // A different writer with the stale version still conflicts.
    const stale: unknown = await storage
      .write('k', 'three', { ifVersion: first })
      .catch((e: unknown) => e);
    expect(isDurableError(stale, 'CONFLICT')).toBe(true);
  });

  it('a server that is down gives a retryable BACKEND error, never CONFLICT', async () => {
    const storage = new RedisStorageManager({
      url: 'redis://127.0.0.1:1',
      redisOptions: { maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    const error: unknown = await storage
      .write('k', 'v', { ifVersion: null })
      .catch((e: unknown) => e);
    expect(isDurableError(error, 'BACKEND')).toBe(true);
    await storage.close();
  });

  it('unknown options are refused with CONFIG', () => {
    expect(() => new RedisStorageManager({ client: connect(), keyPrefix: 'x' } as never)).toThrow(
      /keyPrefix.*prefix/,
    );
  });
});

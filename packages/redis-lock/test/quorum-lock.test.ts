import { Redis } from 'ioredis';
import { runLockSuite, expectDurableError, uniquePrefix } from '@durable/testkit';
import { RedisQuorumLockManager } from '../src/index.js';
import { closeClient } from '../src/connection.js';
import type { RedisTestServer } from '@durable/test-support';
import { startRedisServer } from '@durable/test-support';

// Quorum (Redlock) mode over three independent redis-servers of our own; some tests kill one
// or two of them.
let servers: RedisTestServer[] = [];
const opened: Redis[] = [];

function connect(server: RedisTestServer): Redis {
  const client = new Redis(server.url, {
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
    connectTimeout: 500,
  });
  client.on('error', () => undefined);
  opened.push(client);
  return client;
}
const manager = (): RedisQuorumLockManager =>
  new RedisQuorumLockManager({ clients: servers.map(connect), backoff: { maxMs: 50 } });

beforeAll(async () => {
  servers = await Promise.all([0, 1, 2].map(() => startRedisServer({ own: true })));
}, 30_000);
afterAll(async () => {
  await Promise.all(opened.splice(0).map((client) => closeClient(client)));
  await Promise.all(servers.map((server) => server.stop()));
}, 30_000);

runLockSuite('redis quorum (3 servers)', { create: manager, createPeer: manager });

describe('quorum', () => {
  afterEach(async () => {
    // Bring back any server a test killed (empty: no persistence).
    for (const server of servers) if (server.pid === undefined) await server.restart();
  }, 30_000);

  test('a majority suffices: with one of three servers down, acquire, extend and release work and tokens keep rising', async () => {
    const lock = manager();
    expect(lock.quorumSize).toBe(2);
    const key = `${uniquePrefix('q')}/k`;
    const first = await lock.acquire(key, { ttlMs: 5000 });
    await first.release();
    await servers[2]!.kill();
    const second = await lock.acquire(key, { ttlMs: 5000 });
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    await second.extend(5000);
    expect(await second.release()).toBe(true);
  });

  test('with two of three servers down, acquire is a BACKEND error (not a timeout), and release of a held lease is BACKEND (unknown, not false)', async () => {
    const lock = manager();
    const key = `${uniquePrefix('q')}/k`;
    const lease = await lock.acquire(key, { ttlMs: 10_000 });
    await servers[0]!.kill();
    await servers[1]!.kill();
    const error = await expectDurableError(
      () => lock.acquire(`${key}-other`, { waitMs: 500 }),
      'BACKEND',
    );
    expect(error.retryable).toBe(true);
    await expectDurableError(() => lease.release(), 'BACKEND');
    await expectDurableError(() => lease.extend(1000), 'BACKEND');
  });

  test('a lock held on one server only (a minority) does not block a majority grant elsewhere', async () => {
    const prefix = `${uniquePrefix('q')}:`;
    const clients = servers.map(connect);
    await clients[0]!.set(`${prefix}{k}`, 'someone-else', 'PX', 10_000);
    const lock = new RedisQuorumLockManager({ clients, prefix });
    const lease = await lock.acquire('k');
    expect(await clients[1]!.get(`${prefix}{k}`)).toBe(lease.token);
    expect(await clients[0]!.get(`${prefix}{k}`)).toBe('someone-else');
    expect(await lease.release()).toBe(true);
  });

  test('fencing tokens still rise when the next majority shares only one server with the last one, even a restarted empty one joins', async () => {
    const lock = manager();
    const key = `${uniquePrefix('q')}/k`;
    // Grants on servers 0 and 1 only.
    await servers[2]!.kill();
    const a = await lock.acquire(key, { ttlMs: 5000 });
    await a.release();
    // Server 2 comes back empty, server 0 goes away: the next majority is {1, 2}.
    await servers[2]!.restart();
    await servers[0]!.kill();
    const b = await lock.acquire(key, { ttlMs: 5000, waitMs: 2000 });
    expect(b.fencingToken).toBeGreaterThan(a.fencingToken);
    await b.release();
  });

  test('options: no servers, a bad drift factor and a bad prefix are CONFIG errors', () => {
    for (const options of [
      {},
      { clients: [] },
      { urls: [] },
      { urls: ['http://x'] },
      { urls: ['redis://x'], driftFactor: 1 },
      { urls: ['redis://x'], prefix: '{' },
    ]) {
      expect(() => new RedisQuorumLockManager(options)).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
  });
});

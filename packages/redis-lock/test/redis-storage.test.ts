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
  capabilities: { conditionalWrite: true, watch: true },
  create: () => new RedisStorageManager({ client: connect() }),
  destroy: (storage) => storage.close?.(),
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

// watch across managers on their own connections (as two processes are): a write is heard
// through PUBLISH, a write under no live watched prefix publishes nothing, and a subscriber that
// reconnects calls its listeners once (what was published meanwhile is lost).
describe('redis storage watch', () => {
  const managers: RedisStorageManager[] = [];
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((storage) => storage.close()));
  });
  function manager(prefix: string): RedisStorageManager {
    const storage = new RedisStorageManager({ client: connect(), prefix });
    managers.push(storage);
    return storage;
  }

  // Calls `listener` after each call whose read of `key` found nothing; `found` resolves with the
  // value once a call's read finds one. `empty` resolves at the first call that found nothing.
  function watchFor(storage: RedisStorageManager, prefix: string, key: string) {
    let empty: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (empty = resolve));
    let emptyCalls = 0;
    const found = new Promise<string>((resolve) => {
      storage.watch(prefix, () => {
        void storage.read(key).then((entry) => {
          if (entry !== undefined) return resolve(Buffer.from(entry.data).toString());
          emptyCalls += 1;
          empty();
        });
      });
    });
    return { ready, found, emptyCalls: () => emptyCalls };
  }

  it('a write by another manager (its own connection) is heard by the watcher, and is readable then', async () => {
    const prefix = `${uniquePrefix('watch')}:`;
    const watcher = manager(prefix);
    const writer = manager(prefix);
    const watch = watchFor(watcher, 'orders/', 'orders/1');
    // The first call comes once the registration and the SUBSCRIBE hold (see RedisWatches); the
    // write is made after a call that read nothing, so only a later call can see it.
    await watch.ready;
    await writer.write('orders/1', 'paid');
    expect(await watch.found).toBe('paid');
  });

  it('a write under no live watched prefix publishes nothing (an expired registration is skipped)', async () => {
    const prefix = `${uniquePrefix('watch')}:`;
    const watcher = manager(prefix);
    const writer = manager(prefix);
    const watch = watchFor(watcher, 'watched/', 'watched/none');
    await watch.ready;
    const admin = connect();
    // A crashed watcher's registration, expired a second ago (server time).
    const [seconds] = await admin.time();
    await admin.zadd(`${prefix}{storage}:w`, Number(seconds) * 1000 - 1000, 'stale/');
    const subscriber = connect();
    const heard: string[] = [];
    const done = new Promise<string[]>((resolve) =>
      subscriber.on('pmessage', (_pattern: string, channel: string) =>
        channel === `${prefix}sentinel` ? resolve(heard) : heard.push(channel),
      ),
    );
    await subscriber.psubscribe(`${prefix}*`);
    await writer.write('plain/1', 'a');
    await writer.write('stale/1', 'b');
    await writer.write('watched/1', 'c');
    // Messages reach one subscriber in the order published, the sentinel's last.
    await admin.publish(`${prefix}sentinel`, '');
    expect(await done).toEqual([`${prefix}{storage}:c:watched/`]);
  });

  it('after its subscriber connection is dropped, the watcher calls its listeners once and hears writes again', async () => {
    const prefix = `${uniquePrefix('watch')}:`;
    const admin = connect();
    const watcher = manager(prefix);
    const writer = manager(prefix);
    const watch = watchFor(watcher, 'orders/', 'orders/1');
    await watch.ready;
    const before = watch.emptyCalls();
    // Drop every pub/sub connection of the server: the watcher's subscriber reconnects.
    const clientsList = await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub');
    const ids = String(clientsList)
      .split('\n')
      .map((line) => /id=(\d+)/.exec(line)?.[1])
      .filter((id): id is string => id !== undefined);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) await admin.call('CLIENT', 'KILL', 'ID', id);
    // The reconnection calls the listener once: it reads nothing, and only then is the write made.
    while (watch.emptyCalls() === before) await new Promise((resolve) => setTimeout(resolve, 20));
    await writer.write('orders/1', 'paid');
    expect(await watch.found).toBe('paid');
  });

  it('a watch started while the server is down subscribes once it is up, calls its listeners once and hears writes', async () => {
    const own = await startRedisServer({ own: true });
    try {
      const prefix = `${uniquePrefix('watch')}:`;
      const options = { url: own.url, prefix, redisOptions: { retryStrategy: () => 50 } };
      const watcher = new RedisStorageManager(options);
      const writer = new RedisStorageManager(options);
      managers.push(watcher, writer);
      await own.kill();
      const watch = watchFor(watcher, 'orders/', 'orders/1');
      // Long enough for the first SUBSCRIBE and registration to fail (one retry, 50 ms apart),
      // not merely wait in the offline queue.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await own.restart();
      await watch.ready;
      await writer.write('orders/1', 'paid');
      expect(await watch.found).toBe('paid');
    } finally {
      await Promise.all(managers.splice(0).map((storage) => storage.close()));
      await own.stop();
    }
  }, 20_000);
});

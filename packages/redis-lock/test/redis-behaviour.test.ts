import { Redis } from 'ioredis';
import { isDurableError } from '@durable/core';
import { expectDurableError, uniquePrefix } from '@durable/testkit';
import {
  RedisLockManager,
  RedisQuorumLockManager,
  lockKeyNames,
  parseAcquireReply,
} from '../src/index.js';
import { closeClient, runScript } from '../src/connection.js';
import { acquireScript } from '../src/scripts.js';
import type { RedisTestServer } from '@durable/test-support';
import { freePort, startRedisServer } from '@durable/test-support';

// Behaviour beyond the conformance suite, on a redis-server of our own (restarted in one test).
let server: RedisTestServer;
let client: Redis;
let peer: Redis;

beforeAll(async () => {
  server = await startRedisServer({ own: true });
  client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  peer = new Redis(server.url, { maxRetriesPerRequest: 1 });
}, 30_000);
afterAll(async () => {
  if (client !== undefined) await closeClient(client);
  if (peer !== undefined) await closeClient(peer);
  await server?.stop();
}, 30_000);

// Deterministic slow backoff: without a wake-up every sleep lasts ~2.97 s.
const slow = { baseMs: 3000, maxMs: 3000, random: () => 0.99 };

describe('keys', () => {
  test('a lock and its fencing counter share one hash tag, so they sit in one Cluster slot', () => {
    expect(lockKeyNames('durable:lock:', 'orders/42')).toEqual({
      lock: 'durable:lock:{orders/42}',
      fence: 'durable:lock:{orders/42}:fence',
    });
  });

  test('braces and "%" in a key are escaped, so a key cannot end the hash tag early or collide with another key', () => {
    const names = ['a}b', 'a%7Db', '}', '{x}', 'a%b'].map((key) => lockKeyNames('p:', key).lock);
    expect(names).toEqual(['p:{a%7Db}', 'p:{a%257Db}', 'p:{%7D}', 'p:{%7Bx%7D}', 'p:{a%25b}']);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name.slice(2)).toMatch(/^\{[^{}]+\}$/);
  });

  test('a held lock is stored under the prefix with the owner token and a Redis TTL', async () => {
    const prefix = `${uniquePrefix('t')}:`;
    const manager = new RedisLockManager({ client, prefix });
    const lease = await manager.acquire('orders/42', { ttlMs: 5000 });
    expect(await client.get(`${prefix}{orders/42}`)).toBe(lease.token);
    const pttl = await client.pttl(`${prefix}{orders/42}`);
    expect(pttl).toBeGreaterThan(4000);
    expect(pttl).toBeLessThanOrEqual(5000);
    expect(Number(await client.get(`${prefix}{orders/42}:fence`))).toBe(lease.fencingToken);
    // The counter is kept for fenceRetentionMs (one day by default), not for ever.
    const fencePttl = await client.pttl(`${prefix}{orders/42}:fence`);
    expect(fencePttl).toBeGreaterThan(86_400_000 - 60_000);
    expect(fencePttl).toBeLessThanOrEqual(86_400_000);
    expect(await lease.release()).toBe(true);
    expect(await client.exists(`${prefix}{orders/42}`)).toBe(0);
  });
});

describe('options', () => {
  test('missing client and url, a bad url, a bad prefix and a bad TTL are CONFIG errors at construction', () => {
    const configError = (fn: () => unknown): void => {
      try {
        fn();
      } catch (error) {
        expect(isDurableError(error, 'CONFIG')).toBe(true);
        return;
      }
      throw new Error('expected CONFIG');
    };
    configError(() => new RedisLockManager({}));
    configError(() => new RedisLockManager({ url: 'http://localhost:6379' }));
    configError(() => new RedisLockManager({ client: {} as Redis }));
    configError(() => new RedisLockManager({ client, prefix: 'a{b}' }));
    configError(() => new RedisLockManager({ client, defaultTtlMs: 0 }));
    configError(() => new RedisLockManager({ client, fenceRetentionMs: -5 }));
  });

  test("unknown option keys and the seed libraries' names are CONFIG naming our option, and a huge TTL is refused", () => {
    const messageOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        expect(isDurableError(error, 'CONFIG')).toBe(true);
        expect((error as { retryable: boolean }).retryable).toBe(false);
        return (error as Error).message;
      }
      throw new Error('expected CONFIG');
    };
    expect(messageOf(() => new RedisLockManager({ client, ttlMs: 5000 } as never))).toMatch(
      /unknown option "ttlMs".*defaultTtlMs/,
    );
    expect(messageOf(() => new RedisLockManager({ redis: client } as never))).toMatch(
      /"redis" is not ours; use client/,
    );
    expect(
      messageOf(() => new RedisLockManager({ client, timeToLiveDurationInSeconds: 60 } as never)),
    ).toMatch(/defaultTtlMs \(milliseconds\)/);
    expect(messageOf(() => new RedisLockManager({ client, defaultTtlMs: 1e300 }))).toMatch(
      /ttlMs must be a positive number/,
    );
    expect(
      messageOf(
        () => new RedisQuorumLockManager({ urls: ['redis://x'], url: 'redis://y' } as never),
      ),
    ).toMatch(/"url" is not ours; use urls/);
  });

  test('a NaN or negative waitMs, non-object options and empty or non-string tokens are CONFIG errors before any I/O', async () => {
    const port = await freePort();
    // Nothing listens there: a CONFIG error proves no request was needed to refuse the call.
    const manager = new RedisLockManager({ url: `redis://127.0.0.1:${port}` });
    try {
      for (const waitMs of [Number.NaN, -1, '5']) {
        await expectDurableError(() => manager.acquire('k', { waitMs } as never), 'CONFIG');
      }
      await expectDurableError(() => manager.acquire('k', null as never), 'CONFIG');
      for (const token of ['', 5, undefined]) {
        await expectDurableError(() => manager.release('k', token as never), 'CONFIG');
        await expectDurableError(() => manager.extend('k', token as never, 1000), 'CONFIG');
      }
    } finally {
      await manager.close();
    }
  });

  test('an unexpected script reply is BACKEND, never a grant', () => {
    expect(parseAcquireReply(7, 'k')).toEqual({ fencingToken: 7 });
    expect(parseAcquireReply(-120, 'k')).toEqual({ heldForMs: 120 });
    expect(parseAcquireReply(0, 'k')).toEqual({ heldForMs: 0 });
    for (const reply of [null, 'OK', 1.5, [1]]) {
      expect(() => parseAcquireReply(reply, 'k')).toThrow(
        expect.objectContaining({ code: 'BACKEND' }),
      );
    }
  });

  test('close() never closes an injected client, and closes a client it created', async () => {
    const injected = new Redis(server.url);
    const manager = new RedisLockManager({ client: injected });
    await (await manager.acquire(`${uniquePrefix('c')}/k`, { waitMs: 100 })).release();
    await manager.close();
    expect(await injected.ping()).toBe('PONG');
    injected.disconnect();

    const owned = new RedisLockManager({ url: server.url });
    await (await owned.acquire(`${uniquePrefix('c')}/k`)).release();
    await owned.close();
    expect(owned.client.status).toMatch(/^(end|close)$/);
  });
});

describe('waiting', () => {
  test('a waiter wakes on the release announcement instead of sleeping out a 3 s backoff', async () => {
    const key = `${uniquePrefix('w')}/k`;
    const holder = new RedisLockManager({ client });
    const waiter = new RedisLockManager({ client: peer, backoff: slow });
    try {
      const lease = await holder.acquire(key, { ttlMs: 20_000 });
      const pending = waiter.acquire(key, { waitMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 300)); // the waiter is now asleep
      // The waiter marked the lock, so its release will be announced; the holder still owns it.
      expect(await client.get(lockKeyNames('durable:lock:', key).lock)).toBe(`${lease.token}:w`);
      await lease.extend(20_000);
      const releasedAt = Date.now();
      await lease.release();
      const next = await pending;
      expect(Date.now() - releasedAt).toBeLessThan(1000);
      await next.release();
    } finally {
      await waiter.close();
    }
  });

  test('without wake-up, the same waiter sleeps its backoff (the previous test can fail)', async () => {
    const key = `${uniquePrefix('w')}/k`;
    const holder = new RedisLockManager({ client });
    const waiter = new RedisLockManager({ client: peer, backoff: slow, wakeOnRelease: false });
    const lease = await holder.acquire(key, { ttlMs: 20_000 });
    const pending = waiter.acquire(key, { waitMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const releasedAt = Date.now();
    await lease.release();
    const next = await pending;
    expect(Date.now() - releasedAt).toBeGreaterThan(1000);
    await next.release();
  });

  test('a waiter sleeps no longer than the holder has left, so an expired lease is taken within milliseconds', async () => {
    const key = `${uniquePrefix('w')}/k`;
    const holder = new RedisLockManager({ client });
    const waiter = new RedisLockManager({ client: peer, backoff: slow });
    try {
      const lease = await holder.acquire(key, { ttlMs: 400 });
      const next = await waiter.acquire(key, { waitMs: 10_000 });
      const late = Date.now() - lease.expiresAt;
      expect(late).toBeLessThan(1000);
      expect(next.fencingToken).toBeGreaterThan(lease.fencingToken);
      await next.release();
    } finally {
      await waiter.close();
    }
  });
});

describe('server failures', () => {
  test('an unreachable server is a retryable BACKEND error, not LOCK_TIMEOUT', async () => {
    const port = await freePort();
    const manager = new RedisLockManager({
      url: `redis://127.0.0.1:${port}`,
      redisOptions: { retryStrategy: () => 50 },
    });
    try {
      const error = await expectDurableError(
        () => manager.acquire('k', { waitMs: 2000 }),
        'BACKEND',
      );
      expect(error.retryable).toBe(true);
      expect(error.message).toContain('redis-lock: acquire failed for k');
      await expectDurableError(() => manager.release('k', 'token'), 'BACKEND');
      await expectDurableError(() => manager.extend('k', 'token', 1000), 'BACKEND');
    } finally {
      await manager.close();
    }
  });

  test('a key of the wrong type is a non-retryable BACKEND error', async () => {
    const prefix = `${uniquePrefix('t')}:`;
    await client.hset(`${prefix}{k}`, 'field', 'value');
    const manager = new RedisLockManager({ client, prefix });
    const error = await expectDurableError(() => manager.acquire('k'), 'BACKEND');
    expect(error.retryable).toBe(false);
  });

  test('running the acquire script twice with one token (a resent command) returns the same grant', async () => {
    const names = lockKeyNames('durable:lock:', `${uniquePrefix('r')}/k`);
    const acquire = acquireScript(86_400_000);
    const first = await runScript(client, acquire, [names.lock, names.fence], ['tok', 5000]);
    const again = await runScript(client, acquire, [names.lock, names.fence], ['tok', 5000]);
    const other = await runScript(client, acquire, [names.lock, names.fence], ['other', 5000]);
    expect(typeof first).toBe('number');
    expect(again).toBe(first);
    expect(other).toBeLessThanOrEqual(0);
  });

  test('fencing tokens keep increasing after the server restarts with its data lost; the old holder cannot extend', async () => {
    const key = `${uniquePrefix('f')}/k`;
    const before = new RedisLockManager({ client });
    const lease = await before.acquire(key, { ttlMs: 60_000 });
    await server.restart();
    const fresh = new Redis(server.url, { maxRetriesPerRequest: 1 });
    try {
      const after = new RedisLockManager({ client: fresh });
      const next = await after.acquire(key, { ttlMs: 60_000 });
      expect(next.fencingToken).toBeGreaterThan(lease.fencingToken);
      await expectDurableError(() => after.extend(key, lease.token, 1000), 'LOCK_LOST');
      expect(await after.release(key, lease.token)).toBe(false);
      expect(await next.release()).toBe(true);
    } finally {
      await closeClient(fresh);
    }
  });
});

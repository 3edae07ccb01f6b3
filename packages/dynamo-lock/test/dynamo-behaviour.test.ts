import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { expectDurableError, uniquePrefix } from '@durable/testkit';
import { DynamoLockingManager, createLockTable } from '../src/index.js';
import type { DynamoTestEndpoint } from '@durable/test-support';
import { DYNAMODB_TTL_API, startDynamo } from '@durable/test-support';

let server: DynamoTestEndpoint;
let client: DynamoDBClient;
const tableName = `durable-behaviour-${process.pid}`;
const ttlSupported = DYNAMODB_TTL_API;

beforeAll(async () => {
  server = await startDynamo();
  client = server.client();
  expect(await createLockTable({ client, tableName, timeToLive: ttlSupported })).toBe(true);
}, 30_000);
afterAll(async () => {
  client?.destroy();
  await server?.stop();
}, 30_000);

function manager(
  extra: Partial<ConstructorParameters<typeof DynamoLockingManager>[0]> = {},
): DynamoLockingManager {
  return new DynamoLockingManager({ client, tableName, ...extra });
}

describe('DynamoLockingManager options', () => {
  it('refuses a missing or malformed table name and a bad TTL with CONFIG, before any I/O', () => {
    for (const name of [undefined, '', 'ab', 'bad name', 'x'.repeat(256)]) {
      expect(() => new DynamoLockingManager({ tableName: name } as never)).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
    expect(() => new DynamoLockingManager({ tableName: 'locks', defaultTtlMs: -5 })).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
  });

  it('the default lease lasts 900 s, as in the library it replaces', async () => {
    const lease = await manager().acquire(uniquePrefix('default'));
    expect(lease.expiresAt - Date.now()).toBeGreaterThan(899_000);
    expect(lease.expiresAt - Date.now()).toBeLessThanOrEqual(900_000);
    await lease.release();
  });

  it('close() never destroys an injected client, and destroys a client it created', async () => {
    const destroy = jest.spyOn(DynamoDBClient.prototype, 'destroy');
    try {
      await manager().close();
      expect(destroy).not.toHaveBeenCalled();
      await new DynamoLockingManager({
        tableName,
        endpoint: server.endpoint,
        region: 'us-east-1',
      }).close();
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      destroy.mockRestore();
    }
  });
});

describe('DynamoLockingManager table shape and semantics', () => {
  it('writes the table shape: id, expireAt in epoch seconds (TTL attribute), owner token and fencing counter', async () => {
    const key = uniquePrefix('shape');
    const lease = await manager({ prefix: 'app1:' }).acquire(key, { ttlMs: 60_000 });
    const { Item } = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { id: { S: `app1:${key}` } },
        ConsistentRead: true,
      }),
    );
    expect(Item?.owner?.S).toBe(lease.token);
    expect(Number(Item?.expireAt?.N)).toBe(Math.ceil(lease.expiresAt / 1000));
    expect(Number(Item?.expiresAtMs?.N)).toBe(lease.expiresAt);
    expect(Number(Item?.fencingToken?.N)).toBe(lease.fencingToken);
    await lease.release();
  });

  it('release keeps the item without an owner, so the fencing counter continues', async () => {
    const lock = manager();
    const key = uniquePrefix('keep');
    const first = await lock.acquire(key);
    expect(await first.release()).toBe(true);
    const state = await lock.inspect(key);
    expect(state).toEqual({ token: undefined, fencingToken: first.fencingToken, expiresAtMs: 0 });
    const second = await lock.acquire(key);
    expect(second.fencingToken).toBe(first.fencingToken + 1);
    await second.release();
  });

  it('an expired item that no sweeper removed is taken over in one conditional write (injected clock, no sleep)', async () => {
    let now = Date.now();
    const clock = (): number => now;
    const a = manager({ clock });
    const b = manager({ clock });
    const key = uniquePrefix('expired');
    const old = await a.acquire(key, { ttlMs: 60_000 });
    await expectDurableError(() => b.acquire(key), 'LOCK_TIMEOUT');
    now += 60_001;
    const fresh = await b.acquire(key, { ttlMs: 60_000 });
    expect(fresh.fencingToken).toBe(old.fencingToken + 1);
    await expectDurableError(() => old.extend(), 'LOCK_LOST');
    expect(await old.release()).toBe(false);
    expect((await b.inspect(key))?.token).toBe(fresh.token);
    expect(await fresh.release()).toBe(true);
  });

  it('prefixes let several apps share one table without blocking each other', async () => {
    const key = uniquePrefix('shared');
    const one = await manager({ prefix: 'one:' }).acquire(key);
    const two = await manager({ prefix: 'two:' }).acquire(key);
    await Promise.all([one.release(), two.release()]);
  });

  it('createLockTable on an existing table does nothing and returns false', async () => {
    expect(await createLockTable({ client, tableName, timeToLive: ttlSupported })).toBe(false);
  });
});

describe('DynamoDB failures are BACKEND errors, never "contended"', () => {
  it('a missing table: acquire throws BACKEND at once instead of waiting as if the lock were held', async () => {
    const lock = new DynamoLockingManager({ client, tableName: 'no-such-table' });
    const started = Date.now();
    const error = await expectDurableError(() => lock.acquire('k', { waitMs: 5000 }), 'BACKEND');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error.retryable).toBe(false);
    await expectDurableError(() => lock.release('k', 't'), 'BACKEND');
    await expectDurableError(() => lock.extend('k', 't', 1000), 'BACKEND');
  });

  it('an unreachable endpoint: retryable BACKEND on acquire, release, extend and inspect', async () => {
    const dead = new DynamoDBClient({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    try {
      const lock = new DynamoLockingManager({ client: dead, tableName });
      for (const operation of [
        () => lock.acquire('k', { waitMs: 1000 }),
        () => lock.release('k', 't'),
        () => lock.extend('k', 't', 1000),
        () => lock.inspect('k'),
      ]) {
        const error = await expectDurableError(operation, 'BACKEND');
        expect(error.retryable).toBe(true);
      }
    } finally {
      dead.destroy();
    }
  });
});

describe('lost answers', () => {
  it('an SDK retry of an acquire whose answer was lost grants the lease instead of reporting contention', async () => {
    const flaky = server.client({ maxAttempts: 3 });
    let dropNext = true;
    // Drops the answer of the first successful UpdateItem as a network timeout would, below the
    // SDK's retry middleware, so the SDK sends the very same request again.
    flaky.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (dropNext && context.commandName === 'UpdateItemCommand') {
          dropNext = false;
          throw Object.assign(new Error('answer lost'), { name: 'TimeoutError', $metadata: {} });
        }
        return result;
      },
      { step: 'deserialize', name: 'dropFirstAnswer' },
    );
    try {
      const lock = new DynamoLockingManager({ client: flaky, tableName });
      const key = uniquePrefix('lost');
      const lease = await lock.acquire(key, { waitMs: 0 });
      expect(dropNext).toBe(false);
      expect((await lock.inspect(key))?.token).toBe(lease.token);
      expect(await lease.release()).toBe(true);
    } finally {
      flaky.destroy();
    }
  });
});

describe('bad input is a typed error before any I/O', () => {
  it('a malformed waitMs or owner token is CONFIG (the dead endpoint proves no request is made)', async () => {
    const dead = new DynamoDBClient({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    try {
      const lock = new DynamoLockingManager({ client: dead, tableName });
      for (const waitMs of [-1, Number.NaN, '100']) {
        await expectDurableError(() => lock.acquire('k', { waitMs } as never), 'CONFIG');
      }
      for (const token of ['', 42, undefined]) {
        await expectDurableError(() => lock.release('k', token as never), 'CONFIG');
        await expectDurableError(() => lock.extend('k', token as never, 1000), 'CONFIG');
      }
    } finally {
      dead.destroy();
    }
  });
});

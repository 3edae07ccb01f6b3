import { createServer } from 'node:net';
import { BSON, Binary, MongoClient, MongoNetworkError, MongoServerError } from 'mongodb';
import { DurableError, WorkflowStatus, isDurableError } from '@durable/core';
import type { WorkflowRecord } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import {
  MongoLockManager,
  MongoStorageManager,
  MongoWorkflowStore,
  isDuplicateKey,
  listFilter,
  mongoBackendError,
  storageDocumentId,
  valueBytes,
  workflowDueAt,
} from '../src/index.js';

// What can be proven without a MongoDB server: option validation, key mapping, the binary
// encoding through the real BSON library, error wrapping of the real driver's error classes, and
// the real driver failing against a port where nothing listens.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        resolve(typeof address === 'object' && address !== null ? address.port : 0),
      );
    });
  });
}

function expectConfig(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(isDurableError(thrown, 'CONFIG')).toBe(true);
}

describe('options', () => {
  test('missing client and url, bad url schemes, malformed connection strings and bad names are CONFIG errors at construction', () => {
    for (const make of [
      (o: object) => new MongoStorageManager(o),
      (o: object) => new MongoLockManager(o),
      (o: object) => new MongoWorkflowStore(o),
    ]) {
      expectConfig(() => make({}));
      expectConfig(() => make({ url: 'redis://localhost' }));
      expectConfig(() => make({ url: 'mongodb://host:notaport' }));
      expectConfig(() => make({ url: 'mongodb://localhost', collection: '' }));
      expectConfig(() => make({ url: 'mongodb://localhost', collection: 'a$b' }));
      expectConfig(() => make({ url: 'mongodb://localhost', collection: 'system.users' }));
      expectConfig(() => make({ url: 'mongodb://localhost', database: 'has space' }));
      expectConfig(() => make({ url: 'mongodb://localhost', database: 'a/b' }));
      expectConfig(() => make({ client: {} }));
    }
    expectConfig(() => new MongoStorageManager({ url: 'mongodb://localhost', prefix: 'a\u0000' }));
    expectConfig(() => new MongoLockManager({ url: 'mongodb://localhost', defaultTtlMs: -1 }));
    expectConfig(() => new MongoWorkflowStore({ url: 'mongodb://localhost', claimBatch: 0 }));
  });

  test('the earlier keyPrefix is CONFIG naming prefix, the name every storage and lock uses', () => {
    for (const make of [
      (o: object) => new MongoStorageManager(o),
      (o: object) => new MongoLockManager(o),
    ]) {
      expect(() => make({ url: 'mongodb://localhost', keyPrefix: 'tenant-1/' })).toThrow(
        /"keyPrefix" is not ours; use prefix/,
      );
    }
  });

  test('valid options construct without any I/O (the driver connects on first use)', async () => {
    const storage = new MongoStorageManager({
      url: 'mongodb://127.0.0.1:1',
      database: 'app',
      collection: 'values',
      prefix: 'tenant-1/',
    });
    await storage.close();
  });

  test('close() closes a client the manager created and never an injected one', async () => {
    const injected = new MongoClient('mongodb://127.0.0.1:1');
    const closeInjected = jest.spyOn(injected, 'close');
    await new MongoLockManager({ client: injected }).close();
    await new MongoStorageManager({ client: injected }).close();
    await new MongoWorkflowStore({ client: injected }).close();
    expect(closeInjected).not.toHaveBeenCalled();

    const owned = new MongoStorageManager({ url: 'mongodb://127.0.0.1:1' });
    const client = (owned as unknown as { connection: { client: MongoClient } }).connection.client;
    const closeOwned = jest.spyOn(client, 'close');
    await owned.close();
    expect(closeOwned).toHaveBeenCalledTimes(1);
  });
});

describe('key mapping', () => {
  test('a key maps to the _id keyPrefix + key', () => {
    expect(storageDocumentId('', 'orders/42')).toBe('orders/42');
    expect(storageDocumentId('tenant-1/', 'orders/42')).toBe('tenant-1/orders/42');
  });

  test('list matches ids that start with the prefix literally: regex characters in keys are escaped', () => {
    const ids = ['a.b/1', 'axb/1', 'a.b', 'a.bc', 'x(1)/[2]', 'x(1)/2', 'p+q*?^$|{}/\\-', 'zz'];
    const matching = (keyPrefix: string, prefix: string): string[] => {
      const filter = listFilter(keyPrefix, prefix) as { _id: { $regex: string } };
      return ids.filter((id) => new RegExp(filter._id.$regex).test(id));
    };
    expect(matching('', 'a.b/')).toEqual(['a.b/1']);
    expect(matching('', 'a.b')).toEqual(['a.b/1', 'a.b', 'a.bc']);
    expect(matching('', 'x(1)/[')).toEqual(['x(1)/[2]']);
    expect(matching('', 'p+q*?^$|{}/\\')).toEqual(['p+q*?^$|{}/\\-']);
    expect(matching('a.', 'b')).toEqual(['a.b/1', 'a.b', 'a.bc']);
    expect(matching('', '')).toEqual(ids);
  });

  test('a list cursor continues strictly after the last key of the previous page, under the keyPrefix', () => {
    expect(listFilter('t/', 'orders/', 'orders/9')).toEqual({
      $and: [{ _id: { $regex: '^t\\/orders\\/' } }, { _id: { $gt: 't/orders/9' } }],
    });
  });
});

describe('binary values', () => {
  test('every byte value, an empty value and UTF-8 text survive a BSON round trip byte for byte', () => {
    const cases = [
      new Uint8Array(256).map((_, i) => i),
      new Uint8Array(0),
      new TextEncoder().encode('héllo ✓ 🙂'),
    ];
    for (const bytes of cases) {
      const decoded = BSON.deserialize(BSON.serialize({ value: new Binary(bytes) }));
      const back = valueBytes(decoded.value);
      expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  test('a value that is not binary is a BACKEND error, never invented bytes', () => {
    expect(() => valueBytes('text')).toThrow(expect.objectContaining({ code: 'BACKEND' }));
    expect(() => valueBytes(undefined)).toThrow(expect.objectContaining({ code: 'BACKEND' }));
  });
});

describe('error wrapping', () => {
  test('a duplicate key error is recognised; other errors are not', () => {
    expect(
      isDuplicateKey(new MongoServerError({ code: 11000, errmsg: 'E11000 duplicate key error' })),
    ).toBe(true);
    expect(isDuplicateKey(new MongoServerError({ code: 2, errmsg: 'BadValue' }))).toBe(false);
    expect(isDuplicateKey(new MongoNetworkError('connection reset'))).toBe(false);
  });

  test('network errors, failovers and retryable-labelled errors are retryable BACKEND; validation errors are not retryable', () => {
    const network = mongoBackendError(
      new MongoNetworkError('connection reset'),
      'mongo storage: read failed for k',
      'k',
    );
    expect(network).toBeInstanceOf(DurableError);
    expect({ code: network.code, retryable: network.retryable }).toEqual({
      code: 'BACKEND',
      retryable: true,
    });
    expect(network.message).toContain('mongo storage: read failed for k');
    expect(network.cause).toBeInstanceOf(MongoNetworkError);

    const stepDown = mongoBackendError(
      new MongoServerError({ code: 10107, errmsg: 'not primary' }),
      'm',
    );
    expect(stepDown.retryable).toBe(true);
    const labelled = new MongoServerError({
      code: 999,
      errmsg: 'x',
      errorLabels: ['RetryableWriteError'],
    });
    expect(mongoBackendError(labelled, 'm').retryable).toBe(true);
    const badValue = mongoBackendError(new MongoServerError({ code: 2, errmsg: 'BadValue' }), 'm');
    expect({ code: badValue.code, retryable: badValue.retryable }).toEqual({
      code: 'BACKEND',
      retryable: false,
    });
    const tooLarge = mongoBackendError(
      new MongoServerError({ code: 10334, errmsg: 'BSONObjectTooLarge' }),
      'm',
    );
    expect(tooLarge.retryable).toBe(false);
  });

  test('a DurableError passes through unchanged', () => {
    const conflict = new DurableError('CONFLICT', 'x');
    expect(mongoBackendError(conflict, 'm')).toBe(conflict);
  });
});

describe('the real driver with no server listening', () => {
  let url: string;
  beforeAll(async () => {
    url = `mongodb://127.0.0.1:${await freePort()}/?serverSelectionTimeoutMS=300&connectTimeoutMS=300`;
  });

  test('storage, lock and workflow-store calls fail with retryable BACKEND errors (not absent, not contended)', async () => {
    const storage = new MongoStorageManager({ url });
    const lock = new MongoLockManager({ url });
    const workflows = new MongoWorkflowStore({ url });
    try {
      for (const call of [
        () => storage.read('k'),
        () => storage.write('k', 'v', { ifVersion: null }),
        () => storage.exists('k'),
        () => storage.list(''),
        () => lock.acquire('k', { waitMs: 200 }),
        () => lock.release('k', 'token'),
        () => workflows.insert({ id: 'w', handler: 'h' }),
        () => workflows.claim({ leaseMs: 1000 }),
      ]) {
        const error = await expectDurableError(call, 'BACKEND');
        expect(error.retryable).toBe(true);
      }
    } finally {
      await Promise.all([storage.close(), lock.close(), workflows.close()]);
    }
  }, 30_000);

  test('a created client tries to connect again on the next call instead of staying closed after a failed first connect', async () => {
    const storage = new MongoStorageManager({ url });
    try {
      for (let i = 0; i < 3; i++) {
        const error = await expectDurableError(() => storage.read('k'), 'BACKEND');
        // The driver's own auto-connect would answer MongoTopologyClosedError from the second call on.
        expect((error.cause as Error).name).toBe('MongoServerSelectionError');
      }
    } finally {
      await storage.close();
    }
  });

  test('invalid keys, ids, versions, values, waits and tokens are refused before any I/O, even with no server', async () => {
    const storage = new MongoStorageManager({ url });
    const lock = new MongoLockManager({ url });
    const workflows = new MongoWorkflowStore({ url });
    try {
      for (const key of ['', '/abs', 'a/../b', 'nul\u0000']) {
        await expectDurableError(() => storage.read(key), 'INVALID_KEY');
        await expectDurableError(() => storage.write(key, 'v'), 'INVALID_KEY');
        await expectDurableError(() => lock.acquire(key), 'INVALID_KEY');
      }
      await expectDurableError(() => storage.list('../'), 'INVALID_KEY');
      await expectDurableError(() => storage.list('', { limit: 0 }), 'CONFIG');
      await expectDurableError(() => lock.acquire('k', { ttlMs: 0 }), 'CONFIG');
      await expectDurableError(() => workflows.insert({ id: '', handler: 'h' }), 'INVALID_KEY');
      await expectDurableError(
        () => workflows.insert({ id: 'w', handler: 'h', input: () => 1 }),
        'SERIALIZATION',
      );
      await expectDurableError(() => workflows.get(''), 'INVALID_KEY');
      for (const ifVersion of [5, '', {}]) {
        await expectDurableError(() => storage.write('k', 'v', { ifVersion } as never), 'CONFIG');
        await expectDurableError(() => storage.delete('k', { ifVersion } as never), 'CONFIG');
      }
      await expectDurableError(() => storage.write('k', 42 as never), 'CONFIG');
      await expectDurableError(() => storage.write('k', null as never), 'CONFIG');
      for (const waitMs of [Number.NaN, -1, '5']) {
        await expectDurableError(() => lock.acquire('k', { waitMs } as never), 'CONFIG');
      }
      await expectDurableError(() => lock.release('k', '' as never), 'CONFIG');
      await expectDurableError(() => lock.extend('k', 7 as never, 1000), 'CONFIG');
    } finally {
      await Promise.all([storage.close(), lock.close(), workflows.close()]);
    }
  });
});

describe('workflow documents', () => {
  test('dueAt is runAt while waiting, the lease end while running, and null once finished', () => {
    const record = {
      runAt: 100,
      claim: { token: 't', expiresAt: 500, claimedAt: 1 },
    } as WorkflowRecord;
    expect(workflowDueAt({ ...record, status: WorkflowStatus.READY })).toBe(100);
    expect(workflowDueAt({ ...record, status: WorkflowStatus.SLEEPING })).toBe(100);
    expect(workflowDueAt({ ...record, status: WorkflowStatus.FAILED })).toBe(100);
    expect(workflowDueAt({ ...record, status: WorkflowStatus.RUNNING })).toBe(500);
    for (const status of [
      WorkflowStatus.COMPLETED,
      WorkflowStatus.ABORTED,
      WorkflowStatus.CANCELLED,
    ]) {
      expect(workflowDueAt({ ...record, status })).toBeNull();
    }
  });
});

import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { bytesToText, isDurableError } from '@durable/core';
import { expectDurableError, uniquePrefix } from '@durable/testkit';
import { S3LockManager, S3StorageManager } from '../src/index.js';
import { useS3 } from './support/suite-setup.js';

const s3 = useS3();

function storage(prefix = 'behaviour/'): S3StorageManager {
  return new S3StorageManager({ client: s3.client, bucket: s3.endpoint.bucket, prefix });
}

describe('S3StorageManager options', () => {
  it('refuses a missing or malformed bucket and a bad prefix with CONFIG, before any I/O', () => {
    for (const bucket of [undefined, '', 'a', 'has space', 'x/y']) {
      expect(() => new S3StorageManager({ bucket } as never)).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
    for (const prefix of ['/abs', 'a//b', '../x']) {
      expect(() => new S3StorageManager({ bucket: 'ok-bucket', prefix })).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
    expect(() => new S3LockManager({ bucket: 'ok-bucket', defaultTtlMs: 0 })).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
  });
});

describe('S3StorageManager on a live endpoint', () => {
  it('stores each key as the object prefix + key, and two prefixes never see each other', async () => {
    const ns = uniquePrefix('iso');
    const one = storage(`${ns}/one/`);
    const two = storage(`${ns}/two/`);
    await one.write('k', 'from one');
    await two.write('k', 'from two');
    expect(bytesToText((await one.read('k'))!.data)).toBe('from one');
    expect(bytesToText((await two.read('k'))!.data)).toBe('from two');
    expect((await one.list('')).keys).toEqual(['k']);
    const raw = await s3.client.send(
      new GetObjectCommand({ Bucket: s3.endpoint.bucket, Key: `${ns}/one/k` }),
    );
    expect(await raw.Body!.transformToString()).toBe('from one');
  });

  it('a prefix without a trailing slash becomes a folder, so "app" never overlaps "app2"', async () => {
    const ns = uniquePrefix('slash');
    await storage(`${ns}/app`).write('k', 'in app');
    await storage(`${ns}/app2`).write('k', 'in app2');
    expect((await storage(`${ns}/app`).list('')).keys).toEqual(['k']);
    const raw = await s3.client.send(
      new GetObjectCommand({ Bucket: s3.endpoint.bucket, Key: `${ns}/app/k` }),
    );
    expect(await raw.Body!.transformToString()).toBe('in app');
  });

  it('reads racing overwrites of a large value always see one whole value, never a torn one', async () => {
    const key = uniquePrefix('torn');
    const store = storage();
    const values = ['a', 'b', 'c', 'd'].map((c) => c.repeat(512 * 1024));
    await store.write(key, values[0]!);
    let reads = 0;
    const writers = (async () => {
      for (let i = 1; i < 24; i++) await store.write(key, values[i % values.length]!);
    })();
    let writing = true;
    void writers.finally(() => (writing = false));
    while (writing) {
      const entry = await store.read(key);
      const text = bytesToText(entry!.data);
      expect(values.includes(text)).toBe(true);
      reads++;
    }
    await writers;
    expect(reads).toBeGreaterThan(0);
  }, 60_000);

  it('close() never destroys an injected client, and destroys a client it created', async () => {
    const destroy = jest.spyOn(S3Client.prototype, 'destroy');
    try {
      await storage().close();
      await new S3LockManager({ client: s3.client, bucket: s3.endpoint.bucket }).close();
      expect(destroy).not.toHaveBeenCalled();
      const owned = new S3StorageManager({
        bucket: s3.endpoint.bucket,
        endpoint: s3.endpoint.endpoint,
        forcePathStyle: true,
        region: 'us-east-1',
      });
      await owned.close();
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      destroy.mockRestore();
    }
  });

  it('a missing bucket is a BACKEND error on read, never "absent"', async () => {
    const missing = new S3StorageManager({ client: s3.client, bucket: 'no-such-bucket-here' });
    const error = await expectDurableError(() => missing.read('k'), 'BACKEND');
    expect(error.retryable).toBe(false);
    await expectDurableError(() => missing.write('k', 'x'), 'BACKEND');
    await expectDurableError(() => missing.list(''), 'BACKEND');
  });

  it('conditionalWrites: false declares it, and still refuses a stale version (checked by a read first)', async () => {
    const plain = new S3StorageManager({
      client: s3.client,
      bucket: s3.endpoint.bucket,
      prefix: 'plain/',
      conditionalWrites: false,
    });
    expect(plain.capabilities.conditionalWrite).toBe(false);
    const key = uniquePrefix('plain');
    const v1 = await plain.write(key, 'one', { ifVersion: null });
    await expectDurableError(() => plain.write(key, 'again', { ifVersion: null }), 'CONFLICT');
    const v2 = await plain.write(key, 'two', { ifVersion: v1 });
    await expectDurableError(() => plain.write(key, 'three', { ifVersion: v1 }), 'CONFLICT');
    await expectDurableError(() => plain.delete(key, { ifVersion: v1 }), 'CONFLICT');
    expect(bytesToText((await plain.read(key))!.data)).toBe('two');
    expect(await plain.delete(key, { ifVersion: v2 })).toBe(true);
  });

  it('list pages 1203 keys by cursor: a full page of 1000, then the rest; a limit above 1000 is CONFIG', async () => {
    const ns = uniquePrefix('many');
    const keys = Array.from({ length: 1203 }, (_, i) => `${ns}/${String(i).padStart(5, '0')}`);
    const store = storage();
    for (let i = 0; i < keys.length; i += 50)
      await Promise.all(keys.slice(i, i + 50).map((k) => store.write(k, '')));
    const first = await store.list(`${ns}/`, { limit: 1000 });
    expect(first.keys).toEqual(keys.slice(0, 1000));
    expect(first.cursor).toBe(keys[999]);
    const second = await store.list(`${ns}/`, { limit: 1000, cursor: first.cursor! });
    expect(second.keys).toEqual(keys.slice(1000));
    expect(second.cursor).toBeUndefined();
    // Pages from a cursor in the middle cross the server's page boundaries the same way.
    const middle = await store.list(`${ns}/`, { limit: 700, cursor: keys[599]! });
    expect(middle.keys).toEqual(keys.slice(600));
    expect(middle.cursor).toBeUndefined();
    // The largest page is 1000 keys (S3's own page size): a larger limit is refused.
    await expectDurableError(() => store.list(`${ns}/`, { limit: 1100 }), 'CONFIG');
  }, 120_000);
});

describe('S3 on an unreachable endpoint', () => {
  // Port 9 on 127.0.0.1 (discard) is closed here: every call fails at connect.
  const dead = new S3Client({
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  afterAll(() => dead.destroy());

  it('every storage operation fails with a retryable BACKEND error, never undefined or false', async () => {
    const store = new S3StorageManager({ client: dead, bucket: 'durable-test' });
    for (const operation of [
      () => store.read('k'),
      () => store.write('k', 'v'),
      () => store.write('k', 'v', { ifVersion: null }),
      () => store.delete('k'),
      () => store.exists('k'),
      () => store.list(''),
    ]) {
      const error = await expectDurableError(operation, 'BACKEND');
      expect(error.retryable).toBe(true);
    }
  });

  it('the lock reports BACKEND on acquire, release and extend: no lease is granted, no release claimed', async () => {
    const lock = new S3LockManager({ client: dead, bucket: 'durable-test' });
    await expectDurableError(() => lock.acquire('k', { waitMs: 1000 }), 'BACKEND');
    await expectDurableError(() => lock.release('k', 'token'), 'BACKEND');
    await expectDurableError(() => lock.extend('k', 'token', 1000), 'BACKEND');
  });
});

describe('S3LockManager specifics', () => {
  it('a lease object that is not a durable lease is a BACKEND error, never a grant', async () => {
    const key = uniquePrefix('garbage');
    await storage('locks-garbage/').write(key, 'not json');
    const lock = new S3LockManager({
      client: s3.client,
      bucket: s3.endpoint.bucket,
      prefix: 'locks-garbage/',
    });
    const error = await lock.acquire(key).catch((e: unknown) => e);
    expect(isDurableError(error, 'BACKEND')).toBe(true);
  });

  it('lease objects go under "durable-locks/" by default, apart from stored values', async () => {
    const lock = new S3LockManager({ client: s3.client, bucket: s3.endpoint.bucket });
    const key = uniquePrefix('default-prefix');
    const lease = await lock.acquire(key);
    expect(await storage('durable-locks/').exists(key)).toBe(true);
    expect(await storage('').exists(key)).toBe(false);
    await lease.release();
  });

  it('release and extend still work when the lease object changed since this manager last wrote it', async () => {
    const options = { client: s3.client, bucket: s3.endpoint.bucket, prefix: 'locks-stale/' };
    const a = new S3LockManager(options);
    const b = new S3LockManager(options);
    const key = uniquePrefix('stale');
    const lease = await a.acquire(key, { ttlMs: 60_000 });
    // Another manager extends with the owner's token: a's remembered ETag is now stale.
    const movedTo = await b.extend(key, lease.token, 120_000);
    expect(movedTo).toBeGreaterThan(lease.expiresAt);
    await lease.extend(90_000);
    await b.extend(key, lease.token, 60_000);
    expect(await lease.release()).toBe(true);
    expect(await b.release(key, lease.token)).toBe(false);
    const next = await b.acquire(key, { waitMs: 0 });
    expect(next.fencingToken).toBe(lease.fencingToken + 1);
    await next.release();
  });

  it('release keeps the lease object, so the fencing counter continues after it', async () => {
    const lock = new S3LockManager({
      client: s3.client,
      bucket: s3.endpoint.bucket,
      prefix: 'locks-keep/',
    });
    const key = uniquePrefix('keep');
    const first = await lock.acquire(key);
    expect(await first.release()).toBe(true);
    expect(await storage('locks-keep/').exists(key)).toBe(true);
    const second = await lock.acquire(key);
    expect(second.fencingToken).toBe(first.fencingToken + 1);
    await second.release();
  });

  it('an expired lease is free for a later clock without sleeping (injected clock)', async () => {
    let now = 1_000_000;
    const clock = (): number => now;
    const options = {
      client: s3.client,
      bucket: s3.endpoint.bucket,
      prefix: 'locks-clock/',
      clock,
    };
    const a = new S3LockManager(options);
    const b = new S3LockManager(options);
    const key = uniquePrefix('clock');
    const old = await a.acquire(key, { ttlMs: 60_000 });
    await expectDurableError(() => b.acquire(key), 'LOCK_TIMEOUT');
    now += 60_001;
    const fresh = await b.acquire(key, { ttlMs: 60_000 });
    expect(fresh.fencingToken).toBeGreaterThan(old.fencingToken);
    await expectDurableError(() => old.extend(), 'LOCK_LOST');
    expect(await old.release()).toBe(false);
    expect(await fresh.release()).toBe(true);
  });
});

describe('lost answers', () => {
  it('an SDK retry of an acquire whose answer was lost grants the lease instead of reporting contention', async () => {
    const flaky = s3.endpoint.client({ maxAttempts: 3 });
    let dropNext = true;
    // Drops the answer of the first successful PutObject as a network timeout would, below the
    // SDK's retry middleware, so the SDK sends the very same conditional PUT again (and gets 412).
    flaky.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (dropNext && context.commandName === 'PutObjectCommand') {
          dropNext = false;
          throw Object.assign(new Error('answer lost'), { name: 'TimeoutError', $metadata: {} });
        }
        return result;
      },
      { step: 'deserialize', name: 'dropFirstAnswer' },
    );
    try {
      const lock = new S3LockManager({
        client: flaky,
        bucket: s3.endpoint.bucket,
        prefix: 'locks-lost/',
      });
      const key = uniquePrefix('lost');
      const lease = await lock.acquire(key, { waitMs: 0 });
      expect(dropNext).toBe(false);
      await expectDurableError(
        () =>
          new S3LockManager({
            client: s3.client,
            bucket: s3.endpoint.bucket,
            prefix: 'locks-lost/',
          }).acquire(key),
        'LOCK_TIMEOUT',
      );
      expect(await lease.release()).toBe(true);
    } finally {
      flaky.destroy();
    }
  });
});

describe('bad input is a typed error before any I/O', () => {
  // The dead endpoint proves no request is made: I/O there would be BACKEND, not CONFIG.
  const dead = new S3Client({
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  afterAll(() => dead.destroy());

  it('storage: a value that is neither text nor bytes, or a malformed ifVersion, is CONFIG', async () => {
    const store = new S3StorageManager({ client: dead, bucket: 'durable-test' });
    for (const value of [42, { a: 1 }, null, undefined, [1, 2], new ArrayBuffer(2)]) {
      await expectDurableError(() => store.write('k', value as never), 'CONFIG');
    }
    for (const ifVersion of [42, '', {}, true]) {
      await expectDurableError(() => store.write('k', 'v', { ifVersion } as never), 'CONFIG');
      await expectDurableError(() => store.delete('k', { ifVersion } as never), 'CONFIG');
    }
  });

  it('lock: a malformed waitMs or owner token is CONFIG', async () => {
    const lock = new S3LockManager({ client: dead, bucket: 'durable-test' });
    for (const waitMs of [-1, Number.NaN, '100']) {
      await expectDurableError(() => lock.acquire('k', { waitMs } as never), 'CONFIG');
    }
    for (const token of ['', 42, undefined]) {
      await expectDurableError(() => lock.release('k', token as never), 'CONFIG');
      await expectDurableError(() => lock.extend('k', token as never, 1000), 'CONFIG');
    }
  });
});

describe('S3 error answers map to BACKEND with the right retryable flag', () => {
  // The test server answers a request carrying x-durable-test-fault with that S3 error.
  function faulty(fault: string): S3Client {
    const client = s3.endpoint.client({ maxAttempts: 1 });
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-durable-test-fault'] =
          fault;
        return next(args);
      },
      { step: 'build', name: 'injectFault' },
    );
    return client;
  }

  it.each([
    ['503 SlowDown', true],
    ['500 InternalError', true],
    ['429 TooManyRequests', true],
    ['403 AccessDenied', false],
    ['400 InvalidRequest', false],
  ])('%s on read, write, list and acquire: BACKEND, retryable %s', async (fault, retryable) => {
    const client = faulty(fault);
    try {
      const store = new S3StorageManager({ client, bucket: s3.endpoint.bucket });
      const lock = new S3LockManager({ client, bucket: s3.endpoint.bucket });
      for (const operation of [
        () => store.read('k'),
        () => store.write('k', 'v', { ifVersion: null }),
        () => store.list(''),
        () => lock.acquire('k'),
      ]) {
        const error = await expectDurableError(operation, 'BACKEND');
        expect(error.retryable).toBe(retryable);
        expect(error.details).toMatchObject({ status: Number(fault.split(' ')[0]) });
      }
    } finally {
      client.destroy();
    }
  });

  it('412 on a conditional write is CONFLICT, not BACKEND', async () => {
    const client = faulty('412 PreconditionFailed');
    try {
      await expectDurableError(
        () =>
          new S3StorageManager({ client, bucket: s3.endpoint.bucket }).write('k', 'v', {
            ifVersion: null,
          }),
        'CONFLICT',
      );
    } finally {
      client.destroy();
    }
  });
});

describe('options and keys are checked before any I/O (issue 9)', () => {
  const dead = new S3Client({
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  afterAll(() => dead.destroy());

  it("the seed libraries' option names are CONFIG naming ours, not ignored in silence", () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ awsAccessKey: 'AKIA' }, /credentials/],
      [{ awsSecretKey: 'secret' }, /credentials/],
      [{ awsRegion: 'eu-west-1' }, /region/],
      [{ bucketName: 'b' }, /bucket/],
      [{ conditionalWrite: true }, /unknown option "conditionalWrite"/],
    ];
    for (const [extra, message] of cases) {
      for (const make of [
        () => new S3StorageManager({ bucket: 'ok-bucket', ...extra } as never),
        () => new S3LockManager({ bucket: 'ok-bucket', ...extra } as never),
      ]) {
        let thrown: unknown;
        try {
          make();
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toMatchObject({
          code: 'CONFIG',
          retryable: false,
          message: expect.stringMatching(message),
        });
      }
    }
    expect(() => new S3StorageManager({ bucket: 'ok-bucket', defaultTtlMs: 5 } as never)).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
    for (const options of [null, undefined, 'bucket']) {
      expect(() => new S3StorageManager(options as never)).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
  });

  it('a key longer than 1024 bytes of UTF-8 once prefixed is INVALID_KEY on storage and lock, never BACKEND', async () => {
    const store = new S3StorageManager({ client: dead, bucket: 'durable-test', prefix: 'app/' });
    const lock = new S3LockManager({ client: dead, bucket: 'durable-test' });
    // 1000 characters: valid for the core rules, 3000 bytes in UTF-8; and 1021 ASCII + "app/" = 1025.
    for (const key of ['日'.repeat(1000), 'x'.repeat(1021)]) {
      for (const operation of [
        () => store.read(key),
        () => store.write(key, 'v'),
        () => store.delete(key),
        () => store.exists(key),
      ]) {
        const error = await expectDurableError(operation, 'INVALID_KEY');
        expect(error.retryable).toBe(false);
      }
    }
    const long = 'x'.repeat(1024 - 'durable-locks/'.length + 1);
    await expectDurableError(() => lock.acquire(long), 'INVALID_KEY');
    await expectDurableError(() => lock.release(long, 'token'), 'INVALID_KEY');
    await expectDurableError(() => lock.extend(long, 'token', 1000), 'INVALID_KEY');
  });

  it("ifVersion '*' or with CR/LF, null options and lone-surrogate keys are refused before I/O", async () => {
    const store = new S3StorageManager({ client: dead, bucket: 'durable-test' });
    const lock = new S3LockManager({ client: dead, bucket: 'durable-test' });
    for (const options of [
      { ifVersion: '*' },
      { ifVersion: '"e"\r\nx-amz-acl: public-read' },
      null,
    ]) {
      const error = await expectDurableError(
        () => store.write('k', 'v', options as never),
        'CONFIG',
      );
      expect(error.retryable).toBe(false);
      await expectDurableError(() => store.delete('k', options as never), 'CONFIG');
    }
    for (const key of ['k\uD800', 'k\uDBFF']) {
      await expectDurableError(() => store.write(key, 'v'), 'INVALID_KEY');
      await expectDurableError(() => lock.acquire(key), 'INVALID_KEY');
      await expectDurableError(() => lock.release(key, 'token'), 'INVALID_KEY');
    }
    await expectDurableError(() => lock.acquire('k', { ttlMs: 1e300 }), 'CONFIG');
    await expectDurableError(() => lock.extend('k', 'token', 1e300), 'CONFIG');
    expect(() => new S3LockManager({ bucket: 'ok-bucket', defaultTtlMs: 1e300 })).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
  });

  it('409 ConditionalRequestConflict on a conditional write is a CONFLICT like any other (not retryable as is), saying why', async () => {
    const client = s3.endpoint.client({ maxAttempts: 1 });
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-durable-test-fault'] =
          '409 ConditionalRequestConflict';
        return next(args);
      },
      { step: 'build', name: 'injectFault' },
    );
    try {
      const error = await expectDurableError(
        () =>
          new S3StorageManager({ client, bucket: s3.endpoint.bucket }).write('k', 'v', {
            ifVersion: null,
          }),
        'CONFLICT',
      );
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('S3 409');
    } finally {
      client.destroy();
    }
  });
});

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBClient as Client } from '@aws-sdk/client-dynamodb';
import type { ProxiedRequest } from '@durable/testkit';
import { expectDurableError, uniquePrefix } from '@durable/testkit';
import { DynamoLockingManager, createLockTable } from '../src/index.js';
import type { DynamoTestEndpoint } from '@durable/test-support';
import { DYNAMODB_TTL_API, startDynamo } from '@durable/test-support';
import type { LossyDynamo } from './support/lossy-dynamo.js';
import { startLossyDynamo } from './support/lossy-dynamo.js';

// Lost replies on DynamoDB: the proxy lets an UpdateItem reach dynalite, then cuts the connection;
// the SDK retries it. `between` runs another client's change after the lost write was applied
// and before the retry.
let server: DynamoTestEndpoint;
let direct: DynamoDBClient;
let lossy: LossyDynamo;
let between: ((request: ProxiedRequest) => Promise<void>) | undefined;
const tableName = `durable-lost-${process.pid}`;
const proxied = !(process.env.DYNAMODB_ENDPOINT ?? '').startsWith('https:');
const describeProxied = proxied ? describe : describe.skip;
if (!proxied) {
  // Loud, not silent: the lost-reply proxy speaks plain HTTP and cannot sit in front of https.
  const why = `DYNAMODB_ENDPOINT is https (${process.env.DYNAMODB_ENDPOINT}); the lost-reply proxy speaks plain HTTP`;
  test(`SKIPPED: DynamoDB lock lost-reply tests: ${why}`, () => {
    console.warn(`@durable/dynamo-lock: SKIPPED: DynamoDB lock lost-reply tests: ${why}`);
    expect(proxied).toBe(false);
  });
}

beforeAll(async () => {
  server = await startDynamo();
  direct = server.client();
  await createLockTable({ client: direct, tableName, timeToLive: DYNAMODB_TTL_API });
  if (proxied) lossy = await startLossyDynamo(server, { onLostReply: (r) => between?.(r) });
}, 30_000);
afterEach(() => {
  between = undefined;
});
afterAll(async () => {
  direct?.destroy();
  await lossy?.close();
  await server?.stop();
}, 30_000);

describeProxied('DynamoDB lock after a lost reply', () => {
  it('a release whose reply was lost reports true even after another owner took the lock before the retry', async () => {
    let now = 1_000_000;
    const clock = (): number => now;
    const mine = new DynamoLockingManager({ client: lossy.client(), tableName, clock });
    const theirs = new DynamoLockingManager({ client: direct, tableName, clock });
    const key = uniquePrefix('taken');
    const lease = await mine.acquire(key, { ttlMs: 60_000 });
    let next: Awaited<ReturnType<typeof theirs.acquire>> | undefined;
    between = async () => {
      next = await theirs.acquire(key, { waitMs: 0 });
    };
    lossy.proxy.dropNextReply();
    expect(await lease.release()).toBe(true);
    expect(next).toBeDefined();
    expect((await theirs.inspect(key))?.token).toBe(next!.token);
    expect(await next!.release()).toBe(true);
  });

  it('a release whose reply was lost, with the lock taken and released by another before the retry, is true while the lease could not have expired', async () => {
    const mine = new DynamoLockingManager({ client: lossy.client(), tableName });
    const theirs = new DynamoLockingManager({ client: direct, tableName });
    const key = uniquePrefix('cycled');
    const lease = await mine.acquire(key, { ttlMs: 60_000 });
    between = async () => {
      const other = await theirs.acquire(key, { waitMs: 0 });
      await other.release();
    };
    lossy.proxy.dropNextReply();
    expect(await lease.release()).toBe(true);
  });

  it('the same, released through a manager that never saw the lease (its expiry unknown), is UNKNOWN_OUTCOME, never false', async () => {
    const granting = new DynamoLockingManager({ client: direct, tableName });
    const releasing = new DynamoLockingManager({ client: lossy.client(), tableName });
    const theirs = new DynamoLockingManager({ client: direct, tableName });
    const key = uniquePrefix('cycled-unknown');
    const lease = await granting.acquire(key, { ttlMs: 60_000 });
    between = async () => {
      const other = await theirs.acquire(key, { waitMs: 0 });
      await other.release();
    };
    lossy.proxy.dropNextReply();
    await expectDurableError(() => releasing.release(key, lease.token), 'UNKNOWN_OUTCOME');
  });

  it('an acquire whose only attempt lost its reply keeps the lease it was granted instead of leaving a phantom', async () => {
    const lock = new DynamoLockingManager({ client: lossy.client(1), tableName });
    const key = uniquePrefix('phantom');
    lossy.proxy.dropNextReply();
    const lease = await lock.acquire(key, { ttlMs: 60_000, waitMs: 0 });
    expect(lossy.proxy.dropsPending()).toBe(0);
    expect((await lock.inspect(key))?.token).toBe(lease.token);
    expect(await lease.release()).toBe(true);
  });

  it('a release and an extend whose only attempt lost its reply are settled by reading the item back', async () => {
    const lock = new DynamoLockingManager({ client: lossy.client(1), tableName });
    const key = uniquePrefix('once');
    const lease = await lock.acquire(key, { ttlMs: 60_000, waitMs: 0 });
    lossy.proxy.dropNextReply();
    await lease.extend(120_000);
    expect((await lock.inspect(key))?.expiresAtMs).toBe(lease.expiresAt);
    lossy.proxy.dropNextReply();
    expect(await lease.release()).toBe(true);
    expect(lossy.proxy.dropsPending()).toBe(0);
  });
});

describe('options and keys are checked before any I/O (issue 9)', () => {
  const dead = new Client({
    endpoint: 'http://127.0.0.1:9',
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  afterAll(() => dead.destroy());

  it("the seed library's option names are CONFIG naming ours, not ignored in silence", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ awsAccessKey: 'AKIA' }, /credentials/],
      [{ awsSecretKey: 'secret' }, /credentials/],
      [{ awsRegion: 'eu-west-1' }, /region/],
      [{ timeToLiveDurationInSeconds: 60 }, /defaultTtlMs/],
      [{ ttlMs: 60_000 }, /unknown option "ttlMs"/],
    ];
    for (const [extra, message] of cases) {
      expect(() => new DynamoLockingManager({ tableName: 'locks', ...extra } as never)).toThrow(
        expect.objectContaining({
          code: 'CONFIG',
          retryable: false,
          message: expect.stringMatching(message),
        }),
      );
    }
    await expect(
      createLockTable({ tableName: 'locks', awsRegion: 'eu-west-1' } as never),
    ).rejects.toMatchObject({ code: 'CONFIG' });
    for (const options of [null, undefined, 'locks']) {
      expect(() => new DynamoLockingManager(options as never)).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
    for (const prefix of [42, 'app\uD800:', 'a\u0000b']) {
      expect(() => new DynamoLockingManager({ tableName: 'locks', prefix } as never)).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
  });

  it('lone-surrogate keys are INVALID_KEY everywhere, so "k\\uD800" and "k\\uDBFF" never share a lock entry', async () => {
    const lock = new DynamoLockingManager({ client: dead, tableName });
    for (const key of ['k\uD800', 'k\uDBFF']) {
      await expectDurableError(() => lock.acquire(key), 'INVALID_KEY');
      await expectDurableError(() => lock.release(key, 'token'), 'INVALID_KEY');
      await expectDurableError(() => lock.extend(key, 'token', 1000), 'INVALID_KEY');
      await expectDurableError(() => lock.inspect(key), 'INVALID_KEY');
    }
  });

  it('a partition key over 2048 bytes of UTF-8 (prefix included) is INVALID_KEY, never BACKEND', async () => {
    const lock = new DynamoLockingManager({ client: dead, tableName, prefix: 'app:' });
    const key = '日'.repeat(683); // 2049 bytes, 683 characters: valid for the core rules
    for (const operation of [
      () => lock.acquire(key),
      () => lock.release(key, 't'),
      () => lock.extend(key, 't', 1000),
      () => lock.inspect(key),
    ]) {
      const error = await expectDurableError(operation, 'INVALID_KEY');
      expect(error.retryable).toBe(false);
    }
    // The prefix counts: 1100 + 948 bytes is exactly 2048 and passes the check (and fails at I/O).
    const prefixed = new DynamoLockingManager({
      client: dead,
      tableName,
      prefix: 'p'.repeat(1100),
    });
    await expectDurableError(() => prefixed.inspect('x'.repeat(948)), 'BACKEND');
    await expectDurableError(() => prefixed.inspect('x'.repeat(949)), 'INVALID_KEY');
  });

  it('a TTL of 1e300 ms is CONFIG on acquire, extend and as the default, never BACKEND', async () => {
    const lock = new DynamoLockingManager({ client: dead, tableName });
    await expectDurableError(() => lock.acquire('k', { ttlMs: 1e300 }), 'CONFIG');
    await expectDurableError(() => lock.extend('k', 'token', 1e300), 'CONFIG');
    expect(() => new DynamoLockingManager({ tableName, defaultTtlMs: 1e300 })).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
  });
});

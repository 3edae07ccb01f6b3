import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { bytesToText } from '@durable/core';
import type { LostReplyProxy } from '@durable/testkit';
import { expectDurableError, startLostReplyProxy, uniquePrefix } from '@durable/testkit';
import type { Lease } from '@durable/core';
import type { ConflictRetryOptions } from '../src/index.js';
import { S3LockManager, S3StorageManager } from '../src/index.js';
import { motoAvailability, startMoto } from '@durable/test-support';
import type { ConflictProxy } from './support/conflict-proxy.js';
import { startConflictProxy } from './support/conflict-proxy.js';
import { changesAnObject } from './support/lost-reply.js';
import { makeS3Client, startS3 } from '@durable/test-support';

// S3 answers a conditional write with 409 ConditionalRequestConflict when another conditional
// write on the same key is in progress; nothing is applied and S3 says to retry the request. No
// server we can run here ever sends it (moto 5.2.5 and s3rver have no such code path; see
// docs/test-servers.md), so these tests put a fault-injecting proxy in front of the real server
// that answers chosen requests with S3's 409 (status, XML body, headers) without forwarding them,
// and check what the adapters make of it: the same conditional request is sent again in place
// (bounded by `conflictRetry.maxAttempts`), so it commits once, or meets the other writer's commit
// as S3's own 412 (CONFLICT); only when every attempt was answered 409 is it core's CONFLICT
// (never retryable as is: read the key again and decide), saying it was S3's 409 and that nothing
// was written. The lock sends its lease PUT again the same way. On moto when installed (SKIPPED
// loudly otherwise), and on s3rver with our conditional layer.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

interface Server {
  endpoint: string;
  bucket: string;
  stop(): Promise<void>;
}

async function startMotoServer(): Promise<Server> {
  const moto = await startMoto();
  const bucket = 'durable-conflict-409';
  const client = makeS3Client(moto.endpoint, 1, true);
  try {
    await client
      .send(new CreateBucketCommand({ Bucket: bucket }))
      .catch((error: { name?: string }) => {
        if (error.name !== 'BucketAlreadyOwnedByYou') throw error;
      });
  } finally {
    client.destroy();
  }
  return { endpoint: moto.endpoint, bucket, stop: () => moto.stop() };
}

async function startS3rver(): Promise<Server> {
  const s3 = await startS3({ external: false });
  return { endpoint: s3.endpoint, bucket: s3.bucket, stop: () => s3.stop() };
}

const servers: Array<[string, () => Promise<Server>]> = [
  ['s3rver + our conditional layer', startS3rver],
];
const moto = motoAvailability();
if (moto.available) servers.unshift(['moto', startMotoServer]);
else {
  test(`SKIPPED: 409 ConditionalRequestConflict tests on moto: ${moto.reason}`, () => {
    console.warn(
      `@durable/s3: SKIPPED: 409 ConditionalRequestConflict tests on moto: ${moto.reason}`,
    );
    expect(moto.available).toBe(false);
  });
}

describe.each(servers)(
  '409 ConditionalRequestConflict injected by a proxy in front of %s',
  (_name, start) => {
    let server: Server;
    // client -> conflict proxy -> lost-reply proxy -> server: a request can lose its reply after
    // the server applied it, and the SDK's retry of it can meet a 409.
    let lossy: LostReplyProxy;
    let proxy: ConflictProxy;
    let direct: S3Client;
    let viaProxy: S3Client;
    let single: S3Client;
    // A proxy that answers 409 to any PUT, conditional or not (S3 never does; to check a blind
    // write is not sent again).
    let anyPut: ConflictProxy;
    let blind: S3Client;

    beforeAll(async () => {
      server = await start();
      lossy = await startLostReplyProxy({
        target: server.endpoint,
        drops: changesAnObject,
        onLostReply: () => proxy.conflictNext(),
      });
      proxy = await startConflictProxy({ target: lossy.endpoint });
      direct = makeS3Client(server.endpoint, 1, true);
      viaProxy = makeS3Client(proxy.endpoint, 3, true);
      single = makeS3Client(proxy.endpoint, 1, true);
      anyPut = await startConflictProxy({
        target: server.endpoint,
        selects: (request) => request.method === 'PUT',
      });
      blind = makeS3Client(anyPut.endpoint, 1, true);
    }, 90_000);
    afterEach(() => {
      // A test that armed a fault must have used it: otherwise it proved nothing.
      expect(proxy.conflictsPending()).toBe(0);
      expect(anyPut.conflictsPending()).toBe(0);
      expect(lossy.dropsPending()).toBe(0);
    });
    afterAll(async () => {
      for (const client of [direct, viaProxy, single, blind]) client?.destroy();
      await anyPut?.close();
      await proxy?.close();
      await lossy?.close();
      await server?.stop();
    }, 30_000);

    // Small 409 backoff: the tests count answers, they never depend on the delays.
    const storage = (client: S3Client, retry: ConflictRetryOptions = {}): S3StorageManager =>
      new S3StorageManager({
        client,
        bucket: server.bucket,
        prefix: 'c409/',
        conflictRetry: { baseMs: 1, maxMs: 5, ...retry },
      });
    const lock = (client: S3Client, retry: ConflictRetryOptions = {}): S3LockManager =>
      new S3LockManager({
        client,
        bucket: server.bucket,
        prefix: 'c409-locks/',
        backoff: { baseMs: 1, maxMs: 5 },
        conflictRetry: { baseMs: 1, maxMs: 5, ...retry },
      });
    const text = async (key: string): Promise<string | undefined> => {
      const entry = await storage(direct).read(key);
      return entry === undefined ? undefined : bytesToText(entry.data);
    };

    it('a create answered 409 once is sent again unchanged and commits once', async () => {
      const key = uniquePrefix('create');
      const before = { ...proxy.stats };
      proxy.conflictNext();
      const version = await storage(viaProxy).write(key, 'mine', { ifVersion: null });
      expect(proxy.stats.conflicts).toBe(before.conflicts + 1);
      // One PUT reached the server: the refused one never left the proxy, the retry committed.
      expect(proxy.stats.forwarded).toBe(before.forwarded + 1);
      expect((await storage(direct).read(key))?.version).toBe(version);
      expect(await text(key)).toBe('mine');
    });

    it('an update answered 409 twice is sent again and commits once, on the version it expected', async () => {
      const key = uniquePrefix('update');
      const v1 = await storage(direct).write(key, 'one');
      const before = { ...proxy.stats };
      proxy.conflictNext(2);
      const v2 = await storage(viaProxy).write(key, 'two', { ifVersion: v1 });
      expect(proxy.stats.conflicts).toBe(before.conflicts + 2);
      expect(proxy.stats.forwarded).toBe(before.forwarded + 1);
      expect(v2).not.toBe(v1);
      expect((await storage(direct).read(key))?.version).toBe(v2);
      expect(await text(key)).toBe('two');
    });

    it("an update answered 409 while another writer commits is a CONFLICT (the retry meets S3's 412), and the other writer's value stays", async () => {
      const key = uniquePrefix('update-race');
      const v1 = await storage(direct).write(key, 'one');
      let theirs: string | undefined;
      proxy.conflictNext(1, async () => {
        theirs = await storage(direct).write(key, 'theirs', { ifVersion: v1 });
      });
      const error = await expectDurableError(
        () => storage(viaProxy).write(key, 'mine', { ifVersion: v1 }),
        'CONFLICT',
      );
      expect(error.retryable).toBe(false);
      expect(error.details).toMatchObject({
        key,
        operation: 'write',
        expected: v1,
        s3Status: 412,
        s3ConflictAnswers: 1,
        written: false,
      });
      expect(error.message).toContain('then the condition failed');
      expect((await storage(direct).read(key))?.version).toBe(theirs);
      expect(await text(key)).toBe('theirs');
    });

    it('a create answered 409 while another writer creates the key is a CONFLICT, and theirs stays', async () => {
      const key = uniquePrefix('create-race');
      proxy.conflictNext(1, async () => {
        await storage(direct).write(key, 'theirs', { ifVersion: null });
      });
      const error = await expectDurableError(
        () => storage(viaProxy).write(key, 'mine', { ifVersion: null }),
        'CONFLICT',
      );
      expect(error.details).toMatchObject({ expected: null, s3ConflictAnswers: 1 });
      expect(await text(key)).toBe('theirs');
    });

    it('a create answered 409 on every attempt is a CONFLICT saying so, with nothing written', async () => {
      const key = uniquePrefix('all-409');
      const before = { ...proxy.stats };
      proxy.conflictNext(3);
      const error = await expectDurableError(
        () => storage(viaProxy, { maxAttempts: 3 }).write(key, 'mine', { ifVersion: null }),
        'CONFLICT',
      );
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('S3 409 ConditionalRequestConflict');
      expect(error.message).toContain('on all 3 attempt(s)');
      expect(error.details).toMatchObject({
        key,
        operation: 'write',
        expected: null,
        s3Status: 409,
        s3ConflictAnswers: 3,
        written: false,
      });
      expect(proxy.stats.forwarded).toBe(before.forwarded);
      expect(await text(key)).toBeUndefined();
      // Nothing was left behind: the next create succeeds at once.
      await storage(viaProxy).write(key, 'mine', { ifVersion: null });
      expect(await text(key)).toBe('mine');
    });

    it('an update answered 409 on all 4 attempts (the default) is a CONFLICT and the value is unchanged', async () => {
      const key = uniquePrefix('all-409-update');
      const v1 = await storage(direct).write(key, 'one');
      proxy.conflictNext(4);
      const error = await expectDurableError(
        () => storage(viaProxy).write(key, 'two', { ifVersion: v1 }),
        'CONFLICT',
      );
      expect(error.details).toMatchObject({ s3Status: 409, s3ConflictAnswers: 4, written: false });
      expect((await storage(direct).read(key))?.version).toBe(v1);
      expect(await text(key)).toBe('one');
    });

    it('maxAttempts 1 reports the first 409 as CONFLICT without sending it again', async () => {
      const key = uniquePrefix('no-retry');
      const before = { ...proxy.stats };
      proxy.conflictNext();
      const error = await expectDurableError(
        () => storage(viaProxy, { maxAttempts: 1 }).write(key, 'mine', { ifVersion: null }),
        'CONFLICT',
      );
      expect(error.details).toMatchObject({ s3Status: 409, s3ConflictAnswers: 1, written: false });
      expect(proxy.stats.forwarded).toBe(before.forwarded);
      expect(await text(key)).toBeUndefined();
    });

    it('a conditional delete answered 409 once is sent again and deletes', async () => {
      const key = uniquePrefix('delete');
      const v1 = await storage(direct).write(key, 'gone soon');
      proxy.conflictNext();
      expect(await storage(viaProxy).delete(key, { ifVersion: v1 })).toBe(true);
      expect(await text(key)).toBeUndefined();
    });

    it('a conditional delete answered 409 on every attempt is a CONFLICT saying so, and the value is still there', async () => {
      const key = uniquePrefix('delete-all-409');
      const v1 = await storage(direct).write(key, 'kept');
      proxy.conflictNext(2);
      const error = await expectDurableError(
        () => storage(viaProxy, { maxAttempts: 2 }).delete(key, { ifVersion: v1 }),
        'CONFLICT',
      );
      expect(error.message).toContain('S3 409');
      expect(error.details).toMatchObject({ operation: 'delete', s3Status: 409, written: false });
      expect(await text(key)).toBe('kept');
      expect(await storage(viaProxy).delete(key, { ifVersion: v1 })).toBe(true);
    });

    it('a blind write answered 409 is never sent again: BACKEND, not retryable, one answer', async () => {
      const key = uniquePrefix('blind');
      const before = { ...anyPut.stats };
      anyPut.conflictNext();
      const error = await expectDurableError(
        () =>
          new S3StorageManager({ client: blind, bucket: server.bucket, prefix: 'c409/' }).write(
            key,
            'mine',
          ),
        'BACKEND',
      );
      expect(error.retryable).toBe(false);
      expect(anyPut.stats.conflicts).toBe(before.conflicts + 1);
      expect(anyPut.stats.forwarded).toBe(before.forwarded);
      expect(await text(key)).toBeUndefined();
    });

    it('a stale-version update (412) is a CONFLICT that does not claim to be a 409', async () => {
      const key = uniquePrefix('stale');
      const v1 = await storage(direct).write(key, 'one');
      await storage(direct).write(key, 'two', { ifVersion: v1 });
      const error = await expectDurableError(
        () => storage(single).write(key, 'three', { ifVersion: v1 }),
        'CONFLICT',
      );
      expect(error.message).not.toContain('409');
    });

    it('a create whose reply was lost and whose SDK retry was answered 409 returns the version it stored', async () => {
      const key = uniquePrefix('lost-then-409');
      lossy.dropNextReply(); // the 409 is armed when the server has applied the create
      const version = await storage(viaProxy).write(key, 'mine', { ifVersion: null });
      expect(proxy.stats.conflicts).toBeGreaterThan(0);
      expect((await storage(direct).read(key))?.version).toBe(version);
      expect(await text(key)).toBe('mine');
    });

    it('lock: an acquire with waitMs 0 whose PUT is answered 409 once sends it again and gets the lease', async () => {
      const key = uniquePrefix('acquire');
      const before = proxy.stats.conflicts;
      proxy.conflictNext();
      const lease = await lock(single).acquire(key, { ttlMs: 30_000, waitMs: 0 });
      expect(proxy.stats.conflicts).toBe(before + 1);
      expect(lease.fencingToken).toBe(1);
      // Held for real: another owner is refused.
      await expectDurableError(
        () => lock(direct).acquire(key, { ttlMs: 1000, waitMs: 0 }),
        'LOCK_TIMEOUT',
      );
      expect(await lease.release()).toBe(true);
    });

    it('lock: an acquire answered 409 while another owner takes the lock waits (LOCK_TIMEOUT at waitMs 0): no double grant', async () => {
      const key = uniquePrefix('acquire-race');
      let theirs: Lease | undefined;
      proxy.conflictNext(1, async () => {
        theirs = await lock(direct).acquire(key, { ttlMs: 30_000, waitMs: 0 });
      });
      await expectDurableError(
        () => lock(single).acquire(key, { ttlMs: 30_000, waitMs: 0 }),
        'LOCK_TIMEOUT',
      );
      expect(theirs?.fencingToken).toBe(1);
      await theirs!.extend(30_000); // still theirs: extending would be LOCK_LOST otherwise
      expect(await theirs!.release()).toBe(true);
    });

    it('lock: an acquire answered 409 on every attempt (waitMs 0) is LOCK_TIMEOUT and leaves the lock free', async () => {
      const key = uniquePrefix('acquire-all-409');
      proxy.conflictNext(2);
      await expectDurableError(
        () => lock(single, { maxAttempts: 2 }).acquire(key, { ttlMs: 30_000, waitMs: 0 }),
        'LOCK_TIMEOUT',
      );
      const next = await lock(direct).acquire(key, { ttlMs: 1000, waitMs: 0 });
      expect(next.fencingToken).toBe(1);
      await next.release();
    });

    it('lock: an extend and a release answered 409 try again and take effect', async () => {
      const key = uniquePrefix('extend');
      const manager = lock(single);
      const lease = await manager.acquire(key, { ttlMs: 30_000 });
      proxy.conflictNext();
      const expiresAt = await manager.extend(key, lease.token, 60_000);
      expect(expiresAt).toBeGreaterThan(lease.expiresAt);
      proxy.conflictNext();
      expect(await manager.release(key, lease.token)).toBe(true);
      // Released for real: another owner gets it at once.
      const next = await lock(direct).acquire(key, { ttlMs: 1000, waitMs: 0 });
      expect(next.fencingToken).toBeGreaterThan(lease.fencingToken);
      await next.release();
    });
  },
);

describe('conflictRetry option', () => {
  it.each([
    [{ maxAttempts: 0 }, 'maxAttempts must be an integer from 1 to 100'],
    [{ maxAttempts: 2.5 }, 'maxAttempts must be an integer from 1 to 100'],
    [{ baseMs: -1 }, 'baseMs must be a positive number'],
    [{ maxMs: Number.NaN }, 'maxMs must be a positive number'],
    ['4', 'conflictRetry must be an object'],
  ])('%p is CONFIG at construction, before any I/O', (conflictRetry, message) => {
    for (const create of [
      () => new S3StorageManager({ bucket: 'b-1', conflictRetry } as never),
      () => new S3LockManager({ bucket: 'b-1', conflictRetry } as never),
    ]) {
      let thrown: unknown;
      try {
        create();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: 'CONFIG' });
      expect((thrown as Error).message).toContain(message);
    }
  });
});

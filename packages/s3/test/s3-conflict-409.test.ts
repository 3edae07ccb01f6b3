import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { bytesToText } from '@durable/core';
import type { LostReplyProxy } from '@durable/testkit';
import { expectDurableError, startLostReplyProxy, uniquePrefix } from '@durable/testkit';
import { S3LockManager, S3StorageManager } from '../src/index.js';
import { motoAvailability, startMoto } from '../../../scripts/test-servers/moto.js';
import type { ConflictProxy } from './support/conflict-proxy.js';
import { startConflictProxy } from './support/conflict-proxy.js';
import { changesAnObject } from './support/lost-reply.js';
import { makeClient, startS3 } from './support/s3-server.js';

// S3 answers a conditional write with 409 ConditionalRequestConflict when another conditional
// write on the same key is in progress; nothing is applied and trying again may succeed. No
// server we can run here ever sends it (moto 5.2.5 and s3rver have no such code path; see
// docs/test-servers.md), so these tests put a fault-injecting proxy in front of the real server
// that answers chosen requests with S3's 409 (status, XML body, headers) without forwarding them,
// and check what the adapters make of it: for a storage write, a CONFLICT like any other (never
// retryable as is: read the key again and decide) that says it was S3's 409 and changed nothing;
// for the lock, another attempt. On moto when installed (SKIPPED loudly otherwise), and on
// s3rver with our conditional layer.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

interface Server {
  endpoint: string;
  bucket: string;
  stop(): Promise<void>;
}

async function startMotoServer(): Promise<Server> {
  const moto = await startMoto();
  const bucket = 'durable-conflict-409';
  const client = makeClient(moto.endpoint, 1, true);
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

    beforeAll(async () => {
      server = await start();
      lossy = await startLostReplyProxy({
        target: server.endpoint,
        drops: changesAnObject,
        onLostReply: () => proxy.conflictNext(),
      });
      proxy = await startConflictProxy({ target: lossy.endpoint });
      direct = makeClient(server.endpoint, 1, true);
      viaProxy = makeClient(proxy.endpoint, 3, true);
      single = makeClient(proxy.endpoint, 1, true);
    }, 90_000);
    afterEach(() => {
      // A test that armed a fault must have used it: otherwise it proved nothing.
      expect(proxy.conflictsPending()).toBe(0);
      expect(lossy.dropsPending()).toBe(0);
    });
    afterAll(async () => {
      for (const client of [direct, viaProxy, single]) client?.destroy();
      await proxy?.close();
      await lossy?.close();
      await server?.stop();
    }, 30_000);

    const storage = (client: S3Client): S3StorageManager =>
      new S3StorageManager({ client, bucket: server.bucket, prefix: 'c409/' });
    const lock = (client: S3Client): S3LockManager =>
      new S3LockManager({
        client,
        bucket: server.bucket,
        prefix: 'c409-locks/',
        backoff: { baseMs: 1, maxMs: 5 },
      });
    const text = async (key: string): Promise<string | undefined> => {
      const entry = await storage(direct).read(key);
      return entry === undefined ? undefined : bytesToText(entry.data);
    };

    it('a create answered 409 is a CONFLICT saying so, writes nothing, and the next attempt succeeds', async () => {
      const key = uniquePrefix('create');
      proxy.conflictNext();
      const error = await expectDurableError(
        () => storage(viaProxy).write(key, 'mine', { ifVersion: null }),
        'CONFLICT',
      );
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('S3 409');
      expect(error.details).toMatchObject({ key, operation: 'write', expected: null });
      expect(await text(key)).toBeUndefined();
      const version = await storage(viaProxy).write(key, 'mine', { ifVersion: null });
      expect((await storage(direct).read(key))?.version).toBe(version);
    });

    it('an update answered 409 is a CONFLICT saying so, and the stored value is unchanged', async () => {
      const key = uniquePrefix('update');
      const v1 = await storage(direct).write(key, 'one');
      proxy.conflictNext();
      const error = await expectDurableError(
        () => storage(viaProxy).write(key, 'two', { ifVersion: v1 }),
        'CONFLICT',
      );
      expect(error.message).toContain('S3 409');
      const after = await storage(direct).read(key);
      expect(after?.version).toBe(v1);
      expect(await text(key)).toBe('one');
    });

    it('a conditional delete answered 409 is a CONFLICT saying so, and the value is still there', async () => {
      const key = uniquePrefix('delete');
      const v1 = await storage(direct).write(key, 'kept');
      proxy.conflictNext();
      const error = await expectDurableError(
        () => storage(viaProxy).delete(key, { ifVersion: v1 }),
        'CONFLICT',
      );
      expect(error.message).toContain('S3 409');
      expect(await text(key)).toBe('kept');
      expect(await storage(viaProxy).delete(key, { ifVersion: v1 })).toBe(true);
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

    it('lock: an acquire whose PUT is answered 409 tries again and gets the lease', async () => {
      const key = uniquePrefix('acquire');
      proxy.conflictNext();
      const before = proxy.stats.conflicts;
      const lease = await lock(single).acquire(key, { ttlMs: 30_000, waitMs: 30_000 });
      expect(proxy.stats.conflicts).toBe(before + 1);
      // Held for real: another owner is refused.
      await expectDurableError(
        () => lock(direct).acquire(key, { ttlMs: 1000, waitMs: 0 }),
        'LOCK_TIMEOUT',
      );
      expect(await lease.release()).toBe(true);
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

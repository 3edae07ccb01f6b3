import type { S3Client } from '@aws-sdk/client-s3';
import { bytesToText } from '@durable/core';
import type { LostReplyProxy, ProxiedRequest } from '@durable/testkit';
import { expectDurableError, startLostReplyProxy, uniquePrefix } from '@durable/testkit';
import { S3LockManager, S3StorageManager } from '../src/index.js';
import { changesAnObject } from './support/lost-reply.js';
import { makeS3Client } from '@durable/test-support';
import { useS3 } from './support/suite-setup.js';

// Lost replies: a conditional write or delete whose reply is lost (the proxy lets the request reach
// s3rver, then cuts the connection; the SDK retries it) is settled by reading the object back.
// `between` runs another writer's change after the lost write was applied and before the retry.
const s3 = useS3();
let proxy: LostReplyProxy;
let lossy: S3Client;
let between: ((request: ProxiedRequest) => Promise<void>) | undefined;
const proxied = !(process.env.S3_ENDPOINT ?? '').startsWith('https:');
const describeProxied = proxied ? describe : describe.skip;
if (!proxied) {
  // Loud, not silent: the lost-reply proxy speaks plain HTTP and cannot sit in front of https.
  const why = `S3_ENDPOINT is https (${process.env.S3_ENDPOINT}); the lost-reply proxy speaks plain HTTP`;
  test(`SKIPPED: S3 storage and lock lost-reply tests: ${why}`, () => {
    console.warn(`@durable/s3: SKIPPED: S3 storage and lock lost-reply tests: ${why}`);
    expect(proxied).toBe(false);
  });
}

beforeAll(async () => {
  if (!proxied) return;
  proxy = await startLostReplyProxy({
    target: s3.endpoint.endpoint,
    drops: changesAnObject,
    onLostReply: (r) => between?.(r),
  });
  lossy = makeS3Client(proxy.endpoint, 3, s3.endpoint.directory !== undefined);
});
afterEach(() => {
  between = undefined;
});
afterAll(async () => {
  lossy?.destroy();
  await proxy?.close();
});

const storage = (client: S3Client): S3StorageManager =>
  new S3StorageManager({ client, bucket: s3.endpoint.bucket, prefix: 'lost-reply/' });
const text = async (key: string): Promise<string | undefined> => {
  const entry = await storage(s3.client).read(key);
  return entry === undefined ? undefined : bytesToText(entry.data);
};

describeProxied('S3 storage after a lost reply', () => {
  it('a create whose reply was lost returns the version it stored, not CONFLICT (the retry got 412)', async () => {
    const key = uniquePrefix('create');
    proxy.dropNextReply();
    const version = await storage(lossy).write(key, 'mine', { ifVersion: null });
    expect(proxy.dropsPending()).toBe(0);
    expect((await storage(s3.client).read(key))?.version).toBe(version);
  });

  it('an update applied and then overwritten by a writer that had read it is reported applied, with its own version', async () => {
    const key = uniquePrefix('overwritten');
    const v1 = await storage(s3.client).write(key, 'one');
    let ours: string | undefined;
    between = async () => {
      const reader = storage(s3.client);
      const seen = await reader.read(key);
      expect(bytesToText(seen!.data)).toBe('mine'); // ours was applied
      ours = seen!.version;
      await reader.write(key, 'theirs', { ifVersion: seen!.version });
    };
    proxy.dropNextReply();
    expect(await storage(lossy).write(key, 'mine', { ifVersion: v1 })).toBe(ours);
    expect(await text(key)).toBe('theirs');
  });

  it('an update applied and then overwritten twice before the retry is UNKNOWN_OUTCOME, never CONFLICT', async () => {
    const key = uniquePrefix('overwritten-twice');
    const v1 = await storage(s3.client).write(key, 'one');
    between = async () => {
      for (const value of ['theirs', 'theirs again']) {
        const reader = storage(s3.client);
        const seen = await reader.read(key);
        await reader.write(key, value, { ifVersion: seen!.version });
      }
    };
    proxy.dropNextReply();
    const error = await expectDurableError(
      () => storage(lossy).write(key, 'mine', { ifVersion: v1 }),
      'UNKNOWN_OUTCOME',
    );
    expect(error.retryable).toBe(false);
    expect(await text(key)).toBe('theirs again');
  });

  it('an update whose version another writer replaced first is CONFLICT even when its own reply was lost', async () => {
    const key = uniquePrefix('stale');
    const v1 = await storage(s3.client).write(key, 'one');
    await storage(s3.client).write(key, 'theirs', { ifVersion: v1 });
    proxy.dropNextReply();
    await expectDurableError(
      () => storage(lossy).write(key, 'mine', { ifVersion: v1 }),
      'CONFLICT',
    );
    expect(proxy.dropsPending()).toBe(0);
    expect(await text(key)).toBe('theirs');
  });

  it('a create applied, deleted and re-created by another writer before the retry is UNKNOWN_OUTCOME, never CONFLICT', async () => {
    const key = uniquePrefix('recreated');
    between = async () => {
      await storage(s3.client).delete(key);
      await storage(s3.client).write(key, 'theirs', { ifVersion: null });
    };
    proxy.dropNextReply();
    await expectDurableError(
      () => storage(lossy).write(key, 'mine', { ifVersion: null }),
      'UNKNOWN_OUTCOME',
    );
    expect(await text(key)).toBe('theirs');
  });

  it('a conditional delete whose reply was lost is UNKNOWN_OUTCOME (the object is gone: by us or by another), never CONFLICT', async () => {
    const key = uniquePrefix('delete');
    const version = await storage(s3.client).write(key, 'doomed');
    proxy.dropNextReply();
    const error = await expectDurableError(
      () => storage(lossy).delete(key, { ifVersion: version }),
      'UNKNOWN_OUTCOME',
    );
    expect(error.details).toMatchObject({ key, gone: true });
    expect(await text(key)).toBeUndefined();
  });

  it('an unconditional delete whose reply was lost reports true: the object existed and is gone', async () => {
    const key = uniquePrefix('delete-any');
    await storage(s3.client).write(key, 'doomed');
    proxy.dropNextReply();
    expect(await storage(lossy).delete(key)).toBe(true);
    expect(proxy.dropsPending()).toBe(0);
    expect(await text(key)).toBeUndefined();
  });

  it('a write whose every attempt lost its reply (SDK out of attempts) is still settled: its version, not BACKEND', async () => {
    const once = makeS3Client(proxy.endpoint, 1, s3.endpoint.directory !== undefined);
    try {
      const key = uniquePrefix('no-retry');
      proxy.dropNextReply();
      const version = await storage(once).write(key, 'mine', { ifVersion: null });
      expect((await storage(s3.client).read(key))?.version).toBe(version);
    } finally {
      once.destroy();
    }
  });

  it('every write carries a write id, so the settling read can tell ours from theirs', async () => {
    const key = uniquePrefix('meta');
    await storage(s3.client).write(key, 'x', { ifVersion: null });
    const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: s3.endpoint.bucket, Key: `lost-reply/${key}` }),
    );
    expect(head.Metadata?.['durable-write']).toMatch(/^[0-9a-f-]{36}$/);
    expect(head.Metadata?.['durable-if']).toBe('absent');
  });
});

describeProxied('S3 lock after a lost reply', () => {
  const locks = (client: S3Client): S3LockManager =>
    new S3LockManager({ client, bucket: s3.endpoint.bucket, prefix: 'lost-reply-locks/' });

  it('a release whose reply was lost, with the lock taken and released by another before the retry, is true while the lease could not have expired', async () => {
    const key = uniquePrefix('cycled');
    const lease = await locks(lossy).acquire(key, { ttlMs: 60_000 });
    between = async () => {
      const other = await locks(s3.client).acquire(key, { waitMs: 0 });
      await other.release();
    };
    proxy.dropNextReply();
    expect(await lease.release()).toBe(true);
  });

  it('the same, released through a manager that never saw the lease, is UNKNOWN_OUTCOME, never false', async () => {
    const key = uniquePrefix('cycled-unknown');
    const lease = await locks(s3.client).acquire(key, { ttlMs: 60_000 });
    between = async () => {
      const other = await locks(s3.client).acquire(key, { waitMs: 0 });
      await other.release();
    };
    proxy.dropNextReply();
    await expectDurableError(() => locks(lossy).release(key, lease.token), 'UNKNOWN_OUTCOME');
  });

  it('an acquire whose only attempt lost its reply keeps the lease it was granted instead of leaving a phantom', async () => {
    const once = makeS3Client(proxy.endpoint, 1, s3.endpoint.directory !== undefined);
    try {
      const key = uniquePrefix('phantom');
      proxy.dropNextReply();
      const lease = await locks(once).acquire(key, { ttlMs: 60_000, waitMs: 0 });
      expect(proxy.dropsPending()).toBe(0);
      await expectDurableError(() => locks(s3.client).acquire(key, { waitMs: 0 }), 'LOCK_TIMEOUT');
      expect(await lease.release()).toBe(true);
    } finally {
      once.destroy();
    }
  });
});

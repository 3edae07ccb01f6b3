import { MongoClient } from 'mongodb';
import { isDurableError } from '@durable/core';
import { expectDurableError, uniquePrefix } from '@durable/testkit';
import { MongoLockManager, MongoWorkflowStore } from '../src/index.js';
import type { LockDocument } from '../src/index.js';
import type { MongoLostReplyProxy } from './support/lost-reply-proxy.js';
import { startMongoLostReplyProxy } from './support/lost-reply-proxy.js';
import type { MongoTestServer } from '@durable/test-support';
import { mongoServerOrSkip, startMongoTestServer } from '@durable/test-support';

// Writes whose reply is lost: a TCP proxy lets the command reach the server (mongo-java-server,
// or MONGODB_URI when it is a single mongodb:// host), which applies it, and then cuts the
// connection instead of passing the answer on. The lock and the workflow store must settle such a
// write by reading back: success when it landed, a definite failure (LOCK_LOST, CONFLICT) when
// it cannot have, UNKNOWN_OUTCOME when nobody can tell; never a plain failure after a commit.
// `between` runs another client's change after the server applied the write and before the
// writer learns of it.
const target = new URL(process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:0/');
const proxiable = target.protocol === 'mongodb:' && !target.host.includes(',');

if (!proxiable) {
  test('SKIPPED: lost-reply tests: MONGODB_URI is not a single mongodb:// host the proxy can stand in front of', () => {
    console.warn(
      '@durable/mongo: SKIPPED: lost-reply tests: MONGODB_URI is not a single mongodb:// host',
    );
    expect(proxiable).toBe(false);
  });
} else if (
  mongoServerOrSkip('the MongoDB lost-reply tests on mongo-java-server', 'mongo-java-server')
) {
  const database = process.env.MONGODB_DATABASE ?? `durable_lost_${process.pid}`;
  let server: MongoTestServer;
  let direct: MongoClient;
  let lossy: MongoClient;
  let proxy: MongoLostReplyProxy;

  beforeAll(async () => {
    server = await startMongoTestServer('mongo-java-server');
    const address = new URL(server.uri);
    proxy = await startMongoLostReplyProxy({
      host: address.hostname,
      port: Number(address.port || 27017),
    });
    direct = new MongoClient(server.uri, { serverSelectionTimeoutMS: 10_000 });
    lossy = new MongoClient(proxy.uri, { serverSelectionTimeoutMS: 10_000, retryWrites: false });
    await Promise.all([direct.connect(), lossy.connect()]);
  }, 60_000);
  afterEach(() => {
    // A test that armed a lost reply must have used it: otherwise it proved nothing.
    expect(proxy.dropsPending()).toBe(0);
  });
  afterAll(async () => {
    if (process.env.MONGODB_DATABASE === undefined) await direct?.db(database).dropDatabase();
    await lossy?.close();
    await direct?.close();
    await proxy?.close();
    await server?.stop();
  }, 30_000);

  const locks = (client: MongoClient): MongoLockManager =>
    new MongoLockManager({ client, database, backoff: { baseMs: 1, maxMs: 5 } });
  const lockDocument = (key: string): Promise<LockDocument | null> =>
    direct.db(database).collection<LockDocument>('durable_locks').findOne({ _id: key });

  describe('mongo lock after a lost reply', () => {
    it('an acquire whose grant landed returns that lease, and another owner is refused', async () => {
      const key = uniquePrefix('acquire');
      proxy.dropNextReply();
      const lease = await locks(lossy).acquire(key, { ttlMs: 30_000, waitMs: 0 });
      expect((await lockDocument(key))?.owner).toBe(lease.token);
      await expectDurableError(
        () => locks(direct).acquire(key, { ttlMs: 30_000, waitMs: 0 }),
        'LOCK_TIMEOUT',
      );
      expect(await lease.release()).toBe(true);
      const next = await locks(direct).acquire(key, { ttlMs: 1000, waitMs: 0 });
      expect(next.fencingToken).toBe(lease.fencingToken + 1);
      await next.release();
    });

    it('an extend that landed returns the new expiry', async () => {
      const key = uniquePrefix('extend');
      const manager = locks(lossy);
      const lease = await manager.acquire(key, { ttlMs: 10_000 });
      proxy.dropNextReply();
      const expiresAt = await manager.extend(key, lease.token, 60_000);
      expect(expiresAt).toBeGreaterThan(lease.expiresAt);
      expect((await lockDocument(key))?.expiresAt).toBe(expiresAt);
      await manager.release(key, lease.token);
    });

    it('an extend of a lease taken over in the meantime is LOCK_LOST', async () => {
      const key = uniquePrefix('extend-lost');
      let now = Date.now();
      const clock = (): number => now;
      const manager = new MongoLockManager({ client: lossy, database, clock });
      const other = new MongoLockManager({ client: direct, database, clock });
      const lease = await manager.acquire(key, { ttlMs: 1000 });
      // The extend lands; then its lease runs out and another owner takes the lock.
      proxy.dropNextReply(async () => {
        now += 120_000;
        await other.acquire(key, { ttlMs: 60_000, waitMs: 0 });
      });
      await expectDurableError(() => manager.extend(key, lease.token, 5000), 'LOCK_LOST');
    });

    it('a release that landed returns true, and the lock is free', async () => {
      const key = uniquePrefix('release');
      const manager = locks(lossy);
      const lease = await manager.acquire(key, { ttlMs: 30_000 });
      proxy.dropNextReply();
      expect(await manager.release(key, lease.token)).toBe(true);
      expect(await lockDocument(key)).toMatchObject({ owner: null, released: lease.token });
      const next = await locks(direct).acquire(key, { ttlMs: 1000, waitMs: 0 });
      await next.release();
    });

    it('a release that landed is still recognised after another owner took the lock', async () => {
      const key = uniquePrefix('release-taken');
      const manager = locks(lossy);
      const lease = await manager.acquire(key, { ttlMs: 30_000 });
      let theirs: string | undefined;
      proxy.dropNextReply(async () => {
        theirs = (await locks(direct).acquire(key, { ttlMs: 30_000, waitMs: 0 })).token;
      });
      expect(await manager.release(key, lease.token)).toBe(true);
      expect((await lockDocument(key))?.owner).toBe(theirs);
    });

    it('a release that landed, followed by another grant and release, is UNKNOWN_OUTCOME, never a false "not yours"', async () => {
      const key = uniquePrefix('release-unknown');
      const manager = locks(lossy);
      const lease = await manager.acquire(key, { ttlMs: 30_000 });
      proxy.dropNextReply(async () => {
        const theirs = await locks(direct).acquire(key, { ttlMs: 30_000, waitMs: 0 });
        await theirs.release();
      });
      let outcome: unknown;
      try {
        outcome = await manager.release(key, lease.token);
      } catch (error) {
        outcome = error;
      }
      expect(isDurableError(outcome, 'UNKNOWN_OUTCOME')).toBe(true);
    });
  });
  describe('mongo workflow store after a lost reply', () => {
    let collectionName = '';
    const stores = (client: MongoClient, clock?: () => number): MongoWorkflowStore =>
      new MongoWorkflowStore({
        client,
        database,
        collection: collectionName,
        ...(clock === undefined ? {} : { clock }),
      });
    beforeEach(() => {
      collectionName = `wf_${uniquePrefix('lost').replace(/-/g, '_')}`;
    });

    async function claimed(
      id: string,
      lossyStore: MongoWorkflowStore,
      clock?: () => number,
    ): Promise<string> {
      expect(await stores(direct, clock).insert({ id, handler: 'h' })).toBe(true);
      const claim = await lossyStore.claim({ leaseMs: 60_000 });
      expect(claim?.record.id).toBe(id);
      return claim!.token;
    }

    it('an insert that landed returns true, and inserting the id again returns false', async () => {
      proxy.dropNextReply();
      expect(await stores(lossy).insert({ id: 'w-insert', handler: 'h', input: { n: 1 } })).toBe(
        true,
      );
      expect((await stores(direct).get('w-insert'))?.input).toEqual({ n: 1 });
      expect(await stores(lossy).insert({ id: 'w-insert', handler: 'h' })).toBe(false);
    });

    it('an insertMany that landed reports each id it created (true), one that existed or repeated (false), and wakes the watchers', async () => {
      expect(await stores(direct).insert({ id: 'm-old', handler: 'h', input: 'old' })).toBe(true);
      const store = stores(lossy);
      let wakes = 0;
      const stop = store.watch(() => wakes++);
      proxy.dropNextReply();
      const batch = [
        { id: 'm-a', handler: 'h', input: 'a' },
        { id: 'm-old', handler: 'h', input: 'new' },
        { id: 'm-b', handler: 'h', input: 'b' },
        { id: 'm-a', handler: 'h', input: 'repeat' },
      ];
      expect(await store.insertMany(batch)).toEqual([true, false, true, false]);
      await Promise.resolve(); // the wake-up comes in a microtask
      expect(wakes).toBe(1);
      stop();
      expect((await stores(direct).get('m-a'))?.input).toBe('a');
      expect((await stores(direct).get('m-old'))?.input).toBe('old');
      expect(await stores(lossy).insertMany(batch)).toEqual([false, false, false, false]);
    });

    it('a claim that landed returns that claim, whose token the stored record holds', async () => {
      expect(await stores(direct).insert({ id: 'w-claim', handler: 'h' })).toBe(true);
      proxy.dropNextReply();
      const claim = await stores(lossy).claim({ leaseMs: 60_000 });
      expect(claim?.record.id).toBe('w-claim');
      expect((await stores(direct).get('w-claim'))?.claim?.token).toBe(claim?.token);
    });

    it('a saveStep that landed, then a signal from another client, is reported saved and recorded once', async () => {
      const store = stores(lossy);
      const token = await claimed('w-step', store);
      proxy.dropNextReply(async () => {
        expect(await stores(direct).signal('w-step', 'poke', 1)).toBe(true);
      });
      await store.saveStep('w-step', token, 0, {
        id: 'a',
        kind: 'step',
        done: true,
        value: 41,
        at: 1,
      });
      const record = await stores(direct).get('w-step');
      expect(record?.steps.map((s) => s.value)).toEqual([41]);
      expect(record?.events.map((e) => e.name)).toEqual(['poke']);
    });

    it('a finish that landed, then a claim by another worker, is reported done, not LOCK_LOST', async () => {
      const now = 1_000_000;
      const clock = (): number => now;
      const store = stores(lossy, clock);
      const token = await claimed('w-finish', store, clock);
      let taken: string | undefined;
      proxy.dropNextReply(async () => {
        taken = (await stores(direct, clock).claim({ leaseMs: 60_000 }))?.token;
      });
      await store.finish('w-finish', token, {
        status: 'failed',
        error: { name: 'E', message: 'boom' },
        runAt: now,
      });
      expect(taken).toBeDefined();
      const record = await stores(direct).get('w-finish');
      expect(record).toMatchObject({ status: 'running', failures: 1, claim: { token: taken } });
    });

    it('a suspend that landed, then a wake-up signal, is reported done', async () => {
      const store = stores(lossy);
      const token = await claimed('w-suspend', store);
      proxy.dropNextReply(async () => {
        expect(await stores(direct).signal('w-suspend', 'go')).toBe(true);
      });
      await store.suspend('w-suspend', token, {
        runAt: Date.now() + 3_600_000,
        wakeOn: ['go'],
        knownEvents: 0,
        step: { index: 0, memo: { id: 'wait', kind: 'event', done: false, at: 1 } },
      });
      const record = await stores(direct).get('w-suspend');
      expect(record?.status).toBe('sleeping');
      expect(record?.steps).toHaveLength(1);
      expect(record?.events.map((e) => e.name)).toEqual(['go']);
    });

    it('a heartbeat that landed returns the new expiry', async () => {
      const store = stores(lossy);
      const token = await claimed('w-beat', store);
      proxy.dropNextReply();
      const expiresAt = await store.heartbeat('w-beat', token, 120_000);
      expect((await stores(direct).get('w-beat'))?.claim?.expiresAt).toBe(expiresAt);
    });
  });
}

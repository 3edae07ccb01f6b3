// Any storage composes with any lock: every pair available here runs the persisted-actor and the
// lock-protected counter scenario and gives the exact count. In process for every pair
// (memory, fs, s3 storages x memory, fs, dynamo, redis, s3 locks), and across processes for the
// pairs where both sides work across processes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LockManager, StorageManager } from '@durable/core';
import { LockableStorageManager, bytesToText, createMemoryLock, createMemoryStorage } from '@durable/core';
import { PersistedActor, withPersistedActor } from '@durable/core/actor';
import { DynamoLockingManager } from '@durable/dynamo-lock';
import { createFileLock, createFileStorage } from '@durable/fs';
import { RedisLockManager } from '@durable/redis-lock';
import { S3LockManager, S3StorageManager } from '@durable/s3';
import { uniquePrefix } from '@durable/testkit';
import { assign, createActor, createMachine } from 'xstate';
import type { RedisTestServer } from '../../packages/redis-lock/test/support/redis-server.js';
import { startRedisServer } from '../../packages/redis-lock/test/support/redis-server.js';
import type { DynamoTestEndpoint, S3TestEndpoint } from './fixtures/composition-support.js';
import { spawnWorker, startDynamoWithTable, startS3 } from './fixtures/composition-support.js';

const STORAGES = ['memory', 'fs', 's3'] as const;
const LOCKS = ['memory', 'fs', 'dynamo', 'redis', 's3'] as const;
type StorageKind = (typeof STORAGES)[number];
type LockKind = (typeof LOCKS)[number];
const CROSS_PROCESS_STORAGES: readonly StorageKind[] = ['fs', 's3'];
const CROSS_PROCESS_LOCKS: readonly LockKind[] = ['fs', 'dynamo', 'redis', 's3'];

const tableName = 'durable-composition';
let dir: string;
let s3: S3TestEndpoint;
let dynamo: DynamoTestEndpoint;
let redis: RedisTestServer;
const opened: Array<StorageManager | LockManager> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'durable-composition-'));
  [s3, dynamo, redis] = await Promise.all([startS3(), startDynamoWithTable(tableName), startRedisServer()]);
}, 60_000);
afterEach(async () => {
  for (const resource of opened.splice(0)) await resource.close?.();
});
afterAll(async () => {
  await Promise.all([s3?.stop(), dynamo?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const counterMachine = createMachine({
  id: 'counter',
  context: { count: 0 },
  on: { INC: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
});

function storageSpec(kind: StorageKind, ns: string): Record<string, unknown> {
  if (kind === 'fs') return { kind, root: join(dir, ns, 'storage') };
  return { kind, endpoint: s3.endpoint, bucket: s3.bucket, prefix: `${ns}/data/`, local: s3.directory !== undefined };
}

function lockSpec(kind: LockKind, ns: string): Record<string, unknown> {
  switch (kind) {
    case 'fs':
      return { kind, root: join(dir, ns, 'locks') };
    case 'dynamo':
      return { kind, endpoint: dynamo.endpoint, tableName };
    case 'redis':
      return { kind, url: redis.url, prefix: `${ns}:` };
    case 's3':
      return { kind, endpoint: s3.endpoint, bucket: s3.bucket, prefix: `${ns}/locks/`, local: s3.directory !== undefined };
    default:
      throw new Error(`no spec for ${kind}`);
  }
}

function makeStorage(kind: StorageKind, ns: string): StorageManager {
  const storage =
    kind === 'memory'
      ? createMemoryStorage()
      : kind === 'fs'
        ? createFileStorage({ root: join(dir, ns, 'storage') })
        : new S3StorageManager({ client: s3.client(), bucket: s3.bucket, prefix: `${ns}/data/` });
  opened.push(storage);
  return storage;
}

/** A lock manager; for backends that work across processes, each call is a separate client. */
function makeLock(kind: LockKind, ns: string, shared?: LockManager): LockManager {
  const backoff = { maxMs: 40 };
  let lock: LockManager;
  switch (kind) {
    case 'memory':
      return shared ?? createMemoryLock();
    case 'fs':
      lock = createFileLock({ root: join(dir, ns, 'locks') });
      break;
    case 'dynamo':
      lock = new DynamoLockingManager({ client: dynamo.client(), tableName, backoff });
      break;
    case 'redis':
      lock = new RedisLockManager({ url: redis.url, prefix: `${ns}:`, backoff });
      break;
    case 's3':
      lock = new S3LockManager({ client: s3.client(), bucket: s3.bucket, prefix: `${ns}/locks/`, backoff });
      break;
  }
  opened.push(lock);
  return lock;
}

/** The stored actor's count, read back through a fresh PersistedActor (no lock, read only). */
async function storedCount(storage: StorageManager, id: string): Promise<number> {
  const persisted = new PersistedActor({
    id,
    storage,
    locking: 'write',
    actorCreator: (_id, snapshot) => createActor(counterMachine, snapshot === undefined ? {} : { snapshot: snapshot as never }),
  });
  const actor = await persisted.init();
  const count = actor.getSnapshot().context.count;
  await persisted.close();
  return count;
}

async function storedCounter(storage: StorageManager, key: string): Promise<string | undefined> {
  const entry = await storage.read(key);
  return entry === undefined ? undefined : bytesToText(entry.data);
}

const PARALLEL = 4;
const ROUNDS = 10;

describe.each(STORAGES)('%s storage', (storageKind) => {
  it.each(LOCKS)(`x %s lock: ${PARALLEL} concurrent invocations x ${ROUNDS} give the exact actor count and counter`, async (lockKind) => {
    const ns = uniquePrefix(`cmp-${storageKind}-${lockKind}`);
    const storage = makeStorage(storageKind, ns);
    const first = makeLock(lockKind, ns);
    const actorId = `${ns}/actor`;
    const counterKey = `${ns}/counter`;
    await Promise.all(
      Array.from({ length: PARALLEL }, async (_, i) => {
        // Odd invocations use a second client of the same lock backend.
        const lock = i % 2 === 0 ? first : makeLock(lockKind, ns, first);
        const both = new LockableStorageManager({ storage, lock });
        for (let round = 0; round < ROUNDS; round++) {
          await withPersistedActor(
            {
              id: actorId,
              storage,
              lock,
              ttlMs: 10_000,
              waitMs: 60_000,
              actorCreator: (_id, snapshot) => createActor(counterMachine, snapshot === undefined ? {} : { snapshot: snapshot as never }),
            },
            (actor) => {
              actor.send({ type: 'INC' });
            },
          );
          await both.update(counterKey, (current) => String(Number(current === undefined ? '0' : bytesToText(current.data)) + 1), {
            ttlMs: 10_000,
            waitMs: 60_000,
          });
        }
      }),
    );
    expect(await storedCount(storage, actorId)).toBe(PARALLEL * ROUNDS);
    expect(await storedCounter(storage, counterKey)).toBe(String(PARALLEL * ROUNDS));
  }, 120_000);
});

const PROCESSES = 3;
const PROCESS_ROUNDS = 15;
const crossPairs = CROSS_PROCESS_STORAGES.flatMap((s) => CROSS_PROCESS_LOCKS.map((l) => [s, l] as const));

describe('across processes', () => {
  it.each(crossPairs)(`%s storage x %s lock: ${PROCESSES} processes x ${PROCESS_ROUNDS} give the exact actor count and counter`, async (storageKind, lockKind) => {
    const ns = uniquePrefix(`xp-${storageKind}-${lockKind}`);
    const actorId = `${ns}/actor`;
    const counterKey = `${ns}/counter`;
    const workers = Array.from({ length: PROCESSES }, () =>
      spawnWorker({
        mode: 'composition',
        storage: storageSpec(storageKind, ns),
        lock: lockSpec(lockKind, ns),
        actorId,
        counterKey,
        iterations: PROCESS_ROUNDS,
      }),
    );
    const results = await Promise.all(workers.map((w) => w.result<{ done: number }>()));
    expect(results).toEqual(Array.from({ length: PROCESSES }, () => ({ done: PROCESS_ROUNDS })));
    const storage = makeStorage(storageKind, ns);
    expect(await storedCount(storage, actorId)).toBe(PROCESSES * PROCESS_ROUNDS);
    expect(await storedCounter(storage, counterKey)).toBe(String(PROCESSES * PROCESS_ROUNDS));
  }, 180_000);
});

describe('S3-compatible store without conditional writes', () => {
  it('s3 storage with conditionalWrites: false, paired with the dynamo lock as documented, gives the exact counter across 3 processes', async () => {
    const ns = uniquePrefix('xp-plain-s3');
    const counterKey = `${ns}/counter`;
    const storage = { ...storageSpec('s3', ns), conditionalWrites: false };
    const workers = Array.from({ length: PROCESSES }, () =>
      spawnWorker({ mode: 'lockedUpdate', storage, lock: lockSpec('dynamo', ns), counterKey, iterations: PROCESS_ROUNDS }),
    );
    await Promise.all(workers.map((w) => w.result()));
    expect(await storedCounter(makeStorage('s3', ns), counterKey)).toBe(String(PROCESSES * PROCESS_ROUNDS));
  }, 180_000);
});

// Safety rails of the persisted actor: options checked, defaults that fit,
// LOCK_TIMEOUT that says who holds the lease, read-only inspection, no write without a change,
// commit first then report, and a save that recognises its own already-recorded write.
import { assign, createActor, createMachine } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { PersistedActor, inspectPersistedActor, withPersistedActor } from '../src/actor/index.js';
import type { PersistedActorOptions } from '../src/actor/index.js';
import {
  bytesToText,
  MemoryLockManager,
  MemoryStorageManager,
  isDurableError,
} from '../src/index.js';
import type { LockManager, StorageManager } from '../src/index.js';
import {
  collectingLogger,
  countingStorage,
  lockFailingRelease,
  storageFailingUnknown,
  storageLosingReplies,
} from './support/faults.js';

const cart = createMachine({
  id: 'cart',
  initial: 'open',
  context: { items: [] as string[], entered: 0 },
  states: {
    open: {
      entry: assign({ entered: ({ context }) => context.entered + 1 }),
      on: {
        ADD: {
          actions: assign({
            items: ({ context, event }) => [
              ...context.items,
              (event as unknown as { item: string }).item,
            ],
          }),
        },
        PAY: 'paid',
        BREAK: { actions: assign({ items: () => [Number.NaN as unknown as string] }) },
      },
    },
    paid: {},
  },
});

function options(
  storage: StorageManager,
  extra: Partial<PersistedActorOptions<typeof cart>> = {},
  machine: AnyStateMachine = cart,
): PersistedActorOptions<typeof cart> {
  return {
    id: 'carts/c1',
    storage,
    actorCreator: (id, snapshot) =>
      createActor(machine as typeof cart, { id, ...(snapshot === undefined ? {} : { snapshot }) }),
    logger: collectingLogger(),
    ...extra,
  };
}

async function rejection(
  promise: Promise<unknown> | (() => unknown),
): Promise<Record<string, unknown>> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return error as Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

const stored = async (storage: StorageManager, key = 'carts/c1') =>
  JSON.parse(bytesToText((await storage.read(key))!.data));

describe('commit first, then report (issue 9 item 8)', () => {
  test('a lease release that fails after the save committed does not fail withPersistedActor; it goes to the logger', async () => {
    const storage = new MemoryStorageManager();
    const lock = lockFailingRelease(new MemoryLockManager());
    const logger = collectingLogger();
    const result = await withPersistedActor(options(storage, { lock, logger }), (actor) => {
      actor.send({ type: 'ADD', item: 'book' } as never);
      return 'added';
    });
    expect(result).toBe('added');
    expect((await stored(storage)).snapshot.context.items).toEqual(['book']);
    expect(lock.releases).toBe(1);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]!.message).toMatch(
      /actor: releasing the lease on carts\/c1 failed .*connection refused/,
    );
    expect(logger.lines[0]!.details).toMatchObject({ key: 'carts/c1', code: 'BACKEND' });
  });

  test('write mode with a lock: a release failing after the write still resolves save() with the new version', async () => {
    const storage = new MemoryStorageManager();
    const logger = collectingLogger();
    const persisted = new PersistedActor(
      options(storage, {
        lock: lockFailingRelease(new MemoryLockManager()),
        locking: 'write',
        logger,
      }),
    );
    await persisted.init();
    persisted.actor.send({ type: 'ADD', item: 'pen' } as never);
    const version = await persisted.save();
    expect((await storage.read('carts/c1'))!.version).toBe(version);
    await persisted.close();
    expect(logger.lines.map((line) => line.details['code'])).toEqual(['BACKEND']);
  });
});

describe('options are checked (issue 9 item 4)', () => {
  test('the seed library option storageManager is CONFIG naming storage, never a retryable BACKEND', async () => {
    const storage = new MemoryStorageManager();
    const { storage: _omit, ...rest } = options(storage);
    const error = await rejection(
      withPersistedActor({ ...rest, storageManager: storage } as never, () => undefined),
    );
    expect(error).toMatchObject({ code: 'CONFIG', retryable: false });
    expect(String(error['message'])).toMatch(/"storageManager" is not ours; use storage/);
  });

  test('a missing storage is CONFIG naming it (and the seed name), before any I/O', () => {
    const { storage: _omit, ...rest } = options(new MemoryStorageManager());
    expect(() => new PersistedActor(rest as never)).toThrow(
      expect.objectContaining({
        code: 'CONFIG',
        retryable: false,
        message: expect.stringMatching(/"storage" is required/),
      }),
    );
  });

  test.each([
    [
      'lockingManager',
      { lockingManager: new MemoryLockManager() },
      /"lockingManager" is not ours; use lock/,
    ],
    ['persistence', { persistence: {} }, /"persistence" is not ours; use storage/],
    ['a misspelt key', { lockTTLMs: 5 }, /unknown option "lockTTLMs"/],
    ['a storage without read/write', { storage: {} }, /storage must be a StorageManager/],
    ['a lock without acquire', { lock: {} }, /lock must be a LockManager/],
    ['a non-function actorCreator', { actorCreator: 'cart' }, /actorCreator must be a function/],
    ['a negative waitMs', { lock: new MemoryLockManager(), waitMs: -1 }, /waitMs/],
    ['a zero ttlMs', { lock: new MemoryLockManager(), ttlMs: 0 }, /ttlMs/],
    [
      'the old lockTtlMs',
      { lock: new MemoryLockManager(), lockTtlMs: 5_000 },
      /"lockTtlMs" is not ours; use ttlMs/,
    ],
    [
      'the old acquireLockMaxTimeout',
      { lock: new MemoryLockManager(), acquireLockMaxTimeout: 5_000 },
      /"acquireLockMaxTimeout" is not ours; use waitMs/,
    ],
  ])('%s is CONFIG naming the option', (_name, extra, message) => {
    expect(
      () => new PersistedActor({ ...options(new MemoryStorageManager()), ...extra } as never),
    ).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringMatching(message) }));
  });
});

describe('the actor (issue 9 item 6)', () => {
  test('by default a caller waits longer than a lease can outlive a crashed holder', async () => {
    const seen: Array<{ ttlMs?: number; waitMs?: number }> = [];
    const memory = new MemoryLockManager();
    const spy: LockManager = {
      capabilities: memory.capabilities,
      acquire: (key, acquireOptions) => {
        seen.push({ ...acquireOptions });
        return memory.acquire(key, acquireOptions);
      },
      release: (key, token) => memory.release(key, token),
      extend: (key, token, ttl) => memory.extend(key, token, ttl),
    };
    await withPersistedActor(options(new MemoryStorageManager(), { lock: spy }), () => undefined);
    await withPersistedActor(
      options(new MemoryStorageManager(), { lock: spy, ttlMs: 60_000 }),
      () => undefined,
    );
    expect(seen).toHaveLength(2);
    for (const { ttlMs, waitMs } of seen) expect(waitMs!).toBeGreaterThan(ttlMs!);
  });

  test('after a crashed holder, the next call with default waiting gets the lease once the old one expires', async () => {
    const lock = new MemoryLockManager();
    await lock.acquire('carts/c1', { ttlMs: 150 }); // a holder that died without releasing
    const result = await withPersistedActor(
      options(new MemoryStorageManager(), { lock, ttlMs: 150 }),
      () => 'got it',
    );
    expect(result).toBe('got it');
  });

  test('LOCK_TIMEOUT says which fencing token holds the lease and when it expires', async () => {
    const lock = new MemoryLockManager();
    const holder = await lock.acquire('carts/c1', { ttlMs: 60_000 });
    const error = await rejection(
      withPersistedActor(
        options(new MemoryStorageManager(), { lock, waitMs: 20 }),
        () => undefined,
      ),
    );
    expect(error).toMatchObject({
      code: 'LOCK_TIMEOUT',
      retryable: true,
      details: { fencingToken: holder.fencingToken, expiresAt: holder.expiresAt },
    });
    expect(String(error['message'])).toContain(`fencing token ${holder.fencingToken}`);
    expect(String(error['message'])).toContain(new Date(holder.expiresAt).toISOString());
    await holder.release();
  });

  test('inspectPersistedActor reads without a lease, without a write and without starting the actor', async () => {
    const memory = new MemoryStorageManager();
    await withPersistedActor(options(memory), (actor) =>
      actor.send({ type: 'ADD', item: 'book' } as never),
    );
    const storage = countingStorage(memory);
    const lock = new MemoryLockManager();
    const holder = await lock.acquire('carts/c1', { ttlMs: 60_000 }); // someone is working on it
    const view = await inspectPersistedActor(options(storage, { lock }));
    expect(view?.snapshot.value).toBe('open');
    expect(view?.snapshot.context).toEqual({ items: ['book'], entered: 1 }); // entry did not run again
    expect(view?.machine).toEqual({ id: 'cart', version: '1' });
    expect(view?.storageVersion).toBe((await memory.read('carts/c1'))!.version);
    expect(storage.writes).toBe(0);
    expect(await inspectPersistedActor(options(storage, { id: 'carts/none' }))).toBeUndefined();
    await holder.release();
  });

  test('a call with no event and no change does not write; a change does', async () => {
    const memory = new MemoryStorageManager();
    await withPersistedActor(options(memory), (actor) =>
      actor.send({ type: 'ADD', item: 'book' } as never),
    );
    const before = await memory.read('carts/c1');
    const storage = countingStorage(memory);
    await withPersistedActor(options(storage), (actor) => actor.getSnapshot().context.items);
    expect(storage.writes).toBe(0);
    expect((await memory.read('carts/c1'))!.version).toBe(before!.version);
    await withPersistedActor(options(storage), (actor) =>
      actor.send({ type: 'ADD', item: 'pen' } as never),
    );
    expect(storage.writes).toBe(1);
  });

  test('a machine changed without a version bump: INVALID_SNAPSHOT says which state is missing and points at versions', async () => {
    const storage = new MemoryStorageManager();
    await withPersistedActor(options(storage), (actor) => actor.send({ type: 'PAY' }));
    const renamed = createMachine({
      id: 'cart',
      initial: 'open',
      context: { items: [] as string[], entered: 0 },
      states: { open: { on: { PAY: 'settled' } }, settled: {} },
    });
    const error = await rejection(
      withPersistedActor(options(storage, {}, renamed), () => undefined),
    );
    expect(error['code']).toBe('INVALID_SNAPSHOT');
    expect(String(error['message'])).toContain("State 'paid' does not exist");
    expect(String(error['message'])).toMatch(/bump the machine version and register the old one/);
    await expect(inspectPersistedActor(options(storage, {}, renamed))).rejects.toMatchObject({
      code: 'INVALID_SNAPSHOT',
    });
  });

  test('NaN in the context is SERIALIZATION and nothing is written (JSON would store null)', async () => {
    const storage = new MemoryStorageManager();
    await withPersistedActor(options(storage), (actor) =>
      actor.send({ type: 'ADD', item: 'book' } as never),
    );
    const error = await rejection(
      withPersistedActor(options(storage), (actor) => actor.send({ type: 'BREAK' })),
    );
    expect(error).toMatchObject({ code: 'SERIALIZATION', message: expect.stringContaining('NaN') });
    expect((await stored(storage)).snapshot.context.items).toEqual(['book']);
  });
});

describe('a save recognises its own already-recorded write (issue 17)', () => {
  test('a write that landed but reported CONFLICT (a retried request after a lost reply) is a success', async () => {
    const memory = new MemoryStorageManager();
    const storage = storageLosingReplies(memory, 'CONFLICT');
    const result = await withPersistedActor(
      options(storage, { lock: new MemoryLockManager() }),
      (actor) => {
        actor.send({ type: 'ADD', item: 'book' } as never);
        return 'ok';
      },
    );
    expect(result).toBe('ok');
    expect((await stored(memory)).snapshot.context.items).toEqual(['book']);
  });

  test('UNKNOWN_OUTCOME with the old state still in place is written again (conditionally) and succeeds once', async () => {
    const memory = new MemoryStorageManager();
    await withPersistedActor(options(memory), (actor) =>
      actor.send({ type: 'ADD', item: 'book' } as never),
    );
    const storage = storageFailingUnknown(memory);
    await withPersistedActor(options(storage), (actor) =>
      actor.send({ type: 'ADD', item: 'pen' } as never),
    );
    expect(storage.writes).toBe(2);
    expect((await stored(memory)).snapshot.context.items).toEqual(['book', 'pen']);
  });

  test('two writers saving the same new state in the same millisecond: the second gets CONFLICT, not mistaken for its own write', async () => {
    const storage = new MemoryStorageManager();
    const clock = () => 1_700_000_000_000;
    await withPersistedActor(options(storage, { clock }), () => undefined);
    const a = new PersistedActor(options(storage, { locking: 'write', clock }));
    const b = new PersistedActor(options(storage, { locking: 'write', clock }));
    await a.init();
    await b.init();
    a.actor.send({ type: 'ADD', item: 'book' } as never);
    b.actor.send({ type: 'ADD', item: 'book' } as never);
    await a.save();
    const error = await rejection(b.save());
    expect(isDurableError(error, 'CONFLICT')).toBe(true); // the caller retries: two books, as asked
    await a.close();
    await b.close();
  });

  test('a real CONFLICT (someone else saved) is still CONFLICT', async () => {
    const storage = new MemoryStorageManager();
    await withPersistedActor(options(storage), () => undefined);
    const first = new PersistedActor(options(storage, { locking: 'write' }));
    await first.init();
    await withPersistedActor(options(storage), (actor) =>
      actor.send({ type: 'ADD', item: 'other' } as never),
    );
    first.actor.send({ type: 'ADD', item: 'mine' } as never);
    const error = await rejection(first.save());
    expect(isDurableError(error, 'CONFLICT')).toBe(true);
    await first.close();
  });
});

// "Commit first, then report" against real lock servers: the lock's server is
// killed (SIGKILL) right after the save's write resolved and before the lease is released. The
// actor's call and the orchestrator's batch must report the committed update (no error inviting
// a retry that would apply it twice); the failed release goes to the logger.
import type { LockManager, StorageManager } from '@durable/core';
import { MemoryStorageManager } from '@durable/core';
import { withPersistedActor } from '@durable/core/actor';
import { createCloudEvent, orchestrateCloudEvents } from '@durable/core/orchestrator';
import { DynamoLockingManager } from '@durable/dynamo-lock';
import { RedisLockManager } from '@durable/redis-lock';
import { assign, createActor, setup } from 'xstate';
import type { RedisTestServer } from '@durable/test-support';
import { startRedisServer } from '@durable/test-support';
import type { DynamoTestEndpoint } from './fixtures/composition-support.js';
import { startDynamoWithTable } from './fixtures/composition-support.js';

const cart = setup({ types: { context: {} as { items: string[] } } }).createMachine({
  id: 'cart',
  initial: 'open',
  context: { items: [] },
  states: {
    open: {
      on: {
        'evt.item.added': {
          actions: assign({
            items: ({ context, event }) => [
              ...context.items,
              (event as unknown as { data: { item: string } }).data.item,
            ],
          }),
        },
      },
    },
  },
});

/** A storage that kills the lock's server as soon as a write has landed (once). */
function killingAfterWrite(
  storage: StorageManager,
  kill: () => Promise<void>,
): StorageManager & { killed: boolean } {
  const wrapper = Object.assign(Object.create(storage) as StorageManager, {
    killed: false,
    write: async (...args: Parameters<StorageManager['write']>) => {
      const version = await storage.write(...args);
      if (!wrapper.killed) {
        wrapper.killed = true;
        await kill();
      }
      return version;
    },
  });
  return wrapper;
}

function collectingLogger(): {
  warn: (details: Record<string, unknown>, message: string) => void;
  lines: Array<{ details: Record<string, unknown>; message: string }>;
} {
  const lines: Array<{ details: Record<string, unknown>; message: string }> = [];
  return { lines, warn: (details, message) => lines.push({ details, message }) };
}

interface LockBackend {
  name: string;
  canKill(): boolean;
  createLock(): LockManager & { close?(): Promise<void> };
  kill(): Promise<void>;
  restart(): Promise<void>;
}

const tableName = 'durable-commit-then-report';
let redis: RedisTestServer | undefined;
let dynamo: DynamoTestEndpoint | undefined;

beforeAll(async () => {
  redis = await startRedisServer({ own: true });
  dynamo = await startDynamoWithTable(tableName);
}, 60_000);
afterAll(async () => {
  await redis?.stop();
  await dynamo?.stop();
}, 30_000);

const backends: LockBackend[] = [
  {
    name: 'redis-lock',
    canKill: () => true,
    createLock: () => new RedisLockManager({ url: redis!.url }),
    kill: () => redis!.kill(),
    restart: () => redis!.restart(),
  },
  {
    name: 'dynamo-lock',
    canKill: () => process.env.DYNAMODB_ENDPOINT === undefined,
    createLock: () =>
      new DynamoLockingManager({ client: dynamo!.client({ maxAttempts: 1 }), tableName }),
    kill: () => dynamo!.kill(),
    restart: () => dynamo!.restart(),
  },
];

describe.each(backends)('$name killed between save and release', (backend) => {
  let lock: (LockManager & { close?(): Promise<void> }) | undefined;
  afterEach(async () => {
    await lock?.close?.().catch(() => undefined);
    lock = undefined;
    await backend.restart();
  }, 30_000);

  test('withPersistedActor resolves with the committed update; the failed release goes to the logger', async () => {
    if (!backend.canKill())
      throw new Error(
        `${backend.name}: the server is external (env endpoint); this test needs one it can kill`,
      );
    const memory = new MemoryStorageManager();
    const storage = killingAfterWrite(memory, () => backend.kill());
    lock = backend.createLock();
    const logger = collectingLogger();
    const result = await withPersistedActor(
      {
        id: `carts/${backend.name}`,
        storage,
        lock,
        logger,
        actorCreator: (id, snapshot) =>
          createActor(cart, {
            id,
            ...(snapshot === undefined ? {} : { snapshot: snapshot as never }),
          }),
      },
      (actor) => {
        actor.send({ type: 'evt.item.added', data: { item: 'book' } } as never);
        return actor.getSnapshot().context.items;
      },
    );
    expect(storage.killed).toBe(true);
    expect(result).toEqual(['book']);
    const stored = JSON.parse(
      Buffer.from((await memory.read(`carts/${backend.name}`))!.data).toString('utf8'),
    );
    expect(stored.snapshot.context.items).toEqual(['book']); // applied once, and reported as applied
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]!.message).toMatch(
      /actor: releasing the lease on carts\/.* failed \(it expires by itself\)/,
    );
    expect(logger.lines[0]!.details['code']).toBe('BACKEND');
  }, 60_000);

  test('orchestrateCloudEvents reports the saved inputs as applied, with their events and no error event', async () => {
    if (!backend.canKill())
      throw new Error(
        `${backend.name}: the server is external (env endpoint); this test needs one it can kill`,
      );
    const memory = new MemoryStorageManager();
    const storage = killingAfterWrite(memory, () => backend.kill());
    lock = backend.createLock();
    const logger = collectingLogger();
    const subject = `cart-${backend.name}`;
    const added = createCloudEvent({
      id: 'add-1',
      source: 'test.shop',
      type: 'evt.item.added',
      subject,
      data: { item: 'book' },
    });
    const result = await orchestrateCloudEvents(
      {
        versions: [{ version: '1', logic: cart }],
        storage,
        lock,
        logger,
        onOrchestrationState: { open: () => ({ type: 'notif.cart.opened' }) },
      },
      [added],
      [{ subject }],
    );
    expect(storage.killed).toBe(true);
    expect(result.errors).toEqual([]);
    expect(result.eventsToEmit.map((event) => event.type)).toEqual(['notif.cart.opened']);
    expect(result.processIdContext[subject]).toEqual({ items: ['book'] });
    expect(result.processes[subject]).toMatchObject({ sequence: 1 });
    expect(logger.lines.map((line) => line.message)).toEqual([
      expect.stringMatching(/orchestrator: releasing the lease on orchestrations\/cart-.* failed/),
    ]);
  }, 60_000);
});

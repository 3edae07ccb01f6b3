import { assign, createActor, createMachine } from 'xstate';
import { withPersistedActor, readStoredActor } from '../src/actor/index.js';
import { listOrchestrations, orchestrateCloudEvents } from '../src/orchestrator/index.js';
import { MemoryLockManager, MemoryStorageManager, isDurableError } from '../src/index.js';
import type { StorageManager } from '../src/index.js';

const counter = createMachine({
  id: 'counter',
  initial: 'idle',
  context: { count: 0 },
  states: {
    idle: {
      on: {
        INC: { target: 'busy', actions: assign({ count: ({ context }) => context.count + 1 }) },
      },
    },
    busy: {},
  },
});

const flow = createMachine({
  id: 'flow',
  initial: 'waiting',
  states: { waiting: { on: { 'evt.go': 'done' } }, done: { type: 'final' } },
});

/** A storage that records every call, to prove the readers never write. */
function recording(storage: StorageManager): { storage: StorageManager; writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    storage: {
      capabilities: storage.capabilities,
      read: (key) => storage.read(key),
      exists: (key) => storage.exists(key),
      list: (prefix, options) => storage.list(prefix, options),
      write: (key, value, options) => {
        writes.push(`write ${key}`);
        return storage.write(key, value, options);
      },
      delete: (key, options) => {
        writes.push(`delete ${key}`);
        return storage.delete(key, options);
      },
    },
  };
}

describe('readStoredActor', () => {
  test('shows machine, state value, context and save time without the machine, and writes nothing', async () => {
    const memory = new MemoryStorageManager();
    const lock = new MemoryLockManager();
    const actorCreator = (id: string, snapshot?: unknown) =>
      createActor(counter, {
        id,
        ...(snapshot === undefined ? {} : { snapshot: snapshot as never }),
      });
    await withPersistedActor(
      { id: 'actors/a', storage: memory, lock, version: '3', actorCreator },
      (actor) => {
        actor.send({ type: 'INC' });
      },
    );
    const { storage, writes } = recording(memory);
    const view = await readStoredActor({ storage, lock }, 'actors/a');
    expect(view).toMatchObject({
      key: 'actors/a',
      machine: { id: 'counter', version: '3' },
      value: 'busy',
      context: { count: 1 },
      status: 'active',
      holderKnown: true,
    });
    expect(view?.holder).toBeUndefined();
    expect(typeof view?.savedAt).toBe('number');
    expect(writes).toEqual([]);
    expect(await readStoredActor({ storage }, 'actors/none')).toBeUndefined();
  });

  test('reports the live lease holder while another invocation holds the actor', async () => {
    const storage = new MemoryStorageManager();
    const lock = new MemoryLockManager();
    const actorCreator = (id: string, snapshot?: unknown) =>
      createActor(counter, {
        id,
        ...(snapshot === undefined ? {} : { snapshot: snapshot as never }),
      });
    await withPersistedActor({ id: 'actors/b', storage, lock, actorCreator }, (actor) =>
      actor.send({ type: 'INC' }),
    );
    const lease = await lock.acquire('actors/b', { ttlMs: 60_000 });
    const view = await readStoredActor({ storage, lock }, 'actors/b');
    expect(view?.holder?.fencingToken).toBe(lease.fencingToken);
    expect(view?.holder?.expiresAt).toBe(lease.expiresAt);
    await lease.release();
    expect((await readStoredActor({ storage, lock }, 'actors/b'))?.holder).toBeUndefined();
  });

  test('a value that is not an actor is INVALID_SNAPSHOT; a bad key INVALID_KEY', async () => {
    const storage = new MemoryStorageManager();
    await storage.write('actors/junk', '{"hello":1}');
    await expect(readStoredActor({ storage }, 'actors/junk')).rejects.toMatchObject({
      code: 'INVALID_SNAPSHOT',
    });
    await expect(readStoredActor({ storage }, '../x')).rejects.toMatchObject({
      code: 'INVALID_KEY',
    });
  });
});

describe('listOrchestrations', () => {
  const options = (storage: StorageManager) => ({
    versions: [{ version: 'v1', logic: flow }],
    storage,
    lock: new MemoryLockManager(),
  });

  test('pages through the processes under a prefix with their state, reading only', async () => {
    const memory = new MemoryStorageManager();
    const subjects = ['orders/1', 'orders/2', 'orders/3', 'refunds/1', 'refunds/2'];
    await orchestrateCloudEvents(
      options(memory),
      [],
      subjects.map((subject) => ({ subject })),
    );
    await orchestrateCloudEvents(options(memory), [
      { specversion: '1.0', id: 'e1', source: 't', type: 'evt.go', subject: 'orders/2' },
    ]);
    const { storage, writes } = recording(memory);
    const all: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listOrchestrations(
        { storage },
        { prefix: 'orders/', limit: 2, ...(cursor === undefined ? {} : { cursor }) },
      );
      all.push(
        ...page.items.map(
          (item) => `${item.subject}:${String(item.value)}:${item.status}:${item.version}`,
        ),
      );
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined);
    expect(all).toEqual([
      'orders/1:waiting:active:v1',
      'orders/2:done:done:v1',
      'orders/3:waiting:active:v1',
    ]);
    expect(pages).toBe(2);
    expect((await listOrchestrations({ storage })).items.map((i) => i.subject)).toEqual(subjects);
    expect(writes).toEqual([]);
  });

  test('an unreadable process is listed with its error, not failing the page; bad queries are CONFIG', async () => {
    const storage = new MemoryStorageManager();
    await orchestrateCloudEvents(options(storage), [], [{ subject: 'a' }]);
    await storage.write('orchestrations/b', 'not json');
    const page = await listOrchestrations({ storage });
    expect(page.items.map((i) => [i.subject, i.error?.code])).toEqual([
      ['a', undefined],
      ['b', 'INVALID_SNAPSHOT'],
    ]);
    for (const query of [{ limit: 0 }, { limit: 1001 }, { prefx: 'a' }, { prefix: 3 }]) {
      await listOrchestrations({ storage }, query as never).then(
        () => {
          throw new Error(`accepted ${JSON.stringify(query)}`);
        },
        (error: unknown) => expect(isDurableError(error, 'CONFIG')).toBe(true),
      );
    }
  });
});

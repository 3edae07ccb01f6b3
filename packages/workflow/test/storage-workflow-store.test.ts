import type { ConditionalOptions, StorageManager, StorageValue } from '@durable/core';
import {
  DurableError,
  ErrorCode,
  MemoryStorageManager,
  MemoryLockManager,
  StoragePendingIndex,
} from '@durable/core';
import { expectDurableError, runWorkflowStoreSuite } from '@durable/testkit';
import { StorageWorkflowStore } from '@durable/core';

// Storage that declares no conditional writes (like S3 with conditionalWrites: false) and checks a
// condition apart from the write, as a client-side check would: the store must then serialise
// each change, inserts included, with the lock.
class BlindStorage extends MemoryStorageManager {
  override readonly capabilities = { conditionalWrite: false };

  override async write(
    key: string,
    value: StorageValue,
    options: ConditionalOptions = {},
  ): Promise<string> {
    if (options.ifVersion === undefined) return super.write(key, value);
    const current = await this.read(key);
    await new Promise((resolve) => setImmediate(resolve)); // another writer gets in here
    if ((current?.version ?? null) !== options.ifVersion)
      throw new DurableError(ErrorCode.CONFLICT, `blind storage: ${key} changed`);
    return super.write(key, value);
  }
}

runWorkflowStoreSuite('storage (memory storage, compare-and-swap)', {
  create: ({ clock }) => new StorageWorkflowStore({ storage: new MemoryStorageManager(), clock }),
  listing: true,
});

// A custom pending index (one marker per unfinished workflow, dropped when it finishes): resume
// must put the marker back, or a resumed workflow is never claimed again.
runWorkflowStoreSuite('storage (memory storage, custom pending index)', {
  create: ({ clock }) => {
    const storage = new MemoryStorageManager();
    return new StorageWorkflowStore({
      storage,
      pending: new StoragePendingIndex(storage, 'custom/pending/'),
      clock,
    });
  },
});

runWorkflowStoreSuite('storage (memory storage + memory lock, lockWrites)', {
  create: ({ clock }) =>
    new StorageWorkflowStore({
      storage: new MemoryStorageManager(),
      lock: new MemoryLockManager(),
      lockWrites: true,
      clock,
    }),
  listing: true,
});

runWorkflowStoreSuite('storage (storage without conditional writes + lock)', {
  create: ({ clock }) =>
    new StorageWorkflowStore({ storage: new BlindStorage(), lock: new MemoryLockManager(), clock }),
  listing: true,
});

describe('storage workflow store options', () => {
  it('storage without conditional writes and no lock is a CONFIG error', async () => {
    await expectDurableError(
      async () => new StorageWorkflowStore({ storage: new BlindStorage() }),
      'CONFIG',
    );
    await expectDurableError(
      async () =>
        new StorageWorkflowStore({ storage: new MemoryStorageManager(), prefix: 'no-slash' }),
      'CONFIG',
    );
  });

  it('a backend failure is a BACKEND error naming the operation and the workflow, never a silent false', async () => {
    const storage = new MemoryStorageManager();
    const failing: StorageManager = Object.assign(Object.create(storage) as StorageManager, {
      capabilities: storage.capabilities,
      read: () => Promise.reject(new Error('disk on fire')),
    });
    const store = new StorageWorkflowStore({ storage: failing });
    const error = await expectDurableError(() => store.get('w1'), 'BACKEND');
    expect(error.message).toContain('read failed for w1');
  });

  it('a crash between the due entry and the record leaves no stuck workflow; a stale entry is dropped', async () => {
    let now = 1_000_000;
    const storage = new MemoryStorageManager();
    const store = new StorageWorkflowStore({ storage, clock: () => now });
    // The entry an insert writes first, for "orphan", whose record was never written.
    const key = `workflows/due/${String(now).padStart(16, '0')}/b3JwaGFu.0123456789ab`;
    await storage.write(key, String(now));
    expect(await store.claim({ leaseMs: 1000 })).toBeUndefined();
    expect(await storage.exists(key)).toBe(true);
    now += 61_000;
    expect(await store.claim({ leaseMs: 1000 })).toBeUndefined();
    expect(await storage.exists(key)).toBe(false);
  });

  it('a workflow of the layout before the due index (a pending marker) is moved into it and claimed; an orphan marker goes after a minute', async () => {
    let now = 1_000_000;
    const storage = new MemoryStorageManager();
    const record = {
      format: 1,
      id: 'old',
      handler: 'h',
      input: null,
      status: 'ready',
      runAt: now,
      failures: 0,
      createdAt: now,
      updatedAt: now,
      steps: [],
      events: [],
    };
    await storage.write('workflows/records/b2xk', JSON.stringify(record));
    await storage.write('workflows/pending/b2xk', String(now));
    await storage.write('workflows/pending/b3JwaGFu', String(now)); // "orphan"
    const store = new StorageWorkflowStore({ storage, clock: () => now });
    expect((await store.claim({ leaseMs: 1e9 }))?.record.id).toBe('old');
    expect((await storage.list('workflows/pending/')).keys).toEqual(['workflows/pending/b3JwaGFu']);
    now += 61_000;
    expect(await store.claim({ leaseMs: 1000 })).toBeUndefined();
    expect((await storage.list('workflows/pending/')).keys).toEqual([]);
  });

  it('finishing a workflow removes its due entry, so claims no longer list it', async () => {
    const storage = new MemoryStorageManager();
    const store = new StorageWorkflowStore({ storage });
    await store.insert({ id: 'w', handler: 'h' });
    expect((await storage.list('workflows/due/')).keys).toHaveLength(1);
    const claimed = await store.claim({ leaseMs: 1000 });
    expect(claimed).toBeDefined();
    await store.finish('w', claimed?.token ?? '', { status: 'completed', result: 1 });
    expect((await storage.list('workflows/due/')).keys).toEqual([]);
    expect((await store.get('w'))?.result).toBe(1);
  });
});

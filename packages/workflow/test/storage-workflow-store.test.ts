import type { ConditionalOptions, StorageManager, StorageValue } from '@durable/core';
import { DurableError, ErrorCode, MemoryStorageManager, createMemoryLock, createMemoryStorage } from '@durable/core';
import { expectDurableError, runWorkflowStoreSuite } from '@durable/testkit';
import { createStorageWorkflowStore } from '@durable/core';

// Storage that declares no conditional writes (like S3 with conditionalWrites: false) and checks a
// condition apart from the write, as a client-side check would: the store must then serialise
// each change, inserts included, with the lock.
class BlindStorage extends MemoryStorageManager {
  override readonly capabilities = { conditionalWrite: false };

  override async write(key: string, value: StorageValue, options: ConditionalOptions = {}): Promise<string> {
    if (options.ifVersion === undefined) return super.write(key, value);
    const current = await this.read(key);
    await new Promise((resolve) => setImmediate(resolve)); // another writer gets in here
    if ((current?.version ?? null) !== options.ifVersion) throw new DurableError(ErrorCode.CONFLICT, `blind storage: ${key} changed`);
    return super.write(key, value);
  }
}

runWorkflowStoreSuite('storage (memory storage, compare-and-swap)', {
  create: ({ clock }) => createStorageWorkflowStore({ storage: createMemoryStorage(), clock }),
});

runWorkflowStoreSuite('storage (memory storage + memory lock, lockWrites)', {
  create: ({ clock }) => createStorageWorkflowStore({ storage: createMemoryStorage(), lock: createMemoryLock(), lockWrites: true, clock }),
});

runWorkflowStoreSuite('storage (storage without conditional writes + lock)', {
  create: ({ clock }) => createStorageWorkflowStore({ storage: new BlindStorage(), lock: createMemoryLock(), clock }),
});

describe('storage workflow store options', () => {
  it('storage without conditional writes and no lock is a CONFIG error', async () => {
    await expectDurableError(async () => createStorageWorkflowStore({ storage: new BlindStorage() }), 'CONFIG');
    await expectDurableError(async () => createStorageWorkflowStore({ storage: createMemoryStorage(), prefix: 'no-slash' }), 'CONFIG');
  });

  it('a backend failure is a BACKEND error naming the operation and the workflow, never a silent false', async () => {
    const storage = createMemoryStorage();
    const failing: StorageManager = Object.assign(Object.create(storage) as StorageManager, {
      capabilities: storage.capabilities,
      read: () => Promise.reject(new Error('disk on fire')),
    });
    const store = createStorageWorkflowStore({ storage: failing });
    const error = await expectDurableError(() => store.get('w1'), 'BACKEND');
    expect(error.message).toContain('read failed for w1');
  });

  it('a crash between the marker and the record leaves no stuck workflow; a stale marker is dropped', async () => {
    let now = 1_000_000;
    const storage = createMemoryStorage();
    const store = createStorageWorkflowStore({ storage, clock: () => now });
    await storage.write('workflows/pending/b3JwaGFu', String(now)); // "orphan", without its record
    expect(await store.claim({ leaseMs: 1000 })).toBeUndefined();
    expect(await storage.exists('workflows/pending/b3JwaGFu')).toBe(true);
    now += 61_000;
    expect(await store.claim({ leaseMs: 1000 })).toBeUndefined();
    expect(await storage.exists('workflows/pending/b3JwaGFu')).toBe(false);
  });

  it('finishing a workflow removes its pending marker, so claims no longer read it', async () => {
    const storage = createMemoryStorage();
    const store = createStorageWorkflowStore({ storage });
    await store.insert({ id: 'w', handler: 'h' });
    const claimed = await store.claim({ leaseMs: 1000 });
    expect(claimed).toBeDefined();
    await store.finish('w', claimed?.token ?? '', { status: 'completed', result: 1 });
    expect((await storage.list('workflows/pending/')).keys).toEqual([]);
    expect((await store.get('w'))?.result).toBe(1);
  });
});

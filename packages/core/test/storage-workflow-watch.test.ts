import type { StorageManager } from '../src/index.js';
import { MemoryStorageManager, StorageWorkflowStore } from '../src/index.js';

// The storage-backed store's watch: present when its storage watches, and every change that
// makes work claimable is heard through it by another store on the same storage.

function withoutWatch(storage: StorageManager): StorageManager {
  return new Proxy(storage, {
    get: (target, prop, receiver) => {
      if (prop === 'watch') return undefined;
      if (prop === 'capabilities') return { ...target.capabilities, watch: false };
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

describe('storage workflow store: watch', () => {
  it('hears starts (due now and later) and signals written by another store on the same storage, and its own cancels', async () => {
    const storage = new MemoryStorageManager();
    let now = 1000;
    const watcher = new StorageWorkflowStore({ storage, clock: () => now });
    const writer = new StorageWorkflowStore({ storage, clock: () => now });
    let calls = 0;
    const stop = watcher.watch?.(() => calls++);
    expect(stop).toBeDefined();
    const heard = async (change: () => Promise<unknown>): Promise<boolean> => {
      calls = 0;
      await change();
      await new Promise((resolve) => setTimeout(resolve, 20));
      return calls > 0;
    };
    expect(await heard(() => writer.insert({ id: 'w', handler: 'h' }))).toBe(true);
    const claim = await watcher.claim({ leaseMs: 10_000 });
    expect(claim?.record.id).toBe('w');
    await watcher.suspend('w', claim?.token ?? '', { runAt: 1_000_000, wakeOn: ['go'] });
    expect(await heard(() => writer.signal('w', 'go', 1))).toBe(true);
    expect((await watcher.claim({ leaseMs: 10_000 }))?.record.id).toBe('w');
    expect(await heard(() => writer.insert({ id: 'later', handler: 'h', runAt: 5000 }))).toBe(true);
    // A cancel only deletes its due entry (storage watches need not hear deletes): the store
    // that cancels calls its own listeners.
    expect(await heard(() => watcher.cancel('later'))).toBe(true);
    stop?.();
    expect(await heard(() => writer.insert({ id: 'x', handler: 'h' }))).toBe(false);
  });

  it('is absent when the storage does not watch', () => {
    const store = new StorageWorkflowStore({ storage: withoutWatch(new MemoryStorageManager()) });
    expect(store.watch).toBeUndefined();
  });
});

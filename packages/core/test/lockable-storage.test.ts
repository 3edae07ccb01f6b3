// LockableStorageManager reports a committed write even when releasing the lease fails after it:
// the release failure goes to the logger (pino's warn(details, message)), never to the caller.
import {
  DurableError,
  LockableStorageManager,
  bytesToText,
  MemoryLockManager,
  MemoryStorageManager,
} from '../src/index.js';
import { collectingLogger, lockFailingRelease } from './support/faults.js';

function failingRelease() {
  const storage = new MemoryStorageManager();
  const lock = lockFailingRelease(new MemoryLockManager());
  const logger = collectingLogger();
  return { storage, lock, logger, store: new LockableStorageManager({ storage, lock, logger }) };
}

describe('LockableStorageManager: commit first, then report', () => {
  test('update resolves with the committed version when the release fails after the write; the failure is logged', async () => {
    const { storage, lock, logger, store } = failingRelease();
    const version = await store.update('orders/1', () => 'paid');
    expect(version).toBe((await storage.read('orders/1'))!.version);
    expect(bytesToText((await storage.read('orders/1'))!.data)).toBe('paid');
    expect(lock.releases).toBe(1);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]!.message).toMatch(
      /^LockableStorageManager: releasing the lease on orders\/1 failed after the work completed .*connection refused/,
    );
    expect(logger.lines[0]!.details).toMatchObject({
      key: 'orders/1',
      code: 'BACKEND',
      fencingToken: 1,
    });
    expect(logger.lines[0]!.details['err']).toBeInstanceOf(DurableError);
  });

  test("withLock resolves with fn's result when the release fails", async () => {
    const { logger, store } = failingRelease();
    await expect(store.withLock('jobs/a', async () => 42)).resolves.toBe(42);
    expect(logger.lines).toHaveLength(1);
  });

  test("withLock rejects with fn's own error, not the release failure, and logs the release failure", async () => {
    const { logger, store } = failingRelease();
    const mine = new Error('the work failed');
    await expect(
      store.withLock('jobs/b', async () => {
        throw mine;
      }),
    ).rejects.toBe(mine);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]!.message).toMatch(/failed after the work failed/);
  });

  test('a logger that throws does not fail a committed update', async () => {
    const storage = new MemoryStorageManager();
    const store = new LockableStorageManager({
      storage,
      lock: lockFailingRelease(new MemoryLockManager()),
      logger: {
        warn: () => {
          throw new Error('logger down');
        },
      },
    });
    const version = await store.update('orders/2', () => 'x');
    expect(version).toBe((await storage.read('orders/2'))!.version);
  });

  test('a release that works logs nothing, and the lease is free afterwards', async () => {
    const logger = collectingLogger();
    const lock = new MemoryLockManager();
    const store = new LockableStorageManager({ storage: new MemoryStorageManager(), lock, logger });
    await store.update('orders/3', () => 'a');
    const lease = await lock.acquire('orders/3', { waitMs: 0 });
    await lease.release();
    expect(logger.lines).toHaveLength(0);
  });

  test('a logger without warn is CONFIG', () => {
    expect(
      () =>
        new LockableStorageManager({
          storage: new MemoryStorageManager(),
          lock: new MemoryLockManager(),
          logger: {} as never,
        }),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG',
        message: expect.stringContaining('warn(details, message)'),
      }),
    );
  });
});

describe('LockableStorageManager: watch', () => {
  test('forwards the inner storage watch and declares it: a write through the composition is heard', async () => {
    const store = new LockableStorageManager({
      storage: new MemoryStorageManager(),
      lock: new MemoryLockManager(),
    });
    expect(store.capabilities.watch).toBe(true);
    let heard = 0;
    const stop = store.watch!('timers/', () => heard++);
    await store.write('timers/a', 'x');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(heard).toBeGreaterThan(0);
    stop();
    const before = heard;
    await store.write('timers/b', 'x');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(heard).toBe(before);
  });

  test('a storage without watch: no watch method and no watch declared', () => {
    const inner = new MemoryStorageManager();
    const plain = {
      capabilities: { conditionalWrite: true },
      read: inner.read.bind(inner),
      write: inner.write.bind(inner),
      delete: inner.delete.bind(inner),
      exists: inner.exists.bind(inner),
      list: inner.list.bind(inner),
    };
    const store = new LockableStorageManager({ storage: plain, lock: new MemoryLockManager() });
    expect(store.watch).toBeUndefined();
    expect(store.capabilities.watch).toBeUndefined();
  });
});

import { runLockSuite, runStorageSuite } from '@durable/testkit';
import { SqliteLockManager, SqliteStorageManager } from '../src/index.js';
import { freshDatabase } from './support.js';

runStorageSuite('sqlite', {
  create: () => new SqliteStorageManager({ path: freshDatabase() }),
  destroy: (storage) => storage.close?.(),
});

// The peer is a second connection to the same file: exclusion holds between connections, not
// just inside one object. A 1 s short TTL: on a loaded machine a fsynced grant can outlast a
// 300 ms lease before the suite's extend reaches it.
let lockPath = '';
runLockSuite('sqlite', {
  create: () => new SqliteLockManager({ path: (lockPath = freshDatabase()) }),
  createPeer: () => new SqliteLockManager({ path: lockPath }),
  shortTtlMs: 1000,
  destroy: async (a, b) => {
    await a.close?.();
    await b.close?.();
  },
});

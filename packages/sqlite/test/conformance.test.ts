import { runLockSuite, runStorageSuite } from '@durable/testkit';
import { SqliteLockManager, SqliteStorageManager } from '../src/index.js';
import { freshDatabase } from './support.js';

runStorageSuite('sqlite', {
  create: () => new SqliteStorageManager({ path: freshDatabase() }),
  destroy: (storage) => storage.close?.(),
});

// The peer is a second connection to the same file: exclusion holds between connections, not
// just inside one object.
let lockPath = '';
runLockSuite('sqlite', {
  create: () => new SqliteLockManager({ path: (lockPath = freshDatabase()) }),
  createPeer: () => new SqliteLockManager({ path: lockPath }),
  destroy: async (a, b) => {
    await a.close?.();
    await b.close?.();
  },
});

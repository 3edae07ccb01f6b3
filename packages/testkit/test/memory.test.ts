import { MemoryLockManager, MemoryStorageManager } from '@durable/core';
import { runLockSuite, runStorageSuite } from '../src/index.js';

// The core's in-memory implementations pass the same suites as every backend.
runStorageSuite('memory', {
  create: () => new MemoryStorageManager(),
  capabilities: { conditionalWrite: true, watch: true },
});
runLockSuite('memory', { create: () => new MemoryLockManager() });

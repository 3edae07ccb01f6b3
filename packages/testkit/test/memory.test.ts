import { createMemoryLock, createMemoryStorage } from '@durable/core';
import { runLockSuite, runStorageSuite } from '../src/index.js';

// The core's in-memory implementations pass the same suites as every backend.
runStorageSuite('memory', { create: () => createMemoryStorage() });
runLockSuite('memory', { create: () => createMemoryLock() });

import { MemoryWorkflowStore } from '@durable/core';
import { runWorkflowStoreSuite } from '../src/index.js';

// The core's in-memory workflow store passes the same suite as every backend's.
runWorkflowStoreSuite('memory', {
  create: ({ clock }) => new MemoryWorkflowStore({ clock }),
  listing: true,
});

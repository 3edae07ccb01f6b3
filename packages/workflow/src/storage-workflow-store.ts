// The generic store lives in @durable/core, so that @durable/fs builds its store on it without
// depending on the engine; it is re-exported here, where users of the engine look for it.
export { StorageWorkflowStore, StoragePendingIndex, createStorageWorkflowStore } from '@durable/core';
export type { PendingIndex, StorageWorkflowStoreOptions } from '@durable/core';

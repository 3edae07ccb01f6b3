import { runWorkflowStoreSuite } from '@durable/testkit';
import { SqliteWorkflowStore } from '../src/index.js';
import { freshDatabase } from './support.js';

const paths = new WeakMap<object, string>();

// The peer is a second connection to the same file: claims and fencing hold between connections.
runWorkflowStoreSuite('sqlite', {
  listing: true,
  create: ({ clock }) => {
    const path = freshDatabase();
    const store = new SqliteWorkflowStore({ path, clock });
    paths.set(store, path);
    return store;
  },
  createPeer: (store, { clock }) =>
    new SqliteWorkflowStore({ path: paths.get(store) as string, clock }),
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLockSuite, runStorageSuite } from '@durable/testkit';
import { FileLockManager, LocalFileStorageManager } from '../src/index.js';

const roots: string[] = [];
function freshRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'durable-fs-'));
  roots.push(root);
  return root;
}
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

runStorageSuite('fs', {
  create: () => new LocalFileStorageManager({ root: freshRoot() }),
  capabilities: { conditionalWrite: true, watch: true },
});

// The peer is a second manager on the same folder: exclusion holds between handles, not just
// inside one object.
let lockRoot = '';
runLockSuite('fs', {
  create: () => new FileLockManager({ root: (lockRoot = freshRoot()) }),
  createPeer: () => new FileLockManager({ root: lockRoot }),
  // A grant is fsynced before it is handed out: on a loaded machine that alone can outlast a
  // 300 ms lease before the test's extend runs (seen at load average 46).
  shortTtlMs: 1_000,
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock, WorkflowStore } from '@durable/core';
import { StorageWorkflowStore } from '@durable/core';
import { FileLockManager, LocalFileStorageManager } from '@durable/fs';
import { runWorkflowStoreSuite } from '@durable/testkit';
import { runAwsWorkflowTests } from './fixtures/aws-workflow-tests.js';
import { startDynamoWithTable, startS3 } from './fixtures/composition-support.js';

// The generic workflow store (storage + lock contracts only) on real backend pairs: the fs
// storage and lock, and S3 (s3rver with the conditional-write layer, or S3_ENDPOINT) with
// DynamoDB (dynalite, or DYNAMODB_ENDPOINT), the serverless set-up (on moto too:
// moto-workflow-stores.test.ts).
const tableName = 'durable-workflow-stores';
const roots: string[] = [];

afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function freshRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'durable-wf-stores-'));
  roots.push(root);
  return root;
}

// One namespace per test (a claim must not see earlier tests' workflows); the peer shares it.
let root = '';
function fsStore(clock: Clock, lockWrites: boolean, fresh: boolean): WorkflowStore {
  if (fresh) root = freshRoot();
  return new StorageWorkflowStore({
    storage: new LocalFileStorageManager({ root }),
    lock: new FileLockManager({ root, clock }),
    lockWrites,
    clock,
  });
}
runWorkflowStoreSuite('generic store on fs storage (compare-and-swap)', {
  create: ({ clock }) => fsStore(clock, false, true),
  createPeer: (_store, { clock }) => fsStore(clock, false, false),
  listing: true,
});

runWorkflowStoreSuite('generic store on fs storage + fs lock (lockWrites)', {
  create: ({ clock }) => fsStore(clock, true, true),
  createPeer: (_store, { clock }) => fsStore(clock, true, false),
  listing: true,
});

runAwsWorkflowTests('', async () => {
  const [s3, dynamo] = await Promise.all([startS3(), startDynamoWithTable(tableName)]);
  return {
    s3,
    dynamo,
    tableName,
    stop: async () => {
      await Promise.all([s3.stop(), dynamo.stop()]);
    },
  };
});

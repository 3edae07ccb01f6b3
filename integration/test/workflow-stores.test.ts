import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock, StorageManager, WorkflowStore } from '@durable/core';
import { DynamoLockingManager } from '@durable/dynamo-lock';
import { createFileLock, createFileStorage } from '@durable/fs';
import { S3StorageManager } from '@durable/s3';
import { runWorkflowStoreSuite, uniquePrefix } from '@durable/testkit';
import type { LidexContext as WorkflowContext } from '@durable/workflow/lidex';
import { createStorageWorkflowStore } from '@durable/core';
import { LidexClient } from '@durable/workflow/lidex';
import type { DynamoTestEndpoint, S3TestEndpoint } from './fixtures/composition-support.js';
import { startDynamoWithTable, startS3 } from './fixtures/composition-support.js';

// The generic workflow store (storage + lock contracts only) on real backend pairs: the fs
// storage and lock, and S3 (s3rver with the conditional-write layer, or S3_ENDPOINT) with
// DynamoDB (dynalite, or DYNAMODB_ENDPOINT), the serverless set-up.
const tableName = 'durable-workflow-stores';
const roots: string[] = [];
let s3: S3TestEndpoint;
let dynamo: DynamoTestEndpoint;

beforeAll(async () => {
  [s3, dynamo] = await Promise.all([startS3(), startDynamoWithTable(tableName)]);
}, 60_000);
afterAll(async () => {
  await Promise.all([s3?.stop(), dynamo?.stop()]);
  for (const root of roots) rmSync(root, { recursive: true, force: true });
}, 60_000);

function freshRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'durable-wf-stores-'));
  roots.push(root);
  return root;
}

// One namespace per test (a claim must not see earlier tests' workflows); the peer shares it.
let root = '';
let prefix = '';
function fsStore(clock: Clock, lockWrites: boolean, fresh: boolean): WorkflowStore {
  if (fresh) root = freshRoot();
  return createStorageWorkflowStore({ storage: createFileStorage({ root }), lock: createFileLock({ root, clock }), lockWrites, clock });
}
function s3Storage(conditionalWrites: boolean): StorageManager {
  return new S3StorageManager({ client: s3.client(), bucket: s3.bucket, prefix: 'wf/', conditionalWrites });
}
function awsStore(clock: Clock, conditionalWrites: boolean, fresh: boolean): WorkflowStore {
  if (fresh) prefix = `${uniquePrefix('wf')}/`;
  const lock = new DynamoLockingManager({ client: dynamo.client(), tableName, prefix: `wf-${prefix}`, clock });
  return createStorageWorkflowStore({ storage: s3Storage(conditionalWrites), lock, prefix, clock });
}

runWorkflowStoreSuite('generic store on fs storage (compare-and-swap)', {
  create: ({ clock }) => fsStore(clock, false, true),
  createPeer: (_store, { clock }) => fsStore(clock, false, false),
});

runWorkflowStoreSuite('generic store on fs storage + fs lock (lockWrites)', {
  create: ({ clock }) => fsStore(clock, true, true),
  createPeer: (_store, { clock }) => fsStore(clock, true, false),
});

runWorkflowStoreSuite('generic store on S3 with conditional writes', {
  create: ({ clock }) => awsStore(clock, true, true),
  createPeer: (_store, { clock }) => awsStore(clock, true, false),
  workflows: 16,
});

runWorkflowStoreSuite('generic store on S3 without conditional writes + DynamoDB lock', {
  create: ({ clock }) => awsStore(clock, false, true),
  createPeer: (_store, { clock }) => awsStore(clock, false, false),
  workflows: 16,
});

describe('the workflow engine on S3 + DynamoDB', () => {
  it('serverless: each scheduled invocation is a fresh client that drains what is due', async () => {
    let charges = 0;
    const handlers = {
      invoice: async (ctx: WorkflowContext) => {
        await ctx.step('charge', () => ++charges);
        await ctx.sleep('grace', 150);
        return ctx.step('close', () => 'closed');
      },
    };
    const clock = (): number => Date.now();
    // Every "invocation" builds its own S3 and DynamoDB clients, as a cold Lambda would.
    const invoke = (): ReturnType<LidexClient['drain']> =>
      new LidexClient({ store: awsStore(clock, false, false), handlers }).drain({ maxMs: 10_000 });
    const starter = new LidexClient({ store: awsStore(clock, false, true), handlers, concurrency: 0 });
    await starter.start('invoice-9', 'invoice');
    expect(await invoke()).toMatchObject({ suspended: 1, completed: 0 });
    expect((await starter.get('invoice-9'))?.status).toBe('sleeping');
    expect(await invoke()).toMatchObject({ suspended: 0, completed: 0 }); // not due yet
    await new Promise((r) => setTimeout(r, 200));
    expect(await invoke()).toMatchObject({ completed: 1 });
    expect(await starter.result('invoice-9')).toBe('closed');
    expect(charges).toBe(1);
  }, 60_000);

  it('runs steps, a durable sleep and an event to completion on two clients', async () => {
    const calls: string[] = [];
    const handlers = {
      order: async (ctx: WorkflowContext, input: { sku: string }) => {
        const reserved = await ctx.step('reserve', () => {
          calls.push('reserve');
          return `${input.sku}-reserved`;
        });
        await ctx.sleep('cool-off', 50);
        const approval = await ctx.waitForEvent<{ by: string }>('approved', { timeoutMs: 30_000 });
        return { reserved, approvedBy: approval.received ? approval.payload.by : null };
      },
    };
    const clock = (): number => Date.now();
    const starter = new LidexClient({ store: awsStore(clock, false, true), handlers, concurrency: 0 });
    const runner = new LidexClient({ store: awsStore(clock, false, false), handlers, pollIntervalMs: 20 });
    expect(await starter.start('order-1', 'order', { sku: 'A7' })).toBe(true);
    const worker = runner.poll();
    try {
      // Past the cool-off sleep, the workflow sleeps again, now waiting for the event.
      let record = await starter.wait('order-1', ['sleeping'], 400, 25);
      for (let i = 0; i < 200 && (record?.wakeOn === undefined || record.wakeOn.length === 0); i++) {
        await new Promise((r) => setTimeout(r, 25));
        record = await starter.get('order-1');
      }
      expect(record?.wakeOn).toEqual(['approved']);
      expect(await starter.signal('order-1', 'approved', { by: 'ops' })).toBe(true);
      const done = await starter.wait('order-1', ['completed'], 400, 25);
      expect(done?.result).toEqual({ reserved: 'A7-reserved', approvedBy: 'ops' });
      expect(calls).toEqual(['reserve']);
    } finally {
      await worker.stop();
    }
  }, 60_000);
});

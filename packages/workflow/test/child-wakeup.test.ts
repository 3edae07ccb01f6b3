import type { WorkflowStore } from '@durable/core';
import { MemoryStorageManager, MemoryWorkflowStore } from '@durable/core';
import { StorageWorkflowStore } from '@durable/core';
import type { WorkflowWorker } from '../src/index.js';
import type { LidexContext as WorkflowContext } from '../src/lidex/index.js';
import { LidexClient as WorkflowClient } from '../src/lidex/index.js';

// A child's result wakes its parent at once, whatever the interleaving of the
// child finishing and the parent suspending. A store wrapper makes the child finish (and send its
// wake-up) at each point of the parent's ctx.child; the child re-check interval is 60 s, so a
// lost wake-up shows as a parent that does not complete within the test's 3 s.

type Point =
  | 'before-first-read'
  | 'after-child-read'
  | 'after-self-read'
  | 'before-suspend'
  | 'after-suspend';
const POINTS: Point[] = [
  'before-first-read',
  'after-child-read',
  'after-self-read',
  'before-suspend',
  'after-suspend',
];

const workers: WorkflowWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** The store the worker uses: `finishChild` runs once, at `point` of the parent's child wait. */
function hooked(
  inner: WorkflowStore,
  point: Point,
  finishChild: () => Promise<void>,
  childSignalled: () => void,
): WorkflowStore {
  let fired = false;
  const fire = async (at: Point): Promise<void> => {
    if (fired || at !== point) return;
    fired = true;
    await finishChild();
  };
  return {
    insert: (w) => inner.insert(w),
    claim: (o) => inner.claim(o),
    heartbeat: (id, token, ms) => inner.heartbeat(id, token, ms),
    saveStep: (id, token, index, memo) => inner.saveStep(id, token, index, memo),
    release: (id, token) => inner.release(id, token),
    finish: (id, token, outcome) => inner.finish(id, token, outcome),
    cancel: (id) => inner.cancel(id),
    list: (query) => inner.list(query),
    counts: () => inner.counts(),
    resume: (id) => inner.resume(id),
    async get(id) {
      // Only the parent's ctx.child reads these two records through this store.
      await fire('before-first-read');
      const record = await inner.get(id);
      await fire(id === 'kid' ? 'after-child-read' : 'after-self-read');
      return record;
    },
    async suspend(id, token, options) {
      await fire('before-suspend');
      await inner.suspend(id, token, options);
      await fire('after-suspend');
    },
    async signal(id, name, payload) {
      const delivered = await inner.signal(id, name, payload);
      if (name === '$child:kid') childSignalled();
      return delivered;
    },
  };
}

describe.each([
  ['memory store', () => new MemoryWorkflowStore()],
  ['storage store', () => new StorageWorkflowStore({ storage: new MemoryStorageManager() })],
] as const)('a child wakes its waiting parent at once on the %s', (_name, makeStore) => {
  it.each(POINTS)(
    'child finishes at %s: the parent completes without waiting for the 60 s re-check',
    async (point) => {
      const inner = makeStore();
      const gate = deferred();
      const signalled = deferred();
      const store = hooked(
        inner,
        point,
        async () => {
          gate.resolve();
          await signalled.promise;
        },
        signalled.resolve,
      );
      const handlers = {
        parent: async (ctx: WorkflowContext) => `kid said ${await ctx.child<number>('kid', 'kid')}`,
        kid: async () => {
          await gate.promise;
          return 7;
        },
      };
      const options = {
        handlers,
        pollIntervalMs: 5,
        timeoutIntervalMs: 60_000,
        onError: () => undefined,
      };
      const worker = new WorkflowClient({ ...options, store }).poll();
      workers.push(worker);
      const observer = new WorkflowClient({ ...options, store: inner, concurrency: 0 });
      await observer.start('p', 'parent');
      const record = await observer.wait('p', ['completed', 'aborted'], 300, 10);
      expect(record?.status).toBe('completed');
      expect(record?.result).toBe('kid said 7');
      expect((await observer.get('kid'))?.status).toBe('completed');
    },
  );
});

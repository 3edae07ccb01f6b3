import type { ClaimedWorkflow, NewWorkflow, WorkflowStore } from '@durable/core';
import { DurableError, ErrorCode, MemoryWorkflowStore } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import { WorkflowClient, defineWorkflow } from '../src/index.js';

// A start in a process whose worker has a free place creates the workflow claimed for that worker
// (the store's insertClaimed): one write, no claim after it, as DBOS runs a workflow where it
// starts. Otherwise (worker full, stopping, another handler set, a start for later, a store
// without insertClaimed) a start is the ordinary insert that any worker claims.

interface Calls {
  insert: string[];
  insertClaimed: string[];
  claimed: string[];
}

/** The memory store, counting the calls that create or claim; `failClaimed` makes insertClaimed throw once. */
function counting(inner = new MemoryWorkflowStore()): {
  store: WorkflowStore;
  calls: Calls;
  failNext: () => void;
} {
  const calls: Calls = { insert: [], insertClaimed: [], claimed: [] };
  let fail = false;
  const store: WorkflowStore = {
    insert: (w) => (calls.insert.push(w.id), inner.insert(w)),
    insertClaimed: async (w: NewWorkflow, o: { leaseMs: number }) => {
      calls.insertClaimed.push(w.id);
      if (fail) {
        fail = false;
        throw new DurableError(ErrorCode.BACKEND, 'disk full', { retryable: true });
      }
      return inner.insertClaimed(w, o);
    },
    get: (id) => inner.get(id),
    claim: async (o) => {
      const c: ClaimedWorkflow | undefined = await inner.claim(o);
      if (c !== undefined) calls.claimed.push(c.record.id);
      return c;
    },
    heartbeat: (...a) => inner.heartbeat(...a),
    saveStep: (...a) => inner.saveStep(...a),
    suspend: (...a) => inner.suspend(...a),
    release: (...a) => inner.release(...a),
    finish: (...a) => inner.finish(...a),
    signal: (...a) => inner.signal(...a),
    cancel: (id) => inner.cancel(id),
    list: (q) => inner.list(q),
    counts: () => inner.counts(),
    resume: (id) => inner.resume(id),
    watch: (listener) => inner.watch(listener),
  };
  return { store, calls, failNext: () => (fail = true) };
}

const add = defineWorkflow('add', async (ctx, input: { a: number; b: number }) =>
  ctx.step('sum', () => input.a + input.b),
);

/** A workflow that waits in its step until `open()` is called. */
function gated(): {
  workflow: ReturnType<typeof defineWorkflow<string, string>>;
  open: () => void;
} {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const workflow = defineWorkflow('gated', async (ctx, input: string) =>
    ctx.step('wait', async () => {
      await gate;
      return input;
    }),
  );
  return { workflow, open };
}

describe('a start run by this process (insertClaimed)', () => {
  it('creates the workflow running, claimed by the idle worker, and runs it with no claim', async () => {
    const { store, calls } = counting();
    const client = new WorkflowClient({ store, workflows: [add], onError: () => undefined });
    const worker = client.poll();
    try {
      const handle = await client.start(add, 'w1', { a: 2, b: 3 });
      expect(calls.insertClaimed).toEqual(['w1']);
      expect(calls.insert).toEqual([]);
      expect(await handle.result()).toBe(5);
      expect(calls.claimed).toEqual([]); // never claimed: it was the worker's from its start
      expect(worker.stats.completed).toBe(1);
      const stored = await store.get('w1');
      expect(stored?.status).toBe('completed');
      expect(stored?.steps.map((s) => s.id)).toEqual(['sum']);
      // Idempotent per id like any start.
      expect((await client.start(add, 'w1', { a: 9, b: 9 })).created).toBe(false);
      expect((await store.get('w1'))?.input).toEqual({ a: 2, b: 3 });
    } finally {
      await worker.stop();
    }
  });

  it('reports created: false for an id that exists (nothing changes) and gives the place back', async () => {
    const { store, calls } = counting();
    const client = new WorkflowClient({
      store,
      workflows: [add],
      concurrency: 1,
      onError: () => undefined,
    });
    await store.insert({ id: 'taken', handler: 'add', input: { a: 1, b: 1 } });
    const worker = client.poll();
    try {
      expect(await client.handle(add, 'taken').result()).toBe(2);
      const again = await client.start(add, 'taken', { a: 5, b: 5 });
      expect(again.created).toBe(false);
      expect(calls.insertClaimed).toEqual(['taken']);
      expect((await store.get('taken'))?.input).toEqual({ a: 1, b: 1 });
      // The one place came back: a new start still runs here.
      expect(await (await client.start(add, 'next', { a: 1, b: 2 })).result()).toBe(3);
      expect(calls.insertClaimed).toEqual(['taken', 'next']);
    } finally {
      await worker.stop();
    }
  });

  it('inserts (for any worker to claim) when the worker is full, and runs it once a place frees', async () => {
    const { store, calls } = counting();
    const { workflow, open } = gated();
    const client = new WorkflowClient({
      store,
      workflows: [workflow],
      concurrency: 2,
      onError: () => undefined,
    });
    const worker = client.poll();
    try {
      const handles = [];
      for (const id of ['a', 'b', 'c']) handles.push(await client.start(workflow, id, id));
      expect(calls.insertClaimed).toEqual(['a', 'b']);
      expect(calls.insert).toEqual(['c']);
      expect((await store.get('c'))?.status).toBe('ready');
      open();
      expect(await Promise.all(handles.map((h) => h.result()))).toEqual(['a', 'b', 'c']);
      expect(calls.claimed).toEqual(['c']);
    } finally {
      await worker.stop();
    }
  });

  it('inserts a start due later, one for a handler the worker does not know, and every start while no worker polls or after stop()', async () => {
    const { store, calls } = counting();
    const other = defineWorkflow('other', async () => 'other');
    const client = new WorkflowClient({ store, workflows: [add], onError: () => undefined });
    const foreign = new WorkflowClient({ store, workflows: [other], onError: () => undefined });
    await client.start(add, 'before-poll', { a: 1, b: 1 });
    const worker = client.poll();
    try {
      await client.start(add, 'later', { a: 1, b: 1 }, { runAt: Date.now() + 3_600_000 });
      await foreign.start(other, 'foreign');
      expect(calls.insertClaimed).toEqual([]);
      expect(calls.insert).toEqual(['before-poll', 'later', 'foreign']);
      expect(await client.handle(add, 'before-poll').result()).toBe(2);
      expect((await store.get('foreign'))?.status).not.toBe('completed');
    } finally {
      await worker.stop();
    }
    await client.start(add, 'after-stop', { a: 1, b: 1 });
    expect(calls.insert).toContain('after-stop');
    expect(calls.insertClaimed).toEqual([]);
    expect((await store.get('after-stop'))?.status).toBe('ready');
  });

  it('rejects the start with what insertClaimed threw, and the place is free again', async () => {
    const { store, calls, failNext } = counting();
    const client = new WorkflowClient({
      store,
      workflows: [add],
      concurrency: 1,
      onError: () => undefined,
    });
    const worker = client.poll();
    try {
      failNext();
      await expectDurableError(() => client.start(add, 'bad', { a: 1, b: 1 }), 'BACKEND');
      expect(await store.get('bad')).toBeUndefined();
      expect(await (await client.start(add, 'good', { a: 1, b: 1 })).result()).toBe(2);
      expect(calls.insertClaimed).toEqual(['bad', 'good']);
    } finally {
      await worker.stop();
    }
  });

  it('a stop() while the start is being created lets the run release it at once: ready for another worker, nothing lost', async () => {
    const inner = new MemoryWorkflowStore();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { store } = counting(inner);
    const slow: WorkflowStore = {
      ...store,
      insertClaimed: async (w, o) => {
        const claimed = await store.insertClaimed!(w, o);
        await held;
        return claimed;
      },
    };
    const twoSteps = defineWorkflow('twoSteps', async (ctx) => {
      const one = await ctx.step('one', () => 1);
      return one + (await ctx.step('two', () => 1));
    });
    const client = new WorkflowClient({
      store: slow,
      workflows: [twoSteps],
      onError: () => undefined,
    });
    const worker = client.poll();
    const started = client.start(twoSteps, 'w');
    await new Promise((resolve) => setImmediate(resolve));
    const stopped = worker.stop();
    release();
    await started;
    await stopped;
    const record = await inner.get('w');
    // Released at its first operation (its first step ran and was recorded, or none did).
    expect(record?.status).toBe('ready');
    expect(record?.claim).toBeUndefined();
    const next = new WorkflowClient({
      store: inner,
      workflows: [twoSteps],
      onError: () => undefined,
    });
    const stats = await next.drain();
    expect(stats.completed).toBe(1);
    expect(await next.handle(twoSteps, 'w').result()).toBe(2);
  });
});

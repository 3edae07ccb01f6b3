import type { NewWorkflow, WorkflowStore } from '@durable/core';
import { MemoryWorkflowStore } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import { WorkflowClient, defineWorkflow } from '../src/index.js';
import { LidexClient } from '../src/lidex/index.js';

// Immediate starts: work started, signalled, cancelled or finished in this process is picked up
// at once, not at the next poll. The wake-up tests run under fake timers that are never
// advanced: the poll timer (pollIntervalMs, default 1 s) and every other timer never fire, so a
// test passes only if the wake-up did the work. Were a wake missing, the test would hang until
// jest's (real-time) timeout.

interface Calls {
  insert: number;
  insertMany: number;
  claim: number;
  get: number;
}

/** A store that counts calls; `hide` removes optional methods (a store that cannot watch...). */
function counting(
  inner: WorkflowStore,
  hide: Array<'watch' | 'insertMany'> = [],
): { store: WorkflowStore; calls: Calls } {
  const calls: Calls = { insert: 0, insertMany: 0, claim: 0, get: 0 };
  const store: WorkflowStore = {
    insert: (w) => (calls.insert++, inner.insert(w)),
    get: (id) => (calls.get++, inner.get(id)),
    claim: (o) => (calls.claim++, inner.claim(o)),
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
  };
  if (!hide.includes('watch') && inner.watch !== undefined)
    store.watch = (listener) => inner.watch!(listener);
  if (!hide.includes('insertMany') && inner.insertMany !== undefined) {
    store.insertMany = (ws: readonly NewWorkflow[]) => (calls.insertMany++, inner.insertMany!(ws));
  }
  return { store, calls };
}

const add = defineWorkflow('add', async (ctx, input: { a: number; b: number }) =>
  ctx.step('sum', () => input.a + input.b),
);
const greet = defineWorkflow('greet', async (ctx, name: string) =>
  ctx.step('hello', () => `hello ${name}`),
);
const approval = defineWorkflow('approval', async (ctx) => {
  const answer = await ctx.waitForEvent<string>('approved', { timeoutMs: 3_600_000 });
  return answer.received ? answer.payload : 'nobody';
});
const parent = defineWorkflow('parent', async (ctx, n: number) => {
  const sum = await ctx.child(add, `child-of-${ctx.workflowId}`, { a: n, b: 1 });
  return sum * 10;
});
const all = [add, greet, approval, parent];

describe('immediate start (no timer fires)', () => {
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  // The worker and the caller share a store without watch: only the in-process wake can do it.
  it('start() wakes an idle worker of this process and result() resolves when the run ends, with default options', async () => {
    const { store, calls } = counting(new MemoryWorkflowStore(), ['watch']);
    const client = new WorkflowClient({ store, workflows: all, onError: () => undefined });
    const worker = client.poll();
    try {
      await until(() => calls.claim >= 1); // idle: its first claim found nothing
      await flush();
      expect(jest.getTimerCount()).toBeGreaterThan(0); // the poll timer is armed (and never fires)
      const handle = await client.start(add, 'w1', { a: 2, b: 3 });
      expect(await handle.result()).toBe(5);
      expect(calls.insert).toBe(1); // start() is one insert, nothing more
      // result(): at most one read, before the run ended; the end it heard of needs no read back.
      expect(calls.get).toBeLessThanOrEqual(1);
    } finally {
      await worker.stop();
    }
  }, 10_000);

  it('result() of a run that ends in this process answers from what the store accepted, with no read after the end: a copy of the value, or WORKFLOW_FAILED', async () => {
    const shared = { items: [1, 2] };
    const returnsObject = defineWorkflow('returnsObject', async (ctx) => {
      await ctx.step('one', () => 1);
      return shared;
    });
    const fails = defineWorkflow('fails', async (ctx) => {
      await ctx.step('one', () => 1);
      throw new Error('card declined');
    });
    const { store, calls } = counting(new MemoryWorkflowStore(), ['watch']);
    const client = new WorkflowClient({
      store,
      workflows: [returnsObject, fails],
      maxFailures: 1,
      onError: () => undefined,
    });
    const worker = client.poll();
    try {
      await until(() => calls.claim >= 1);
      const handle = await client.start(returnsObject, 'obj');
      const value = await handle.result();
      const readsAtEnd = calls.get;
      expect(value).toEqual({ items: [1, 2] });
      expect(value).not.toBe(shared); // a copy: the caller cannot change what the handler holds
      expect(calls.get).toBe(readsAtEnd);
      expect(readsAtEnd).toBeLessThanOrEqual(1);
      expect((await store.get('obj'))?.result).toEqual({ items: [1, 2] }); // what was answered is stored
      const failing = await client.start(fails, 'bad');
      const before = calls.get;
      const error = await expectDurableError(() => failing.result(), 'WORKFLOW_FAILED');
      expect(error.message).toContain('card declined');
      expect(calls.get - before).toBeLessThanOrEqual(1);
      expect((await store.get('bad'))?.status).toBe('aborted');
    } finally {
      await worker.stop();
    }
  }, 10_000);

  it("a store's watch wakes the worker for work inserted behind the engine's back", async () => {
    const inner = new MemoryWorkflowStore();
    const { store, calls } = counting(inner);
    const client = new WorkflowClient({ store, workflows: all, onError: () => undefined });
    const worker = client.poll();
    try {
      await until(() => calls.claim >= 1);
      // Straight into the store (as another process would): the engine's in-process wake never hears of it.
      expect(await inner.insert({ id: 'w2', handler: 'greet', input: 'ada' })).toBe(true);
      expect(await client.handle(greet, 'w2').result()).toBe('hello ada');
    } finally {
      await worker.stop();
    }
  }, 10_000);

  it('signal() wakes a workflow waiting for that event at once', async () => {
    const { store } = counting(new MemoryWorkflowStore(), ['watch']);
    const client = new WorkflowClient({ store, workflows: all, onError: () => undefined });
    const worker = client.poll();
    try {
      const handle = await client.start(approval, 'a1');
      await until(async () => (await handle.status()) === 'sleeping');
      expect(await handle.signal('approved', 'grace')).toBe(true);
      expect(await handle.result()).toBe('grace');
    } finally {
      await worker.stop();
    }
  }, 10_000);

  it('a child finishing wakes its parent at once', async () => {
    const { store } = counting(new MemoryWorkflowStore(), ['watch']);
    const client = new WorkflowClient({ store, workflows: all, onError: () => undefined });
    const worker = client.poll();
    try {
      const handle = await client.start(parent, 'p1', 4);
      expect(await handle.result()).toBe(50);
    } finally {
      await worker.stop();
    }
  }, 10_000);

  it('cancel() ends a result() wait of this process at once with CANCELLED', async () => {
    const { store } = counting(new MemoryWorkflowStore(), ['watch']);
    const client = new WorkflowClient({ store, workflows: all, onError: () => undefined });
    const worker = client.poll();
    try {
      const handle = await client.start(approval, 'a2');
      await until(async () => (await handle.status()) === 'sleeping');
      const waiting = handle.result();
      expect(await handle.cancel()).toBe(true);
      await expectDurableError(() => waiting, 'CANCELLED');
    } finally {
      await worker.stop();
    }
  }, 10_000);

  it('startMany starts a batch with one insertMany and its workers run them all', async () => {
    const { store, calls } = counting(new MemoryWorkflowStore(), ['watch']);
    const client = new WorkflowClient({ store, workflows: all, onError: () => undefined });
    const worker = client.poll();
    try {
      await until(() => calls.claim >= 1);
      const handles = await client.startMany([
        { workflow: add, id: 'm1', input: { a: 1, b: 1 } },
        { workflow: greet, id: 'm2', input: 'bob' },
        { workflow: add, id: 'm1', input: { a: 9, b: 9 } },
      ]);
      expect(handles.map((h) => h.created)).toEqual([true, true, false]);
      expect(calls.insertMany).toBe(1);
      expect(calls.insert).toBe(0);
      const [sum, hello, again] = await Promise.all(handles.map((h) => h.result()));
      expect([sum, hello, again]).toEqual([2, 'hello bob', 2]);
    } finally {
      await worker.stop();
    }
  }, 10_000);
});

describe('result() of a workflow run elsewhere', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('reads the store with backoff (10, 20, 40 ms... up to pollIntervalMs) when no run of this process will announce it', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const inner = new MemoryWorkflowStore();
    // Two store objects over one memory store: as far as in-process wakes go, two processes.
    const here = counting(inner, ['watch']);
    const there = counting(inner, ['watch']);
    const client = new WorkflowClient({
      store: here.store,
      workflows: all,
      onError: () => undefined,
    });
    const elsewhere = new WorkflowClient({ store: there.store, workflows: all, concurrency: 0 });
    await elsewhere.start(greet, 'x1', 'eve');
    const result = client.handle(greet, 'x1').result();
    await until(() => here.calls.get >= 1);
    for (const [advance, reads] of [
      [9, 1],
      [1, 2],
      [19, 2],
      [1, 3],
      [40, 4],
      [80, 5],
    ] as const) {
      await jest.advanceTimersByTimeAsync(advance);
      await flush();
      expect(here.calls.get).toBe(reads);
    }
    // Run it over there, in a drain that knows nothing of this wait: only a read finds it done.
    const stats = await new WorkflowClient({ store: there.store, workflows: all }).drain();
    expect(stats.completed).toBe(1);
    await flush();
    expect(here.calls.get).toBe(5);
    await jest.advanceTimersByTimeAsync(160); // the next read, 160 ms after the last
    expect(await result).toBe('hello eve');
    expect(here.calls.get).toBe(6);
  }, 10_000);
});

describe('startMany', () => {
  it('on a store without insertMany inserts in parallel, once per id, and checks every entry before starting any', async () => {
    const inner = new MemoryWorkflowStore();
    const { store, calls } = counting(inner, ['insertMany']);
    const client = new LidexClient({ store, handlers: { h: async () => 1 } });
    expect(
      await client.startMany([
        { id: 'a', handler: 'h' },
        { id: 'b', handler: 'h', input: 2 },
        { id: 'a', handler: 'h' },
      ]),
    ).toEqual([true, true, false]);
    expect(calls.insert).toBe(2);
    await expectDurableError(
      () =>
        client.startMany([
          { id: 'c', handler: 'h' },
          { id: '', handler: 'h' },
        ]),
      'INVALID_KEY',
    );
    await expectDurableError(
      () => client.startMany([{ id: 'd', handler: 'nope' }]),
      'HANDLER_UNKNOWN',
    );
    await expectDurableError(
      () => client.startMany([{ id: 'e', handler: 'h', options: { runAt: Number.NaN } }]),
      'CONFIG',
    );
    await expectDurableError(() => client.startMany('a' as never), 'CONFIG');
    expect(await inner.get('c')).toBeUndefined();
    expect(await client.startMany([])).toEqual([]);
  });

  it('typed startMany refuses an id used by another workflow with WORKFLOW_CONFLICT', async () => {
    const client = new WorkflowClient({ store: new MemoryWorkflowStore(), workflows: all });
    await client.start(greet, 'same', 'x');
    await expectDurableError(
      () => client.startMany([{ workflow: add, id: 'same', input: { a: 1, b: 2 } }]),
      'WORKFLOW_CONFLICT',
    );
  });
});

/** Lets pending promise callbacks run (memory-store calls settle within a few turns). */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Waits, turn by turn and never by a timer, until `condition` holds. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise<void>((resolve) => setImmediate(resolve));
}

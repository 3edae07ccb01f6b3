import type { WorkflowRecord, WorkflowStore } from '@durable/core';
import type { Clock } from '@durable/core';
import { MemoryStorageManager, MemoryWorkflowStore, isDurableError } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import { StorageWorkflowStore } from '@durable/core';
import type { WorkflowWorker } from '../src/index.js';
import type {
  LidexClientOptions as WorkflowClientOptions,
  LidexContext as WorkflowContext,
  WorkflowHandler,
} from '../src/lidex/index.js';
import { LidexClient as WorkflowClient, makeClient } from '../src/lidex/index.js';
import { pause } from '../src/timers.js';

const FINAL = ['completed', 'aborted', 'cancelled'] as const;
const workers: WorkflowWorker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

// The engine runs the same on the core's memory store and on the generic store over storage.
const stores: Array<[string, (clock?: Clock) => WorkflowStore]> = [
  ['memory store', (clock) => new MemoryWorkflowStore(clock === undefined ? {} : { clock })],
  [
    'storage store',
    (clock) =>
      new StorageWorkflowStore({
        storage: new MemoryStorageManager(),
        ...(clock === undefined ? {} : { clock }),
      }),
  ],
];
let makeStore: (clock?: Clock) => WorkflowStore = () => new MemoryWorkflowStore();

function client(
  handlers: WorkflowClientOptions['handlers'],
  options: Partial<WorkflowClientOptions> = {},
): WorkflowClient {
  return new WorkflowClient({
    store: makeStore(),
    pollIntervalMs: 5,
    retryIntervalMs: 0,
    onError: () => undefined,
    ...options,
    handlers,
  });
}

function work(c: WorkflowClient): WorkflowWorker {
  const worker = c.poll();
  workers.push(worker);
  return worker;
}

async function finished(c: WorkflowClient, id: string): Promise<WorkflowRecord> {
  const record = await c.wait(id, [...FINAL], 400, 10);
  if (record === undefined)
    throw new Error(`workflow ${id} did not finish: ${JSON.stringify(await c.get(id))}`);
  return record;
}

describe.each(stores)('workflow engine on the %s', (_name, factory) => {
  beforeEach(() => {
    makeStore = factory;
  });

  it('start returns true once and false for an existing id; the result is stored', async () => {
    const c = client({
      add: async (_ctx: WorkflowContext, input: { a: number; b: number }) => input.a + input.b,
    });
    expect(await c.start('w1', 'add', { a: 2, b: 3 })).toBe(true);
    expect(await c.start('w1', 'add', { a: 9, b: 9 })).toBe(false);
    work(c);
    const record = await finished(c, 'w1');
    expect(record.status).toBe('completed');
    expect(await c.result('w1')).toBe(5);
  });

  it('a recorded step is not repeated after a failed run, and undefined results are memoised too', async () => {
    const calls: Record<string, number> = {};
    const count = (name: string): void => {
      calls[name] = (calls[name] ?? 0) + 1;
    };
    let crash = true;
    const c = client({
      flow: async (ctx: WorkflowContext) => {
        const a = await ctx.step('charge.card/1 ü', async () => {
          count('a');
          return { paid: 10 };
        });
        await ctx.step('log', () => {
          count('log');
          return undefined;
        });
        if (crash) {
          crash = false;
          throw new Error('crash after two steps');
        }
        const b = await ctx.step('b', () => {
          count('b');
          return 2;
        });
        return { a, b };
      },
    });
    await c.start('w', 'flow');
    work(c);
    const record = await finished(c, 'w');
    expect(record.status).toBe('completed');
    expect(record.result).toEqual({ a: { paid: 10 }, b: 2 });
    expect(record.failures).toBe(1);
    expect(calls).toEqual({ a: 1, log: 1, b: 1 });
  });

  it('a failure is stored with name, message and stack; retries back off; at maxFailures failures it is aborted', async () => {
    class PaymentDeclined extends Error {
      override name = 'PaymentDeclined';
    }
    const runs: number[] = [];
    const c = client(
      {
        fail: () => {
          runs.push(Date.now());
          throw new PaymentDeclined('card declined');
        },
      },
      { maxFailures: 3, retryIntervalMs: 40, retryBackoff: 2 },
    );
    await c.start('w', 'fail');
    work(c);
    const record = await finished(c, 'w');
    expect(record.status).toBe('aborted');
    expect(record.failures).toBe(3);
    expect(runs).toHaveLength(3);
    expect(record.error).toMatchObject({ name: 'PaymentDeclined', message: 'card declined' });
    expect(record.error?.stack).toContain('PaymentDeclined: card declined');
    expect((runs[1] ?? 0) - (runs[0] ?? 0)).toBeGreaterThanOrEqual(35);
    expect((runs[2] ?? 0) - (runs[1] ?? 0)).toBeGreaterThanOrEqual(75);
    const error = await expectDurableError(() => c.result('w'), 'WORKFLOW_FAILED');
    expect(error.message).toContain('card declined');
  });

  it('maxFailures 0 (like 1) aborts at the first failure', async () => {
    const c = client({ fail: () => Promise.reject(new Error('no')) }, { maxFailures: 0 });
    await c.start('w', 'fail');
    work(c);
    const record = await finished(c, 'w');
    expect(record.status).toBe('aborted');
    expect(record.failures).toBe(1);
  });

  it('an unknown handler fails that workflow with HANDLER_UNKNOWN and the worker goes on', async () => {
    const c = client({ ok: () => 'fine' }, { allowUnknownHandlers: true });
    await c.start('bad', 'missing');
    await c.start('good', 'ok');
    work(c);
    const bad = await finished(c, 'bad');
    expect(bad.status).toBe('aborted');
    expect(bad.error?.code).toBe('HANDLER_UNKNOWN');
    expect(bad.failures).toBe(1);
    expect((await finished(c, 'good')).result).toBe('fine');
  });

  it('a non-serialisable step result aborts the workflow at once with SERIALIZATION, even when caught: the step ran once, nothing is recorded', async () => {
    let caught: unknown;
    let effects = 0;
    const c = client({
      flow: async (ctx: WorkflowContext) => {
        try {
          await ctx.step('bad', () => {
            effects++;
            return { when: new Date() };
          });
        } catch (error) {
          caught = error;
        }
        return ctx.step('good', () => 1);
      },
    });
    await c.start('w', 'flow');
    work(c);
    const record = await finished(c, 'w');
    expect(isDurableError(caught, 'SERIALIZATION')).toBe(true);
    expect(String((caught as Error).message)).toContain('step "bad"');
    expect(record.status).toBe('aborted');
    expect(record.error).toMatchObject({ code: 'SERIALIZATION', details: { path: '$.when' } });
    expect(record.error?.message).toContain('$.when is a Date');
    expect(record.steps).toEqual([]);
    expect(effects).toBe(1);
  });

  it('a non-serialisable workflow result aborts the workflow with SERIALIZATION at once (a retry would replay it)', async () => {
    let runs = 0;
    const c = client({
      f: async (ctx: WorkflowContext) => {
        runs++;
        const n = await ctx.step('n', () => 1);
        return { n, big: BigInt(n) };
      },
    });
    await c.start('w', 'f');
    work(c);
    const record = await finished(c, 'w');
    expect(record.status).toBe('aborted');
    expect(record.error?.code).toBe('SERIALIZATION');
    expect(runs).toBe(1);
  });

  it('a handler that changed shape between runs is aborted with NON_DETERMINISTIC', async () => {
    let version = 1;
    const c = client({
      flow: async (ctx: WorkflowContext) => {
        await ctx.step(version === 1 ? 'one' : 'renamed', () => 1);
        if (version === 1) {
          version = 2;
          throw new Error('retry me');
        }
        return 'done';
      },
    });
    await c.start('w', 'flow');
    work(c);
    const record = await finished(c, 'w');
    expect(record.status).toBe('aborted');
    expect(record.error?.code).toBe('NON_DETERMINISTIC');
    expect(record.error?.message).toContain('changed shape');
  });

  it('a step id used twice is a NON_DETERMINISTIC error', async () => {
    const c = client({
      flow: async (ctx: WorkflowContext) => {
        await ctx.step('same', () => 1);
        await ctx.step('same', () => 2);
      },
    });
    await c.start('w', 'flow');
    work(c);
    const record = await finished(c, 'w');
    expect(record.error?.code).toBe('NON_DETERMINISTIC');
    expect(record.error?.message).toContain('used twice');
  });

  it('sleep releases the workflow from the worker (status sleeping) and it resumes when due', async () => {
    let runs = 0;
    const c = client({
      flow: async (ctx: WorkflowContext) => {
        runs++;
        const before = await ctx.step('before', () => 'x');
        await ctx.sleep('nap', 150);
        return before;
      },
    });
    await c.start('w', 'flow');
    work(c);
    expect((await c.wait('w', ['sleeping'], 100, 5))?.status).toBe('sleeping');
    const record = await finished(c, 'w');
    expect(record.result).toBe('x');
    expect(runs).toBe(2);
    expect(record.steps.map((s) => [s.kind, s.id])).toEqual([
      ['step', 'before'],
      ['sleep', 'nap'],
    ]);
  });

  it('a handler that swallows the suspension (catch-all around a sleep) is still suspended, not completed early', async () => {
    let runs = 0;
    const c = client({
      f: async (ctx: WorkflowContext) => {
        runs++;
        try {
          await ctx.sleep('nap', 100);
        } catch {
          // swallowed on purpose
        }
        return `run ${runs}`;
      },
    });
    await c.start('w', 'f');
    work(c);
    expect((await c.wait('w', ['sleeping'], 100, 5))?.status).toBe('sleeping');
    expect((await finished(c, 'w')).result).toBe('run 2');
  });

  it('a sleep of 40 days is stored as a due time, not a timer, and resumes when the clock gets there', async () => {
    let now = 1_700_000_000_000;
    const clock = (): number => now;
    const store = makeStore(clock);
    const c = client(
      {
        flow: async (ctx: WorkflowContext) => ctx.sleep('long', 40 * 86_400_000).then(() => 'woke'),
      },
      { store, clock },
    );
    await c.start('w', 'flow');
    work(c);
    const sleeping = await c.wait('w', ['sleeping'], 100, 5);
    expect(sleeping?.runAt).toBe(now + 40 * 86_400_000);
    await pause(50);
    expect((await c.get('w'))?.status).toBe('sleeping');
    now += 40 * 86_400_000;
    expect((await finished(c, 'w')).result).toBe('woke');
  });

  it('pause() chunks delays past the 24.8-day setTimeout limit instead of firing at once', async () => {
    const controller = new AbortController();
    let fired = false;
    const long = pause(2 ** 31 + 1000, controller.signal).then(() => {
      fired = true;
    });
    await pause(50);
    expect(fired).toBe(false);
    controller.abort();
    await long;
  });

  it('waitForEvent receives a signal payload; a timed-out wait resolves received: false', async () => {
    const c = client({
      flow: async (ctx: WorkflowContext) => {
        const paid = await ctx.waitForEvent<{ amount: number }>('paid');
        const refund = await ctx.waitForEvent('refund', { timeoutMs: 30 });
        return { paid, refund };
      },
    });
    await c.start('w', 'flow');
    work(c);
    await c.wait('w', ['sleeping'], 100, 5);
    expect(await c.signal('w', 'paid', { amount: 12 })).toBe(true);
    const record = await finished(c, 'w');
    expect(record.result).toEqual({
      paid: { received: true, payload: { amount: 12 } },
      refund: { received: false },
    });
    expect(await c.signal('w', 'paid', 1)).toBe(false);
  });

  it('a signal sent before the wait is not lost', async () => {
    const c = client({
      flow: async (ctx: WorkflowContext) => (await ctx.waitForEvent('go')).received,
    });
    await c.start('w', 'flow');
    await c.signal('w', 'go');
    work(c);
    expect((await finished(c, 'w')).result).toBe(true);
  });

  it('a child workflow is started once and its result awaited; a failed child rejects with WORKFLOW_FAILED', async () => {
    let childRuns = 0;
    const c = client(
      {
        parent: async (ctx: WorkflowContext) => {
          const doubled = await ctx.child<number>('child-ok', 'double', 21);
          let failure = '';
          try {
            await ctx.child('child-bad', 'broken');
          } catch (error) {
            failure = isDurableError(error, 'WORKFLOW_FAILED') ? error.message : 'other';
          }
          return { doubled, failure };
        },
        double: (_ctx: WorkflowContext, n: number) => {
          childRuns++;
          return n * 2;
        },
        broken: () => {
          throw new Error('child broke');
        },
      },
      { maxFailures: 0 },
    );
    await c.start('p', 'parent');
    work(c);
    const record = await finished(c, 'p');
    expect(record.status).toBe('completed');
    expect(record.result).toEqual({ doubled: 42, failure: expect.stringContaining('child broke') });
    expect(childRuns).toBe(1);
    expect((await c.get('child-ok'))?.parentId).toBe('p');
  });

  it('ctx.start starts another workflow once; replays return the recorded answer', async () => {
    const c = client({
      starter: async (ctx: WorkflowContext) => {
        const first = await ctx.start('other', 'noop', { x: 1 });
        await ctx.sleep('s', 20);
        return first;
      },
      noop: () => 'n',
    });
    await c.start('s', 'starter');
    work(c);
    expect((await finished(c, 's')).result).toBe(true);
    expect((await finished(c, 'other')).result).toBe('n');
  });

  it('cancel stops a running workflow: its later steps are never recorded and result() says CANCELLED', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let after = 0;
    const c = client({
      flow: async (ctx: WorkflowContext) => {
        await ctx.step('wait', () => gate);
        await ctx.step('after', () => {
          after++;
        });
      },
    });
    await c.start('w', 'flow');
    work(c);
    await c.wait('w', ['running'], 100, 5);
    expect(await c.cancel('w')).toBe(true);
    release();
    await pause(50);
    const record = await c.get('w');
    expect(record?.status).toBe('cancelled');
    expect(record?.steps).toEqual([]);
    expect(after).toBe(0);
    await expectDurableError(() => c.result('w'), 'CANCELLED');
    expect(await c.cancel('w')).toBe(false);
  });

  it('stop() is graceful: the running step finishes and is recorded, the workflow is released, another worker finishes it', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const calls = { slow: 0, next: 0 };
    const store = makeStore();
    const handlers = {
      flow: async (ctx: WorkflowContext) => {
        await ctx.step('slow', async () => {
          calls.slow++;
          await gate;
          return 'slow-done';
        });
        return ctx.step('next', () => ++calls.next);
      },
    };
    const a = client(handlers, { store });
    await a.start('w', 'flow');
    const worker = a.poll();
    await a.wait('w', ['running'], 100, 5);
    const stopped = worker.stop();
    release();
    await stopped;
    const released = await a.get('w');
    expect(released?.status).toBe('ready');
    expect(released?.failures).toBe(0);
    expect(released?.steps.map((s) => s.id)).toEqual(['slow']);
    expect(worker.stats.released).toBe(1);
    const b = client(handlers, { store });
    work(b);
    expect((await finished(b, 'w')).result).toBe(1);
    expect(calls).toEqual({ slow: 1, next: 1 });
  });

  it('concurrency bounds the workflows one worker runs at once', async () => {
    let active = 0;
    let peak = 0;
    const c = client(
      {
        flow: async (ctx: WorkflowContext) => {
          await ctx.step('busy', async () => {
            active++;
            peak = Math.max(peak, active);
            await pause(20);
            active--;
          });
        },
      },
      { concurrency: 2 },
    );
    for (let i = 0; i < 6; i++) await c.start(`w${i}`, 'flow');
    work(c);
    for (let i = 0; i < 6; i++) expect((await finished(c, `w${i}`)).status).toBe('completed');
    expect(peak).toBe(2);
  });

  it('a worker whose lease expired has its writes refused and stops; the workflow completes once', async () => {
    const clock = (): number => Date.now();
    const store: WorkflowStore = makeStore(clock);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const effects: string[] = [];
    let first = true;
    const handlers = {
      flow: async (ctx: WorkflowContext) => {
        await ctx.step('one', async () => {
          effects.push('one');
          if (first) {
            first = false;
            await gate;
          }
        });
        await ctx.step('two', () => effects.push('two'));
        return 'ok';
      },
    };
    // Lease 0 and no heartbeat: the moment it claims, this worker looks stalled to the others.
    const stale = client(handlers, { store, clock, timeoutIntervalMs: 0, concurrency: 1 });
    await stale.start('w', 'flow');
    work(stale);
    await stale.wait('w', ['running'], 100, 5);
    const fresh = client(handlers, { store, clock, timeoutIntervalMs: 60_000 });
    work(fresh);
    const record = await finished(fresh, 'w');
    release();
    await pause(50);
    expect(record.result).toBe('ok');
    expect(record.failures).toBe(1);
    const after = await store.get('w');
    expect(after?.steps.map((s) => s.id)).toEqual(['one', 'two']);
    expect(effects.filter((e) => e === 'two')).toHaveLength(1);
  });

  it('heartbeats keep a step longer than the lease from being taken over by another worker', async () => {
    const store = makeStore();
    let runs = 0;
    const handlers = {
      long: async (ctx: WorkflowContext) =>
        ctx.step('slow', async () => {
          runs++;
          await pause(1500);
          return 'done';
        }),
    };
    // A 600 ms lease heartbeated every 200 ms outlives a 1.5 s step (and tolerates a busy machine).
    const a = client(handlers, { store, timeoutIntervalMs: 600 });
    const b = client(handlers, { store, timeoutIntervalMs: 600 });
    await a.start('w', 'long');
    work(a);
    await a.wait('w', ['running'], 100, 5);
    work(b);
    const record = await finished(b, 'w');
    expect(record.result).toBe('done');
    expect(record.failures).toBe(0);
    expect(runs).toBe(1);
  });

  it('a store outage during claims is reported to onError and the worker carries on', async () => {
    const store = makeStore();
    let outages = 3;
    const flaky: WorkflowStore = Object.create(store) as WorkflowStore;
    flaky.claim = (options) => {
      if (outages > 0) {
        outages--;
        return Promise.reject(new Error('store unreachable'));
      }
      return store.claim(options);
    };
    const errors: unknown[] = [];
    const c = client({ f: () => 'ok' }, { store: flaky, onError: (error) => errors.push(error) });
    await c.start('w', 'f');
    work(c);
    expect((await finished(c, 'w')).result).toBe('ok');
    expect(errors).toHaveLength(3);
    expect(String(errors[0])).toContain('store unreachable');
  });

  it('cancel of a sleeping workflow is final: it is never run again', async () => {
    let runs = 0;
    const c = client({
      f: async (ctx: WorkflowContext) => {
        runs++;
        await ctx.sleep('nap', 80);
        return 'woke';
      },
    });
    await c.start('w', 'f');
    work(c);
    await c.wait('w', ['sleeping'], 100, 5);
    expect(await c.cancel('w')).toBe(true);
    await pause(150);
    expect((await c.get('w'))?.status).toBe('cancelled');
    expect(runs).toBe(1);
  });

  it('a cancelled child rejects its waiting parent with WORKFLOW_FAILED', async () => {
    const c = client({
      parent: async (ctx: WorkflowContext) => {
        try {
          return await ctx.child('kid', 'kid');
        } catch (error) {
          return isDurableError(error, 'WORKFLOW_FAILED')
            ? `child failed: ${(error.details?.error as { code?: string }).code}`
            : 'other';
        }
      },
      kid: (ctx: WorkflowContext) => ctx.waitForEvent('never'),
    });
    await c.start('p', 'parent');
    work(c);
    await c.wait('kid', ['sleeping'], 200, 5);
    await c.wait('p', ['sleeping'], 200, 5);
    expect(await c.cancel('kid')).toBe(true);
    expect((await finished(c, 'p')).result).toBe('child failed: CANCELLED');
  });

  it('Lidex code moves over: makeClient, handlers in a Map, wait for "finished"', async () => {
    const handlers = new Map<string, WorkflowHandler>([
      [
        'collect-payment',
        async (ctx: WorkflowContext, invoiceId: string) =>
          ctx.step('find-invoice', () => `invoice ${invoiceId}`),
      ],
    ]);
    const c = await makeClient({ store: makeStore(), handlers, pollIntervalMs: 5 });
    expect(await c.start('collect-payment-1', 'collect-payment', '1')).toBe(true);
    work(c);
    const record = await c.wait('collect-payment-1', ['finished'], 400, 10);
    expect(record?.status).toBe('completed');
    expect(record?.result).toBe('invoice 1');
  });

  it('a workflow naming an Object.prototype member as its handler is HANDLER_UNKNOWN', async () => {
    const c = client({});
    await c.start('w', 'constructor');
    work(c);
    expect((await finished(c, 'w')).error?.code).toBe('HANDLER_UNKNOWN');
  });

  it('drain() runs what is due, children included, and returns once nothing is due (serverless use)', async () => {
    const c = client({
      quick: (ctx: WorkflowContext) => ctx.step('s', () => 'q'),
      spawner: async (ctx: WorkflowContext) => {
        await ctx.start('spawned', 'quick');
        return 'spawned it';
      },
      later: async (ctx: WorkflowContext) => {
        await ctx.sleep('long', 600_000);
      },
    });
    await c.start('a', 'quick');
    await c.start('b', 'spawner');
    await c.start('c', 'later');
    const stats = await c.drain();
    expect(stats).toMatchObject({ completed: 3, suspended: 1, failed: 0 });
    expect((await c.get('spawned'))?.status).toBe('completed');
    expect((await c.get('c'))?.status).toBe('sleeping');
  });

  it('drain({ maxMs }) stops gracefully: the running step is recorded and the workflow released', async () => {
    const c = client({
      slow: async (ctx: WorkflowContext) => {
        await ctx.step('one', () => pause(150));
        await ctx.step('two', () => 2);
      },
    });
    await c.start('w', 'slow');
    const stats = await c.drain({ maxMs: 50 });
    expect(stats.released).toBe(1);
    const record = await c.get('w');
    expect(record?.status).toBe('ready');
    expect(record?.steps.map((s) => s.id)).toEqual(['one']);
    await expectDurableError(() => c.drain({ maxMs: -1 }), 'CONFIG');
  });

  it('options are validated at once; 0 is valid everywhere', async () => {
    const store = makeStore();
    expect(() => new WorkflowClient({ store, handlers: {}, maxFailures: -1 })).toThrow(
      /maxFailures/,
    );
    expect(() => new WorkflowClient({ store, handlers: {}, pollIntervalMs: Number.NaN })).toThrow(
      /pollIntervalMs/,
    );
    expect(() => new WorkflowClient({ store, handlers: { x: 1 as never } })).toThrow(/function/);
    const zero = new WorkflowClient({
      store,
      handlers: { f: (ctx: WorkflowContext) => ctx.step('s', () => 1) },
      maxFailures: 0,
      timeoutIntervalMs: 0,
      pollIntervalMs: 0,
      retryIntervalMs: 0,
      // A 0 ms lease expires at once: with more than one run at a time the worker would take its
      // own running workflow over.
      concurrency: 1,
    });
    await zero.start('w', 'f');
    work(zero);
    expect((await finished(zero, 'w')).result).toBe(1);
  });

  it('result() and wait() report absent and unfinished workflows', async () => {
    const c = client({ f: () => 1 }, { concurrency: 0 });
    await expectDurableError(() => c.result('nope'), 'NOT_FOUND');
    await c.start('w', 'f');
    await expectDurableError(() => c.result('w'), 'NOT_FINISHED');
    expect(await c.wait('w', ['completed'], 2, 5)).toBeUndefined();
    expect(await c.wait('w', ['ready'], 0, 5)).toBeUndefined(); // 0 checks, as in Lidex
    expect((await c.wait('w', ['idle'], 1, 5))?.status).toBe('ready');
    await expectDurableError(() => c.start('', 'f'), 'INVALID_KEY');
    await expectDurableError(() => c.start('x', 42 as never), 'CONFIG');
    await expectDurableError(() => c.wait('w', 'completed' as never, 1, 1), 'CONFIG');
    await expectDurableError(() => c.wait('w', ['completed'], -1, 1), 'CONFIG');
    await expectDurableError(() => c.wait('w', ['completed'], 1, Number.NaN), 'CONFIG');
    await expectDurableError(() => c.signal('w', '', 1), 'CONFIG');
    await expectDurableError(() => c.signal('w', 'e', { f: () => 1 }), 'SERIALIZATION');
    await expectDurableError(() => c.cancel(7 as never), 'INVALID_KEY');
  });
});

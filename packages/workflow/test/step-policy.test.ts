import type { StepMemo, WorkflowRecord, WorkflowStore } from '@durable/core';
import { DurableError, MemoryWorkflowStore } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import type { AnyWorkflow, StepOptions, WorkflowDefinition } from '../src/index.js';
import { NonRetryableError, WorkflowClient, defineWorkflow } from '../src/index.js';

// Per-step retry policies, with an injected clock and an injected pause: no real waiting.

function setup<W extends AnyWorkflow>(
  workflows: W[],
  wrap: (store: WorkflowStore) => WorkflowStore = (store) => store,
): { c: WorkflowClient<W>; waits: number[]; advance: (ms: number) => void } {
  let now = 1_000_000;
  // The store runs on the same injected clock, so a durable sleep is due only when we say so.
  const store = wrap(new MemoryWorkflowStore({ clock: () => now }));
  const waits: number[] = [];
  const c = new WorkflowClient({
    store,
    workflows,
    clock: () => now,
    pause: async (ms) => {
      waits.push(ms);
      now += ms;
    },
    retryIntervalMs: 0,
    maxFailures: 3,
    pollIntervalMs: 0,
    onError: () => undefined,
  });
  return { c, waits, advance: (ms) => (now += ms) };
}

// A step function that fails `times` times with `error()`, then returns 'ok'.
function flaky(
  times: number,
  error: () => unknown = () => new Error('flaky'),
): { fn: () => string; calls: () => number } {
  let calls = 0;
  return {
    fn: () => {
      calls++;
      if (calls <= times) throw error();
      return 'ok';
    },
    calls: () => calls,
  };
}

function stepOf(record: WorkflowRecord | undefined, id: string): StepMemo | undefined {
  return record?.steps.find((memo) => memo.id === id);
}

function once(
  step: () => unknown,
  policy?: StepOptions,
): WorkflowDefinition<'once', undefined, unknown> {
  return defineWorkflow('once', async (ctx) => ctx.step('call', step, policy));
}

describe('ctx.step retry policies', () => {
  it('a failing step is retried in place with backoff: one run, no failure counted, attempts recorded', async () => {
    const api = flaky(2);
    const { c, waits } = setup([once(api.fn, { retries: 3, retryIntervalMs: 100, backoff: 3 })]);
    const handle = await c.start(once(api.fn), 'w');
    const stats = await c.drain();
    expect(await handle.result()).toBe('ok');
    expect(api.calls()).toBe(3);
    expect(waits).toEqual([100, 300]);
    expect(stats.completed).toBe(1);
    expect(stats.failed).toBe(0);
    const record = await c.get('w');
    expect(record?.failures).toBe(0);
    expect(stepOf(record, 'call')).toMatchObject({ done: true, value: 'ok', attempts: 3 });
  });

  it('without a policy nothing changes: a failure fails the run and the workflow retry runs the step again', async () => {
    const api = flaky(1);
    const { c, waits } = setup([once(api.fn)]);
    await c.start(once(api.fn), 'w');
    const stats = await c.drain();
    expect(stats).toMatchObject({ failed: 1, completed: 1 });
    expect(waits).toEqual([]);
    const record = await c.get('w');
    expect(record?.failures).toBe(1);
    expect(stepOf(record, 'call')).toMatchObject({ done: true, value: 'ok', attempts: 1 });
  });

  it('when the retries run out the run fails, its stored error names the step and the attempts, and the next run retries afresh', async () => {
    const api = flaky(3);
    const { c, waits } = setup([once(api.fn, { retries: 1, retryIntervalMs: 10 })]);
    await c.start(once(api.fn), 'w');
    const stats = await c.drain();
    // run 1: attempts 1, 2 fail; run 2: attempt 3 fails, attempt 4 succeeds.
    expect(api.calls()).toBe(4);
    expect(waits).toEqual([10, 10]);
    expect(stats).toMatchObject({ failed: 1, completed: 1 });
    const record = await c.get('w');
    expect(record?.failures).toBe(1);
    expect(stepOf(record, 'call')?.attempts).toBe(2);
  });

  it('the stored error of a run whose step ran out of retries says which step and how many attempts', async () => {
    const api = flaky(99);
    const { c } = setup([once(api.fn, { retries: 2, retryIntervalMs: 0 })]);
    await c.start(once(api.fn), 'w');
    await c.drain();
    const record = await c.get('w');
    expect(record?.status).toBe('aborted');
    expect(record?.failures).toBe(3);
    expect(record?.error).toMatchObject({
      message: 'flaky',
      details: { step: 'call', attempts: 3 },
    });
    expect(api.calls()).toBe(9);
  });

  it('a NonRetryableError fails at once: no step retry, no workflow retry', async () => {
    const api = flaky(1, () => new NonRetryableError('card declined for good'));
    const { c, waits } = setup([once(api.fn, { retries: 5 })]);
    const handle = await c.start(once(api.fn), 'w');
    await c.drain();
    expect(api.calls()).toBe(1);
    expect(waits).toEqual([]);
    const error = await expectDurableError(() => handle.result(), 'WORKFLOW_FAILED');
    expect(error.details?.error).toMatchObject({
      code: 'NON_RETRYABLE',
      message: 'card declined for good',
      details: { attempts: 1 },
    });
    expect((await c.get('w'))?.failures).toBe(1);
  });

  it('a DurableError with retryable false skips the step retries; the workflow retry behaves as before', async () => {
    const api = flaky(
      1,
      () => new DurableError('NOT_FOUND', 'no such account', { retryable: false }),
    );
    const { c, waits } = setup([once(api.fn, { retries: 5 })]);
    await c.start(once(api.fn), 'w');
    const stats = await c.drain();
    expect(waits).toEqual([]);
    expect(stats).toMatchObject({ failed: 1, completed: 1 });
    expect(api.calls()).toBe(2);
  });

  it('a DurableError marked retryable is retried in place', async () => {
    const api = flaky(
      2,
      () => new DurableError('BACKEND', 'provider unavailable', { retryable: true }),
    );
    const { c } = setup([once(api.fn, { retries: 2, retryIntervalMs: 1 })]);
    await c.start(once(api.fn), 'w');
    await c.drain();
    expect(stepOf(await c.get('w'), 'call')?.attempts).toBe(3);
  });

  it('timeoutMs fails an attempt that does not settle with STEP_TIMEOUT and aborts its signal; a retry can succeed', async () => {
    const signals: AbortSignal[] = [];
    const slowThenFast = defineWorkflow('once', async (ctx) =>
      ctx.step(
        'call',
        ({ attempt, signal }) => {
          signals.push(signal);
          return attempt === 1 ? new Promise<string>(() => undefined) : `attempt ${attempt}`;
        },
        { retries: 1, retryIntervalMs: 0, timeoutMs: 20 },
      ),
    );
    const { c } = setup([slowThenFast]);
    const handle = await c.start(slowThenFast, 'w');
    await c.drain();
    expect(await handle.result()).toBe('attempt 2');
    expect(signals).toHaveLength(2);
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[0]?.reason).toMatchObject({ code: 'STEP_TIMEOUT' });
    expect(signals[1]?.aborted).toBe(false);
  });

  it('a step whose every attempt times out fails the run with STEP_TIMEOUT', async () => {
    const hang = defineWorkflow('once', async (ctx) =>
      ctx.step('call', () => new Promise(() => undefined), { timeoutMs: 10 }),
    );
    const { c } = setup([hang]);
    await c.start(hang, 'w');
    await c.drain();
    const record = await c.get('w');
    expect(record?.status).toBe('aborted');
    expect(record?.error).toMatchObject({
      code: 'STEP_TIMEOUT',
      details: { step: 'call', attempts: 1 },
    });
  });

  it.each<[string, unknown]>([
    ['an unknown option', { retry: 3 }],
    ['negative retries', { retries: -1 }],
    ['a fractional interval', { retryIntervalMs: 1.5 }],
    ['a backoff below 1', { backoff: 0.5 }],
    ['a zero timeout', { timeoutMs: 0 }],
  ])(
    'a policy with %s aborts the workflow with CONFIG before the step runs',
    async (_what, policy) => {
      const api = flaky(0);
      const { c } = setup([once(api.fn, policy as StepOptions)]);
      await c.start(once(api.fn), 'w');
      await c.drain();
      const record = await c.get('w');
      expect(record?.status).toBe('aborted');
      expect(record?.error?.code).toBe('CONFIG');
      expect(api.calls()).toBe(0);
    },
  );

  it('a record written before step policies (memos without attempts) still loads and replays', async () => {
    const strip = (record: WorkflowRecord | undefined): WorkflowRecord | undefined =>
      record === undefined
        ? undefined
        : { ...record, steps: record.steps.map(({ attempts: _attempts, ...memo }) => memo) };
    // A store whose records look like old ones: every memo read back lacks `attempts`.
    const old = (inner: WorkflowStore): WorkflowStore =>
      Object.assign(Object.create(inner) as WorkflowStore, {
        get: async (id: string) => strip(await inner.get(id)),
        claim: async (options: { leaseMs: number }) => {
          const claimed = await inner.claim(options);
          return claimed === undefined
            ? undefined
            : { ...claimed, record: strip(claimed.record) as WorkflowRecord };
        },
      });
    let charges = 0;
    const twoSteps = defineWorkflow('once', async (ctx) => {
      const first = await ctx.step('charge', () => ++charges, { retries: 1 });
      await ctx.sleep('nap', 5);
      return first;
    });
    const { c, advance } = setup([twoSteps], old);
    const handle = await c.start(twoSteps, 'w');
    await c.drain();
    expect(await handle.status()).toBe('sleeping');
    expect(stepOf(await c.get('w'), 'charge')).toEqual(
      expect.not.objectContaining({ attempts: expect.anything() }),
    );
    advance(5);
    await c.drain();
    expect(await handle.result()).toBe(1);
    expect(charges).toBe(1);
  });

  it('a worker stopping during a retry wait releases the workflow without a failure; the next worker retries afresh', async () => {
    let calls = 0;
    let waiting: (() => void) | undefined;
    const store = new MemoryWorkflowStore();
    const flakyOnce = defineWorkflow('once', async (ctx) =>
      ctx.step(
        'call',
        () => {
          calls++;
          if (calls === 1) throw new Error('flaky');
          return 'ok';
        },
        { retries: 3, retryIntervalMs: 60_000 },
      ),
    );
    const first = new WorkflowClient({
      store,
      workflows: [flakyOnce],
      pollIntervalMs: 0,
      onError: () => undefined,
      // The retry wait: resolves only when the worker stops (its signal aborts).
      pause: (_ms, signal) =>
        new Promise<void>((resolve) => {
          waiting = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        }),
    });
    const handle = await first.start(flakyOnce, 'w');
    const worker = first.poll();
    while (waiting === undefined) await new Promise((resolve) => setImmediate(resolve));
    await worker.stop();
    expect(worker.stats).toMatchObject({ released: 1, failed: 0 });
    expect(await handle.status()).toBe('ready');
    expect((await first.get('w'))?.failures).toBe(0);
    const second = new WorkflowClient({
      store,
      workflows: [flakyOnce],
      pollIntervalMs: 0,
      onError: () => undefined,
    });
    await second.drain();
    expect(await second.handle(flakyOnce, 'w').result()).toBe('ok');
    expect(calls).toBe(2);
  });
});

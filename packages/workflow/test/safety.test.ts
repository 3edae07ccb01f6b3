import type { Clock, WorkflowRecord, WorkflowStore } from '@durable/core';
import { DurableError, MemoryStorageManager, MemoryWorkflowStore } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import { StorageWorkflowStore } from '@durable/core';
import type { WorkflowWorker } from '../src/index.js';
import type {
  LidexClientOptions as WorkflowClientOptions,
  LidexContext as WorkflowContext,
} from '../src/lidex/index.js';
import { LidexClient as WorkflowClient } from '../src/lidex/index.js';

// Safety rails: programming errors abort at once, misuse is refused early and says why.

const FINAL = ['completed', 'aborted', 'cancelled'] as const;
const workers: WorkflowWorker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

const stores: Array<[string, (clock?: Clock) => WorkflowStore]> = [
  ['memory store', () => new MemoryWorkflowStore()],
  ['storage store', () => new StorageWorkflowStore({ storage: new MemoryStorageManager() })],
];

function client(
  store: WorkflowStore,
  handlers: WorkflowClientOptions['handlers'],
  options: Partial<WorkflowClientOptions> = {},
): WorkflowClient {
  return new WorkflowClient({
    store,
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

class Money {
  constructor(readonly cents: number) {}
}

describe.each(stores)('programming errors abort at once on the %s', (_name, makeStore) => {
  const cyclic = (): unknown => {
    const o: Record<string, unknown> = { a: 1 };
    o.self = o;
    return o;
  };
  const results: Array<[string, () => unknown, string]> = [
    ['a Date', () => ({ at: new Date() }), '$.at'],
    ['a Map', () => new Map([[1, 2]]), '$'],
    ['a class instance', () => ({ price: new Money(5) }), '$.price'],
    ['a BigInt', () => [1n], '$[0]'],
    ['a cycle', cyclic, '$.self'],
    ['NaN', () => ({ n: Number.NaN }), '$.n'],
    ['Infinity', () => ({ n: [Number.POSITIVE_INFINITY] }), '$.n[0]'],
  ];

  it.each(results)(
    'a step returning %s: aborted SERIALIZATION at the first run with its path; the side effect ran once',
    async (_what, value, path) => {
      let effects = 0;
      const c = client(
        makeStore(),
        {
          flow: async (ctx: WorkflowContext) => {
            await ctx.step('charge', () => {
              effects++;
              return value();
            });
            return 'unreachable';
          },
        },
        { maxFailures: 3 },
      );
      await c.start('w', 'flow');
      work(c);
      const record = await finished(c, 'w');
      expect(record.status).toBe('aborted');
      expect(record.failures).toBe(1);
      expect(record.error).toMatchObject({ code: 'SERIALIZATION', details: { path } });
      expect(record.error?.message).toContain('result of step "charge"');
      expect(record.steps).toEqual([]);
      expect(effects).toBe(1);
    },
  );

  it.each([
    ['ctx.sleep(-5)', (ctx: WorkflowContext) => ctx.sleep('s', -5)],
    ["ctx.sleep('1 day')", (ctx: WorkflowContext) => ctx.sleep('s', '1 day' as never)],
    [
      "ctx.sleepUntil('tomorrow')",
      (ctx: WorkflowContext) => ctx.sleepUntil('s', 'tomorrow' as never),
    ],
    ['a step with an empty id', (ctx: WorkflowContext) => ctx.step('', () => 1)],
    ['a step without a function', (ctx: WorkflowContext) => ctx.step('s', 5 as never)],
    [
      'waitForEvent with an unknown option',
      (ctx: WorkflowContext) => ctx.waitForEvent('e', { timeout: 5 } as never),
    ],
  ])(
    '%s: aborted with CONFIG at the first run, also when the handler catches it; earlier steps do not run again',
    async (_what, misuse) => {
      let runs = 0;
      let effects = 0;
      const c = client(
        makeStore(),
        {
          flow: async (ctx: WorkflowContext) => {
            runs++;
            await ctx.step('before', () => effects++);
            await misuse(ctx).catch(() => undefined);
            await ctx.step('after', () => effects++);
            return 'done';
          },
        },
        { maxFailures: 3 },
      );
      await c.start('w', 'flow');
      work(c);
      const record = await finished(c, 'w');
      expect(record.status).toBe('aborted');
      expect(record.error?.code).toBe('CONFIG');
      expect(record.steps.map((s) => s.id)).toEqual(['before']);
      expect([runs, effects]).toEqual([1, 1]);
    },
  );

  it('ctx.start of a handler this client does not know aborts the parent with HANDLER_UNKNOWN at once', async () => {
    const c = client(
      makeStore(),
      { parent: (ctx: WorkflowContext) => ctx.start('kid', 'nope') },
      { maxFailures: 3 },
    );
    await c.start('p', 'parent');
    work(c);
    const record = await finished(c, 'p');
    expect([record.status, record.error?.code, record.failures]).toEqual([
      'aborted',
      'HANDLER_UNKNOWN',
      1,
    ]);
    expect(await c.get('kid')).toBeUndefined();
  });

  it('an ordinary error thrown by a step body is still a failure to retry, even a DurableError the handler catches', async () => {
    let runs = 0;
    const c = client(
      makeStore(),
      {
        flow: async (ctx: WorkflowContext) => {
          runs++;
          const caught = await ctx
            .step('own', () => Promise.reject(new DurableError('CONFIG', 'the API said so')))
            .catch(() => 'caught');
          if (runs < 2) throw new Error('flaky');
          return caught;
        },
      },
      { maxFailures: 3 },
    );
    await c.start('w', 'flow');
    work(c);
    const record = await finished(c, 'w');
    expect([record.status, record.result, record.failures, runs]).toEqual([
      'completed',
      'caught',
      1,
      2,
    ]);
  });
});

describe.each(stores)('a store hiccup while recording a step on the %s', (_name, makeStore) => {
  it.each([
    ['the write landed but its reply was lost', true],
    ['the write failed', false],
  ])(
    '%s (a retryable error): the step is recorded once and its side effect not run again',
    async (_what, applied) => {
      const inner = makeStore();
      let failed = 0;
      const store: WorkflowStore = Object.assign(Object.create(inner) as WorkflowStore, {
        saveStep: async (...args: Parameters<WorkflowStore['saveStep']>) => {
          if (args[3].id === 'charge' && failed === 0) {
            failed++;
            if (applied) await inner.saveStep(...args);
            throw new DurableError('BACKEND', 'store: saveStep failed (injected)', {
              retryable: true,
            });
          }
          return inner.saveStep(...args);
        },
      });
      let effects = 0;
      const c = client(store, {
        flow: async (ctx: WorkflowContext) => ctx.step('charge', () => ++effects),
      });
      await c.start('w', 'flow');
      work(c);
      const record = await finished(c, 'w');
      expect([record.status, record.result, record.failures, effects, failed]).toEqual([
        'completed',
        1,
        0,
        1,
        1,
      ]);
      expect(record.steps.map((step) => [step.id, step.value])).toEqual([['charge', 1]]);
    },
  );
});

describe('a worker outlives a broken store and a throwing onError', () => {
  it('a claim that throws a revoked proxy, a malformed claim and an onError that throws: reported, and the worker runs the next workflow', async () => {
    const inner = new MemoryWorkflowStore();
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    let claims = 0;
    const store: WorkflowStore = Object.assign(Object.create(inner) as WorkflowStore, {
      claim: async (options: { leaseMs: number }) => {
        claims++;
        if (claims === 1) throw revoked.proxy;
        if (claims === 2) return { token: 't', record: undefined } as never;
        return inner.claim(options);
      },
    });
    let reports = 0;
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const c = client(
        store,
        { f: () => 'ran' },
        {
          onError: () => {
            reports++;
            throw new Error('onError threw');
          },
        },
      );
      await c.start('w', 'f');
      work(c);
      const record = await finished(c, 'w');
      expect([record.status, record.result]).toEqual(['completed', 'ran']);
      expect(reports).toBeGreaterThanOrEqual(2);
      // (The calls hold the revoked proxy, which jest's matchers cannot look at.)
      expect(
        spy.mock.calls.filter(
          (call) => call[0] === '@durable/workflow: onError threw while reporting',
        ).length,
      ).toBe(reports);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('start() and waiting on workflows that no worker runs', () => {
  it('start() of an unknown handler name is HANDLER_UNKNOWN at once and stores nothing; allowUnknownHandlers and a client without handlers accept it', async () => {
    const store = new MemoryWorkflowStore();
    const c = client(store, { pay: () => 1 });
    const error = await expectDurableError(() => c.start('w', 'pya'), 'HANDLER_UNKNOWN');
    expect(error.message).toContain('"pay"');
    expect(await c.get('w')).toBeUndefined();
    expect(
      await client(store, { pay: () => 1 }, { allowUnknownHandlers: true }).start('w', 'elsewhere'),
    ).toBe(true);
    expect(await client(store, {}).start('v', 'elsewhere')).toBe(true);
    await expectDurableError(() => c.start('x', 'constructor'), 'HANDLER_UNKNOWN');
  });

  it('result() and a wait() that gives up on a workflow never claimed say no worker took it', async () => {
    const errors: unknown[] = [];
    const c = client(
      new MemoryWorkflowStore(),
      { f: () => 1 },
      { concurrency: 0, onError: (error) => errors.push(error) },
    );
    await c.start('w', 'f');
    const error = await expectDurableError(() => c.result('w'), 'NOT_FINISHED');
    expect(error.message).toContain('status ready, never claimed: is a worker polling this store');
    expect(await c.wait('w', ['completed'], 2, 1)).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toContain(
      'wait w gave up after 2 checks: status ready, never claimed',
    );
  });

  it('a completed sleep shows as done in the stored record', async () => {
    let now = 1_000_000;
    const store = new MemoryWorkflowStore({ clock: () => now });
    const c = client(
      store,
      { f: async (ctx: WorkflowContext) => ctx.sleep('nap', 1000).then(() => 'woke') },
      { clock: () => now },
    );
    await c.start('w', 'f');
    work(c);
    expect((await c.wait('w', ['sleeping'], 200, 5))?.steps).toEqual([
      expect.objectContaining({ id: 'nap', done: false }),
    ]);
    now += 1000;
    const record = await finished(c, 'w');
    expect(record.result).toBe('woke');
    expect(record.steps).toEqual([
      expect.objectContaining({ id: 'nap', kind: 'sleep', done: true, until: 1_001_000 }),
    ]);
  });
});

describe('options are checked', () => {
  const store = new MemoryWorkflowStore();

  it('an unknown option or a Lidex name is CONFIG naming ours; a missing store is CONFIG', async () => {
    await expectDurableError(
      async () => new WorkflowClient({ store, handlers: {}, maxFailure: 3 } as never),
      'CONFIG',
    );
    const renamed = await expectDurableError(
      async () => new WorkflowClient({ persistence: store, handlers: {} } as never),
      'CONFIG',
    );
    expect(renamed.message).toContain('use store');
    await expectDurableError(async () => new WorkflowClient({ handlers: {} } as never), 'CONFIG');
    await expectDurableError(
      async () => new WorkflowClient({ store, handlers: {}, onError: 'log' } as never),
      'CONFIG',
    );
  });

  it('start, poll and drain refuse unknown option keys with CONFIG', async () => {
    const c = client(store, { f: () => 1 }, { concurrency: 0 });
    await expectDurableError(() => c.start('w', 'f', 1, { runat: 5 } as never), 'CONFIG');
    await expectDurableError(async () => c.poll({ signl: undefined } as never), 'CONFIG');
    await expectDurableError(() => c.drain({ maxMS: 5 } as never), 'CONFIG');
    expect(await c.get('w')).toBeUndefined();
  });
});

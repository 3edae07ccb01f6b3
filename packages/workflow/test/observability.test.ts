import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { MemoryWorkflowStore, loadTelemetry } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import { NonRetryableError, WorkflowClient, defineWorkflow } from '../src/index.js';

// The workflow engine's structured logs (pino's call shape) and OpenTelemetry spans, asserted
// with a recording logger and the SDK's in-memory exporter.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  await loadTelemetry(); // the engine loads it with its first run, without waiting for it
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

type Logged = { level: string; details: Record<string, unknown>; message: string };
function recordingLogger(): {
  logger: Record<
    'debug' | 'info' | 'warn' | 'error',
    (d: Record<string, unknown>, m: string) => void
  > & { level: string };
  logged: Logged[];
} {
  const logged: Logged[] = [];
  const at = (level: string) => (details: Record<string, unknown>, message: string) =>
    void logged.push({ level, details, message });
  return {
    logged,
    logger: {
      level: 'debug',
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    },
  };
}

let flaky = 0;
const order = defineWorkflow('order', async (ctx, input: { id: number }) => {
  await ctx.step('reserve', () => `r-${input.id}`);
  await ctx.step(
    'charge',
    () => {
      trace.getTracer('test').startSpan('payment-api').end();
      flaky += 1;
      if (flaky === 1) throw new Error('gateway timeout');
      return 'charged';
    },
    { retries: 2, retryIntervalMs: 0 },
  );
  await ctx.waitForEvent('paid', { timeoutMs: 3_600_000 });
  return 'done';
});
const doomed = defineWorkflow('doomed', async (ctx) => {
  await ctx.step('check', () => {
    throw new NonRetryableError('card declined');
  });
});
const waiting = defineWorkflow('waiting', async (ctx) => {
  await ctx.waitForEvent('never', { timeoutMs: 3_600_000 });
});

describe('workflow logs and spans', () => {
  it('logs started, claimed, step done, retried, sleeping, woken, completed, aborted and cancelled with ids, attempts and durations', async () => {
    flaky = 0;
    const { logger, logged } = recordingLogger();
    const client = new WorkflowClient({
      store: new MemoryWorkflowStore(),
      workflows: [order, doomed, waiting],
      logger,
      retryIntervalMs: 0,
      pollIntervalMs: 0,
      onError: () => undefined,
    });
    await client.start(order, 'o-1', { id: 1 });
    await client.start(doomed, 'd-1');
    await client.start(waiting, 'w-1');
    await client.drain();
    await client.handle(order, 'o-1').signal('paid', { ok: true });
    await client.drain();
    await client.handle(waiting, 'w-1').cancel();
    const of = (id: string) =>
      logged.filter((l) => l.details['workflowId'] === id).map((l) => `${l.level} ${l.message}`);
    expect(of('o-1')).toEqual([
      'info workflow o-1 started',
      'info workflow o-1 claimed',
      'debug workflow o-1: step reserve done',
      'warn workflow o-1: step charge retried (attempt 2): gateway timeout',
      'debug workflow o-1: step charge done',
      'info workflow o-1 sleeping',
      'info workflow o-1 woken',
      'info workflow o-1 completed',
    ]);
    expect(of('d-1')).toEqual([
      'info workflow d-1 started',
      'info workflow d-1 claimed',
      'warn workflow d-1: step check failed: card declined',
      'error workflow d-1 aborted',
    ]);
    expect(of('w-1')).toEqual([
      'info workflow w-1 started',
      'info workflow w-1 claimed',
      'info workflow w-1 sleeping',
      'info workflow w-1 cancelled',
    ]);
    const charge = logged.find((l) => l.message === 'workflow o-1: step charge done');
    expect(charge?.details).toMatchObject({
      workflowId: 'o-1',
      handler: 'order',
      stepId: 'charge',
      stepIndex: 1,
      stepAttempts: 2,
      outcome: 'done',
    });
    expect(typeof charge?.details['durationMs']).toBe('number');
    const aborted = logged.find((l) => l.message === 'workflow d-1 aborted');
    expect(aborted?.details).toMatchObject({
      attempt: 1,
      outcome: 'aborted',
      error: { name: 'NonRetryableError', message: 'card declined' },
    });
    const woken = logged.find((l) => l.message === 'workflow o-1 woken');
    expect(woken?.details).toMatchObject({ waitedFor: 'event paid#0', recorded: 3 });
  });

  it('each event carries exactly its documented fields, in the same order', async () => {
    flaky = 0;
    const { logger, logged } = recordingLogger();
    const client = new WorkflowClient({
      store: new MemoryWorkflowStore(),
      workflows: [order, doomed],
      logger,
      retryIntervalMs: 0,
      pollIntervalMs: 0,
      onError: () => undefined,
    });
    await client.start(order, 'o-4', { id: 4 });
    await client.start(doomed, 'd-4');
    await client.drain();
    await client.handle(order, 'o-4').signal('paid', { ok: true });
    await client.drain();
    const ms = expect.any(Number) as unknown;
    const run = (id: string, handler: string) => ({ workflowId: id, handler, attempt: 1 });
    // Per workflow: the two runs interleave.
    const shapes = (id: string) =>
      logged
        .filter((l) => l.details['workflowId'] === id)
        .map((l) => [l.message, Object.keys(l.details), l.details]);
    const error = new Error('gateway timeout');
    const declined = { name: 'NonRetryableError', message: 'card declined', code: 'NON_RETRYABLE' };
    const expected: Array<[string, Record<string, unknown>]> = [
      ['workflow o-4 started', { workflowId: 'o-4', handler: 'order', created: true }],
      ['workflow d-4 started', { workflowId: 'd-4', handler: 'doomed', created: true }],
      ['workflow o-4 claimed', { ...run('o-4', 'order'), recorded: 0 }],
      ['workflow d-4 claimed', { ...run('d-4', 'doomed'), recorded: 0 }],
      [
        'workflow o-4: step reserve done',
        {
          ...run('o-4', 'order'),
          stepId: 'reserve',
          stepIndex: 0,
          outcome: 'done',
          durationMs: ms,
          stepAttempts: 1,
        },
      ],
      [
        'workflow d-4: step check failed: card declined',
        {
          ...run('d-4', 'doomed'),
          stepId: 'check',
          stepIndex: 0,
          outcome: 'failed',
          durationMs: ms,
          stepAttempts: 1,
          err: expect.objectContaining(declined) as unknown,
        },
      ],
      [
        'workflow o-4: step charge retried (attempt 2): gateway timeout',
        { ...run('o-4', 'order'), stepId: 'charge', stepAttempt: 2, err: error },
      ],
      [
        'workflow d-4 aborted',
        { ...run('d-4', 'doomed'), outcome: 'aborted', durationMs: ms, error: declined },
      ],
      [
        'workflow o-4: step charge done',
        {
          ...run('o-4', 'order'),
          stepId: 'charge',
          stepIndex: 1,
          outcome: 'done',
          durationMs: ms,
          stepAttempts: 2,
        },
      ],
      ['workflow o-4 sleeping', { ...run('o-4', 'order'), outcome: 'suspended', durationMs: ms }],
      ['workflow o-4 woken', { ...run('o-4', 'order'), recorded: 3, waitedFor: 'event paid#0' }],
      ['workflow o-4 completed', { ...run('o-4', 'order'), outcome: 'completed', durationMs: ms }],
    ];
    for (const id of ['o-4', 'd-4'])
      expect(shapes(id)).toEqual(
        expected.filter(([, d]) => d['workflowId'] === id).map(([m, d]) => [m, Object.keys(d), d]),
      );
  });

  it('step events (debug) go only to a logger that says it wants debug: isLevelEnabled, else its level', async () => {
    const plain = defineWorkflow('plain', async (ctx) => {
      await ctx.step('one', () => 1);
      return 'ok';
    });
    const levels = async (logger: Record<string, unknown>): Promise<string[]> => {
      const client = new WorkflowClient({
        store: new MemoryWorkflowStore(),
        workflows: [plain],
        logger: logger as never,
        pollIntervalMs: 0,
      });
      await client.start(plain, 'p');
      await client.drain();
      return (logger['logged'] as Logged[]).map((l) => `${l.level} ${l.message}`);
    };
    const make = (extra: Record<string, unknown>): Record<string, unknown> => {
      const { logger, logged } = recordingLogger();
      const { level: _level, ...methods } = logger;
      return { ...methods, ...extra, logged };
    };
    const withoutDebug = [
      'info workflow p started',
      'info workflow p claimed',
      'info workflow p completed',
    ];
    const withDebug = [
      'info workflow p started',
      'info workflow p claimed',
      'debug workflow p: step one done',
      'info workflow p completed',
    ];
    expect(await levels(make({}))).toEqual(withoutDebug);
    expect(await levels(make({ level: 'info' }))).toEqual(withoutDebug);
    expect(await levels(make({ level: 'trace' }))).toEqual(withDebug);
    expect(await levels(make({ isLevelEnabled: (l: string) => l !== 'debug' }))).toEqual(
      withoutDebug,
    );
    expect(await levels(make({ level: 'info', isLevelEnabled: () => true }))).toEqual(withDebug);
  });

  it('a span per run and per step: steps are children of their run, code in a step a child of the step, attempts and outcomes recorded', async () => {
    flaky = 0;
    const client = new WorkflowClient({
      store: new MemoryWorkflowStore(),
      workflows: [order, doomed],
      retryIntervalMs: 0,
      pollIntervalMs: 0,
      onError: () => undefined,
    });
    await client.start(order, 'o-2', { id: 2 });
    await client.start(doomed, 'd-2');
    await client.drain();
    await client.handle(order, 'o-2').signal('paid', null);
    await client.drain();
    const finished = exporter.getFinishedSpans();
    const runs = finished.filter((s) => s.name === 'durable.workflow.run');
    const steps = finished.filter((s) => s.name === 'durable.step');
    const runsOf = (id: string): ReadableSpan[] =>
      runs.filter((s) => s.attributes['durable.workflow.id'] === id);
    expect(runsOf('o-2').map((s) => s.attributes['durable.outcome'])).toEqual([
      'suspended',
      'completed',
    ]);
    expect(runsOf('d-2').map((s) => [s.attributes['durable.outcome'], s.status.message])).toEqual([
      ['aborted', 'card declined'],
    ]);
    expect(runsOf('o-2')[0]?.attributes).toMatchObject({
      'durable.workflow.handler': 'order',
      'durable.workflow.attempt': 1,
    });
    const [firstRun] = runsOf('o-2');
    const stepSpans = steps.filter(
      (s) => s.parentSpanContext?.spanId === firstRun?.spanContext().spanId,
    );
    expect(
      stepSpans.map((s) => [
        s.attributes['durable.step.id'],
        s.attributes['durable.step.attempts'],
        s.attributes['durable.outcome'],
      ]),
    ).toEqual([
      ['reserve', 1, 'done'],
      ['charge', 2, 'done'],
    ]);
    const chargeSpan = stepSpans[1] as ReadableSpan;
    const calls = finished.filter((s) => s.name === 'payment-api');
    expect(calls).toHaveLength(2);
    for (const call of calls)
      expect(call.parentSpanContext?.spanId).toBe(chargeSpan.spanContext().spanId);
    const check = steps.find((s) => s.attributes['durable.step.id'] === 'check');
    expect(check?.attributes['durable.outcome']).toBe('failed');
    expect(check?.parentSpanContext?.spanId).toBe(runsOf('d-2')[0]?.spanContext().spanId);
    // The replayed steps of the second run are not re-run, so they have no span.
    expect(
      steps.filter((s) => s.parentSpanContext?.spanId === runsOf('o-2')[1]?.spanContext().spanId),
    ).toEqual([]);
  });

  it('a logger that is not pino-shaped is CONFIG; no logger logs nothing and runs the same', async () => {
    await expectDurableError(
      async () =>
        new WorkflowClient({
          store: new MemoryWorkflowStore(),
          workflows: [],
          logger: {} as never,
        }),
      'CONFIG',
    );
    await expectDurableError(
      async () =>
        new WorkflowClient({
          store: new MemoryWorkflowStore(),
          workflows: [],
          logger: 'pino' as never,
        }),
      'CONFIG',
    );
    const client = new WorkflowClient({
      store: new MemoryWorkflowStore(),
      workflows: [order],
      retryIntervalMs: 0,
      pollIntervalMs: 0,
      onError: () => undefined,
    });
    flaky = 1;
    await client.start(order, 'o-3', { id: 3 });
    await client.drain();
    await client.handle(order, 'o-3').signal('paid', null);
    await client.drain();
    expect((await client.get('o-3'))?.status).toBe('completed');
  });
});

import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createActor, createMachine, assign } from 'xstate';
import { withPersistedActor } from '../src/actor/index.js';
import type { DurableCloudEvent, OrchestrationMiddleware } from '../src/orchestrator/index.js';
import { createCloudEvent, orchestrateCloudEvents } from '../src/orchestrator/index.js';
import {
  contextFromTraceparent,
  MemoryLockManager,
  MemoryStorageManager,
  loadTelemetry,
  logEvent,
  startSpan,
  stampTraceContext,
} from '../src/index.js';

// Spans and logs of the orchestrator and the actor, asserted with the OpenTelemetry SDK's
// in-memory exporter: a trace crosses CloudEvent hops through traceparent/tracestate.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
  await loadTelemetry();
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

const machine = createMachine({
  id: 'book',
  initial: 'fetching',
  states: {
    fetching: { on: { 'evt.book.fetched': 'summarising' } },
    summarising: { on: { 'evt.summary.done': 'done' } },
    done: { type: 'final' },
  },
});
const orchestration: Record<string, OrchestrationMiddleware> = {
  fetching: () => ({ type: 'cmd.book.fetch' }),
  summarising: () => ({ type: 'cmd.summary.write' }),
  done: () => ({ type: 'notif.book.done' }),
};

type Logged = { level: string; details: Record<string, unknown>; message: string };
function recordingLogger(): {
  logger: Record<
    'debug' | 'info' | 'warn' | 'error',
    (d: Record<string, unknown>, m: string) => void
  >;
  logged: Logged[];
} {
  const logged: Logged[] = [];
  const at = (level: string) => (details: Record<string, unknown>, message: string) =>
    void logged.push({ level, details, message });
  return {
    logged,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  };
}

const spans = (name: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.name === name);
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

describe('orchestrator tracing across CloudEvents', () => {
  it("an input event's trace is the parent of its span; the commands it causes carry that span, and the next hop continues the same trace", async () => {
    const storage = new MemoryStorageManager();
    const { logger, logged } = recordingLogger();
    const options = {
      versions: [{ version: '1', logic: machine }],
      onOrchestrationState: orchestration,
      storage,
      lock: new MemoryLockManager(),
      source: 'orchestrator',
      logger,
    };
    await orchestrateCloudEvents(options, [], [{ subject: 'books/moby' }]);

    // Service A, traced, emits the event that the orchestrator consumes.
    const tracer = trace.getTracer('test');
    const upstream = tracer.startSpan('service-a.fetch');
    const upstreamContext = upstream.spanContext();
    const fetched = createCloudEvent({
      type: 'evt.book.fetched',
      source: 'service-a',
      subject: 'books/moby',
      id: 'f-1',
    }) as DurableCloudEvent & Record<string, unknown>;
    fetched['traceparent'] = `00-${upstreamContext.traceId}-${upstreamContext.spanId}-01`;
    fetched['tracestate'] = 'vendor=abc';
    upstream.end();
    exporter.reset();

    const first = await orchestrateCloudEvents(options, [fetched]);
    const [batch] = spans('durable.orchestrator.batch');
    const [eventSpan] = spans('durable.orchestrator.event');
    expect(batch && eventSpan).toBeTruthy();
    expect(eventSpan?.spanContext().traceId).toBe(upstreamContext.traceId);
    expect(parentOf(eventSpan as ReadableSpan)).toBe(upstreamContext.spanId);
    expect(eventSpan?.links.map((l) => l.context.spanId)).toEqual([batch?.spanContext().spanId]);
    expect(eventSpan?.attributes).toMatchObject({
      'cloudevents.event_id': 'f-1',
      'cloudevents.event_type': 'evt.book.fetched',
      'cloudevents.event_subject': 'books/moby',
      'durable.outcome': 'applied',
    });
    const command = first.eventsToEmit.find(
      (e) => e.type === 'cmd.summary.write',
    ) as DurableCloudEvent & Record<string, unknown>;
    expect(command['traceparent']).toBe(
      `00-${upstreamContext.traceId}-${eventSpan?.spanContext().spanId}-01`,
    );
    expect(command['tracestate']).toBe('vendor=abc');

    // Service B consumes the command in its own span, a child of the orchestrator's event span.
    exporter.reset();
    const remote = contextFromTraceparent(command['traceparent'], command['tracestate']);
    const serviceB = startSpan('service-b.summarise', {}, { parent: remote });
    const done = createCloudEvent({
      type: 'evt.summary.done',
      source: 'service-b',
      subject: 'books/moby',
      id: 's-1',
    }) as DurableCloudEvent & Record<string, unknown>;
    stampTraceContext([done], serviceB);
    serviceB.end('ok');
    const second = await orchestrateCloudEvents(options, [done]);
    const [b] = spans('service-b.summarise');
    const [secondEvent] = spans('durable.orchestrator.event');
    expect(b?.spanContext().traceId).toBe(upstreamContext.traceId);
    expect(parentOf(b as ReadableSpan)).toBe(eventSpan?.spanContext().spanId);
    expect(secondEvent?.spanContext().traceId).toBe(upstreamContext.traceId);
    expect(parentOf(secondEvent as ReadableSpan)).toBe(b?.spanContext().spanId);
    const notif = second.eventsToEmit.find((e) => e.type === 'notif.book.done') as Record<
      string,
      unknown
    >;
    expect(notif['traceparent']).toBe(
      `00-${upstreamContext.traceId}-${secondEvent?.spanContext().spanId}-01`,
    );

    // A redelivered event returns the same commands, with the trace they were first emitted in.
    exporter.reset();
    const again = await orchestrateCloudEvents(options, [fetched]);
    expect(again.eventsToEmit).toEqual(
      first.eventsToEmit.filter((e) => e.type === 'cmd.summary.write'),
    );
    expect(spans('durable.orchestrator.event')[0]?.attributes['durable.outcome']).toBe(
      'redelivered',
    );

    expect(
      logged.filter((l) => l.level === 'info' && l.message === 'orchestrator: batch').length,
    ).toBeGreaterThanOrEqual(3);
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'debug',
        details: expect.objectContaining({ eventId: 'f-1', outcome: 'applied' }),
      }),
    );
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'debug',
        message: 'orchestrator: emitted cmd.summary.write',
      }),
    );
  });

  it('an event without a trace gets a span under the batch; an unknown subject is refused with a span and a warning', async () => {
    const storage = new MemoryStorageManager();
    const { logger, logged } = recordingLogger();
    const options = {
      versions: [{ version: '1', logic: machine }],
      onOrchestrationState: orchestration,
      storage,
      lock: new MemoryLockManager(),
      logger,
    };
    await orchestrateCloudEvents(options, [], [{ subject: 'b1' }]);
    exporter.reset();
    const plain = createCloudEvent({
      type: 'evt.book.fetched',
      source: 's',
      subject: 'b1',
      id: 'p-1',
    });
    const stray = createCloudEvent({
      type: 'evt.book.fetched',
      source: 's',
      subject: 'nobody',
      id: 'p-2',
    });
    const ignored = createCloudEvent({
      type: 'evt.summary.done',
      source: 's',
      subject: 'b1',
      id: 'p-3',
    });
    await orchestrateCloudEvents(options, [plain, stray, ignored]);
    const [batch] = spans('durable.orchestrator.batch');
    const events = spans('durable.orchestrator.event');
    expect(
      events
        .map((s) => [
          s.attributes['cloudevents.event_id'],
          s.attributes['durable.outcome'],
          parentOf(s) === batch?.spanContext().spanId,
        ])
        .sort(),
    ).toEqual([
      ['p-1', 'applied', true],
      ['p-2', 'refused', true],
      ['p-3', 'applied', true],
    ]);
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        details: expect.objectContaining({ eventId: 'p-2', outcome: 'refused' }),
      }),
    );
  });
});

describe('actor cycle tracing and lease logs', () => {
  it('withPersistedActor makes one cycle span; spans inside the callback are its children; the lease is logged', async () => {
    const counter = createMachine({
      id: 'counter',
      initial: 'on',
      context: { n: 0 },
      states: { on: { on: { INC: { actions: assign({ n: ({ context }) => context.n + 1 }) } } } },
    });
    const { logger, logged } = recordingLogger();
    const storage = new MemoryStorageManager();
    await withPersistedActor(
      {
        id: 'actors/c1',
        storage,
        lock: new MemoryLockManager(),
        logger,
        actorCreator: (id, snapshot) =>
          createActor(counter, {
            id,
            ...(snapshot === undefined ? {} : { snapshot: snapshot as never }),
          }),
      },
      (actor) => {
        trace.getTracer('test').startSpan('inside').end();
        actor.send({ type: 'INC' });
      },
    );
    const [cycle] = spans('durable.actor.cycle');
    const [inside] = spans('inside');
    expect(cycle?.attributes).toMatchObject({
      'durable.actor.key': 'actors/c1',
      'durable.outcome': 'saved',
    });
    expect(parentOf(inside as ReadableSpan)).toBe(cycle?.spanContext().spanId);
    expect(logged).toContainEqual(
      expect.objectContaining({ level: 'debug', message: 'actor: lease taken on actors/c1' }),
    );
    await expect(
      withPersistedActor(
        { id: 'actors/c2', storage, actorCreator: (id) => createActor(counter, { id }) },
        () => {
          throw new Error('boom');
        },
      ),
    ).rejects.toThrow('boom');
    const failed = spans('durable.actor.cycle').find(
      (s) => s.attributes['durable.actor.key'] === 'actors/c2',
    );
    expect(failed?.attributes['durable.outcome']).toBe('failed');
    expect(failed?.status.message).toBe('boom');
  });

  it('logEvent calls the method of the level when the logger has it, falls back from error to warn, and never throws', () => {
    const calls: string[] = [];
    logEvent({ warn: (_d, m) => void calls.push(`warn ${m}`) }, 'error', {}, 'e');
    logEvent({ warn: (_d, m) => void calls.push(`warn ${m}`) }, 'info', {}, 'i');
    logEvent(
      {
        warn: () => undefined,
        info: () => {
          throw new Error('logger down');
        },
      },
      'info',
      {},
      'x',
    );
    logEvent(undefined, 'info', {}, 'nobody');
    expect(calls).toEqual(['warn e']);
  });
});

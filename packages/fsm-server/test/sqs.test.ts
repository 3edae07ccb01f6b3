import type { SQSClient } from '@aws-sdk/client-sqs';
import { DeleteMessageBatchCommand } from '@aws-sdk/client-sqs';
import { DurableError, MemoryStorageManager } from '@durable/core';
import type { StorageManager } from '@durable/core';
import type { ChildServer } from '@durable/testkit';
import type { ErrorNotification, FsmServer, FsmSqsOptions } from '../src/index.js';
import { createFsmServer } from '../src/index.js';
import { ORDERS_V3 } from './support/orders.js';
import {
  createQueue,
  drain,
  fauxqsMissing,
  eventually,
  queueDepth,
  sendEvents,
  sqsClient,
  startFauxqs,
} from './support/sqs.js';

// The SQS consumer against fauxqs (an SQS emulator from npm) started by the test on 127.0.0.1.
let fauxqs: ChildServer | undefined;
let endpoint = '';
// Known when the file is collected, so a missing emulator is a visible SKIPPED test, never a silent pass.
const unavailable = fauxqsMissing();
let client: SQSClient;

beforeAll(async () => {
  if (unavailable !== undefined) return;
  const started = await startFauxqs();
  if ('unavailable' in started) throw new Error(started.unavailable);
  fauxqs = started.server;
  endpoint = started.endpoint;
  client = sqsClient(endpoint);
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await fauxqs?.stop();
});

/** A storage whose machine writes fail with a retryable BACKEND error while `failing` says so. */
function flakyStorage(failing: (key: string) => boolean): StorageManager {
  const inner = new MemoryStorageManager();
  return {
    capabilities: inner.capabilities,
    read: (k) => inner.read(k),
    delete: (k, o) => inner.delete(k, o),
    exists: (k) => inner.exists(k),
    list: (p, o) => inner.list(p, o),
    write: async (key, value, options) => {
      if (failing(key))
        throw new DurableError('BACKEND', `test storage: ${key} unavailable`, { retryable: true });
      return inner.write(key, value, options);
    },
  };
}

async function startServer(
  name: string,
  storage: StorageManager = new MemoryStorageManager(),
  sqs: Partial<FsmSqsOptions> = {},
  prepare?: (server: FsmServer, events: string) => Promise<void>,
) {
  const events = await createQueue(client, `${name}-events`);
  const errors = await createQueue(client, `${name}-errors`);
  const server = createFsmServer({
    storage,
    httpPort: false,
    grpcPort: false,
    sqs: {
      ...sqs,
      endpoint,
      eventsQueue: `${name}-events`,
      errorsQueue: `${name}-errors`,
      waitTimeSeconds: 1,
      retryDelaySeconds: 0,
      maxRetries: 3,
    },
    logger: { info() {}, warn() {}, error() {} },
  });
  await server.service.createConfiguration(ORDERS_V3);
  await prepare?.(server, events);
  await server.start();
  return { server, events, errors };
}

const state = async (server: FsmServer, id: string): Promise<string | undefined> =>
  (await server.service.getMachine(id))?.state;

const suite = unavailable === undefined ? describe : describe.skip;

suite('SQS consumer (fauxqs)', () => {
  it('applies events from message body + DestinationId/EventId/Sender, deletes them, and acknowledges a duplicate EventId without applying it', async () => {
    const { server, events } = await startServer('apply');
    try {
      await server.service.createMachine('test.orders:v3', 'o1');
      await sendEvents(client, events, [
        { dest: 'o1', event: 'accept', eventId: 'a1', sender: 'shop' },
        { dest: 'o1', event: 'accept', eventId: 'a1', sender: 'shop' }, // redelivered copy
      ]);
      await eventually(
        async () =>
          (await queueDepth(client, events)).total === 0 && server.consumer!.stats.received === 2,
        'both messages handled',
      );
      await sendEvents(client, events, [
        { dest: 'o1', event: 'ship', eventId: 'a2', sender: 'warehouse' },
      ]);
      await eventually(async () => (await state(server, 'o1')) === 'shipped', 'o1 shipped');
      const machine = await server.service.getMachine('o1');
      expect(machine?.history.map((h) => [h.event_id, h.transition.to, h.originator])).toEqual([
        ['a1', 'pending', 'shop'],
        ['a2', 'shipped', 'warehouse'],
      ]);
      expect(server.consumer!.stats).toMatchObject({ applied: 2, duplicates: 1, rejected: 0 });
      await eventually(async () => (await queueDepth(client, events)).total === 0, 'queue empty');
    } finally {
      await server.stop();
    }
  });

  it('bad messages are published to the errors queue with the outcome code and deleted; the consumer keeps going', async () => {
    const { server, events, errors } = await startServer('bad');
    try {
      await server.service.createMachine('test.orders:v3', 'o2');
      await sendEvents(client, events, [
        { event: 'accept', eventId: 'no-dest' },
        { dest: 'ghost', event: 'accept', eventId: 'no-machine' },
        { dest: 'o2', event: 'ship', eventId: 'not-allowed' },
        { dest: 'o2', event: '', eventId: 'empty-body' },
        { dest: '../../etc', event: 'accept', eventId: 'bad-dest' },
        { dest: 'o2', event: 'x'.repeat(300), eventId: 'long-event' },
        { dest: 'o2', event: 'accept', eventId: 'good' },
      ]);
      const notes = (await drain(client, errors, 6)).map(
        (body) => JSON.parse(body) as ErrorNotification,
      );
      const byId = Object.fromEntries(notes.map((n) => [n.event_id, n.outcome.code]));
      expect(byId).toEqual({
        'no-dest': 'MissingDestination',
        'no-machine': 'FsmNotFound',
        'not-allowed': 'EventNotAllowed',
        'empty-body': 'GenericError',
        'bad-dest': 'MissingDestination',
        'long-event': 'GenericError',
      });
      expect(notes.find((n) => n.event_id === 'not-allowed')?.outcome.details).toMatch(
        /not allowed in state "start"/,
      );
      await eventually(
        async () => (await state(server, 'o2')) === 'pending',
        'the good event applied',
      );
      await eventually(
        async () => (await queueDepth(client, events)).total === 0,
        'events queue empty',
      );
    } finally {
      await server.stop();
    }
  });

  it("text-format bodies (the Go sm-server clients' EventRequest) are applied with their id, time, originator and details; a malformed one goes to the errors queue and is deleted", async () => {
    const { server, events, errors } = await startServer('text');
    try {
      await server.service.createMachine('test.orders:v3', 'ot');
      const goText = (eventId: string, event: string) =>
        `event: <\n  event_id: "${eventId}"\n  timestamp: <\n    seconds: 1661733324\n    nanos: 461000000\n  >\n  transition: <\n    event: "${event}"\n  >\n  originator: "Go SQS client"\n  details: "{\\"cost\\":99.99}"\n>\ndest: "ot"\n`;
      await sendEvents(client, events, [
        { event: goText('t1', 'accept') },
        { event: goText('t1', 'accept') }, // redelivered copy
        { event: 'event { transition { event: "ship" } ', eventId: 'broken' },
      ]);
      const [note] = (await drain(client, errors, 1)).map(
        (body) => JSON.parse(body) as ErrorNotification,
      );
      expect(note).toMatchObject({ event_id: 'broken', outcome: { code: 'GenericError' } });
      expect(note?.outcome.details).toMatch(/body is not a valid text-format EventRequest/);
      await eventually(async () => (await state(server, 'ot')) === 'pending', 'ot pending');
      // Sent once t1 is applied, so the order of the two events is fixed.
      await sendEvents(client, events, [
        { event: 'event_id: "t2" transition { event: "ship" }', dest: 'ot' },
      ]);
      await eventually(async () => (await state(server, 'ot')) === 'shipped', 'ot shipped');
      await eventually(async () => (await queueDepth(client, events)).total === 0, 'queue empty');
      const machine = await server.service.getMachine('ot');
      expect(machine?.history).toEqual([
        {
          event_id: 't1',
          timestamp: { seconds: 1661733324, nanos: 461000000 },
          transition: { from: 'start', to: 'pending', event: 'accept' },
          originator: 'Go SQS client',
          details: '{"cost":99.99}',
        },
        expect.objectContaining({
          event_id: 't2',
          transition: { from: 'pending', to: 'shipped', event: 'ship' },
        }),
      ]);
      expect(server.consumer!.stats).toMatchObject({ applied: 2, duplicates: 1, rejected: 1 });
    } finally {
      await server.stop();
    }
  });

  it('a transient storage failure leaves the message for redelivery, and it is applied once storage is back (nothing goes to the errors queue)', async () => {
    let failuresLeft = 0;
    const storage = flakyStorage((key) => key.endsWith('/machines/once') && failuresLeft-- > 0);
    const { server, events, errors } = await startServer('flaky', storage);
    try {
      await server.service.createMachine('test.orders:v3', 'once');
      failuresLeft = 1; // the first attempt of the event fails, the redelivery succeeds
      await sendEvents(client, events, [{ dest: 'once', event: 'accept', eventId: 'r1' }]);
      await eventually(
        async () => (await state(server, 'once')) === 'pending',
        'applied on redelivery',
      );
      expect(server.consumer!.stats.retried).toBeGreaterThanOrEqual(1);
      expect(await queueDepth(client, errors)).toMatchObject({ total: 0 });
    } finally {
      await server.stop();
    }
  });
});

suite('SQS consumer retries', () => {
  it('a message whose event keeps failing transiently goes to the errors queue as InternalError after maxRetries deliveries, then is deleted', async () => {
    let broken = false;
    const storage = flakyStorage((key) => broken && key.endsWith('/machines/stuck'));
    const { server, events, errors } = await startServer('stuck', storage);
    try {
      await server.service.createMachine('test.orders:v3', 'stuck');
      broken = true;
      await sendEvents(client, events, [{ dest: 'stuck', event: 'accept', eventId: 's1' }]);
      const [note] = (await drain(client, errors, 1)).map(
        (body) => JSON.parse(body) as ErrorNotification,
      );
      expect(note).toMatchObject({
        event_id: 's1',
        outcome: { code: 'InternalError', dest: 'stuck' },
        channel: 'sqs',
      });
      expect(note?.outcome.details).toMatch(/unavailable/);
      expect(server.consumer!.stats.retried).toBe(2);
      expect(server.consumer!.stats.rejected).toBe(1);
      await eventually(
        async () => (await queueDepth(client, events)).total === 0,
        'deleted after the report',
      );
      expect(await state(server, 'stuck')).toBe('start');
    } finally {
      await server.stop();
    }
  });
});

suite('SQS consumer stop', () => {
  it('stop() waits for the messages in progress: their events are committed and their messages deleted', async () => {
    const inner = new MemoryStorageManager();
    let gateOpen!: () => void;
    const gate = new Promise<void>((resolve) => (gateOpen = resolve));
    let writeStarted!: () => void;
    const started = new Promise<void>((resolve) => (writeStarted = resolve));
    const storage: StorageManager = {
      capabilities: inner.capabilities,
      read: (k) => inner.read(k),
      delete: (k, o) => inner.delete(k, o),
      exists: (k) => inner.exists(k),
      list: (p, o) => inner.list(p, o),
      write: async (key, value, options) => {
        if (key.endsWith('/machines/slow') && options?.ifVersion) {
          writeStarted();
          await gate;
        }
        return inner.write(key, value, options);
      },
    };
    const { server, events } = await startServer('stopping', storage);
    await server.service.createMachine('test.orders:v3', 'slow');
    await sendEvents(client, events, [{ dest: 'slow', event: 'accept', eventId: 'g1' }]);
    await started;
    let stopped = false;
    const stopping = server.stop().then(() => (stopped = true));
    // While the write is held, stop() cannot have finished (only a stop that abandons work could).
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stopped).toBe(false);
    gateOpen();
    await stopping;
    expect(await state(server, 'slow')).toBe('pending');
    expect(await queueDepth(client, events)).toMatchObject({ total: 0 });
  });
});

/**
 * The real SQS client, through which one DeleteMessageBatch drops its first entry and reports it
 * failed, as SQS may (fauxqs never fails an entry: it answers every one successful).
 */
function failingFirstBatchEntry(real: SQSClient): { client: SQSClient; injected: () => number } {
  let injected = 0;
  const send = real.send.bind(real) as (command: unknown) => Promise<unknown>;
  const client = Object.create(real) as SQSClient;
  (client as unknown as { send: (command: unknown) => Promise<unknown> }).send = async (
    command,
  ) => {
    if (command instanceof DeleteMessageBatchCommand && injected === 0) {
      const entries = command.input.Entries ?? [];
      if (entries.length > 1) {
        injected++;
        const [dropped, ...rest] = entries;
        const reply = (await send(
          new DeleteMessageBatchCommand({ ...command.input, Entries: rest }),
        )) as { Successful?: unknown[]; Failed?: unknown[] };
        return {
          ...reply,
          Failed: [
            ...(reply.Failed ?? []),
            { Id: dropped!.Id, Code: 'InternalError', SenderFault: false, Message: 'injected' },
          ],
        };
      }
    }
    return send(command);
  };
  return { client, injected: () => injected };
}

suite('SQS consumer batching', () => {
  it('receives up to 10 messages a call and deletes them with DeleteMessageBatch after their commits; an entry the batch reports failed is deleted again alone, never redelivered', async () => {
    const injection = failingFirstBatchEntry(client);
    const ids = Array.from({ length: 40 }, (_, i) => `b${i}`);
    // The messages wait in the queue before the consumer starts, so receives find full batches.
    const { server, events } = await startServer(
      'batched',
      new MemoryStorageManager(),
      { client: injection.client },
      async (s, queue) => {
        for (const id of ids) await s.service.createMachine('test.orders:v3', id);
        await sendEvents(
          client,
          queue,
          ids.map((id) => ({ dest: id, event: 'accept', eventId: `e-${id}` })),
        );
      },
    );
    try {
      await eventually(
        async () => (await queueDepth(client, events)).total === 0,
        'every message deleted',
      );
      await eventually(async () => server.consumer!.stats.applied === 40, 'all applied');
      for (const id of ids) expect(await state(server, id)).toBe('pending');
      const stats = server.consumer!.stats;
      expect(injection.injected()).toBe(1);
      expect(stats).toMatchObject({ received: 40, applied: 40, duplicates: 0, deleteRetries: 1 });
      // Batched: far fewer delete requests than messages (one per receive, plus the one retry).
      expect(stats.deleteRequests).toBeLessThan(40);
    } finally {
      await server.stop();
    }
  });

  it('batchSize 1 deletes each message by its own DeleteMessage', async () => {
    const { server, events } = await startServer('unbatched', new MemoryStorageManager(), {
      batchSize: 1,
    });
    try {
      const ids = Array.from({ length: 12 }, (_, i) => `u${i}`);
      for (const id of ids) await server.service.createMachine('test.orders:v3', id);
      await sendEvents(
        client,
        events,
        ids.map((id) => ({ dest: id, event: 'accept', eventId: `e-${id}` })),
      );
      await eventually(
        async () => (await queueDepth(client, events)).total === 0,
        'every message deleted',
      );
      await eventually(async () => server.consumer!.stats.applied === 12, 'all applied');
      expect(server.consumer!.stats).toMatchObject({ received: 12, deleteRequests: 12 });
    } finally {
      await server.stop();
    }
  });
});

if (unavailable !== undefined) {
  it(`SKIPPED: SQS consumer tests: ${String(unavailable)}`, () => undefined);
}

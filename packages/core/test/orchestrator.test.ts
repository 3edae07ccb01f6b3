import { assign, setup } from 'xstate';
import {
  CloudOrchestrationActor,
  ORCHESTRATION_ERROR_TYPE,
  createCloudEvent,
  orchestrateCloudEvents,
  toMermaid,
} from '../src/orchestrator/index.js';
import type {
  DurableCloudEvent,
  OrchestrateCloudEventsOptions,
  OrchestrationMiddleware,
} from '../src/orchestrator/index.js';
import {
  bytesToText,
  MemoryLockManager,
  MemoryStorageManager,
  isDurableError,
} from '../src/index.js';
import type { StorageManager } from '../src/index.js';

type Ctx = {
  bookId: string;
  attempts: number;
  summary?: string;
  grounded?: boolean | undefined;
  compliant?: boolean | undefined;
};

function summaryMachine(id = 'summary') {
  return setup({
    types: { context: {} as Ctx, input: {} as { bookId: string } },
    guards: {
      passed: ({ context }) => context.grounded === true && context.compliant === true,
      canRetry: ({ context }) => context.attempts < 2,
    },
  }).createMachine({
    id,
    initial: 'fetching',
    context: ({ input }) => ({ bookId: input.bookId, attempts: 0 }),
    states: {
      fetching: { on: { 'evt.book.fetched': 'summarising', 'evt.book.missing': 'failed' } },
      summarising: {
        on: {
          'evt.summary.done': {
            target: 'checking',
            actions: assign({
              summary: ({ event }) =>
                String((event as unknown as { data: { text: string } }).data.text),
            }),
          },
        },
      },
      checking: {
        type: 'parallel',
        states: {
          grounded: {
            initial: 'running',
            states: {
              running: {
                on: {
                  'evt.check.grounded': {
                    target: 'finished',
                    actions: assign({
                      grounded: ({ event }) =>
                        Boolean((event as unknown as { data: { ok: boolean } }).data.ok),
                    }),
                  },
                },
              },
              finished: { type: 'final' },
            },
          },
          compliance: {
            initial: 'running',
            states: {
              running: {
                on: {
                  'evt.check.compliance': {
                    target: 'finished',
                    actions: assign({
                      compliant: ({ event }) =>
                        Boolean((event as unknown as { data: { ok: boolean } }).data.ok),
                    }),
                  },
                },
              },
              finished: { type: 'final' },
            },
          },
        },
        onDone: 'deciding',
      },
      deciding: {
        always: [
          { guard: 'passed', target: 'done' },
          {
            guard: 'canRetry',
            target: 'summarising',
            actions: assign({
              attempts: ({ context }) => context.attempts + 1,
              grounded: undefined,
              compliant: undefined,
            }),
          },
          { target: 'failed' },
        ],
      },
      done: { type: 'final' },
      failed: { type: 'final' },
    },
  });
}

const machine = summaryMachine();

const orchestration: Record<string, OrchestrationMiddleware> = {
  fetching: (_id, snapshot) => ({
    type: 'cmd.book.fetch',
    data: { bookId: snapshot.context.bookId },
  }),
  summarising: (_id, snapshot) => ({
    type: 'cmd.book.summarise',
    data: { attempt: snapshot.context.attempts },
  }),
  'checking.grounded.running': (_id, snapshot) => ({
    type: 'cmd.check.grounded',
    data: { summary: snapshot.context.summary },
  }),
  'checking.compliance.running': (_id, snapshot) => ({
    type: 'cmd.check.compliance',
    data: { summary: snapshot.context.summary },
  }),
  done: () => [{ type: 'notif.summary.ready' }],
  failed: () => ({ type: 'notif.summary.failed' }),
};

let counter = 0;
function evt(
  subject: string,
  type: string,
  data?: unknown,
  id = `e${++counter}`,
): DurableCloudEvent {
  return createCloudEvent({
    id,
    source: 'test.services',
    type,
    subject,
    time: '2026-01-01T00:00:00.000Z',
    ...(data === undefined ? {} : { data }),
  });
}

function opts(
  storage: StorageManager,
  extra: Partial<OrchestrateCloudEventsOptions> = {},
): OrchestrateCloudEventsOptions {
  return {
    versions: [{ version: '1.0.0', logic: machine }],
    storage,
    lock: new MemoryLockManager(),
    onOrchestrationState: orchestration,
    clock: () => Date.parse('2026-01-01T00:00:00.000Z'),
    ...extra,
  };
}

const types = (events: readonly DurableCloudEvent[]): string[] => events.map((e) => e.type);

describe('createCloudEvent', () => {
  test('fills id, time and datacontenttype and produces a valid CloudEvent 1.0', () => {
    const event = createCloudEvent({ type: 'cmd.x', source: 'me', subject: 'p1', data: { a: 1 } });
    expect(event.specversion).toBe('1.0');
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(event.time!))).toBe(false);
    expect(event.datacontenttype).toBe('application/json');
    expect(event.data).toEqual({ a: 1 });
  });

  test('refuses an invalid event with INVALID_EVENT (bad time, bad extension name, empty source)', () => {
    expect(() => createCloudEvent({ type: 'cmd.x', source: 'me', time: 'yesterday' })).toThrow(
      expect.objectContaining({ code: 'INVALID_EVENT' }),
    );
    expect(() =>
      createCloudEvent({ type: 'cmd.x', source: 'me', extensions: { 'Bad-Name': 1 } }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_EVENT' }));
    expect(() => createCloudEvent({ type: 'cmd.x', source: '' })).toThrow(
      expect.objectContaining({ code: 'INVALID_EVENT' }),
    );
  });
});

describe('CloudOrchestrationActor', () => {
  const actorFor = (id = 'book-1') =>
    new CloudOrchestrationActor(machine, {
      id,
      input: { bookId: 'moby-dick' },
      middleware: { orchestration },
    });

  test('starting a new process runs the initial state middleware; every emitted event carries the subject', () => {
    const actor = actorFor();
    const produced = actor.start();
    expect(types(produced)).toEqual(['cmd.book.fetch']);
    expect(produced[0]).toMatchObject({
      subject: 'book-1',
      source: 'durable.orchestrator',
      data: { bookId: 'moby-dick' },
    });
    expect(actor.eventsToEmit).toHaveLength(1);
  });

  test('entering nested states of a parallel state runs the middleware keyed by each state path', () => {
    const actor = actorFor();
    actor.start();
    actor.cloudevent(evt('book-1', 'evt.book.fetched'));
    const produced = actor.cloudevent(evt('book-1', 'evt.summary.done', { text: 'a whale' }));
    expect(types(produced)).toEqual(['cmd.check.grounded', 'cmd.check.compliance']);
    expect(produced[0]!.data).toEqual({ summary: 'a whale' });
  });

  test('states passed through within one step (an eventless retry) still emit, in order', () => {
    const actor = actorFor();
    actor.start();
    actor.cloudevent(evt('book-1', 'evt.book.fetched'));
    actor.cloudevent(evt('book-1', 'evt.summary.done', { text: 's' }));
    actor.cloudevent(evt('book-1', 'evt.check.grounded', { ok: false }));
    const produced = actor.cloudevent(evt('book-1', 'evt.check.compliance', { ok: true }));
    expect(types(produced)).toEqual(['cmd.book.summarise']);
    expect(produced[0]!.data).toEqual({ attempt: 1 });
  });

  test('a resumed process emits nothing for states it was already in', () => {
    const first = actorFor();
    first.start();
    first.cloudevent(evt('book-1', 'evt.book.fetched'));
    const resumed = new CloudOrchestrationActor(machine, {
      id: 'book-1',
      snapshot: first.getPersistedSnapshot(),
      sequence: first.sequence,
      middleware: { orchestration },
    });
    expect(resumed.start()).toEqual([]);
    expect(resumed.getSnapshot().value).toBe('summarising');
  });

  test('the cloudevent middleware transforms an incoming event (selected by type) before it is sent', () => {
    const actor = new CloudOrchestrationActor(machine, {
      id: 'book-1',
      input: { bookId: 'b' },
      middleware: {
        orchestration,
        cloudevent: {
          'evt.legacy.found': (event) => ({ type: 'evt.book.fetched', data: event.data }),
        },
      },
    });
    actor.start();
    expect(types(actor.cloudevent(evt('book-1', 'evt.legacy.found')))).toEqual([
      'cmd.book.summarise',
    ]);
  });

  test.each([
    ['no specversion', { id: '1', source: 's', type: 'evt.x', subject: 'book-1' }],
    [
      'wrong specversion',
      { specversion: '0.1', id: '1', source: 's', type: 'evt.x', subject: 'book-1' },
    ],
    ['no id', { specversion: '1.0', source: 's', type: 'evt.x', subject: 'book-1' }],
    ['no source', { specversion: '1.0', id: '1', type: 'evt.x', subject: 'book-1' }],
    ['no type', { specversion: '1.0', id: '1', source: 's', subject: 'book-1' }],
    ['an evt.* event without subject', { specversion: '1.0', id: '1', source: 's', type: 'evt.x' }],
    [
      'a subject of another process',
      { specversion: '1.0', id: '1', source: 's', type: 'evt.x', subject: 'book-2' },
    ],
    ['not an object', 'evt.book.fetched'],
  ])(
    'cloudevent() refuses an event with %s (INVALID_EVENT) and the state does not move',
    (_name, event) => {
      const actor = actorFor();
      actor.start();
      expect(() => actor.cloudevent(event as DurableCloudEvent)).toThrow(
        expect.objectContaining({ code: 'INVALID_EVENT' }),
      );
      expect(actor.getSnapshot().value).toBe('fetching');
    },
  );

  test('a throwing orchestration middleware is reported as MIDDLEWARE, never swallowed', () => {
    const actor = new CloudOrchestrationActor(machine, {
      id: 'book-1',
      input: { bookId: 'b' },
      middleware: {
        orchestration: {
          ...orchestration,
          summarising: () => {
            throw new Error('summariser offline');
          },
        },
      },
    });
    actor.start();
    expect(() => actor.cloudevent(evt('book-1', 'evt.book.fetched'))).toThrow(
      expect.objectContaining({
        code: 'MIDDLEWARE',
        message: expect.stringContaining('summariser offline'),
      }),
    );
  });

  test('a middleware emitting a type other than cmd.* / notif.* or another subject is a MIDDLEWARE error', () => {
    for (const bad of [{ type: 'evt.self' }, { type: 'cmd.x', subject: 'book-2' }]) {
      const actor = new CloudOrchestrationActor(machine, {
        id: 'book-1',
        input: { bookId: 'b' },
        middleware: { orchestration: { fetching: () => bad } },
      });
      expect(() => actor.start()).toThrow(expect.objectContaining({ code: 'MIDDLEWARE' }));
    }
  });

  test('emitted ids are deterministic: the same process, transition and trigger give the same id', () => {
    const run = () => {
      const actor = actorFor();
      actor.start();
      actor.cloudevent(evt('book-1', 'evt.book.fetched', undefined, 'fixed-1'));
      return actor.eventsToEmit.map((e) => e.id);
    };
    const first = run();
    expect(run()).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
  });
});

describe('orchestrateCloudEvents', () => {
  test('starts a process, returns its first command and its context', async () => {
    const storage = new MemoryStorageManager();
    const result = await orchestrateCloudEvents(
      opts(storage),
      [],
      [{ subject: 'book-1', input: { bookId: 'moby' } }],
    );
    expect(types(result.eventsToEmit)).toEqual(['cmd.book.fetch']);
    expect(result.errors).toEqual([]);
    expect(result.processIdContext['book-1']).toEqual({ bookId: 'moby', attempts: 0 });
    expect(result.processes['book-1']).toMatchObject({
      version: '1.0.0',
      value: 'fetching',
      status: 'active',
    });
  });

  test('runs a full orchestration across batches to done, with a retry', async () => {
    const storage = new MemoryStorageManager();
    const o = opts(storage);
    await orchestrateCloudEvents(o, [], [{ subject: 'b', input: { bookId: 'x' } }]);
    const steps: Array<[string, unknown, string[]]> = [
      ['evt.book.fetched', undefined, ['cmd.book.summarise']],
      ['evt.summary.done', { text: 'v1' }, ['cmd.check.grounded', 'cmd.check.compliance']],
      ['evt.check.grounded', { ok: false }, []],
      ['evt.check.compliance', { ok: true }, ['cmd.book.summarise']],
      ['evt.summary.done', { text: 'v2' }, ['cmd.check.grounded', 'cmd.check.compliance']],
      ['evt.check.compliance', { ok: true }, []],
      ['evt.check.grounded', { ok: true }, ['notif.summary.ready']],
    ];
    for (const [type, data, expected] of steps) {
      const result = await orchestrateCloudEvents(o, [evt('b', type, data)]);
      expect(result.errors).toEqual([]);
      expect(types(result.eventsToEmit)).toEqual(expected);
    }
    const final = await orchestrateCloudEvents(o, [evt('b', 'evt.book.fetched')]);
    expect(final.processes['b']).toMatchObject({ value: 'done', status: 'done' });
    expect(final.processIdContext['b']).toMatchObject({ summary: 'v2', attempts: 1 });
  });

  test('a redelivered event (same source + id) changes nothing and returns the same outgoing events', async () => {
    const storage = new MemoryStorageManager();
    const o = opts(storage);
    await orchestrateCloudEvents(o, [], [{ subject: 'b', input: { bookId: 'x' } }]);
    const fetched = evt('b', 'evt.book.fetched');
    const first = await orchestrateCloudEvents(o, [fetched, fetched]);
    expect(types(first.eventsToEmit)).toEqual(['cmd.book.summarise', 'cmd.book.summarise']);
    expect(first.eventsToEmit[0]).toEqual(first.eventsToEmit[1]);
    const stored = await storage.read('orchestrations/b');
    const again = await orchestrateCloudEvents(o, [fetched]);
    expect(again.eventsToEmit).toEqual([first.eventsToEmit[0]]);
    expect(again.processes['b']!.sequence).toBe(1);
    expect((await storage.read('orchestrations/b'))!.version).toBe(stored!.version);
  });

  test('the redelivery window keeps the last N inputs per process: an input older than that is applied again', async () => {
    const ticker = setup({}).createMachine({
      id: 'ticker',
      initial: 'ticking',
      context: { ticks: 0 },
      states: {
        ticking: {
          on: { 'evt.tick': { actions: assign({ ticks: ({ context }) => context.ticks + 1 }) } },
        },
      },
    });
    const storage = new MemoryStorageManager();
    const o = opts(storage, {
      redeliveryWindow: 2,
      versions: [{ version: '1', logic: ticker }],
      onOrchestrationState: { ticking: () => ({ type: 'cmd.started' }) },
    });
    await orchestrateCloudEvents(o, [], [{ subject: 'b' }]);
    const first = evt('b', 'evt.tick');
    const third = evt('b', 'evt.tick');
    await orchestrateCloudEvents(o, [first, evt('b', 'evt.tick')]);
    expect((await orchestrateCloudEvents(o, [first])).processes['b']!.sequence).toBe(2); // still remembered
    await orchestrateCloudEvents(o, [third]);
    expect((await orchestrateCloudEvents(o, [first])).processes['b']!.sequence).toBe(4); // forgotten: applied again
    const stored = JSON.parse(bytesToText((await storage.read('orchestrations/b'))!.data));
    expect(stored.extensions.orchestration.applied.map(([key]: [string]) => key)).toEqual([
      'start',
      `test.services\u0000${third.id}`,
      `test.services\u0000${first.id}`,
    ]);
    // The start is never forgotten: redelivering it still returns the first command.
    expect(types((await orchestrateCloudEvents(o, [], [{ subject: 'b' }])).eventsToEmit)).toEqual([
      'cmd.started',
    ]);
  });

  test('re-running a batch after a crash between save and publish returns the same events with the same ids', async () => {
    const storage = new MemoryStorageManager();
    const o = opts(storage);
    const batch = [
      evt('p1', 'evt.book.fetched'),
      evt('p2', 'evt.book.fetched'),
      evt('p1', 'evt.summary.done', { text: 't' }),
    ];
    const starts = [
      { subject: 'p1', input: { bookId: '1' } },
      { subject: 'p2', input: { bookId: '2' } },
    ];
    const first = await orchestrateCloudEvents(o, batch, starts);
    // "Crash": nothing was published; the same batch is delivered again.
    const second = await orchestrateCloudEvents(o, batch, starts);
    expect(second.eventsToEmit).toEqual(first.eventsToEmit);
    expect(types(first.eventsToEmit)).toEqual([
      'cmd.book.fetch',
      'cmd.book.summarise',
      'cmd.check.grounded',
      'cmd.check.compliance',
      'cmd.book.fetch',
      'cmd.book.summarise',
    ]);
  });

  test('the snapshot is saved in one write together with the events it produced', async () => {
    const storage = new MemoryStorageManager();
    let writes = 0;
    const counting: StorageManager = Object.assign(Object.create(storage) as StorageManager, {
      write: (...args: Parameters<StorageManager['write']>) => {
        writes++;
        return storage.write(...args);
      },
    });
    const result = await orchestrateCloudEvents(
      opts(counting),
      [evt('b', 'evt.book.fetched'), evt('b', 'evt.summary.done', { text: 't' })],
      [{ subject: 'b', input: { bookId: 'x' } }],
    );
    expect(writes).toBe(1);
    const stored = JSON.parse(bytesToText((await storage.read('orchestrations/b'))!.data));
    const storedEvents = (
      stored.extensions.orchestration.applied as Array<[string, DurableCloudEvent[]]>
    ).flatMap(([, events]) => events);
    expect(storedEvents).toEqual(result.eventsToEmit);
    expect(stored.machine).toEqual({ id: 'summary', version: '1.0.0' });
  });

  test('two concurrent starts of one id make one process; both return the same start events', async () => {
    const storage = new MemoryStorageManager();
    const lock = new MemoryLockManager();
    const [a, b] = await Promise.all([
      orchestrateCloudEvents(
        opts(storage, { lock }),
        [],
        [{ subject: 'b', input: { bookId: 'first' } }],
      ),
      orchestrateCloudEvents(
        opts(storage, { lock }),
        [],
        [{ subject: 'b', input: { bookId: 'second' } }],
      ),
    ]);
    expect(a.eventsToEmit).toEqual(b.eventsToEmit);
    expect(a.processIdContext['b']).toEqual(b.processIdContext['b']);
  });

  test('without a lock (write mode) concurrent batches on one process lose no update: a conflict re-runs the group', async () => {
    const memory = new MemoryStorageManager();
    let conflicts = 0;
    const storage: StorageManager = Object.assign(Object.create(memory) as StorageManager, {
      write: (...args: Parameters<StorageManager['write']>) =>
        memory.write(...args).catch((error: unknown) => {
          if (isDurableError(error, 'CONFLICT')) conflicts++;
          throw error;
        }),
    });
    const o = opts(storage, { locking: 'write' });
    delete (o as { lock?: unknown }).lock;
    await orchestrateCloudEvents(
      o,
      [evt('b', 'evt.book.fetched'), evt('b', 'evt.summary.done', { text: 't' })],
      [{ subject: 'b', input: { bookId: 'x' } }],
    );
    const results = await Promise.all([
      orchestrateCloudEvents(o, [evt('b', 'evt.check.grounded', { ok: true })]),
      orchestrateCloudEvents(o, [evt('b', 'evt.check.compliance', { ok: true })]),
    ]);
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(conflicts).toBeGreaterThanOrEqual(1); // the race really happened and was resolved
    const final = await orchestrateCloudEvents(o, [evt('b', 'evt.noop')]);
    expect(final.processes['b']!.value).toBe('done');
    expect(final.processIdContext['b']).toMatchObject({ grounded: true, compliant: true });
  });

  test('each process keeps its version; new starts get the newest unless a start names one', async () => {
    const storage = new MemoryStorageManager();
    const v2 = summaryMachine();
    await orchestrateCloudEvents(opts(storage), [], [{ subject: 'old', input: { bookId: 'x' } }]);
    const both = opts(storage, {
      versions: [
        { version: '1.0.0', logic: machine },
        { version: '2.0.0', logic: v2 },
      ],
    });
    const result = await orchestrateCloudEvents(
      both,
      [evt('old', 'evt.book.fetched')],
      [
        { subject: 'new', input: { bookId: 'y' } },
        { subject: 'pinned', input: { bookId: 'z' }, version: '1.0.0' },
      ],
    );
    expect(result.processes['old']!.version).toBe('1.0.0');
    expect(result.processes['new']!.version).toBe('2.0.0');
    expect(result.processes['pinned']!.version).toBe('1.0.0');
  });

  test('bad inputs yield one error CloudEvent each and never stop the rest of the batch', async () => {
    const storage = new MemoryStorageManager();
    await orchestrateCloudEvents(
      opts(storage),
      [],
      [{ subject: 'v1-process', input: { bookId: 'x' } }],
    );
    const onlyV2 = opts(storage, { versions: [{ version: '2.0.0', logic: machine }] });
    const invalid = { specversion: '1.0', id: 'bad-1', type: 'evt.book.fetched', subject: 'good' };
    const badTime = {
      specversion: '1.0',
      id: 'bad-2',
      source: 's',
      type: 'evt.book.fetched',
      subject: 'good',
      time: 'Tue, 1 Jan 2030',
    };
    const result = await orchestrateCloudEvents(
      onlyV2,
      [
        invalid,
        badTime,
        null,
        42,
        evt('ghost', 'evt.book.fetched'),
        evt('v1-process', 'evt.book.fetched'),
        evt('good', 'evt.book.fetched'),
        evt('bad/../key', 'evt.x'),
      ],
      [
        { subject: 'good', input: { bookId: 'g' } },
        { subject: 'unpinnable', version: '9.9.9' },
      ],
    );
    expect(result.errors.map((e) => (e.data as { code: string }).code).sort()).toEqual(
      [
        'INVALID_EVENT',
        'INVALID_EVENT',
        'INVALID_EVENT',
        'INVALID_EVENT',
        'INVALID_EVENT',
        'NOT_FOUND',
        'VERSION_UNKNOWN',
        'VERSION_UNKNOWN',
      ].sort(),
    );
    for (const error of result.errors) expect(error.type).toBe(ORCHESTRATION_ERROR_TYPE);
    expect(
      result.errors.find((e) => (e.data as { code: string }).code === 'NOT_FOUND'),
    ).toMatchObject({ subject: 'ghost' });
    expect(types(result.eventsToEmit)).toEqual(['cmd.book.fetch', 'cmd.book.summarise']);
    expect(result.processes['good']!.value).toBe('summarising');
  });

  test('a middleware error reports that input, does not advance or save its state, and later inputs still apply', async () => {
    const storage = new MemoryStorageManager();
    let failOnce = true;
    const o = opts(storage, {
      onOrchestrationState: {
        ...orchestration,
        summarising: (id, snapshot) => {
          if (failOnce) {
            failOnce = false;
            throw new Error('summariser offline');
          }
          return orchestration['summarising']!(id, snapshot);
        },
      },
    });
    await orchestrateCloudEvents(o, [], [{ subject: 'b', input: { bookId: 'x' } }]);
    const fetched = evt('b', 'evt.book.fetched');
    const result = await orchestrateCloudEvents(o, [fetched, evt('b', 'evt.other')]);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]!.data).toMatchObject({ code: 'MIDDLEWARE', input: { id: fetched.id } });
    expect(result.processes['b']!.value).toBe('fetching');
    // The failed input was not recorded as applied: redelivering it now succeeds.
    const retried = await orchestrateCloudEvents(o, [fetched]);
    expect(types(retried.eventsToEmit)).toEqual(['cmd.book.summarise']);
    expect(retried.processes['b']!.value).toBe('summarising');
  });

  test('a machine whose action throws yields ACTOR_FAILED for that input; the process keeps its last good state', async () => {
    const fragile = setup({}).createMachine({
      id: 'fragile',
      initial: 'idle',
      context: { n: 0 },
      states: {
        idle: {
          on: {
            'evt.inc': { actions: assign({ n: ({ context }) => context.n + 1 }) },
            'evt.boom': {
              target: 'idle',
              actions: () => {
                throw new Error('action exploded');
              },
            },
          },
        },
      },
    });
    const storage = new MemoryStorageManager();
    const o = opts(storage, {
      versions: [{ version: '1', logic: fragile }],
      onOrchestrationState: {},
    });
    await orchestrateCloudEvents(o, [], [{ subject: 'f' }]);
    const result = await orchestrateCloudEvents(o, [
      evt('f', 'evt.inc'),
      evt('f', 'evt.boom'),
      evt('f', 'evt.inc'),
    ]);
    expect(result.errors.map((e) => e.data)).toEqual([
      expect.objectContaining({
        code: 'ACTOR_FAILED',
        message: expect.stringContaining('evt.boom'),
      }),
    ]);
    expect(result.processes['f']).toMatchObject({ status: 'active', sequence: 2 });
    expect(result.processIdContext['f']).toEqual({ n: 2 });
  });

  test('a corrupt stored process gives INVALID_SNAPSHOT error events and its bytes stay untouched', async () => {
    const storage = new MemoryStorageManager();
    const version = await storage.write('orchestrations/b', '{"format":1,"garbage":true}');
    const result = await orchestrateCloudEvents(
      opts(storage),
      [evt('b', 'evt.book.fetched'), evt('ok', 'evt.book.fetched')],
      [{ subject: 'ok', input: { bookId: 'x' } }],
    );
    expect(result.errors.map((e) => (e.data as { code: string }).code)).toEqual([
      'INVALID_SNAPSHOT',
    ]);
    expect((await storage.read('orchestrations/b'))!.version).toBe(version);
    expect(result.processes['ok']!.value).toBe('summarising');
  });

  test('a subject whose lease stays held gets retryable LOCK_TIMEOUT errors; other subjects proceed', async () => {
    const storage = new MemoryStorageManager();
    const lock = new MemoryLockManager();
    await orchestrateCloudEvents(
      opts(storage, { lock }),
      [],
      [
        { subject: 'a', input: { bookId: 'a' } },
        { subject: 'b', input: { bookId: 'b' } },
      ],
    );
    const held = await lock.acquire('orchestrations/a', { ttlMs: 60_000 });
    const result = await orchestrateCloudEvents(opts(storage, { lock, waitMs: 30 }), [
      evt('a', 'evt.book.fetched'),
      evt('b', 'evt.book.fetched'),
    ]);
    expect(result.errors.map((e) => e.data)).toEqual([
      expect.objectContaining({ code: 'LOCK_TIMEOUT', retryable: true }),
    ]);
    expect(result.processes['b']!.value).toBe('summarising');
    await held.release();
  });

  test('different subjects run concurrently, never more at once than the bound', async () => {
    const storage = new MemoryStorageManager();
    let inFlight = 0;
    let peak = 0;
    const slow: StorageManager = Object.assign(Object.create(storage) as StorageManager, {
      read: async (key: string) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        return storage.read(key);
      },
    });
    const starts = Array.from({ length: 12 }, (_, i) => ({
      subject: `p${i}`,
      input: { bookId: String(i) },
    }));
    await orchestrateCloudEvents(opts(slow, { concurrency: 3 }), [], starts);
    expect(peak).toBe(3);
    peak = 0;
    await orchestrateCloudEvents(opts(slow, { concurrency: 1 }), [], starts);
    expect(peak).toBe(1);
  });

  test('onSnapshot is called after each save with the process state', async () => {
    const storage = new MemoryStorageManager();
    const seen: string[] = [];
    await orchestrateCloudEvents(
      opts(storage, {
        onSnapshot: async (subject, snapshot, state) => {
          seen.push(`${subject}:${String(snapshot.value)}:${state.version}`);
        },
      }),
      [evt('b', 'evt.book.fetched')],
      [{ subject: 'b', input: { bookId: 'x' } }],
    );
    expect(seen).toEqual(['b:summarising:1.0.0']);
  });

  test('bad options are refused with CONFIG', async () => {
    const storage = new MemoryStorageManager();
    await expect(
      orchestrateCloudEvents({ ...opts(storage), versions: [] }, []),
    ).rejects.toMatchObject({ code: 'CONFIG' });
    await expect(
      orchestrateCloudEvents({ ...opts(storage), concurrency: 0 }, []),
    ).rejects.toMatchObject({ code: 'CONFIG' });
    await expect(
      orchestrateCloudEvents({ ...opts(storage), redeliveryWindow: 0 }, []),
    ).rejects.toMatchObject({ code: 'CONFIG' });
    await expect(
      orchestrateCloudEvents(opts(storage), 'not a list' as unknown as unknown[]),
    ).rejects.toMatchObject({ code: 'CONFIG' });
    const noLock = { ...opts(storage), locking: 'read-write' as const };
    delete (noLock as { lock?: unknown }).lock;
    await expect(orchestrateCloudEvents(noLock, [])).rejects.toMatchObject({ code: 'CONFIG' });
    const dup = {
      ...opts(storage),
      versions: [
        { version: '1', logic: machine },
        { version: '1', logic: machine },
      ],
    };
    const error = await orchestrateCloudEvents(dup, []).catch((e: unknown) => e);
    expect(isDurableError(error, 'CONFIG')).toBe(true);
  });
});

describe('toMermaid', () => {
  test('renders states, nested parallel regions and transitions, and marks the current state', () => {
    const actor = new CloudOrchestrationActor(machine, { id: 'b', input: { bookId: 'x' } });
    actor.start();
    actor.cloudevent(evt('b', 'evt.book.fetched'));
    actor.cloudevent(evt('b', 'evt.summary.done', { text: 't' }));
    const diagram = toMermaid(machine, { current: actor.getSnapshot() });
    expect(diagram.split('\n')[0]).toBe('stateDiagram-v2');
    expect(diagram).toContain('[*] --> s_fetching');
    expect(diagram).toContain('s_fetching --> s_summarising : evt.book.fetched');
    expect(diagram).toContain('s_checking --> s_deciding : done');
    expect(diagram).toContain('s_deciding --> s_summarising : always [canRetry]');
    expect(diagram).toMatch(/state s_checking \{[\s\S]*--[\s\S]*\}/);
    expect(diagram).toContain('class s_checking__grounded__running current');
    expect(diagram).toContain('class s_checking__compliance__running current');
    expect(diagram).not.toContain('class s_fetching current');
    expect(diagram).toContain('s_done --> [*]');
  });
});

import { SimulatedClock, assign, createActor, raise, sendTo, setup } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { inspectPersistedActor, withPersistedActor } from '../src/actor/index.js';
import type { PersistedActorOptions } from '../src/actor/index.js';
import {
  createCloudEvent,
  fireDueTimers,
  orchestrateCloudEvents,
  startTimerWorker,
} from '../src/orchestrator/index.js';
import type {
  DurableCloudEvent,
  OrchestrateCloudEventsOptions,
} from '../src/orchestrator/index.js';
import { bytesToText, MemoryLockManager, MemoryStorageManager, listAll } from '../src/index.js';
import type { StorageManager } from '../src/index.js';

// A service is asked for a summary; without a reply within 5 s the orchestration retries once,
// then fails. Every `after` here is the kind of timer that must survive the process.
function serviceMachine(id = 'summary') {
  return setup({
    types: { context: {} as { attempts: number; timeouts: number } },
    guards: { canRetry: ({ context }) => context.attempts < 2 },
  }).createMachine({
    id,
    initial: 'waiting',
    context: { attempts: 1, timeouts: 0 },
    states: {
      waiting: {
        on: { 'evt.summary.done': 'done' },
        after: {
          5000: [
            {
              guard: 'canRetry',
              target: 'retrying',
              actions: assign({
                attempts: ({ context }) => context.attempts + 1,
                timeouts: ({ context }) => context.timeouts + 1,
              }),
            },
            {
              target: 'failed',
              actions: assign({ timeouts: ({ context }) => context.timeouts + 1 }),
            },
          ],
        },
      },
      // Through a state of its own, so that entering waiting again runs its middleware again.
      retrying: { always: 'waiting' },
      done: { type: 'final' },
      failed: { type: 'final' },
    },
  });
}

const machine = serviceMachine();
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

function setupStore(storage: StorageManager = new MemoryStorageManager()) {
  const time = { now: T0 };
  const options: OrchestrateCloudEventsOptions<typeof machine> = {
    versions: [{ version: '1', logic: machine }],
    storage,
    lock: new MemoryLockManager(),
    clock: () => time.now,
    onOrchestrationState: {
      waiting: (_id, snapshot) => ({
        type: 'cmd.summary.request',
        data: { attempt: snapshot.context.attempts },
      }),
      failed: () => ({ type: 'notif.summary.failed' }),
    },
  };
  return { storage, time, options };
}

let counter = 0;
function evt(subject: string, type: string): DurableCloudEvent {
  return createCloudEvent({
    id: `e${++counter}`,
    source: 'test.services',
    type,
    subject,
    time: new Date(T0).toISOString(),
  });
}

async function indexKeys(storage: StorageManager): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of listAll(storage, 'orchestrations-timers/e/')) keys.push(key);
  return keys;
}

async function stored(storage: StorageManager, subject: string): Promise<Record<string, unknown>> {
  const entry = await storage.read(`orchestrations/${subject}`);
  return JSON.parse(bytesToText(entry!.data)) as Record<string, unknown>;
}

describe('orchestration timers', () => {
  test('a pending after is saved with its deadline and indexed; a run before it fires nothing, a run at it fires it once', async () => {
    const { storage, time, options } = setupStore();
    const started = await orchestrateCloudEvents(options, [], [{ subject: 'p1' }]);
    expect(started.eventsToEmit.map((e) => e.type)).toEqual(['cmd.summary.request']);
    const envelope = await stored(storage, 'p1');
    expect(envelope['timers']).toEqual([
      {
        id: 'xstate.after.5000.summary.waiting',
        deadline: T0 + 5000,
        event: { type: 'xstate.after.5000.summary.waiting' },
      },
    ]);
    expect(await indexKeys(storage)).toEqual([
      expect.stringMatching(/^orchestrations-timers\/e\/\d{12}\/00\d{13}\/[0-9a-f]+\/p1$/),
    ]);

    time.now = T0 + 4999;
    const early = await fireDueTimers(options);
    expect(early).toMatchObject({
      fired: 0,
      eventsToEmit: [],
      errors: [],
      nextDeadline: T0 + 5000,
      more: false,
    });

    time.now = T0 + 5000;
    const due = await fireDueTimers(options);
    expect(due.fired).toBe(1);
    expect(due.errors).toEqual([]);
    expect(due.eventsToEmit.map((e) => [e.type, e.data, e.time])).toEqual([
      ['cmd.summary.request', { attempt: 2 }, new Date(T0 + 5000).toISOString()],
    ]);
    expect(due.processes['p1']).toMatchObject({ value: 'waiting', sequence: 1 });
    // The retry re-entered the state: a new timer, due 5 s after the firing, replaces the old one.
    expect((await stored(storage, 'p1'))['timers']).toEqual([
      expect.objectContaining({ deadline: T0 + 10_000 }),
    ]);
    expect(await indexKeys(storage)).toHaveLength(1);

    const again = await fireDueTimers(options);
    expect(again).toMatchObject({ fired: 0, eventsToEmit: [], nextDeadline: T0 + 10_000 });

    time.now = T0 + 60_000;
    const last = await fireDueTimers(options);
    expect(last.eventsToEmit.map((e) => e.type)).toEqual(['notif.summary.failed']);
    expect(last.processes['p1']).toMatchObject({ value: 'failed', status: 'done' });
    expect((await stored(storage, 'p1'))['timers']).toBeUndefined();
    expect(await indexKeys(storage)).toEqual([]);
  });

  test('a run with nothing due reads the markers only, not the pending entries; once all fired, no index key is left', async () => {
    const { storage, time, options } = setupStore();
    // 3 timers due at T0 + 5 s, and 300 two hours later.
    await orchestrateCloudEvents(
      options,
      [],
      [{ subject: 'near0' }, { subject: 'near1' }, { subject: 'near2' }],
    );
    time.now = T0 + 7_200_000;
    await orchestrateCloudEvents(
      { ...options, concurrency: 8 },
      [],
      Array.from({ length: 300 }, (_, i) => ({ subject: `far${i}` })),
    );
    const listed: string[] = [];
    const spy: StorageManager = {
      capabilities: storage.capabilities,
      read: (key) => storage.read(key),
      write: (key, value, o) => storage.write(key, value, o),
      delete: (key, o) => storage.delete(key, o),
      exists: (key) => storage.exists(key),
      list: async (prefix, o) => {
        const page = await storage.list(prefix, o);
        listed.push(...page.keys);
        return page;
      },
    };
    time.now = T0 + 4000;
    const none = await fireDueTimers({ ...options, storage: spy });
    expect(none).toMatchObject({ fired: 0, nextDeadline: T0 + 5000 });
    // Two hour markers, one minute marker, the three near entries: none of the 300 far ones.
    expect(listed.filter((key) => key.includes('/far'))).toEqual([]);
    expect(listed).toHaveLength(6);
    time.now = T0 + 5000;
    expect((await fireDueTimers(options)).fired).toBe(3);
    // Every process times out twice (a retry, then failed): run until nothing is left to fire.
    time.now = T0 + 9_000_000;
    let fired = 0;
    for (let run = 0; run < 4; run++, time.now += 10_000)
      fired += (await fireDueTimers({ ...options, concurrency: 8 })).fired;
    expect(fired).toBe(3 + 2 * 300);
    const left: string[] = [];
    for await (const key of listAll(storage, 'orchestrations-timers/')) left.push(key);
    expect(left).toEqual([]);
  });

  test('a reply before the deadline cancels the timer: its run fires nothing and removes the entry', async () => {
    const { storage, time, options } = setupStore();
    await orchestrateCloudEvents(options, [], [{ subject: 'p1' }]);
    time.now = T0 + 1000;
    await orchestrateCloudEvents(options, [evt('p1', 'evt.summary.done')]);
    expect((await stored(storage, 'p1'))['timers']).toBeUndefined();
    time.now = T0 + 5000;
    const run = await fireDueTimers(options);
    expect(run).toMatchObject({ fired: 0, eventsToEmit: [], errors: [] });
    expect(run.processes['p1']).toMatchObject({ value: 'done', sequence: 1 });
    expect(await indexKeys(storage)).toEqual([]);
  });

  test('a timer of a deleted orchestration does nothing and its entry goes', async () => {
    const { storage, time, options } = setupStore();
    await orchestrateCloudEvents(options, [], [{ subject: 'gone' }]);
    await storage.delete('orchestrations/gone');
    time.now = T0 + 5000;
    expect(await fireDueTimers(options)).toMatchObject({
      fired: 0,
      eventsToEmit: [],
      errors: [],
      processes: {},
    });
    expect(await indexKeys(storage)).toEqual([]);
  });

  test('an event that arrives after a deadline no run delivered yet is preceded by the timer, as it would be live', async () => {
    const { time, options } = setupStore();
    await orchestrateCloudEvents(options, [], [{ subject: 'p1' }]);
    time.now = T0 + 5001;
    const late = await orchestrateCloudEvents(options, [evt('p1', 'evt.summary.done')]);
    // The timeout fired first (a retry), then the reply finished the process.
    expect(late.eventsToEmit.map((e) => e.type)).toEqual(['cmd.summary.request']);
    expect(late.processes['p1']).toMatchObject({ value: 'done', sequence: 2 });
    expect(late.processIdContext['p1']).toEqual({ attempts: 2, timeouts: 1 });
    // The timer run that comes later finds the timer fired and emits those events again, same ids.
    const run = await fireDueTimers(options);
    expect(run.fired).toBe(0);
    expect(run.eventsToEmit).toEqual(late.eventsToEmit);
  });

  test('a publish that fails keeps the timer entries: the next run publishes the same events, and the timer fired once', async () => {
    const { time, options } = setupStore();
    await orchestrateCloudEvents(options, [], [{ subject: 'p1' }]);
    time.now = T0 + 5000;
    const published: DurableCloudEvent[][] = [];
    const failed = await fireDueTimers(options, {
      publish: () => {
        throw new Error('broker down');
      },
    });
    expect(failed.fired).toBe(1);
    expect(failed.eventsToEmit).toEqual([]);
    expect(failed.errors.map((e) => (e.data as { code: string }).code)).toEqual(['BACKEND']);
    const retried = await fireDueTimers(options, {
      publish: (events) => void published.push([...events]),
    });
    expect(retried.fired).toBe(0);
    expect(published).toHaveLength(1);
    expect(published[0]!.map((e) => e.data)).toEqual([{ attempt: 2 }]);
    expect(retried.processes['p1']).toMatchObject({ sequence: 1 });
    // Once published, the entry is gone: a third run publishes nothing.
    const third = await fireDueTimers(options, {
      publish: (events) => void published.push([...events]),
    });
    expect(third.eventsToEmit).toEqual([]);
    expect(published).toHaveLength(1);
  });

  test('a re-run after a crash between the save and the publish emits the same ids', async () => {
    const a = setupStore();
    const b = setupStore();
    for (const { options } of [a, b])
      await orchestrateCloudEvents(options, [], [{ subject: 'p1' }]);
    a.time.now = b.time.now = T0 + 5000;
    const first = await fireDueTimers(a.options);
    // b stands for the crashed run: it fired and saved, but its entries were never removed.
    await fireDueTimers(b.options, { publish: () => Promise.reject(new Error('crash')) });
    const rerun = await fireDueTimers(b.options);
    expect(rerun.eventsToEmit.map((e) => e.id)).toEqual(first.eventsToEmit.map((e) => e.id));
  });

  test('a version change with a pending timer: it fires on the version the process started on; with that version unregistered it waits, reported', async () => {
    const { storage, time, options } = setupStore();
    await orchestrateCloudEvents(options, [], [{ subject: 'old' }]);
    const v2 = serviceMachine('summary');
    const onlyNew: OrchestrateCloudEventsOptions = {
      ...options,
      versions: [{ version: '2', logic: v2 }],
    } as OrchestrateCloudEventsOptions;
    time.now = T0 + 5000;
    const refused = await fireDueTimers(onlyNew);
    expect(refused.fired).toBe(0);
    expect(refused.errors.map((e) => (e.data as { code: string }).code)).toEqual([
      'VERSION_UNKNOWN',
    ]);
    expect(await indexKeys(storage)).toHaveLength(1);
    const both: OrchestrateCloudEventsOptions = {
      ...options,
      versions: [
        { version: '1', logic: machine },
        { version: '2', logic: v2 },
      ],
    } as OrchestrateCloudEventsOptions;
    const fired = await fireDueTimers(both);
    expect(fired.fired).toBe(1);
    expect(fired.processes['old']).toMatchObject({ version: '1', value: 'waiting' });
  });

  test('timers across many orchestrations: two concurrent runs fire each timer exactly once', async () => {
    const { storage, time, options } = setupStore();
    const subjects = Array.from({ length: 40 }, (_, i) => `p${i}`);
    await orchestrateCloudEvents(
      { ...options, concurrency: 8 },
      [],
      subjects.map((subject) => ({ subject })),
    );
    time.now = T0 + 5000;
    const published: DurableCloudEvent[] = [];
    const publish = (events: readonly DurableCloudEvent[]): void => void published.push(...events);
    const [x, y] = await Promise.all([
      fireDueTimers(options, { publish }),
      fireDueTimers({ ...options, lock: options.lock! }, { publish }),
    ]);
    expect(x.fired + y.fired).toBe(40);
    expect(new Set(published.map((e) => e.id)).size).toBe(40);
    expect(published).toHaveLength(40);
    for (const subject of subjects)
      expect(
        ((await stored(storage, subject))['snapshot'] as { context: unknown }).context,
      ).toEqual({ attempts: 2, timeouts: 1 });
  });

  test('delayed raise with an id is kept too, and cancelling it by id removes it', async () => {
    const pinger = setup({}).createMachine({
      id: 'pinger',
      initial: 'idle',
      context: { pings: 0 },
      states: {
        idle: {
          on: {
            'evt.arm': { actions: raise({ type: 'PING' }, { id: 'ping', delay: 2000 }) },
            'evt.disarm': {
              actions: ({ system, self }) =>
                (
                  system as unknown as { scheduler: { cancel(s: unknown, id: string): void } }
                ).scheduler.cancel(self, 'ping'),
            },
            PING: { actions: assign({ pings: ({ context }) => context.pings + 1 }) },
          },
        },
      },
    });
    const time = { now: T0 };
    const storage = new MemoryStorageManager();
    const options: OrchestrateCloudEventsOptions = {
      versions: [{ version: '1', logic: pinger }],
      storage,
      clock: () => time.now,
    };
    await orchestrateCloudEvents(options, [evt('q', 'evt.arm')], [{ subject: 'q' }]);
    expect((await stored(storage, 'q'))['timers']).toEqual([
      { id: 'ping', deadline: T0 + 2000, event: { type: 'PING' } },
    ]);
    time.now = T0 + 2000;
    const run = await fireDueTimers(options);
    expect(run.fired).toBe(1);
    expect(((await stored(storage, 'q'))['snapshot'] as { context: unknown }).context).toEqual({
      pings: 1,
    });

    await orchestrateCloudEvents(
      options,
      [evt('r', 'evt.arm'), evt('r', 'evt.disarm')],
      [{ subject: 'r' }],
    );
    expect((await stored(storage, 'r'))['timers']).toBeUndefined();
    time.now = T0 + 10_000;
    expect(await fireDueTimers(options)).toMatchObject({ fired: 0, errors: [] });
    expect(((await stored(storage, 'r'))['snapshot'] as { context: unknown }).context).toEqual({
      pings: 0,
    });
  });

  test('a timer worker is woken by a timer indexed in its own process, long before its next poll', async () => {
    const storage = new MemoryStorageManager();
    const quick = setup({}).createMachine({
      id: 'quick',
      initial: 'waiting',
      states: { waiting: { after: { 30: 'late' } }, late: { type: 'final' } },
    });
    const options: OrchestrateCloudEventsOptions = {
      versions: [{ version: '1', logic: quick }],
      storage,
      lock: new MemoryLockManager(),
      onOrchestrationState: { late: () => ({ type: 'notif.late' }) },
    };
    const published: DurableCloudEvent[] = [];
    let worker: ReturnType<typeof startTimerWorker> | undefined;
    let firstRun: () => void = () => undefined;
    const ranOnce = new Promise<void>((resolve) => (firstRun = resolve));
    const delivered = new Promise<void>((resolve) => {
      // A poll interval of an hour: only the in-process wake-up can deliver the timer in time.
      worker = startTimerWorker(options, {
        pollIntervalMs: 3_600_000,
        onRun: () => firstRun(),
        publish: (events) => {
          published.push(...events);
          resolve();
        },
      });
    });
    // The worker's first run found nothing and went to sleep for an hour; now the timer appears.
    await ranOnce;
    await orchestrateCloudEvents(options, [], [{ subject: 'q1' }]);
    await delivered;
    await worker!.stop();
    expect(published.map((e) => [e.type, e.subject])).toEqual([['notif.late', 'q1']]);
  }, 30_000);

  test('bad run options are CONFIG naming them', async () => {
    const { options } = setupStore();
    await expect(fireDueTimers(options, { maxMs: -1 })).rejects.toMatchObject({
      code: 'CONFIG',
      message: expect.stringMatching(/maxMs/),
    });
    await expect(fireDueTimers(options, { every: 5 } as never)).rejects.toMatchObject({
      code: 'CONFIG',
      message: expect.stringMatching(/unknown option "every"/),
    });
  });
});

describe('persisted actor timers', () => {
  const reminder = setup({}).createMachine({
    id: 'reminder',
    initial: 'armed',
    context: { rang: 0 },
    states: {
      armed: {
        after: {
          1000: { target: 'rung', actions: assign({ rang: ({ context }) => context.rang + 1 }) },
        },
      },
      rung: {},
    },
  });

  function actorOptions(
    storage: StorageManager,
    time: { now: number },
    xclock: SimulatedClock,
  ): PersistedActorOptions<typeof reminder> {
    return {
      id: 'reminders/r1',
      storage,
      clock: () => time.now,
      actorCreator: (_id, snapshot) =>
        createActor(reminder, { clock: xclock, ...(snapshot === undefined ? {} : { snapshot }) }),
    };
  }

  test('a pending after is saved with its deadline and re-armed on load with the time it has left', async () => {
    const storage = new MemoryStorageManager();
    const time = { now: T0 };
    await withPersistedActor(actorOptions(storage, time, new SimulatedClock()), () => undefined);
    const view = await inspectPersistedActor(actorOptions(storage, time, new SimulatedClock()));
    expect(view?.timers).toEqual([
      {
        id: 'xstate.after.1000.reminder.armed',
        deadline: T0 + 1000,
        event: { type: 'xstate.after.1000.reminder.armed' },
      },
    ]);

    time.now = T0 + 400;
    const clock = new SimulatedClock();
    await withPersistedActor(actorOptions(storage, time, clock), (actor) => {
      clock.increment(599);
      expect(actor.getSnapshot().value).toBe('armed');
      clock.increment(1);
      expect(actor.getSnapshot().value).toBe('rung');
    });
    const after = await inspectPersistedActor(actorOptions(storage, time, new SimulatedClock()));
    expect(after?.snapshot.context).toEqual({ rang: 1 });
    expect(after?.timers).toEqual([]);
  });

  test('a deadline that passed while no process held the actor fires once, at once, on load', async () => {
    const storage = new MemoryStorageManager();
    const time = { now: T0 };
    await withPersistedActor(actorOptions(storage, time, new SimulatedClock()), () => undefined);
    time.now = T0 + 10_000;
    // A process that loads it and dies before saving: the firing was never saved.
    await expect(
      withPersistedActor(actorOptions(storage, time, new SimulatedClock()), (actor) => {
        expect(actor.getSnapshot().value).toBe('rung');
        throw new Error('crash before save');
      }),
    ).rejects.toThrow('crash before save');
    const value = await withPersistedActor(
      actorOptions(storage, time, new SimulatedClock()),
      (actor) => actor.getSnapshot().context.rang,
    );
    expect(value).toBe(1);
    const later = await withPersistedActor(
      actorOptions(storage, time, new SimulatedClock()),
      (actor) => actor.getSnapshot().context.rang,
    );
    expect(later).toBe(1);
  });

  test('an actor loaded and saved unchanged with a pending timer is not written again', async () => {
    const storage = new MemoryStorageManager();
    const time = { now: T0 };
    await withPersistedActor(actorOptions(storage, time, new SimulatedClock()), () => undefined);
    const before = await storage.read('reminders/r1');
    time.now = T0 + 100;
    await withPersistedActor(actorOptions(storage, time, new SimulatedClock()), () => undefined);
    expect((await storage.read('reminders/r1'))?.version).toBe(before?.version);
  });
});

export type { AnyStateMachine };

describe('a delayed event to another actor', () => {
  // The parent asks its child after a delay: the child is another actor, re-created on restore.
  const child = setup({}).createMachine({
    id: 'pinger',
    initial: 'idle',
    context: { pings: 0 },
    states: {
      idle: { on: { PING: { actions: assign({ pings: ({ context }) => context.pings + 1 }) } } },
    },
  });
  const parent = setup({ actors: { child } }).createMachine({
    id: 'parent',
    initial: 'asking',
    invoke: { id: 'kid', src: 'child' },
    states: {
      asking: {
        entry: sendTo('kid', { type: 'PING' }, { delay: 1000, id: 'ping-later' }),
        on: { DONE: 'done' },
      },
      done: {},
    },
  });

  test('a persisted actor with a delayed sendTo to its child pending: save is SERIALIZATION naming it and writes nothing; once it was delivered, save works', async () => {
    const storage = new MemoryStorageManager();
    const clock = new SimulatedClock();
    const options: PersistedActorOptions<typeof parent> = {
      id: 'parents/p1',
      storage,
      actorCreator: (_id, snapshot) =>
        createActor(parent, { clock, ...(snapshot === undefined ? {} : { snapshot }) }),
    };
    const error = await withPersistedActor(options, () => undefined).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: 'SERIALIZATION' });
    expect((error as Error).message).toMatch(/delayed PING to kid \(send id ping-later\)/);
    expect(await storage.read('parents/p1')).toBeUndefined();

    await withPersistedActor(options, (actor) => {
      clock.increment(1000);
      const kid = actor.getSnapshot().children['kid'] as { getSnapshot(): { context: unknown } };
      expect(kid.getSnapshot().context).toEqual({ pings: 1 });
    });
    expect(await storage.read('parents/p1')).toBeDefined();
  });

  test('an orchestration whose transition leaves a delayed sendTo to a child pending: that input is refused with SERIALIZATION, nothing saved', async () => {
    const storage = new MemoryStorageManager();
    const options: OrchestrateCloudEventsOptions<typeof parent> = {
      versions: [{ version: '1', logic: parent }],
      storage,
      lock: new MemoryLockManager(),
      clock: () => T0,
    };
    const result = await orchestrateCloudEvents(options, [], [{ subject: 'p1' }]);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.data).toMatchObject({ code: 'SERIALIZATION' });
    expect(JSON.stringify(result.errors[0]?.data)).toMatch(/delayed PING to kid/);
    expect(await storage.read('orchestrations/p1')).toBeUndefined();
  });
});

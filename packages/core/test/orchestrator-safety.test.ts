// Safety rails of the orchestrator: middleware keys checked,
// evt.* inputs only, events not accepted reported and not recorded, error events with their cause
// and unique ids, one input one outcome, commit first then report, and a save that recognises
// its own already-recorded write.
import { assign, setup } from 'xstate';
import {
  CloudOrchestrationActor,
  createCloudEvent,
  inspectOrchestration,
  listOrchestrations,
  orchestrateCloudEvents,
} from '../src/orchestrator/index.js';
import type {
  DurableCloudEvent,
  OrchestrateCloudEventsOptions,
} from '../src/orchestrator/index.js';
import {
  DurableError,
  bytesToText,
  MemoryLockManager,
  MemoryStorageManager,
} from '../src/index.js';
import type { StorageManager } from '../src/index.js';
import {
  collectingLogger,
  countingStorage,
  lockFailingRelease,
  storageLosingReplies,
} from './support/faults.js';

type Ctx = { n: number; big?: unknown };

// A counter whose `evt.add` adds data.by (a BigInt or NaN breaks the save), and which accepts
// `evt.close` only once opened.
const counter = setup({ types: { context: {} as Ctx } }).createMachine({
  id: 'counter',
  initial: 'idle',
  context: { n: 0 },
  states: {
    idle: {
      on: {
        'evt.add': {
          actions: assign({
            n: ({ context, event }) =>
              context.n + (event as unknown as { data: { by: number } }).data.by,
          }),
        },
        'evt.poison': { actions: assign({ big: () => BigInt(1) }) },
        'evt.open': 'opened',
        'evt.boom': {
          actions: () => {
            throw new Error('action exploded');
          },
        },
      },
    },
    opened: { on: { 'evt.close': 'closed' } },
    closed: { type: 'final' },
  },
});

const regulate = setup({}).createMachine({
  id: 'review',
  initial: 'Draft',
  states: {
    Draft: { on: { 'evt.submit': 'Regulate' } },
    Regulate: {
      type: 'parallel',
      states: {
        Grounded: { id: 'grounded', initial: 'Check', states: { Check: {} } },
        Compliant: { initial: 'Check', states: { Check: {} } },
      },
    },
  },
});

let serial = 0;
function evt(
  subject: string,
  type: string,
  data?: unknown,
  id = `e${++serial}`,
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
    versions: [{ version: '1', logic: counter }],
    storage,
    lock: new MemoryLockManager(),
    clock: () => Date.parse('2026-01-01T00:00:00.000Z'),
    logger: collectingLogger(),
    ...extra,
  };
}

const codes = (events: readonly DurableCloudEvent[]): string[] =>
  events.map((e) => (e.data as { code: string }).code);
const stored = async (storage: StorageManager, subject: string) =>
  JSON.parse(bytesToText((await storage.read(`orchestrations/${subject}`))!.data));

describe('middleware keys are checked when the orchestration is built (issue 9 item 5)', () => {
  test('a key naming no state is CONFIG listing the valid states, before any I/O', async () => {
    const storage = countingStorage(new MemoryStorageManager());
    const error = await orchestrateCloudEvents(
      opts(storage, { onOrchestrationState: { idel: () => ({ type: 'cmd.x' }) } }),
      [],
      [{ subject: 'p' }],
    ).catch((e: unknown) => e as DurableError);
    expect(error).toMatchObject({ code: 'CONFIG' });
    expect((error as DurableError).message).toMatch(
      /"idel" names no state of machine counter.*Valid states: closed, idle, opened/,
    );
    expect(storage.writes).toBe(0);
    expect(
      () =>
        new CloudOrchestrationActor(counter, {
          id: 'p',
          middleware: { orchestration: { 'idle.nested': () => undefined } },
        }),
    ).toThrow(expect.objectContaining({ code: 'CONFIG' }));
  });

  test("xstate #id references and the seed's '#Regulate.#Grounded.Check' form both name states and fire on entry", async () => {
    const storage = new MemoryStorageManager();
    const o = opts(storage, {
      versions: [{ version: '1', logic: regulate }],
      onOrchestrationState: {
        '#Regulate.#Grounded.Check': () => ({ type: 'cmd.check.grounded' }),
        '#review.Regulate.Compliant.Check': () => ({ type: 'cmd.check.compliant' }),
        '#grounded': () => ({ type: 'notif.grounded.entered' }),
      },
    });
    await orchestrateCloudEvents(o, [], [{ subject: 'r' }]);
    const result = await orchestrateCloudEvents(o, [evt('r', 'evt.submit')]);
    expect(result.errors).toEqual([]);
    expect(result.eventsToEmit.map((e) => e.type).sort()).toEqual([
      'cmd.check.compliant',
      'cmd.check.grounded',
      'notif.grounded.entered',
    ]);
  });

  test('a key that only an older registered version has is accepted', async () => {
    const v2 = setup({}).createMachine({ id: 'counter', initial: 'idle', states: { idle: {} } });
    await expect(
      orchestrateCloudEvents(
        opts(new MemoryStorageManager(), {
          versions: [
            { version: '1', logic: counter },
            { version: '2', logic: v2 },
          ],
          onOrchestrationState: { opened: () => undefined },
        }),
        [],
      ),
    ).resolves.toMatchObject({ errors: [] });
  });
});

describe('inputs (issue 9 items 5 and 10)', () => {
  test('a cmd.* event fed back is refused with an INVALID_EVENT error event and changes nothing', async () => {
    const storage = new MemoryStorageManager();
    await orchestrateCloudEvents(opts(storage), [], [{ subject: 'p' }]);
    const result = await orchestrateCloudEvents(opts(storage), [
      evt('p', 'cmd.add', { by: 1 }),
      evt('p', 'evt.add', { by: 2 }),
    ]);
    expect(codes(result.errors)).toEqual(['INVALID_EVENT']);
    expect((result.errors[0]!.data as { message: string }).message).toMatch(
      /consumes evt\.\* events only/,
    );
    expect(result.processIdContext['p']).toEqual({ n: 2 });
  });

  test('an event the current state does not accept is reported, not applied, not recorded: its redelivery is evaluated again', async () => {
    const storage = new MemoryStorageManager();
    const logger = collectingLogger();
    const o = opts(storage, { logger });
    await orchestrateCloudEvents(o, [], [{ subject: 'p' }]);
    const before = (await storage.read('orchestrations/p'))!.version;
    const close = evt('p', 'evt.close');
    const early = await orchestrateCloudEvents(o, [close]);
    expect(early.errors).toEqual([]);
    expect(early.notAccepted).toEqual([
      {
        subject: 'p',
        id: close.id,
        source: 'test.services',
        type: 'evt.close',
        states: ['idle'],
        status: 'active',
      },
    ]);
    expect(logger.lines.map((line) => line.message)).toEqual([
      expect.stringMatching(/evt\.close .* is not accepted by p in state idle/),
    ]);
    expect(early.processes['p']).toMatchObject({ sequence: 0, value: 'idle' });
    expect((await storage.read('orchestrations/p'))!.version).toBe(before); // nothing written
    await orchestrateCloudEvents(o, [evt('p', 'evt.open')]);
    const redelivered = await orchestrateCloudEvents(o, [close]);
    expect(redelivered.notAccepted).toEqual([]);
    expect(redelivered.processes['p']).toMatchObject({
      value: 'closed',
      status: 'done',
      sequence: 2,
    });
  });

  test('ACTOR_FAILED carries the cause: its message and data.cause name the error the machine threw', async () => {
    const storage = new MemoryStorageManager();
    await orchestrateCloudEvents(opts(storage), [], [{ subject: 'p' }]);
    const result = await orchestrateCloudEvents(opts(storage), [evt('p', 'evt.boom')]);
    expect(result.errors.map((e) => e.data)).toEqual([
      expect.objectContaining({
        code: 'ACTOR_FAILED',
        message: expect.stringContaining('action exploded'),
        cause: expect.objectContaining({ message: 'action exploded' }),
      }),
    ]);
  });

  test('an input whose new state cannot be saved (a BigInt) fails alone: the other inputs of its subject are applied and saved, on every redelivery', async () => {
    const storage = new MemoryStorageManager();
    await orchestrateCloudEvents(opts(storage), [], [{ subject: 'p' }]);
    const batch = [
      evt('p', 'evt.add', { by: 1 }),
      evt('p', 'evt.poison'),
      evt('p', 'evt.add', { by: 10 }),
    ];
    const result = await orchestrateCloudEvents(opts(storage), batch);
    expect(codes(result.errors)).toEqual(['SERIALIZATION']);
    expect((result.errors[0]!.data as { input: { id: string } }).input.id).toBe(batch[1]!.id);
    expect(result.processIdContext['p']).toEqual({ n: 11 });
    expect((await stored(storage, 'p')).snapshot.context).toEqual({ n: 11 });
    const again = await orchestrateCloudEvents(opts(storage), batch);
    expect(codes(again.errors)).toEqual(['SERIALIZATION']);
    expect(again.processes['p']!.sequence).toBe(2);
  });

  test.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('%s in the context is SERIALIZATION (JSON would store null)', async (_name, by) => {
    const storage = new MemoryStorageManager();
    await orchestrateCloudEvents(opts(storage), [], [{ subject: 'p' }]);
    const result = await orchestrateCloudEvents(opts(storage), [evt('p', 'evt.add', { by })]);
    expect(codes(result.errors)).toEqual(['SERIALIZATION']);
    expect((await stored(storage, 'p')).snapshot.context).toEqual({ n: 0 });
  });

  test('error events of inputs without a usable id get distinct ids, the same on a re-run', async () => {
    const malformed = [
      null,
      42,
      'text',
      {},
      { specversion: '1.0' },
      { specversion: '1.0', type: 'evt.x' },
      { id: 'x' },
    ];
    const run = async () =>
      (
        await orchestrateCloudEvents(opts(new MemoryStorageManager()), malformed, [
          {} as never,
          { subject: 7 } as never,
        ])
      ).errors.map((e) => e.id);
    const ids = await run();
    expect(ids).toHaveLength(9);
    expect(new Set(ids).size).toBe(9);
    expect(await run()).toEqual(ids);
  });

  test('a subject valid as a key but too long once prefixed is INVALID_EVENT, and so is one the storage cannot hold', async () => {
    const long = 'x'.repeat(1020);
    const result = await orchestrateCloudEvents(
      opts(new MemoryStorageManager()),
      [evt(long, 'evt.add', { by: 1 })],
      [{ subject: long }],
    );
    expect(codes(result.errors)).toEqual(['INVALID_EVENT', 'INVALID_EVENT']);
    const memory = new MemoryStorageManager();
    const picky = Object.assign(Object.create(memory) as StorageManager, {
      read: async (key: string) => {
        if (key.length > 100)
          throw new DurableError(
            'INVALID_KEY',
            `picky: ${key.slice(0, 20)}... is too long for this backend`,
          );
        return memory.read(key);
      },
    });
    const refused = await orchestrateCloudEvents(opts(picky), [], [{ subject: 'y'.repeat(200) }]);
    expect(codes(refused.errors)).toEqual(['INVALID_EVENT']);
  });

  test('subjects with a lone surrogate are refused with INVALID_EVENT (they would collide in UTF-8)', async () => {
    const result = await orchestrateCloudEvents(
      opts(new MemoryStorageManager()),
      [evt('users/\uD800', 'evt.add', { by: 1 })],
      [{ subject: 'users/\uDBFF' }],
    );
    expect(codes(result.errors)).toEqual(['INVALID_EVENT', 'INVALID_EVENT']);
  });
});

describe('commit first, then report (issue 9 item 8)', () => {
  test('a lease release failing after the save leaves the inputs applied, their events returned and no error event', async () => {
    const storage = new MemoryStorageManager();
    const logger = collectingLogger();
    const lock = lockFailingRelease(new MemoryLockManager());
    const result = await orchestrateCloudEvents(
      opts(storage, { lock, logger }),
      [evt('p', 'evt.add', { by: 3 })],
      [{ subject: 'p' }],
    );
    expect(result.errors).toEqual([]);
    expect(result.processIdContext['p']).toEqual({ n: 3 });
    expect((await stored(storage, 'p')).snapshot.context).toEqual({ n: 3 });
    expect(lock.releases).toBe(1);
    expect(logger.lines.map((line) => line.message)).toEqual([
      expect.stringMatching(/releasing the lease on orchestrations\/p failed/),
    ]);
  });

  test('an onSnapshot hook that throws goes to the logger; the result reports the saved process', async () => {
    const logger = collectingLogger();
    const result = await orchestrateCloudEvents(
      opts(new MemoryStorageManager(), {
        logger,
        onSnapshot: () => {
          throw new Error('metrics down');
        },
      }),
      [evt('p', 'evt.add', { by: 1 })],
      [{ subject: 'p' }],
    );
    expect(result.errors).toEqual([]);
    expect(result.processIdContext['p']).toEqual({ n: 1 });
    expect(logger.lines.map((line) => line.message)).toEqual([
      expect.stringMatching(/onSnapshot failed for p .*metrics down/),
    ]);
  });
});

describe('options are checked (issue 9 item 4)', () => {
  test('a missing storage is CONFIG (not a retryable BACKEND per input); the seed name storageManager names ours', async () => {
    const { storage: _omit, ...rest } = opts(new MemoryStorageManager());
    await expect(
      orchestrateCloudEvents(rest as never, [evt('p', 'evt.add', { by: 1 })]),
    ).rejects.toMatchObject({
      code: 'CONFIG',
      retryable: false,
      message: expect.stringMatching(/"storage" is required/),
    });
    await expect(
      orchestrateCloudEvents({ ...rest, storageManager: new MemoryStorageManager() } as never, []),
    ).rejects.toMatchObject({
      code: 'CONFIG',
      message: expect.stringMatching(/"storageManager" is not ours; use storage/),
    });
  });

  test.each([
    ['statemachine', { statemachine: [] }, /"statemachine" is not ours; use versions/],
    ['lockingManager', { lockingManager: {} }, /"lockingManager" is not ours; use lock/],
    ['a misspelt key', { onOrchestration: {} }, /unknown option "onOrchestration"/],
    [
      'orchestrationMachine in a version',
      { versions: [{ version: '1', orchestrationMachine: counter }] },
      /"orchestrationMachine" is not ours; use logic/,
    ],
    [
      'a logic that is no machine',
      { versions: [{ version: '1', logic: {} }] },
      /must be an xstate machine/,
    ],
    ['a zero ttlMs', { ttlMs: 0 }, /ttlMs/],
    ['the old lockTtlMs', { lockTtlMs: 5_000 }, /"lockTtlMs" is not ours; use ttlMs/],
    [
      'the old acquireLockMaxTimeout',
      { acquireLockMaxTimeout: 5_000 },
      /"acquireLockMaxTimeout" is not ours; use waitMs/,
    ],
    ['storageManager', { storageManager: {} }, /"storageManager" is not ours; use storage/],
    ['persistence', { persistence: {} }, /"persistence" is not ours; use storage/],
    ['the old keyPrefix', { keyPrefix: 'orders' }, /"keyPrefix" is not ours; use prefix/],
  ])('%s is CONFIG naming the option', async (_name, extra, message) => {
    await expect(
      orchestrateCloudEvents({ ...opts(new MemoryStorageManager()), ...extra } as never, []),
    ).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringMatching(message) });
  });

  test("a start item with the seed's context is a CONFIG error event naming input; the other starts proceed", async () => {
    const result = await orchestrateCloudEvents(
      opts(new MemoryStorageManager()),
      [],
      [{ subject: 'a', context: { n: 1 } } as never, { subject: 'b' }],
    );
    expect(result.errors.map((e) => e.data)).toEqual([
      expect.objectContaining({
        code: 'CONFIG',
        message: expect.stringMatching(/"context" is not ours; use input/),
      }),
    ]);
    expect(Object.keys(result.processes)).toEqual(['b']);
  });

  test('LOCK_TIMEOUT for a subject names the holding fencing token and its expiry', async () => {
    const lock = new MemoryLockManager();
    const holder = await lock.acquire('orchestrations/p', { ttlMs: 60_000 });
    const result = await orchestrateCloudEvents(
      opts(new MemoryStorageManager(), { lock, waitMs: 20 }),
      [],
      [{ subject: 'p' }],
    );
    expect(result.errors.map((e) => e.data)).toEqual([
      expect.objectContaining({
        code: 'LOCK_TIMEOUT',
        message: expect.stringContaining(`fencing token ${holder.fencingToken}`),
      }),
    ]);
    await holder.release();
  });
});

describe('a save that finds its own already-recorded write is success (issue 17 item 2)', () => {
  test.each(['CONFLICT', 'UNKNOWN_OUTCOME'] as const)(
    'a write that landed but reported %s returns the events, with no re-run needed',
    async (code) => {
      const memory = new MemoryStorageManager();
      const storage = storageLosingReplies(memory, code);
      const result = await orchestrateCloudEvents(
        opts(storage, { maxConflictRetries: 0 }),
        [evt('p', 'evt.add', { by: 5 })],
        [{ subject: 'p' }],
      );
      expect(result.errors).toEqual([]);
      expect(result.processes['p']).toMatchObject({ sequence: 1 });
      expect(storage.writes).toBe(1);
      expect((await stored(memory, 'p')).snapshot.context).toEqual({ n: 5 });
    },
  );
});

describe('read-only inspection', () => {
  test('prefix places the processes, and listOrchestrations / inspectOrchestration read them there', async () => {
    const storage = new MemoryStorageManager();
    const options = { ...opts(storage), prefix: 'tenant-a/orders' };
    await orchestrateCloudEvents(options, [], [{ subject: 'p' }]);
    expect((await storage.list('tenant-a/orders/')).keys).toEqual(['tenant-a/orders/p']);
    expect((await storage.list('orchestrations/')).keys).toEqual([]);
    expect((await listOrchestrations(options)).items.map((item) => item.subject)).toEqual(['p']);
    expect(await inspectOrchestration(options, 'p')).toBeDefined();
    expect(await inspectOrchestration(opts(storage), 'p')).toBeUndefined();
  });

  test('listOrchestrations and inspectOrchestration refuse the old keyPrefix with CONFIG naming prefix', async () => {
    const storage = new MemoryStorageManager();
    const old = { storage, keyPrefix: 'orders' } as never;
    await expect(listOrchestrations(old)).rejects.toMatchObject({
      code: 'CONFIG',
      message: expect.stringMatching(/keyPrefix is now prefix/),
    });
    await expect(inspectOrchestration(old, 'p')).rejects.toMatchObject({
      code: 'CONFIG',
      message: expect.stringMatching(/keyPrefix is now prefix/),
    });
  });

  test('inspectOrchestration reads a process without a lease and without a write', async () => {
    const memory = new MemoryStorageManager();
    const lock = new MemoryLockManager();
    await orchestrateCloudEvents(
      opts(memory, { lock }),
      [evt('p', 'evt.add', { by: 4 })],
      [{ subject: 'p' }],
    );
    const holder = await lock.acquire('orchestrations/p', { ttlMs: 60_000 }); // a batch is working on it
    const storage = countingStorage(memory);
    const view = await inspectOrchestration(opts(storage, { lock }), 'p');
    expect(view).toMatchObject({
      version: '1',
      value: 'idle',
      status: 'active',
      sequence: 1,
      context: { n: 4 },
      remembered: 2,
    });
    expect(view!.storageVersion).toBe((await memory.read('orchestrations/p'))!.version);
    expect(storage.writes).toBe(0);
    expect(await inspectOrchestration(opts(storage), 'nobody')).toBeUndefined();
    await expect(inspectOrchestration(opts(storage), 'users/\uD800')).rejects.toMatchObject({
      code: 'INVALID_KEY',
    });
    await holder.release();
  });
});

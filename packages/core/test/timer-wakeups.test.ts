import { setup } from 'xstate';
import { orchestrateCloudEvents, startTimerWorker } from '../src/orchestrator/index.js';
import type {
  DurableCloudEvent,
  OrchestrateCloudEventsOptions,
  TimerRunResult,
} from '../src/orchestrator/index.js';
import { MemoryLockManager, MemoryStorageManager } from '../src/index.js';
import type { StorageCapabilities, StorageManager } from '../src/index.js';

// Waits `delayMs` (its input), then finishes with notif.late.
const machine = setup({
  types: { context: {} as { delayMs: number }, input: {} as { delayMs: number } },
  delays: { wait: ({ context }) => context.delayMs },
}).createMachine({
  id: 'wait',
  initial: 'waiting',
  context: ({ input }) => ({ delayMs: input.delayMs }),
  states: { waiting: { after: { wait: 'late' } }, late: { type: 'final' } },
});

// The same memory storage behind another object: the in-process wake-up (keyed by the storage
// object) stays silent, as it does for a save made by another process, so only `watch` can wake
// a worker that runs on this view.
function otherView(storage: MemoryStorageManager, capabilities?: StorageCapabilities) {
  const calls = { watch: 0 };
  const view: StorageManager = {
    capabilities: capabilities ?? storage.capabilities,
    read: (key) => storage.read(key),
    write: (key, value, options) => storage.write(key, value, options),
    delete: (key, options) => storage.delete(key, options),
    exists: (key) => storage.exists(key),
    list: (prefix, options) => storage.list(prefix, options),
    watch: (prefix, listener) => {
      calls.watch += 1;
      return storage.watch(prefix, listener);
    },
  };
  return { view, calls };
}

function optionsOn(storage: StorageManager, lock: MemoryLockManager) {
  const options: OrchestrateCloudEventsOptions<typeof machine> = {
    versions: [{ version: '1', logic: machine }],
    storage,
    lock,
    onOrchestrationState: { late: () => ({ type: 'notif.late' }) },
  };
  return options;
}

const running: Array<{ stop(): Promise<void> }> = [];
// A failed test must not leave a worker sleeping for an hour behind it.
afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop()));
});

// A worker that polls once an hour, with its runs and published events observable.
function hourlyWorker(options: OrchestrateCloudEventsOptions<typeof machine>) {
  const runs: TimerRunResult[] = [];
  const published: DurableCloudEvent[] = [];
  const waiters: Array<() => void> = [];
  const settle = (): void => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  const worker = startTimerWorker(options, {
    pollIntervalMs: 3_600_000,
    onRun: (result) => {
      runs.push(result);
      settle();
    },
    publish: (events) => {
      published.push(...events);
      settle();
    },
  });
  running.push(worker);
  const until = async (done: () => boolean): Promise<void> => {
    while (!done()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { worker, runs, published, until };
}

describe('timer worker wake-ups through storage.watch', () => {
  test('a timer saved through another storage object is fired long before the next poll', async () => {
    const storage = new MemoryStorageManager();
    const lock = new MemoryLockManager();
    const { view, calls } = otherView(storage);
    const { worker, runs, published, until } = hourlyWorker(optionsOn(view, lock));
    // The first run found nothing; the worker sleeps for an hour unless woken.
    await until(() => runs.length >= 1);
    await orchestrateCloudEvents(
      optionsOn(storage, lock),
      [],
      [{ subject: 'w1', input: { delayMs: 200 } }],
    );
    await until(() => published.length >= 1);
    await worker.stop();
    expect(calls.watch).toBe(1);
    expect(published.map((event) => [event.type, event.subject])).toEqual([['notif.late', 'w1']]);
    expect(runs.reduce((sum, run) => sum + run.fired, 0)).toBe(1);
  }, 20_000);

  test('a wake-up only makes the worker look: a timer not yet due is not fired', async () => {
    const storage = new MemoryStorageManager();
    const lock = new MemoryLockManager();
    const { view } = otherView(storage);
    const { worker, runs, published, until } = hourlyWorker(optionsOn(view, lock));
    await until(() => runs.length >= 1);
    const savedAt = Date.now();
    await orchestrateCloudEvents(
      optionsOn(storage, lock),
      [],
      [{ subject: 'w2', input: { delayMs: 600_000 } }],
    );
    // The writes woke the worker: it ran again and saw the timer coming, without firing it.
    await until(() => runs.some((run) => run.nextDeadline !== undefined));
    await worker.stop();
    expect(published).toEqual([]);
    expect(runs.map((run) => run.fired)).toEqual(runs.map(() => 0));
    // A lower bound of the deadline (the start of its minute), still in the future.
    expect(runs.find((run) => run.nextDeadline !== undefined)?.nextDeadline).toBeGreaterThan(
      savedAt,
    );
  }, 20_000);

  test('a storage that does not declare watch is not watched, even if it has the method', async () => {
    const storage = new MemoryStorageManager();
    const { view, calls } = otherView(storage, { conditionalWrite: true, watch: false });
    const { worker, runs, until } = hourlyWorker(optionsOn(view, new MemoryLockManager()));
    await until(() => runs.length >= 1);
    await worker.stop();
    expect(calls.watch).toBe(0);
  });

  test('a watch that throws leaves the worker polling, and the logger says so', async () => {
    const storage = new MemoryStorageManager();
    const warnings: string[] = [];
    const view: StorageManager = {
      ...otherView(storage).view,
      watch: () => {
        throw new Error('no watches left');
      },
    };
    const options = {
      ...optionsOn(view, new MemoryLockManager()),
      logger: { warn: (_details: unknown, message: string) => warnings.push(message) },
    };
    const { worker, runs, until } = hourlyWorker(options);
    await until(() => runs.length >= 1);
    await worker.stop();
    expect(warnings).toEqual([
      expect.stringMatching(/could not watch the due index.*no watches left/),
    ]);
  });
});

describe('memory storage watch', () => {
  test('hears writes under its prefix once per turn, not others, not deletes, not after unwatch', async () => {
    const storage = new MemoryStorageManager();
    expect(storage.capabilities.watch).toBe(true);
    let heard = 0;
    const unwatch = storage.watch('a/', () => (heard += 1));
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    await Promise.all([storage.write('a/1', 'x'), storage.write('a/2', 'y')]);
    await turn();
    expect(heard).toBe(1);
    await storage.write('b/1', 'x');
    await storage.write('a', 'x');
    await storage.delete('a/1');
    await turn();
    expect(heard).toBe(1);
    unwatch();
    unwatch();
    await storage.write('a/3', 'x');
    await turn();
    expect(heard).toBe(1);
  });

  test('a bad prefix is INVALID_KEY and a listener that is not a function is CONFIG', () => {
    const storage = new MemoryStorageManager();
    expect(() => storage.watch('../x', () => undefined)).toThrow(
      expect.objectContaining({ code: 'INVALID_KEY' }),
    );
    expect(() => storage.watch('a/', 42 as never)).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
  });
});

import { MemoryStorageManager, StorageWorkflowStore } from '../src/index.js';
import { Gate } from './support/storage-gate.js';

// The storage-backed store's start: one conditional write of the start key of the id (its record
// is made by the first change after it). Concurrent starts of one id, before and after its record
// exists, and a start paused (or crashed) at any of its storage calls while others start, claim
// and finish the same id: exactly one start is acknowledged, and the workflow that runs is its.

const START_KEYS = 'workflows/due/0/';

describe('storage workflow store: a start is one conditional write', () => {
  it('an accepted start writes one key; get, list and counts see it before any claim', async () => {
    const storage = new MemoryStorageManager();
    const gate = new Gate(storage);
    const store = new StorageWorkflowStore({ storage: gate.storage, clock: () => 1000 });
    expect(await store.insert({ id: 'w', handler: 'h', input: { n: 1 } })).toBe(true);
    expect(gate.counts.get('write')).toBe(1);
    expect(gate.counts.get('delete')).toBeUndefined();
    expect((await store.get('w'))?.input).toEqual({ n: 1 });
    expect((await store.get('w'))?.status).toBe('ready');
    expect((await store.list({ limit: 10 })).items.map((s) => [s.id, s.status])).toEqual([
      ['w', 'ready'],
    ]);
    expect((await store.counts()).ready).toBe(1);
    expect(await store.get('nothing')).toBeUndefined();
  });

  it('concurrent starts of one id: exactly one wins, before its record exists and after its start key went', async () => {
    const storage = new MemoryStorageManager();
    const stores = Array.from(
      { length: 8 },
      () => new StorageWorkflowStore({ storage, clock: () => 1000 }),
    );
    const first = await Promise.all(
      stores.map((s, i) => s.insert({ id: 'w', handler: 'h', input: i })),
    );
    expect(first.filter(Boolean)).toHaveLength(1);
    const winner = first.indexOf(true);
    const claim = await stores[0]?.claim({ leaseMs: 10_000 });
    expect(claim?.record.input).toBe(winner);
    // Asleep: the record names a new due entry, the start key is gone.
    await stores[0]?.suspend('w', claim?.token ?? '', { runAt: 5000 });
    expect((await storage.list(START_KEYS)).keys).toEqual([]);
    const again = await Promise.all(
      stores.map((s, i) => s.insert({ id: 'w', handler: 'h', input: 100 + i })),
    );
    expect(again.filter(Boolean)).toHaveLength(0);
    // Duplicates leave no start key behind, or a claim deletes it without running anything.
    expect(await stores[1]?.claim({ leaseMs: 10_000 })).toBeUndefined();
    expect((await storage.list(START_KEYS)).keys).toEqual([]);
    expect((await stores[2]?.get('w'))?.input).toBe(winner);
  });

  it('a signal or a cancel before the first claim makes the record from the start', async () => {
    const storage = new MemoryStorageManager();
    const store = new StorageWorkflowStore({ storage, clock: () => 1000 });
    await store.insert({ id: 's', handler: 'h', input: 's' });
    await store.insert({ id: 'c', handler: 'h', input: 'c' });
    expect(await store.signal('s', 'go', 1)).toBe(true);
    expect(await store.cancel('c')).toBe(true);
    expect(await store.cancel('missing')).toBe(false);
    expect((await store.get('c'))?.status).toBe('cancelled');
    const claim = await store.claim({ leaseMs: 10_000 });
    expect(claim?.record).toMatchObject({ id: 's', input: 's', events: [{ name: 'go' }] });
    expect(await store.claim({ leaseMs: 10_000 })).toBeUndefined();
  });

  it('a start due later is filed under its due time: an empty claim reads no sleeping workflow', async () => {
    const storage = new MemoryStorageManager();
    const gate = new Gate(storage);
    let now = 1000;
    const store = new StorageWorkflowStore({ storage: gate.storage, clock: () => now });
    for (let i = 0; i < 200; i++)
      expect(await store.insert({ id: `s${i}`, handler: 'h', runAt: 5000 + i })).toBe(true);
    expect(await store.insert({ id: 'now', handler: 'h' })).toBe(true);
    expect((await storage.list(START_KEYS)).keys).toEqual(['workflows/due/0/bm93']);
    const first = await store.claim({ leaseMs: 10_000 });
    expect(first?.record.id).toBe('now');
    await store.finish('now', first?.token ?? '', { status: 'completed', result: null });
    gate.counts.clear();
    expect(await store.claim({ leaseMs: 10_000 })).toBeUndefined();
    expect(gate.counts.get('read') ?? 0).toBe(0);
    expect((await store.get('s7'))?.status).toBe('ready');
    now = 5010;
    const due = await store.claim({ leaseMs: 10_000 });
    expect(due?.record.id).toMatch(/^s([0-9]|10)$/);
  });

  it('a start due later left among the starts (its filing failed) is filed by the next claim', async () => {
    const storage = new MemoryStorageManager();
    let failFiling = true;
    const failing = new Proxy(storage, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop !== 'write' || typeof value !== 'function') return value;
        return (key: string, ...rest: unknown[]) => {
          if (failFiling && !key.startsWith(START_KEYS)) throw new Error('storage down');
          return (value as (...a: unknown[]) => unknown).apply(target, [key, ...rest]);
        };
      },
    });
    let now = 1000;
    const store = new StorageWorkflowStore({ storage: failing, clock: () => now });
    expect(await store.insert({ id: 'w', handler: 'h', input: 'W', runAt: 5000 })).toBe(true);
    expect((await storage.list(START_KEYS)).keys).toHaveLength(1);
    failFiling = false;
    expect(await store.claim({ leaseMs: 10_000 })).toBeUndefined();
    expect((await storage.list(START_KEYS)).keys).toEqual([]);
    expect(await store.insert({ id: 'w', handler: 'h', input: 'X' })).toBe(false);
    now = 5000;
    expect((await store.claim({ leaseMs: 10_000 }))?.record.input).toBe('W');
  });

  // A start S paused (or crashed: never resumed) at each of its storage calls, before or after
  // it, while another start of the id runs, a worker claims and finishes the workflow, and a third
  // start comes. Whatever the schedule: at most one start is acknowledged, the record (if any)
  // holds that start's input, and when S crashed after its write with no other start acknowledged
  // the workflow still exists (S's, to be run), never two.
  // A start due later (S's, runAt 1500 at its clock 1000; the others' clock is 2000) files itself
  // under its due time after its write: its pause points include that filing.
  it.each([
    ['resumed', 'now'],
    ['crashed', 'now'],
    ['resumed', 'later'],
    ['crashed', 'later'],
  ] as const)(
    'a start %s at any of its storage calls (due %s): exactly one start of the id is acknowledged',
    async (fate, due) => {
      let points = 0;
      for (let at = 1; ; at++) {
        let paused = false;
        for (const phase of ['before', 'after'] as const) {
          const storage = new MemoryStorageManager();
          const gate = new Gate(storage);
          const slow = new StorageWorkflowStore({ storage: gate.storage, clock: () => 1000 });
          const other = new StorageWorkflowStore({
            storage,
            clock: () => (due === 'now' ? 1000 : 2000),
          });
          gate.arm(at, phase);
          const s = slow.insert({
            id: 'w',
            handler: 'h',
            input: 'S',
            ...(due === 'later' ? { runAt: 1500 } : {}),
          });
          const stopped = await Promise.race([gate.reached.then(() => true), s.then(() => false)]);
          paused ||= stopped;
          const results: Array<[string, boolean]> = [];
          results.push(['A', await other.insert({ id: 'w', handler: 'h', input: 'A' })]);
          const claim = await other.claim({ leaseMs: 10_000 });
          if (claim !== undefined)
            await other.finish('w', claim.token, {
              status: 'completed',
              result: claim.record.input,
            });
          results.push(['B', await other.insert({ id: 'w', handler: 'h', input: 'B' })]);
          if (fate === 'resumed' || !stopped) {
            gate.release();
            results.push(['S', await s]);
          }
          // Whatever is left is claimed: a stray start key goes, a start not yet run runs.
          const last = await other.claim({ leaseMs: 10_000 });
          if (last !== undefined)
            await other.finish('w', last.token, { status: 'completed', result: last.record.input });
          const won = results.filter(([, ok]) => ok).map(([who]) => who);
          const record = await other.get('w');
          expect(won.length).toBeLessThanOrEqual(1);
          if (won.length === 1) expect(record?.input).toBe(won[0]);
          // Nobody acknowledged: only a crashed S that wrote its start, and then it is S's.
          else expect(fate === 'crashed' && record?.input === 'S').toBe(true);
          expect(record?.status).toBe('completed');
          expect(record?.result).toBe(record?.input);
          expect(await other.claim({ leaseMs: 10_000 })).toBeUndefined();
          expect((await storage.list(START_KEYS)).keys).toEqual([]);
          points++;
        }
        if (!paused) break;
      }
      expect(points).toBeGreaterThanOrEqual(due === 'now' ? 4 : 8);
    },
  );
});

import type { StepMemo } from '../src/index.js';
import { MemoryStorageManager, StorageWorkflowStore, isDurableError } from '../src/index.js';

const memo = (id: string, value: unknown): StepMemo => ({
  id,
  kind: 'step',
  done: true,
  at: 1,
  value,
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return isDurableError(error) ? error.code : String(error);
  }
}

describe('storage workflow store: steps as their own keys', () => {
  it('a step writes its own key once and the record stays the same size however long the history', async () => {
    const storage = new MemoryStorageManager();
    const store = new StorageWorkflowStore({ storage, clock: () => 1000 });
    await store.insert({ id: 'w', handler: 'h' });
    const claimed = await store.claim({ leaseMs: 60_000 });
    if (claimed === undefined) throw new Error('not claimed');
    const recordBytes = async (): Promise<number> =>
      (await storage.read('workflows/records/dw'))?.data.length ?? 0;
    await store.saveStep('w', claimed.token, 0, memo('s0', 'x'.repeat(100)));
    const after1 = await recordBytes();
    for (let i = 1; i < 100; i++)
      await store.saveStep('w', claimed.token, i, memo(`s${i}`, 'x'.repeat(100)));
    expect(await recordBytes()).toBeLessThanOrEqual(after1 + 4); // the step count and the revision gain digits, nothing else
    expect((await storage.list('workflows/steps/dw/')).keys).toHaveLength(100);
    const record = await store.get('w');
    expect(record?.steps.map((s) => s.id)).toEqual(Array.from({ length: 100 }, (_, i) => `s${i}`));
    expect(record).not.toHaveProperty('stepCount');
  });

  it('a stale holder (its lease taken over) cannot record: its write at the next position is never committed, and the new holder records there', async () => {
    let now = 1000;
    const storage = new MemoryStorageManager();
    const stale = new StorageWorkflowStore({ storage, clock: () => now });
    const fresh = new StorageWorkflowStore({ storage, clock: () => now });
    await stale.insert({ id: 'w', handler: 'h' });
    const first = await stale.claim({ leaseMs: 100 });
    if (first === undefined) throw new Error('not claimed');
    await stale.saveStep('w', first.token, 0, memo('charge', 'stale-0'));
    now += 101;
    const second = await fresh.claim({ leaseMs: 60_000 });
    if (second === undefined) throw new Error('not taken over');
    expect(second.record.steps.map((s) => s.value)).toEqual(['stale-0']);
    // The stale worker goes on: its key lands at position 1, but the record refuses it.
    expect(await codeOf(stale.saveStep('w', first.token, 1, memo('ship', 'stale-1')))).toBe(
      'LOCK_LOST',
    );
    expect((await fresh.get('w'))?.steps.map((s) => s.value)).toEqual(['stale-0']);
    // The new holder records position 1 over the stale key.
    await fresh.saveStep('w', second.token, 1, memo('ship', 'fresh-1'));
    // And the stale worker, retrying there now, finds the claim gone and changes nothing.
    expect(await codeOf(stale.saveStep('w', first.token, 1, memo('ship', 'stale-1')))).toBe(
      'LOCK_LOST',
    );
    expect(await codeOf(stale.saveStep('w', first.token, 2, memo('bill', 'stale-2')))).toBe(
      'LOCK_LOST',
    );
    expect((await fresh.get('w'))?.steps.map((s) => s.value)).toEqual(['stale-0', 'fresh-1']);
    await fresh.saveStep('w', second.token, 2, memo('bill', 'fresh-2'));
    await fresh.finish('w', second.token, { status: 'completed', result: 'done' });
    expect((await stale.get('w'))?.steps.map((s) => s.value)).toEqual([
      'stale-0',
      'fresh-1',
      'fresh-2',
    ]);
  });

  it('get and a re-claim read only the step keys this store has not read before, and hand out copies', async () => {
    let now = 1000;
    const inner = new MemoryStorageManager();
    const stepReads: string[] = [];
    const storage = new Proxy(inner, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop !== 'read' || typeof value !== 'function') return value;
        return (key: string) => {
          if (key.startsWith('workflows/steps/')) stepReads.push(key.slice(-2));
          return (value as (k: string) => Promise<unknown>).call(target, key);
        };
      },
    });
    const writer = new StorageWorkflowStore({ storage: inner, clock: () => now });
    const reader = new StorageWorkflowStore({ storage, clock: () => now });
    await writer.insert({ id: 'w', handler: 'h' });
    const first = await writer.claim({ leaseMs: 100 });
    if (first === undefined) throw new Error('not claimed');
    for (let i = 0; i < 3; i++) await writer.saveStep('w', first.token, i, memo(`s${i}`, { i }));
    expect((await reader.get('w'))?.steps.map((s) => s.id)).toEqual(['s0', 's1', 's2']);
    expect(stepReads).toEqual(['00', '01', '02']);
    stepReads.length = 0;
    // A caller changing what it got changes nothing for the next caller.
    const got = await reader.get('w');
    (got?.steps[0]?.value as { i: number }).i = 99;
    expect(stepReads).toEqual([]);
    await writer.saveStep('w', first.token, 3, memo('s3', { i: 3 }));
    expect((await reader.get('w'))?.steps.map((s) => s.value)).toEqual([
      { i: 0 },
      { i: 1 },
      { i: 2 },
      { i: 3 },
    ]);
    expect(stepReads).toEqual(['03']);
    stepReads.length = 0;
    // The reader takes the workflow over: its history comes from what it read, plus the new key.
    await writer.saveStep('w', first.token, 4, memo('s4', { i: 4 }));
    now += 101;
    const second = await reader.claim({ leaseMs: 60_000 });
    expect(second?.record.steps.map((s) => s.id)).toEqual(['s0', 's1', 's2', 's3', 's4']);
    expect(stepReads).toEqual(['04']);
  });

  it('a record of the inline layout (steps in the record, a pending sleep last) is read, resumed and extended', async () => {
    const now = 5000;
    const storage = new MemoryStorageManager();
    const legacy = {
      format: 1,
      id: 'old',
      handler: 'h',
      input: null,
      status: 'sleeping',
      runAt: 4000,
      failures: 0,
      createdAt: 1000,
      updatedAt: 1000,
      events: [],
      steps: [memo('a', 1), { id: 'nap', kind: 'sleep', done: false, at: 1000, until: 4000 }],
    };
    await storage.write('workflows/records/b2xk', JSON.stringify(legacy));
    await storage.write('workflows/pending/b2xk', '1000');
    const store = new StorageWorkflowStore({ storage, clock: () => now });
    const claimed = await store.claim({ leaseMs: 60_000 });
    if (claimed === undefined) throw new Error('not claimed');
    expect(claimed.record.steps.map((s) => [s.id, s.done])).toEqual([
      ['a', true],
      ['nap', false],
    ]);
    await store.saveStep('old', claimed.token, 1, {
      id: 'nap',
      kind: 'sleep',
      done: true,
      at: now,
      until: 4000,
    });
    await store.saveStep('old', claimed.token, 2, memo('b', 2));
    expect((await store.get('old'))?.steps.map((s) => [s.id, s.done])).toEqual([
      ['a', true],
      ['nap', true],
      ['b', true],
    ]);
  });
});

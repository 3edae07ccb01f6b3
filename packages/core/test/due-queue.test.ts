import { DueQueue } from '../src/due-queue.js';
import { MemoryWorkflowStore } from '../src/index.js';

describe("DueQueue (the memory workflow store's due index)", () => {
  it('yields the due ids earliest first, ties first come first served, and nothing not yet due', () => {
    const queue = new DueQueue();
    queue.set('c', 30);
    queue.set('a', 10);
    queue.set('b', 10);
    queue.set('later', 1000);
    expect([...queue.due(30)]).toEqual(['a', 'b', 'c']);
    expect([...queue.due(9)]).toEqual([]);
  });

  it('a new due time replaces the old one, undefined removes it, and an early stop puts the rest back', () => {
    const queue = new DueQueue();
    for (let i = 0; i < 5; i++) queue.set(`w${i}`, i);
    queue.set('w0', 100); // moved later
    queue.set('w1', undefined); // finished
    const seen: string[] = [];
    for (const id of queue.due(50)) {
      seen.push(id);
      if (id === 'w3') queue.set(id, 60); // claimed: due again at its lease's end
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(['w2', 'w3']);
    expect([...queue.due(100)]).toEqual(['w2', 'w4', 'w3', 'w0']);
    expect(queue.size).toBe(4);
  });

  it('stays correct through many changes (stale entries are rebuilt away)', () => {
    const queue = new DueQueue();
    for (let round = 0; round < 50; round++)
      for (let i = 0; i < 100; i++) queue.set(`w${i}`, round * 1000 + ((i * 37) % 100));
    const due = [...queue.due(49_000 + 49)];
    expect(due.length).toBe(50);
    expect(new Set(due).size).toBe(50);
    expect(queue.size).toBe(100);
  });
});

describe('memory workflow store: no shared state, no scan', () => {
  it('a memo or a record changed by the caller after saveStep or get does not change the store', async () => {
    const store = new MemoryWorkflowStore({ clock: () => 1000 });
    await store.insert({ id: 'w', handler: 'h' });
    const claimed = await store.claim({ leaseMs: 10 });
    if (claimed === undefined) throw new Error('not claimed');
    const memo = { id: 's', kind: 'step' as const, done: true, at: 1, value: { n: 1 } };
    await store.saveStep('w', claimed.token, 0, memo);
    memo.value.n = 2;
    const read = await store.get('w');
    (read?.steps[0]?.value as { n: number }).n = 3;
    read?.steps.push(memo);
    expect((await store.get('w'))?.steps).toEqual([
      { id: 's', kind: 'step', done: true, at: 1, value: { n: 1 } },
    ]);
  });

  it('claims the earliest due workflow among many sleeping ones, and a lease expiry makes a running one due', async () => {
    let now = 1000;
    const store = new MemoryWorkflowStore({ clock: () => now });
    for (let i = 0; i < 1000; i++)
      await store.insert({ id: `sleeping-${i}`, handler: 'h', runAt: 1e12 + i });
    await store.insert({ id: 'second', handler: 'h', runAt: 900 });
    await store.insert({ id: 'first', handler: 'h', runAt: 800 });
    expect((await store.claim({ leaseMs: 50 }))?.record.id).toBe('first');
    const second = await store.claim({ leaseMs: 100 });
    expect(second?.record.id).toBe('second');
    expect(await store.claim({ leaseMs: 50 })).toBeUndefined();
    now += 50;
    expect((await store.claim({ leaseMs: 1000 }))?.record.failures).toBe(1); // 'first', its lease expired
    await store.heartbeat('second', second!.token, 1000);
    now += 60;
    expect(await store.claim({ leaseMs: 50 })).toBeUndefined(); // 'second' was heartbeated
  });
});

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClaimedWorkflow } from '@durable/core';
import type { FsOp } from '../src/protocol.js';
import { setStepHook } from '../src/fs-driver.js';
import { FileWorkflowStore } from '../src/index.js';
import { protocolOptions } from '../src/key-store.js';

/*
 * Costs that must not grow with the work around them, counted in file-system calls (what the
 * time is made of, and unlike time, not disturbed by a busy machine): a claim with many workflows
 * sleeping, and a step late in a long history.
 */

const roots: string[] = [];
function freshRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'durable-fs-cost-'));
  roots.push(root);
  return root;
}
afterEach(() => setStepHook(undefined));
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

async function countCalls(body: () => Promise<unknown>): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  setStepHook((op: FsOp) => {
    calls[op.op] = (calls[op.op] ?? 0) + 1;
    if (op.op === 'writeFile' || op.op === 'append')
      calls.bytesWritten = (calls.bytesWritten ?? 0) + op.chunks.reduce((n, c) => n + c.length, 0);
  });
  try {
    await body();
  } finally {
    setStepHook(undefined);
  }
  return calls;
}

async function claimCalls(
  sleeping: number,
): Promise<{ empty: Record<string, number>; due: Record<string, number> }> {
  let now = 1_700_000_000_000;
  const store = new FileWorkflowStore({ root: freshRoot(), fsync: false, clock: () => now });
  // Sleepers due from an hour to a year from now, spread over many buckets.
  for (let i = 0; i < sleeping; i++)
    await store.insert({
      id: `sleeper-${i}`,
      handler: 'h',
      runAt: now + 3_600_000 + i * 15_768_000 * (1_000 / Math.max(sleeping, 1)),
    });
  const empty = await countCalls(async () =>
    expect(await store.claim({ leaseMs: 60_000 })).toBeUndefined(),
  );
  await store.insert({ id: 'due', handler: 'h' });
  now += 1;
  const due = await countCalls(async () =>
    expect((await store.claim({ leaseMs: 60_000 }))?.record.id).toBe('due'),
  );
  return { empty, due };
}

test('a claim makes the same file-system calls with 10 or 2,000 workflows sleeping (it reads only due buckets)', async () => {
  const few = await claimCalls(10);
  const many = await claimCalls(2_000);
  expect(many.empty).toEqual(few.empty);
  expect(many.due).toEqual(few.due);
}, 300_000);

async function stepCalls(history: number): Promise<Record<string, number>> {
  const store = new FileWorkflowStore({ root: freshRoot(), fsync: false });
  await store.insert({ id: 'w', handler: 'h' });
  const claimed = (await store.claim({ leaseMs: 3_600_000 }))!;
  for (let i = 0; i < history; i++)
    await store.saveStep('w', claimed.token, i, {
      id: `s${i}`,
      kind: 'step',
      done: true,
      value: i,
      at: 0,
    });
  return countCalls(() =>
    store.saveStep('w', claimed.token, history, {
      id: 'last',
      kind: 'step',
      done: true,
      value: { big: 'x'.repeat(100) },
      at: 0,
    }),
  );
}

test('a step makes the same file-system calls and writes the same bytes at position 10 and 1,000 (one append to the log, no file created, the history is not rewritten)', async () => {
  const early = await stepCalls(10);
  const late = await stepCalls(1_000);
  // The record names its position: 1000 takes two digits more than 10.
  expect(late.bytesWritten).toBe((early.bytesWritten ?? 0) + 2);
  expect({ ...late, bytesWritten: 0 }).toEqual({ ...early, bytesWritten: 0 });
  // The append, and the read-back at the log's path of what came after the bytes this process
  // knew (the fence check).
  expect(early).toEqual({
    append: 1,
    bytesWritten: early.bytesWritten,
    readFile: 1,
  });
  expect(early.bytesWritten).toBeLessThan(300);
}, 300_000);

test.each([
  ['inserted, then claimed', 7, false],
  ['started claimed (insertClaimed: no claim commit)', 6, true],
] as const)(
  'a 3-step workflow %s, from insert to finish, creates %i files and folders (3 folders, the head files, 1 step log)',
  async (_how, count, startClaimed) => {
    const root = freshRoot();
    // One instant throughout: the due index's bucket folders are those the first workflow made.
    const now = 1_700_000_000_000;
    const store = new FileWorkflowStore({ root, fsync: false, clock: () => now });
    // The store's own folders and shared files are made by a first workflow started the same way.
    let warm: ClaimedWorkflow;
    if (startClaimed) {
      warm = (await store.insertClaimed({ id: 'warm', handler: 'h' }, { leaseMs: 60_000 }))!;
    } else {
      await store.insert({ id: 'warm', handler: 'h' });
      warm = (await store.claim({ leaseMs: 60_000 }))!;
    }
    await store.finish('warm', warm.token, { status: 'completed', result: 0 });
    const created: string[] = [];
    setStepHook((op: FsOp) => {
      // Markers linked to the shared empty file (`like`) allocate no inode; a log is created by
      // its first append.
      if (op.op === 'writeFile' || op.op === 'mkdir' || (op.op === 'createFile' && !op.like))
        created.push(op.path);
      if (op.op === 'append' && !existsSync(op.path)) created.push(op.path);
    });
    try {
      let mine: ClaimedWorkflow;
      if (startClaimed) {
        mine = (await store.insertClaimed({ id: 'w', handler: 'h' }, { leaseMs: 60_000 }))!;
      } else {
        await store.insert({ id: 'w', handler: 'h' });
        mine = (await store.claim({ leaseMs: 60_000 }))!;
      }
      for (let i = 0; i < 3; i++)
        await store.saveStep(mine.record.id, mine.token, i, {
          id: `s${i}`,
          kind: 'step',
          done: true,
          value: i,
          at: 0,
        });
      await store.finish(mine.record.id, mine.token, { status: 'completed', result: 3 });
    } finally {
      setStepHook(undefined);
    }
    const names = created.map((path) => path.slice(root.length).replace(/[0-9a-f]{8,}/g, '*'));
    expect(names.filter((name) => name.endsWith('/log'))).toHaveLength(1);
    expect(names).toHaveLength(count);
    expect((await store.get('w'))?.status).toBe('completed');
  },
  60_000,
);

// Reads made by listing pages of `limit` out of `count` workflows created one per ms (one ms per
// workflow: no two share a creation time), oldest first and newest first, first page and a later one.
async function listCalls(count: number, limit: number): Promise<Record<string, number>[]> {
  let now = 1_700_000_000_000;
  const store = new FileWorkflowStore({ root: freshRoot(), fsync: false, clock: () => now });
  for (let i = 0; i < count; i++) {
    now += 1;
    await store.insert({ id: `w-${i}`, handler: 'h' });
  }
  const out: Record<string, number>[] = [];
  for (const order of ['asc', 'desc'] as const) {
    let cursor: string | undefined;
    out.push(
      await countCalls(async () => {
        const page = await store.list({ limit, order });
        expect(page.items).toHaveLength(limit);
        expect(page.items[0]?.id).toBe(order === 'asc' ? 'w-0' : `w-${count - 1}`);
        cursor = page.cursor;
      }),
    );
    out.push(
      await countCalls(async () => {
        const page = await store.list({ limit, order, cursor: cursor! });
        expect(page.items[0]?.id).toBe(order === 'asc' ? `w-${limit}` : `w-${count - 1 - limit}`);
      }),
    );
  }
  return out;
}

test('a listing page reads the heads of its page and the one after, with 30 or 1,000 workflows (the creation index), in both orders', async () => {
  for (const count of [30, 1_000]) {
    for (const calls of await listCalls(count, 10)) {
      // One head and one step log per workflow of the page and the next (a few more where a
      // bucket ends); per workflow at most 4 folder listings (head and run folder, a run folder
      // without a log is listed), plus the index's own.
      expect(calls.readFile).toBeLessThanOrEqual(2 * 12);
      expect(calls.readdir).toBeLessThanOrEqual(4 * 12 + 4);
    }
  }
}, 300_000);

test('a get of a completed workflow reads its head once and its step log once (a completed head is final); none of the head where this process knows it', async () => {
  const store = new FileWorkflowStore({ root: freshRoot(), fsync: false });
  await store.insert({ id: 'w', handler: 'h' });
  const claimed = (await store.claim({ leaseMs: 60_000 }))!;
  for (let i = 0; i < 3; i++)
    await store.saveStep('w', claimed.token, i, {
      id: `s${i}`,
      kind: 'step',
      done: true,
      value: i,
      at: 0,
    });
  // A process that has not read or written the head (another process's view).
  const cold = (): void => {
    protocolOptions.knownHeads?.clear();
    protocolOptions.epochHints?.clear();
  };
  cold();
  const running = await countCalls(() => store.get('w'));
  await store.finish('w', claimed.token, { status: 'completed', result: 3 });
  const get = async (): Promise<void> => {
    const record = await store.get('w');
    expect(record?.status).toBe('completed');
    expect(record?.steps.map((m) => m.id)).toEqual(['s0', 's1', 's2']);
  };
  // This process wrote the completed head: two checks that it is still the newest, no read.
  const known = await countCalls(get);
  cold();
  const completed = await countCalls(get);
  expect(completed.readFile).toBe(2);
  expect(known.readFile).toBe(1);
  expect(known.readdir).toBe((completed.readdir ?? 0) - 2); // neither the workflow folder nor the epoch listed
  // An unfinished one is looked at again to check the head did not change meanwhile: by the two
  // checks of the head the first read remembered, not a second read.
  expect(running.readFile).toBe(2);
  expect(running.ident).toBeGreaterThanOrEqual(2);
}, 120_000);

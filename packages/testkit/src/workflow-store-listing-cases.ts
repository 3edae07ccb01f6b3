import assert from 'node:assert/strict';
import type {
  WorkflowListQuery,
  WorkflowRecord,
  WorkflowStatus,
  WorkflowStore,
  WorkflowSummary,
} from '@durable/core';
import type { TestFn } from './runner.js';
import { expectDurableError } from './runner.js';

/** What the listing cases share with the rest of the workflow-store suite. */
export interface ListingCasesContext {
  it: TestFn;
  name: string;
  timeout: number;
  store: () => WorkflowStore;
  peer: () => WorkflowStore;
  id: (label: string) => string;
  now: () => number;
  setNow: (now: number) => void;
}

const LEASE = 10_000;
const FAR = 1e12;
const STATUSES: WorkflowStatus[] = [
  'ready',
  'running',
  'sleeping',
  'failed',
  'completed',
  'aborted',
  'cancelled',
];

/**
 * The store, once checked to have `list`, `counts` and `resume` at run time: a store written in
 * plain JavaScript before they became required fails with a message naming what to add.
 */
function listing(store: WorkflowStore, name: string): WorkflowStore {
  const missing = (['list', 'counts', 'resume'] as const).filter(
    (method) => typeof (store as Partial<WorkflowStore>)[method] !== 'function',
  );
  if (missing.length > 0) {
    throw new Error(
      `${name} lacks ${missing.join(', ')}: every WorkflowStore must implement list, counts and resume (see WorkflowStore in @durable/core)`,
    );
  }
  return store;
}

/** Every page of a query, checking that only the last page lacks a cursor. */
async function listAllPages(
  store: WorkflowStore,
  query: Omit<WorkflowListQuery, 'cursor'>,
): Promise<WorkflowSummary[]> {
  const items: WorkflowSummary[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await store.list(cursor === undefined ? query : { ...query, cursor });
    assert.ok(
      page.items.length <= query.limit,
      `a page of ${page.items.length} items exceeds the limit ${query.limit}`,
    );
    items.push(...page.items);
    if (page.cursor === undefined) return items;
    assert.ok(page.items.length > 0, 'a page with a cursor must hold items');
    cursor = page.cursor;
  }
  throw new Error('listing did not end after 10000 pages');
}

/**
 * The cases for the required `list`, `counts` and `resume` of a {@link WorkflowStore}: exact
 * filters, the documented order, paging stable under concurrent inserts and changes, counts by
 * status, and resume (only aborted, cancelled or failed workflows; once among concurrent calls;
 * history kept; a revoked claim stays revoked).
 */
export function registerListingCases(ctx: ListingCasesContext): void {
  const { it, timeout } = ctx;
  const store = (): WorkflowStore => listing(ctx.store(), ctx.name);
  const peer = (): WorkflowStore => listing(ctx.peer(), ctx.name);
  const { id } = ctx;
  const tick = (ms = 1): void => ctx.setNow(ctx.now() + ms);

  /** Puts a fresh workflow in `status` (nothing else of the test may be due: ready ones are not). */
  async function place(wid: string, status: WorkflowStatus, handler = 'h'): Promise<void> {
    const s = store();
    const due = status !== 'ready' && status !== 'cancelled';
    assert.equal(
      await s.insert({ id: wid, handler, ...(due ? {} : { runAt: ctx.now() + FAR }) }),
      true,
    );
    if (status === 'cancelled') assert.equal(await s.cancel(wid), true);
    if (!due) return;
    const claimed = await s.claim({ leaseMs: LEASE });
    assert.equal(claimed?.record.id, wid, `setting up ${wid}: another workflow was due`);
    const token = claimed.token;
    await s.saveStep(wid, token, 0, {
      id: 'first',
      kind: 'step',
      done: true,
      value: 1,
      at: ctx.now(),
    });
    if (status === 'sleeping') await s.suspend(wid, token, { runAt: ctx.now() + FAR });
    if (status === 'failed')
      await s.finish(wid, token, {
        status: 'failed',
        error: { name: 'E', message: 'retry' },
        runAt: ctx.now() + FAR,
      });
    if (status === 'completed') await s.finish(wid, token, { status: 'completed', result: 'r' });
    if (status === 'aborted')
      await s.finish(wid, token, {
        status: 'aborted',
        error: { name: 'TypeError', message: 'final', code: 'X' },
      });
  }

  it(
    'list of an empty store is one page with no items and no cursor',
    async () => {
      assert.deepEqual(await store().list({ limit: 10 }), { items: [] });
    },
    timeout,
  );

  it(
    'list pages by createdAt then id (code-point order), each workflow once, a cursor on every page but the last',
    async () => {
      const expected: string[] = [];
      for (let n = 0; n < 7; n++) {
        tick();
        // Ids out of creation order, and three created in the same millisecond (ties go by id).
        const wid = id(`p${(n * 5) % 7}`);
        await store().insert({ id: wid, handler: 'h', runAt: ctx.now() + FAR });
        expected.push(wid);
      }
      const tie = [id('t\u{1F600}'), id('t\uFF61'), id('tB'), id('ta')];
      tick();
      for (const wid of [tie[2], tie[0], tie[3], tie[1]] as string[])
        await store().insert({ id: wid, handler: 'h', runAt: ctx.now() + FAR });
      expected.push(...tie.slice().sort(codePointOrder));
      for (const limit of [1, 3, 11, 1000]) {
        assert.deepEqual(
          (await listAllPages(store(), { limit })).map((s) => s.id),
          expected,
          `limit ${limit}`,
        );
        assert.deepEqual(
          (await listAllPages(store(), { limit, order: 'desc' })).map((s) => s.id),
          expected.slice().reverse(),
          `desc, limit ${limit}`,
        );
      }
      const first = await store().list({ limit: 11 });
      assert.equal(first.items.length, 11);
      assert.equal(first.cursor, undefined, 'exactly a full last page carries no cursor');
    },
    timeout,
  );

  it(
    'list filters are exact: status (one or several), handler, createdAfter inclusive, createdBefore exclusive, combined',
    async () => {
      const start = ctx.now();
      const made: Array<{
        id: string;
        status: WorkflowStatus;
        handler: string;
        createdAt: number;
      }> = [];
      for (const [n, status] of [...STATUSES, ...STATUSES].entries()) {
        tick(10);
        const wid = id(`f${n}`);
        const handler = n % 3 === 0 ? 'billing' : 'shipping';
        await place(wid, status, handler);
        made.push({
          id: wid,
          status,
          handler,
          createdAt: (await store().get(wid))?.createdAt ?? -1,
        });
      }
      const cut = made[5]?.createdAt ?? 0;
      const queries: Array<
        [Omit<WorkflowListQuery, 'limit'>, (w: (typeof made)[number]) => boolean]
      > = [
        [{}, () => true],
        [{ status: 'running' }, (w) => w.status === 'running'],
        [{ status: ['aborted', 'failed'] }, (w) => w.status === 'aborted' || w.status === 'failed'],
        [{ status: [] }, () => false],
        [{ handler: 'billing' }, (w) => w.handler === 'billing'],
        [{ handler: 'absent' }, () => false],
        [{ createdAfter: cut }, (w) => w.createdAt >= cut],
        [{ createdBefore: cut }, (w) => w.createdAt < cut],
        [{ createdAfter: start, createdBefore: start }, () => false],
        [
          { status: ['ready', 'cancelled', 'completed'], handler: 'shipping', createdAfter: cut },
          (w) =>
            ['ready', 'cancelled', 'completed'].includes(w.status) &&
            w.handler === 'shipping' &&
            w.createdAt >= cut,
        ],
      ];
      for (const [query, keep] of queries) {
        for (const limit of [2, 1000]) {
          const got = await listAllPages(store(), { ...query, limit });
          assert.deepEqual(
            got.map((s) => s.id),
            made.filter(keep).map((w) => w.id),
            `${JSON.stringify(query)} limit ${limit}`,
          );
        }
      }
    },
    timeout,
  );

  it(
    'a listed summary matches the record: status, handler, times, failures, step count, parent and error',
    async () => {
      await place(id('parent'), 'aborted', 'orders');
      tick();
      await store().insert({
        id: id('child'),
        handler: 'ship',
        parentId: id('parent'),
        runAt: ctx.now() + FAR,
      });
      const items = (await store().list({ limit: 10 })).items;
      assert.equal(items.length, 2);
      for (const item of items) {
        const record = (await store().get(item.id)) as WorkflowRecord;
        const expected: WorkflowSummary = {
          id: record.id,
          handler: record.handler,
          status: record.status,
          createdAt: record.createdAt,
          updatedAt: record.updatedAt,
          runAt: record.runAt,
          failures: record.failures,
          steps: record.steps.length,
        };
        if (record.finishedAt !== undefined) expected.finishedAt = record.finishedAt;
        if (record.parentId !== undefined) expected.parentId = record.parentId;
        if (record.error !== undefined)
          expected.error = {
            name: record.error.name,
            message: record.error.message,
            ...(record.error.code === undefined ? {} : { code: record.error.code }),
          };
        assert.deepEqual(item, expected);
      }
      assert.deepEqual(
        items.map((s) => [s.status, s.steps, s.failures, s.error?.code, s.parentId]),
        [
          ['aborted', 1, 1, 'X', undefined],
          ['ready', 0, 0, undefined, id('parent')],
        ],
      );
    },
    timeout,
  );

  it(
    'paging is stable under inserts and changes between pages: every workflow present throughout is listed exactly once, in order',
    async () => {
      const original: string[] = [];
      for (let n = 0; n < 12; n++) {
        tick(n % 3 === 0 ? 1 : 0);
        original.push(id(`o${String(n).padStart(2, '0')}`));
        await store().insert({ id: original[n] as string, handler: 'h', runAt: ctx.now() + FAR });
      }
      for (const order of ['asc', 'desc'] as const) {
        const seen: WorkflowSummary[] = [];
        let cursor: string | undefined;
        let round = 0;
        do {
          const page = await store().list({
            limit: 4,
            order,
            ...(cursor === undefined ? {} : { cursor }),
          });
          seen.push(...page.items);
          cursor = page.cursor;
          // Between pages another instance inserts before, at and after the cursor's createdAt
          // (a clock running behind, then ahead), and finishes a listed and an unlisted workflow.
          const last = page.items[page.items.length - 1];
          if (last !== undefined) {
            const saved = ctx.now();
            for (const [k, at] of [
              last.createdAt - 1,
              last.createdAt,
              last.createdAt + 1,
            ].entries()) {
              ctx.setNow(at);
              await peer().insert({
                id: id(`new-${order}-${round}-${k}`),
                handler: 'h',
                runAt: saved + FAR,
              });
            }
            ctx.setNow(saved);
            await peer().cancel(last.id);
            await peer().cancel(original[(round * 5 + 7) % original.length] as string);
          }
          round++;
        } while (cursor !== undefined);
        const ids = seen.map((s) => s.id);
        assert.equal(
          new Set(ids).size,
          ids.length,
          `${order}: a workflow was listed twice: ${ids.join(',')}`,
        );
        for (const wid of original)
          assert.equal(
            ids.filter((x) => x === wid).length,
            1,
            `${order}: ${wid} listed ${ids.filter((x) => x === wid).length} times`,
          );
        const sign = order === 'asc' ? 1 : -1;
        for (let i = 1; i < seen.length; i++) {
          const [a, b] = [seen[i - 1] as WorkflowSummary, seen[i] as WorkflowSummary];
          assert.ok(
            sign * (a.createdAt - b.createdAt || codePointOrder(a.id, b.id)) < 0,
            `${order}: ${a.id} then ${b.id} is out of order`,
          );
        }
      }
    },
    timeout,
  );

  it(
    'paging while another instance inserts concurrently never lists a workflow twice nor misses one present throughout',
    async () => {
      const original = Array.from({ length: 30 }, (_, n) => id(`c${String(n).padStart(2, '0')}`));
      for (const wid of original)
        await store().insert({ id: wid, handler: 'h', runAt: ctx.now() + FAR });
      let inserting = true;
      const inserter = (async () => {
        for (let n = 0; inserting && n < 200; n++)
          await peer().insert({
            id: id(`c${String(n % 30).padStart(2, '0')}x${n}`),
            handler: 'h',
            runAt: ctx.now() + FAR,
          });
      })();
      try {
        const ids = (await listAllPages(store(), { limit: 3 })).map((s) => s.id);
        assert.equal(new Set(ids).size, ids.length, 'a workflow was listed twice');
        for (const wid of original) assert.ok(ids.includes(wid), `${wid} was missed`);
      } finally {
        inserting = false;
        await inserter;
      }
    },
    timeout,
  );

  it(
    'list refuses a bad query with CONFIG: limit 0, 1001, 1.5 or missing, an unknown status or option, a foreign cursor, a non-finite instant',
    async () => {
      await store().insert({ id: id('a'), handler: 'h' });
      const bad: unknown[] = [
        { limit: 0 },
        { limit: 1001 },
        { limit: 1.5 },
        {},
        { limit: 5, status: 'done' },
        { limit: 5, status: ['ready', 'nope'] },
        { limit: 5, state: 'ready' },
        { limit: 5, cursor: 'not-a-cursor' },
        { limit: 5, cursor: '' },
        { limit: 5, createdAfter: Number.NaN },
        { limit: 5, createdBefore: '2026-01-01' },
        { limit: 5, order: 'newest' },
      ];
      for (const query of bad)
        await expectDurableError(() => store().list(query as WorkflowListQuery), 'CONFIG');
      assert.equal((await store().list({ limit: 1000 })).items.length, 1);
    },
    timeout,
  );

  it(
    'counts gives every status, exactly, and follows changes',
    async () => {
      const empty = await store().counts();
      assert.deepEqual(empty, Object.fromEntries(STATUSES.map((s) => [s, 0])));
      for (const [n, status] of [...STATUSES, 'failed', 'aborted', 'aborted'].entries()) {
        tick();
        await place(id(`n${n}`), status as WorkflowStatus);
      }
      const counts = await store().counts();
      assert.deepEqual(counts, {
        ready: 1,
        running: 1,
        sleeping: 1,
        failed: 2,
        completed: 1,
        aborted: 3,
        cancelled: 1,
      });
      await store().cancel(id('n0'));
      await store().resume(id('n5'));
      assert.deepEqual(await store().counts(), {
        ready: 1,
        running: 1,
        sleeping: 1,
        failed: 2,
        completed: 1,
        aborted: 2,
        cancelled: 2,
      });
    },
    timeout,
  );

  it(
    'resume makes an aborted workflow ready at once with no failures, its recorded steps kept, and claimable',
    async () => {
      await place(id('a'), 'aborted');
      const before = (await store().get(id('a'))) as WorkflowRecord;
      tick(1e6);
      assert.equal(await store().resume(id('a')), true);
      const record = (await store().get(id('a'))) as WorkflowRecord;
      assert.equal(record.status, 'ready');
      assert.equal(record.failures, 0);
      assert.equal(record.runAt, ctx.now());
      assert.equal(record.finishedAt, undefined);
      assert.equal(record.error, undefined);
      assert.deepEqual(record.steps, before.steps);
      assert.equal(record.createdAt, before.createdAt);
      const claimed = await peer().claim({ leaseMs: LEASE });
      assert.equal(claimed?.record.id, id('a'));
      assert.deepEqual(claimed.record.steps, before.steps);
      await peer().saveStep(id('a'), claimed.token, 1, {
        id: 'second',
        kind: 'step',
        done: true,
        value: 2,
        at: ctx.now(),
      });
      await peer().finish(id('a'), claimed.token, { status: 'completed', result: 'again' });
      assert.equal((await store().get(id('a')))?.result, 'again');
    },
    timeout,
  );

  it(
    'resume of a cancelled workflow makes it ready; the claim the cancel revoked stays revoked',
    async () => {
      await store().insert({ id: id('a'), handler: 'h' });
      const claimed = await store().claim({ leaseMs: LEASE });
      assert.ok(claimed);
      assert.equal(await store().cancel(id('a')), true);
      assert.equal(await store().resume(id('a')), true);
      await expectDurableError(
        () =>
          store().saveStep(id('a'), claimed.token, 0, { id: 'x', kind: 'step', done: true, at: 1 }),
        'LOCK_LOST',
      );
      await expectDurableError(
        () => store().finish(id('a'), claimed.token, { status: 'completed' }),
        'LOCK_LOST',
      );
      assert.equal((await store().get(id('a')))?.status, 'ready');
      const again = await store().claim({ leaseMs: LEASE });
      assert.equal(again?.record.id, id('a'));
      assert.notEqual(again.token, claimed.token);
    },
    timeout,
  );

  it(
    'resume of a failed workflow waiting for its retry makes it due now with no failures',
    async () => {
      await place(id('a'), 'failed');
      assert.equal(await store().claim({ leaseMs: LEASE }), undefined);
      assert.equal(await store().resume(id('a')), true);
      const claimed = await store().claim({ leaseMs: LEASE });
      assert.equal(claimed?.record.id, id('a'));
      assert.equal(claimed.record.failures, 0);
    },
    timeout,
  );

  it(
    'resume returns false and changes nothing for a ready, running, sleeping, completed or absent workflow',
    async () => {
      for (const status of ['running', 'sleeping', 'completed', 'ready'] as const) {
        tick();
        await place(id(status), status);
        const before = await store().get(id(status));
        tick();
        assert.equal(await store().resume(id(status)), false, status);
        assert.deepEqual(await store().get(id(status)), before, status);
      }
      assert.equal(await store().resume(id('absent')), false);
      await expectDurableError(() => store().resume(''), 'INVALID_KEY');
    },
    timeout,
  );

  it(
    '8 concurrent resumes of one aborted workflow on two instances: exactly one returns true',
    async () => {
      await place(id('a'), 'aborted');
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, n) => (n % 2 === 0 ? store() : peer()).resume(id('a'))),
      );
      assert.equal(results.filter(Boolean).length, 1, `results: ${results.join(',')}`);
      assert.equal((await store().get(id('a')))?.status, 'ready');
    },
    timeout,
  );
}

/** Code-point order of two strings (what the listing uses for ids). */
function codePointOrder(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0) as number);
  const y = Array.from(b, (c) => c.codePointAt(0) as number);
  for (let i = 0; i < Math.min(x.length, y.length); i++)
    if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return x.length - y.length;
}

import Database from 'better-sqlite3';
import { checkWorkflowListQuery } from '@durable/core/adapter';
import type { WorkflowListQuery } from '@durable/core';
import { SqliteWorkflowStore } from '../src/index.js';
import { listingQuery } from '../src/workflow-store.js';
import { freshDatabase } from './support.js';

/*
 * A listing page reads its own rows from an index in the listing order, never the whole table:
 * checked on SQLite's query plan (what it will read), which does not depend on timing, and on the
 * pages of a store holding workflows created in a known order.
 */

async function storeWith(count: number): Promise<{ store: SqliteWorkflowStore; path: string }> {
  const path = freshDatabase();
  let now = 1_700_000_000_000;
  const store = new SqliteWorkflowStore({ path, clock: () => now });
  // Two workflows per instant, ids in reverse so the id order within an instant is exercised.
  for (let i = 0; i < count; i++) {
    now = 1_700_000_000_000 + Math.floor(i / 2);
    await store.insert({
      id: `w-${String(count - i).padStart(4, '0')}`,
      handler: i % 3 === 0 ? 'a' : 'b',
    });
  }
  return { store, path };
}

const QUERIES: Array<[string, WorkflowListQuery]> = [
  ['first page, oldest first', { limit: 10 }],
  ['first page, newest first', { limit: 10, order: 'desc' }],
  ['a later page', { limit: 10, cursor: 'WzEsMTcwMDAwMDAwMDAwNSwidy0wMDQwIl0' }],
  [
    'a later page, newest first',
    { limit: 10, order: 'desc', cursor: 'WzEsMTcwMDAwMDAwMDAwNSwidy0wMDQwIl0' },
  ],
  [
    'a created range',
    { limit: 10, createdAfter: 1_700_000_000_003, createdBefore: 1_700_000_000_009 },
  ],
  ['a status and a handler', { limit: 10, status: ['ready', 'running'], handler: 'a' }],
];

test.each(QUERIES)(
  'the plan of %s reads the listing index in order (no scan of the table, no sort of it)',
  async (_name, query) => {
    const { store, path } = await storeWith(4);
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      const { sql, params } = listingQuery(checkWorkflowListQuery(query));
      const plan = (
        db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>
      )
        .map((row) => row.detail)
        .join('\n');
      expect(plan).toMatch(/USING INDEX durable_workflows_created/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    } finally {
      db.close();
    }
  },
);

test('pages in both orders tile the workflows: each once, in (createdAt, id) order', async () => {
  const { store } = await storeWith(45);
  const all = (await store.list({ limit: 1000 })).items.map(
    (item) => `${item.createdAt}/${item.id}`,
  );
  expect(all).toHaveLength(45);
  expect([...all].sort()).toEqual(all);
  for (const order of ['asc', 'desc'] as const) {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({
        limit: 7,
        order,
        ...(cursor === undefined ? {} : { cursor }),
      });
      expect(page.items.length).toBeLessThanOrEqual(7);
      seen.push(...page.items.map((item) => `${item.createdAt}/${item.id}`));
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(seen).toEqual(order === 'asc' ? all : [...all].reverse());
  }
  const filtered = await store.list({ limit: 1000, handler: 'a' });
  expect(filtered.items.map((item) => item.handler)).toEqual(Array(15).fill('a'));
  expect(await store.counts()).toMatchObject({ ready: 45, running: 0, completed: 0 });
  await store.close();
});

test('a database made before the listing index gets it on first use, and lists the same', async () => {
  const path = freshDatabase();
  // The schema of the release before the index, with one workflow in it.
  const old = new Database(path);
  old.exec(
    'CREATE TABLE durable_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL);' +
      "INSERT INTO durable_schema VALUES ('workflows', 1);" +
      'CREATE TABLE durable_workflows (id TEXT PRIMARY KEY, status TEXT NOT NULL, due_at INTEGER, record TEXT NOT NULL);' +
      'CREATE INDEX durable_workflows_due ON durable_workflows (due_at) WHERE due_at IS NOT NULL;',
  );
  old.close();
  const store = new SqliteWorkflowStore({ path, clock: () => 5 });
  await store.insert({ id: 'x', handler: 'h' });
  expect((await store.list({ limit: 10 })).items.map((item) => item.id)).toEqual(['x']);
  await store.close();
  const db = new Database(path, { readonly: true });
  const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as Array<{
    name: string;
  }>;
  db.close();
  expect(indexes.map((row) => row.name)).toContain('durable_workflows_created');
});

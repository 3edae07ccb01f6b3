import Database from 'better-sqlite3';
import { expectDurableError } from '@durable/testkit';
import { SqliteLockManager, SqliteStorageManager, SqliteWorkflowStore } from '../src/index.js';
import { freshDatabase } from './support.js';

describe('sqlite options and schema', () => {
  it('options are checked at once: path or database (not both), no unknown names nor names other libraries use, fsync only with a path', async () => {
    await expectDurableError(async () => new SqliteStorageManager({}), 'CONFIG');
    await expectDurableError(async () => new SqliteStorageManager({ path: '' }), 'CONFIG');
    await expectDurableError(
      async () => new SqliteStorageManager({ path: 'a.db', database: new Database(':memory:') }),
      'CONFIG',
    );
    await expectDurableError(
      async () => new SqliteStorageManager({ database: new Database(':memory:'), fsync: false }),
      'CONFIG',
    );
    await expectDurableError(
      async () => new SqliteStorageManager({ filename: 'a.db' } as never),
      'CONFIG',
    );
    await expectDurableError(
      async () => new SqliteLockManager({ path: 'a.db', defaultTtlMs: -1 }),
      'CONFIG',
    );
    await expectDurableError(
      async () => new SqliteWorkflowStore({ path: 'a.db', busyTimeoutMs: 1.5 }),
      'CONFIG',
    );
  });

  it('an injected database is used as is and never closed; storage, lock and workflow store share it', async () => {
    const database = new Database(freshDatabase());
    const storage = new SqliteStorageManager({ database });
    const lock = new SqliteLockManager({ database });
    const store = new SqliteWorkflowStore({ database });
    await storage.write('k', 'v');
    const lease = await lock.acquire('k');
    expect(await store.insert({ id: 'w', handler: 'h' })).toBe(true);
    await Promise.all([storage.close(), lock.close(), store.close()]);
    expect(database.open).toBe(true);
    expect(lease.fencingToken).toBe(1);
    database.close();
  });

  it('a database whose schema is newer than this release is refused with VERSION_UNKNOWN, not misread', async () => {
    const path = freshDatabase();
    await new SqliteStorageManager({ path }).write('k', 'v');
    const database = new Database(path);
    database.prepare("UPDATE durable_schema SET version = 99 WHERE name = 'kv'").run();
    database.close();
    await expectDurableError(() => new SqliteStorageManager({ path }).read('k'), 'VERSION_UNKNOWN');
  });

  it('a claim seeks the due-time index instead of scanning the workflows', async () => {
    const path = freshDatabase();
    const store = new SqliteWorkflowStore({ path });
    await store.insert({ id: 'w', handler: 'h' });
    const database = new Database(path);
    const plan = database
      .prepare(
        'EXPLAIN QUERY PLAN SELECT record FROM durable_workflows WHERE due_at <= ? ORDER BY due_at LIMIT ?',
      )
      .all(0, 16) as Array<{ detail: string }>;
    database.close();
    expect(plan.map((row) => row.detail).join('; ')).toMatch(
      /SEARCH durable_workflows USING INDEX durable_workflows_due \(due_at<\?\)/,
    );
  });
});

import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { bytesToText } from '@durable/core';
import { expectDurableError } from '@durable/testkit';
import { SqliteStorageManager } from '../src/index.js';
import { GroupCommit } from '../src/group-commit.js';
import { freshDatabase } from './support.js';

// A database whose COMMIT statements are counted.
function countingDatabase(): { db: SqliteDatabase; commits: () => number } {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)');
  let commits = 0;
  const counting = new Proxy(db, {
    get(target, property) {
      if (property === 'prepare') {
        return (sql: string) => {
          const statement = target.prepare(sql);
          return sql === 'COMMIT' ? { run: () => (commits++, statement.run()) } : statement;
        };
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
  return { db: counting, commits: () => commits };
}

describe('group commit', () => {
  it('operations requested in one turn of the event loop commit in one transaction, in order', async () => {
    const { db, commits } = countingDatabase();
    const group = new GroupCommit(() => db);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        group.run(() => db.prepare('INSERT INTO t VALUES (?, ?)').run(`k${i}`, String(i)).changes),
      ),
    );
    expect(results).toEqual(Array(10).fill(1));
    expect(commits()).toBe(1);
    await group.run(() => db.prepare("INSERT INTO t VALUES ('late', 'x')").run());
    expect(commits()).toBe(2);
    expect((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(11);
  });

  it('an operation that throws is rolled back alone; the others of its group commit', async () => {
    const { db } = countingDatabase();
    const group = new GroupCommit(() => db);
    const outcomes = await Promise.allSettled([
      group.run(() => db.prepare("INSERT INTO t VALUES ('a', '1')").run()),
      group.run(() => {
        db.prepare("INSERT INTO t VALUES ('b', '2')").run();
        throw new Error('refused after writing');
      }),
      group.run(() => db.prepare("INSERT INTO t VALUES ('c', '3')").run()),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(
      (db.prepare('SELECT k FROM t ORDER BY k').all() as Array<{ k: string }>).map((r) => r.k),
    ).toEqual(['a', 'c']);
  });

  it('concurrent conditional writes from one version in one group: the first wins, the others get CONFLICT and change nothing', async () => {
    const storage = new SqliteStorageManager({ path: freshDatabase() });
    const v1 = await storage.write('k', 'one');
    const results = await Promise.allSettled([
      storage.write('k', 'a', { ifVersion: v1 }),
      storage.write('k', 'b', { ifVersion: v1 }),
      storage.write('other', 'x'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    await expectDurableError(
      () => Promise.reject((results[1] as PromiseRejectedResult).reason),
      'CONFLICT',
    );
    expect(bytesToText((await storage.read('k'))!.data)).toBe('a');
    await storage.close();
  });
});

import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';

interface Pending {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: the write operations requested in one turn of the event loop run in one
 * `BEGIN IMMEDIATE` transaction, each inside its own savepoint, and are reported once that
 * transaction has committed. better-sqlite3 is synchronous, so a commit's fsync blocks the whole
 * process: one fsync for ten concurrent workflow steps instead of ten in a row is where the
 * throughput is. Each operation stays atomic and isolated (its savepoint is rolled back when it
 * throws, and the others go on), operations apply in the order they were requested, and none is
 * reported before it is durable.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  private statements:
    | Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'undo', Statement>
    | undefined;

  constructor(private readonly database: () => SqliteDatabase) {}

  /** Runs `fn` in the next group's transaction; resolves with its result once committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    let sql: NonNullable<typeof this.statements>;
    try {
      sql = this.sql();
      sql.begin.run();
    } catch (error) {
      for (const op of batch) op.reject(error);
      return;
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    const db = this.database();
    for (const op of batch) {
      sql.savepoint.run();
      try {
        outcomes.push({ ok: true, value: op.run() });
        sql.release.run();
      } catch (error) {
        if (!db.inTransaction) {
          // SQLite rolled the whole transaction back (an I/O error, a full disk): nothing of this
          // group was committed, so every operation fails, those already run included.
          for (const other of batch) other.reject(error);
          return;
        }
        sql.undo.run();
        sql.release.run();
        outcomes.push({ ok: false, error });
      }
    }
    try {
      sql.commit.run();
    } catch (error) {
      if (db.inTransaction) sql.rollback.run();
      for (const op of batch) op.reject(error);
      return;
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok === true) op.resolve(outcome.value);
      else op.reject(outcome?.error);
    });
  }

  private sql(): NonNullable<typeof this.statements> {
    if (this.statements === undefined) {
      const db = this.database();
      this.statements = {
        begin: db.prepare('BEGIN IMMEDIATE'),
        commit: db.prepare('COMMIT'),
        rollback: db.prepare('ROLLBACK'),
        savepoint: db.prepare('SAVEPOINT durable_op'),
        release: db.prepare('RELEASE durable_op'),
        undo: db.prepare('ROLLBACK TO durable_op'),
      };
    }
    return this.statements;
  }
}

import type { Statement } from 'better-sqlite3';
import type {
  ClaimedWorkflow,
  Clock,
  NewWorkflow,
  WorkflowCounts,
  WorkflowListQuery,
  WorkflowPage,
  WorkflowRecord,
  WorkflowStore,
} from '@durable/core';
import type { CheckedWorkflowListQuery, ClaimTransition } from '@durable/core/adapter';
import { WorkflowListOrder, WorkflowStatus, isFinishedStatus, systemClock } from '@durable/core';
import {
  ClaimWrites,
  assertClaimHeld,
  assertValidWorkflowId,
  checkWorkflowListQuery,
  claimedStart,
  countWorkflows,
  createClaimToken,
  pageWorkflows,
  parseWorkflowRecord,
  workflowTransitions,
} from '@durable/core/adapter';
import type { SqliteConnectionOptions } from './database.js';
import { Connection, checkConnectionOptions, settle } from './database.js';

/** Options for {@link SqliteWorkflowStore}. */
export interface SqliteWorkflowStoreOptions extends SqliteConnectionOptions {
  /** Epoch-ms time source; every process on the file must agree on it. @default Date.now */
  clock?: Clock;
}

const CONTEXT = 'sqlite workflow store';
// Candidates a claim reads at once: a record it cannot parse (an unknown format) is passed over,
// so one bad row does not stop every other workflow from being claimed.
const CLAIM_CANDIDATES = 16;
// The expression the listing index is on; queries must spell it the same way to use the index.
const CREATED_AT = "json_extract(record, '$.createdAt')";
const MIGRATIONS = [
  {
    name: 'workflows',
    version: 1,
    // due_at is when the workflow may next be claimed: runAt while ready, failed or sleeping, the
    // lease's expiry while running, NULL once finished. The partial index holds only unfinished
    // workflows, so a claim is one index seek whatever the number of sleeping or finished ones.
    sql:
      'CREATE TABLE IF NOT EXISTS durable_workflows (id TEXT PRIMARY KEY, status TEXT NOT NULL, due_at INTEGER, record TEXT NOT NULL);' +
      'CREATE INDEX IF NOT EXISTS durable_workflows_due ON durable_workflows (due_at) WHERE due_at IS NOT NULL;',
  },
  {
    // A migration of its own name: a release before it ignores the index (SQLite keeps it current
    // on every write), so a file it created stays usable by both.
    name: 'workflow-listing',
    version: 1,
    // The listing order (createdAt, then id in UTF-8 byte order: BINARY collation). createdAt
    // never changes after the insert, so the index entry of a workflow never moves.
    sql: `CREATE INDEX IF NOT EXISTS durable_workflows_created ON durable_workflows (${CREATED_AT}, id);`,
  },
] as const;

type Statements = Record<'insert' | 'get' | 'due' | 'update', Statement>;

/**
 * {@link WorkflowStore} on a SQLite table: every method is one transaction that reads the record,
 * applies core's shared {@link workflowTransitions} and writes it back under the database's write
 * lock, so claims are exclusive and a stale claim token is refused (`LOCK_LOST`) across every
 * process on the file. Claims seek an index on the due time.
 */
export class SqliteWorkflowStore extends ClaimWrites implements WorkflowStore {
  private readonly connection: Connection;
  private readonly clock: Clock;
  private statements: Statements | undefined;

  constructor(options: SqliteWorkflowStoreOptions) {
    super();
    checkConnectionOptions(options, CONTEXT, ['clock']);
    this.connection = new Connection(options, CONTEXT, MIGRATIONS);
    this.clock = options.clock ?? systemClock;
  }

  async insert(workflow: NewWorkflow): Promise<boolean> {
    const record = workflowTransitions.create(workflow, this.clock());
    return this.connection.write(
      () =>
        this.sql().insert.run(record.id, record.status, dueAt(record), JSON.stringify(record))
          .changes > 0,
      'insert',
      record.id,
    );
  }

  /** Creates the workflow already claimed by the caller (see `WorkflowStore.insertClaimed`): one insert. */
  async insertClaimed(
    workflow: NewWorkflow,
    options: { leaseMs: number },
  ): Promise<ClaimedWorkflow | undefined> {
    const claimed = claimedStart(workflow, options.leaseMs, this.clock());
    const { record } = claimed;
    return this.connection.write(
      () =>
        this.sql().insert.run(record.id, record.status, dueAt(record), JSON.stringify(record))
          .changes > 0
          ? claimed
          : undefined,
      'insertClaimed',
      record.id,
    );
  }

  get(id: string): Promise<WorkflowRecord | undefined> {
    return settle(() => {
      assertValidWorkflowId(id, `${CONTEXT}: get`);
      const row = this.connection.read(
        () => this.sql().get.get(id) as { record: string } | undefined,
        'get',
        id,
      );
      return row === undefined ? undefined : parseWorkflowRecord(row.record, CONTEXT);
    });
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    return this.connection.write(() => {
      const sql = this.sql();
      const now = this.clock();
      let unreadable: { error: unknown } | undefined;
      for (const row of sql.due.all(now, CLAIM_CANDIDATES) as Array<{ record: string }>) {
        let record: WorkflowRecord;
        try {
          record = parseWorkflowRecord(row.record, CONTEXT);
        } catch (error) {
          unreadable ??= { error };
          continue;
        }
        const token = createClaimToken();
        const next = workflowTransitions.claim(record, token, options.leaseMs, now);
        this.store(next);
        return { token, record: next };
      }
      if (unreadable !== undefined) throw unreadable.error;
      return undefined;
    }, 'claim');
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: signal`);
    return this.change(id, 'signal', (record, now) =>
      workflowTransitions.signal(record, name, payload, now),
    );
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: cancel`);
    return this.change(id, 'cancel', (record, now) => workflowTransitions.cancel(record, now));
  }

  /**
   * A page of workflows, read in the listing order from an index on (createdAt, id): a page reads
   * its own rows and the one after it, plus the rows the filters pass over on the way.
   */
  list(query: WorkflowListQuery): Promise<WorkflowPage> {
    return settle(() => {
      const checked = checkWorkflowListQuery(query, CONTEXT);
      const { sql, params } = listingQuery(checked);
      const rows = this.connection.read(
        () => this.connection.database.prepare(sql).all(...params) as Array<{ record: string }>,
        'list',
      );
      // One row past the page says whether another page follows; pageWorkflows cuts it off again
      // and makes the cursor.
      return pageWorkflows(
        rows.map((row) => parseWorkflowRecord(row.record, CONTEXT)),
        checked,
      );
    });
  }

  /** How many workflows are in each status (one grouped count). */
  counts(): Promise<WorkflowCounts> {
    return settle(() => {
      const rows = this.connection.read(
        () =>
          this.connection.database
            .prepare('SELECT status, count(*) AS n FROM durable_workflows GROUP BY status')
            .all() as Array<{ status: WorkflowRecord['status']; n: number }>,
        'counts',
      );
      const counts = countWorkflows([]);
      for (const row of rows) if (row.status in counts) counts[row.status] = row.n;
      return counts;
    });
  }

  async resume(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: resume`);
    return this.change(id, 'resume', (record, now) => workflowTransitions.resume(record, now));
  }

  close(): Promise<void> {
    return settle(() => {
      this.connection.close();
    });
  }

  protected async underClaim(
    id: string,
    token: string,
    operation: string,
    apply: ClaimTransition,
  ): Promise<WorkflowRecord> {
    assertValidWorkflowId(id, `${CONTEXT}: ${operation}`);
    return this.connection.write(
      () => {
        const record = this.load(id);
        assertClaimHeld(record, token, operation, id);
        const next = apply(record, this.clock());
        this.store(next);
        return next;
      },
      operation,
      id,
    );
  }

  private change(
    id: string,
    operation: string,
    apply: (record: WorkflowRecord, now: number) => WorkflowRecord | undefined,
  ): Promise<boolean> {
    return this.connection.write(
      () => {
        const record = this.load(id);
        const next = record === undefined ? undefined : apply(record, this.clock());
        if (next === undefined) return false;
        this.store(next);
        return true;
      },
      operation,
      id,
    );
  }

  private load(id: string): WorkflowRecord | undefined {
    const row = this.sql().get.get(id) as { record: string } | undefined;
    return row === undefined ? undefined : parseWorkflowRecord(row.record, CONTEXT);
  }

  private store(record: WorkflowRecord): void {
    this.sql().update.run(record.status, dueAt(record), JSON.stringify(record), record.id);
  }

  private sql(): Statements {
    if (this.statements === undefined) {
      const db = this.connection.database;
      this.statements = {
        insert: db.prepare(
          'INSERT INTO durable_workflows (id, status, due_at, record) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO NOTHING',
        ),
        get: db.prepare('SELECT record FROM durable_workflows WHERE id = ?'),
        due: db.prepare(
          'SELECT record FROM durable_workflows WHERE due_at <= ? ORDER BY due_at LIMIT ?',
        ),
        update: db.prepare(
          'UPDATE durable_workflows SET status = ?, due_at = ?, record = ? WHERE id = ?',
        ),
      };
    }
    return this.statements;
  }
}

/** When `record` may next be claimed (see {@link isWorkflowDue}), or null once it is finished. */
export function dueAt(record: WorkflowRecord): number | null {
  if (isFinishedStatus(record.status)) return null;
  if (record.status === WorkflowStatus.RUNNING) return record.claim?.expiresAt ?? 0;
  return record.runAt;
}

/**
 * The SQL of one listing page: the filters, the cursor as a row-value bound on the index, and
 * the page's limit plus one row.
 */
export function listingQuery(query: CheckedWorkflowListQuery): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (query.statuses !== undefined) {
    where.push(`status IN (${[...query.statuses].map(() => '?').join(', ')})`);
    params.push(...query.statuses);
  }
  if (query.handler !== undefined) {
    where.push("json_extract(record, '$.handler') = ?");
    params.push(query.handler);
  }
  if (query.createdAfter !== undefined) {
    where.push(`${CREATED_AT} >= ?`);
    params.push(query.createdAfter);
  }
  if (query.createdBefore !== undefined) {
    where.push(`${CREATED_AT} < ?`);
    params.push(query.createdBefore);
  }
  const desc = query.order === WorkflowListOrder.DESC;
  if (query.after !== undefined) {
    where.push(`(${CREATED_AT}, id) ${desc ? '<' : '>'} (?, ?)`);
    params.push(query.after.createdAt, query.after.id);
  }
  const direction = desc ? 'DESC' : 'ASC';
  params.push(query.limit + 1);
  return {
    sql:
      'SELECT record FROM durable_workflows' +
      (where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`) +
      ` ORDER BY ${CREATED_AT} ${direction}, id ${direction} LIMIT ?`,
    params,
  };
}

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
import type { ClaimTransition } from '@durable/core/adapter';
import { WorkflowStatus, isFinishedStatus, systemClock } from '@durable/core';
import {
  ClaimWrites,
  assertClaimHeld,
  assertValidWorkflowId,
  checkWorkflowListQuery,
  countWorkflows,
  createClaimToken,
  pageWorkflows,
  parseWorkflowRecord,
  workflowTransitions,
} from '@durable/core/adapter';
import type { SqliteConnectionOptions } from './database.js';
import { Connection, checkConnectionOptions } from './database.js';

/** Options for {@link SqliteWorkflowStore}. */
export interface SqliteWorkflowStoreOptions extends SqliteConnectionOptions {
  /** Epoch-ms time source; every process on the file must agree on it. @default Date.now */
  clock?: Clock;
}

const CONTEXT = 'sqlite workflow store';
// Candidates a claim reads at once: a record it cannot parse (an unknown format) is passed over,
// so one bad row does not stop every other workflow from being claimed.
const CLAIM_CANDIDATES = 16;
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

  async get(id: string): Promise<WorkflowRecord | undefined> {
    assertValidWorkflowId(id, `${CONTEXT}: get`);
    const row = this.connection.read(
      () => this.sql().get.get(id) as { record: string } | undefined,
      'get',
      id,
    );
    return row === undefined ? undefined : parseWorkflowRecord(row.record, CONTEXT);
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    return this.connection.write(() => {
      const sql = this.sql();
      const now = this.clock();
      let unreadable: unknown;
      for (const row of sql.due.all(now, CLAIM_CANDIDATES) as Array<{ record: string }>) {
        let record: WorkflowRecord;
        try {
          record = parseWorkflowRecord(row.record, CONTEXT);
        } catch (error) {
          unreadable ??= error;
          continue;
        }
        const token = createClaimToken();
        const next = workflowTransitions.claim(record, token, options.leaseMs, now);
        this.store(next);
        return { token, record: next };
      }
      if (unreadable !== undefined) throw unreadable;
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

  /** A page of workflows (every record is read: the table has no index on createdAt yet). */
  async list(query: WorkflowListQuery): Promise<WorkflowPage> {
    const checked = checkWorkflowListQuery(query, CONTEXT);
    const rows = this.connection.read(
      () =>
        this.connection.database.prepare('SELECT record FROM durable_workflows').all() as Array<{
          record: string;
        }>,
      'list',
    );
    return pageWorkflows(
      rows.map((row) => parseWorkflowRecord(row.record, CONTEXT)),
      checked,
    );
  }

  async counts(): Promise<WorkflowCounts> {
    const rows = this.connection.read(
      () =>
        this.connection.database.prepare('SELECT status FROM durable_workflows').all() as Array<{
          status: WorkflowRecord['status'];
        }>,
      'counts',
    );
    return countWorkflows(rows);
  }

  async resume(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: resume`);
    return this.change(id, 'resume', (record, now) => workflowTransitions.resume(record, now));
  }

  async close(): Promise<void> {
    this.connection.close();
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

import type { StepMemo, WorkflowRecord } from '@durable/core';
import { WorkflowStatus, isFinishedStatus } from '@durable/core';
import { parseWorkflowRecord } from '@durable/core/adapter';
import type { Statement } from './connection.js';
import { statement } from './connection.js';
import type { Names } from './options.js';

/**
 * The workflow tables. A workflow is one row of `workflows` (its header: everything but the
 * steps) and one row of `workflow_steps` per recorded position, so recording step N writes one
 * small row whatever N, and a claim seeks the partial index on `due_at` (NULL once finished).
 * The fields a claim changes are columns, so a claim is one statement; the rest of the header is
 * the JSON `record`, whose copies of those fields are superseded by the columns.
 */
export function workflowMigrations(
  names: Names,
): Array<{ name: string; version: number; sql: string }> {
  const workflows = names.table('workflows');
  return [
    {
      name: 'workflows',
      version: 1,
      sql:
        `CREATE TABLE IF NOT EXISTS ${workflows} (id text COLLATE "C" PRIMARY KEY, status text NOT NULL, due_at bigint,` +
        ' claim_token text, claim_expires_at bigint, claimed_at bigint, failures integer NOT NULL, updated_at bigint NOT NULL, error text,' +
        ' step_count integer NOT NULL DEFAULT 0, rev bigint NOT NULL DEFAULT 0, write_id text, record text NOT NULL);' +
        `CREATE INDEX IF NOT EXISTS ${names.local(
          'workflows_due',
        )} ON ${workflows} (due_at) WHERE due_at IS NOT NULL;` +
        `CREATE TABLE IF NOT EXISTS ${names.table(
          'workflow_steps',
        )} (workflow_id text COLLATE "C" NOT NULL, position integer NOT NULL,` +
        ' step_id text NOT NULL, kind text NOT NULL, done boolean NOT NULL, memo text NOT NULL, PRIMARY KEY (workflow_id, position))',
    },
    {
      name: 'workflows',
      version: 2,
      // Listing filters on the handler and pages by (created_at, id): columns and an index for them.
      sql:
        `ALTER TABLE ${workflows} ADD COLUMN IF NOT EXISTS handler text, ADD COLUMN IF NOT EXISTS created_at bigint;` +
        `UPDATE ${workflows} SET handler = record::json->>'handler', created_at = (record::json->>'createdAt')::bigint WHERE created_at IS NULL;` +
        `ALTER TABLE ${workflows} ALTER COLUMN handler SET NOT NULL, ALTER COLUMN created_at SET NOT NULL;` +
        `CREATE INDEX IF NOT EXISTS ${names.local(
          'workflows_created',
        )} ON ${workflows} (created_at, id);`,
    },
  ];
}

/** A header row as read. */
export interface HeaderRow {
  id: string;
  status: string;
  claim_token: string | null;
  claim_expires_at: string | null;
  claimed_at: string | null;
  failures: number;
  updated_at: string;
  error: string | null;
  step_count: number;
  rev: string;
  write_id: string | null;
  record: string;
  /** The memos, comma-separated JSON (when the statement aggregates them). */
  steps?: string | null;
  /** The memo at the position asked for (when the statement reads one). */
  at_index?: string | null;
}

const HEADER =
  'w.id, w.status, w.claim_token, w.claim_expires_at, w.claimed_at, w.failures, w.updated_at, w.error, w.step_count, w.rev, w.write_id, w.record';

/** The statements of the workflow store. */
export type WorkflowStatements = Record<
  | 'insert'
  | 'insertMany'
  | 'idsWritten'
  | 'existing'
  | 'get'
  | 'header'
  | 'claim'
  | 'claimedBy'
  | 'saveStep'
  | 'update'
  | 'updateWithStep'
  | 'stepAt'
  | 'counts',
  Statement
>;

/** Prepares the statements for one schema and prefix; `channel` is notified of work that became due. */
export function prepareWorkflowStatements(names: Names, channel: string): WorkflowStatements {
  const wf = names.table('workflows');
  const steps = names.table('workflow_steps');
  const allSteps = `(SELECT string_agg(s.memo, ',' ORDER BY s.position) FROM ${steps} s WHERE s.workflow_id = w.id)`;
  const columns =
    'status, due_at, claim_token, claim_expires_at, claimed_at, failures, updated_at, error, step_count, record';
  return {
    insert: statement(
      `WITH ins AS (INSERT INTO ${wf} (id, ${columns}, rev, write_id, handler, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13, $14)` +
        ` ON CONFLICT (id) DO NOTHING RETURNING due_at) SELECT pg_notify('${channel}', $12) FROM ins`,
    ),
    // A batch in one statement (one transaction): the first of each id in the batch is inserted
    // when absent; the ids inserted come back.
    insertMany: statement(
      `WITH batch AS (SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[])` +
        ` WITH ORDINALITY AS b(id, due_at, updated_at, record, handler, created_at, n) ORDER BY id, n),` +
        ` ins AS (INSERT INTO ${wf} (id, status, due_at, failures, updated_at, step_count, record, rev, write_id, handler, created_at)` +
        ` SELECT id, 'ready', due_at, 0, updated_at, 0, record, 0, $7, handler, created_at FROM batch ON CONFLICT (id) DO NOTHING RETURNING id)` +
        ` SELECT id, pg_notify('${channel}', $7) FROM ins`,
    ),
    idsWritten: statement(`SELECT id FROM ${wf} WHERE id = ANY($1) AND write_id = $2`),
    existing: statement(`SELECT id FROM ${wf} WHERE id = ANY($1)`),
    counts: statement(`SELECT status, count(*)::int AS n FROM ${wf} GROUP BY status`),
    get: statement(`SELECT ${HEADER}, ${allSteps} AS steps FROM ${wf} w WHERE w.id = $1`),
    header: statement(
      `SELECT ${HEADER}, (SELECT s.memo FROM ${steps} s WHERE s.workflow_id = w.id AND s.position = $2) AS at_index FROM ${wf} w WHERE w.id = $1`,
    ),
    // One statement: the earliest due workflow nobody else is claiming (SKIP LOCKED) is locked and
    // taken, an expired lease counted as a failure, exactly as workflowTransitions.claim does.
    claim: statement(
      `WITH c AS (SELECT id, status AS was FROM ${wf} WHERE due_at <= $1 ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED)` +
        ` UPDATE ${wf} w SET status = 'running', claim_token = $2, claim_expires_at = $3, claimed_at = $1, due_at = $3, updated_at = $1,` +
        ` failures = CASE WHEN c.was = 'running' THEN w.failures + 1 ELSE w.failures END,` +
        ` error = CASE WHEN c.was = 'running' THEN json_build_object('name', 'LeaseExpired', 'message', 'workflow ' || w.id || ': the worker''s lease expired (crashed or stalled)')::text ELSE w.error END,` +
        ` rev = w.rev + 1, write_id = $2` +
        ` FROM c WHERE w.id = c.id RETURNING ${HEADER}, ${allSteps} AS steps`,
    ),
    claimedBy: statement(
      `SELECT ${HEADER}, ${allSteps} AS steps FROM ${wf} w WHERE w.claim_token = $1 AND w.status = 'running'`,
    ),
    // One statement: under the claim (the row locked, the token re-checked on its newest version),
    // the memo is appended at the next position, or replaces a pending memo of the same id and
    // kind there; otherwise nothing changes and the memo found there is returned to judge.
    saveStep: statement(
      `WITH h AS (SELECT id, step_count FROM ${wf} WHERE id = $1 AND claim_token = $2 AND status = 'running' FOR UPDATE),` +
        ` ins AS (INSERT INTO ${steps} (workflow_id, position, step_id, kind, done, memo) SELECT h.id, $3, $5, $6, $7, $4 FROM h WHERE h.step_count = $3 RETURNING 1),` +
        ` upd AS (UPDATE ${steps} s SET step_id = $5, kind = $6, done = $7, memo = $4 FROM h` +
        ` WHERE s.workflow_id = h.id AND s.position = $3 AND $3 < h.step_count AND NOT s.done AND s.step_id = $5 AND s.kind = $6 RETURNING 1),` +
        ` bump AS (UPDATE ${wf} w SET step_count = w.step_count + (SELECT count(*) FROM ins), updated_at = $8, rev = w.rev + 1, write_id = $9 FROM h` +
        ` WHERE w.id = h.id AND (EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM upd)) RETURNING w.rev)` +
        ` SELECT EXISTS (SELECT 1 FROM h) AS held, (SELECT rev FROM bump) AS rev,` +
        ` (SELECT s.memo FROM ${steps} s WHERE s.workflow_id = $1 AND s.position = $3) AS existing`,
    ),
    // Compare-and-swap of the header on its revision; notifies the watchers when $14 is true.
    update: statement(
      `WITH up AS (UPDATE ${wf} SET status = $3, due_at = $4, claim_token = $5, claim_expires_at = $6, claimed_at = $7, failures = $8,` +
        ` updated_at = $9, error = $10, step_count = $11, record = $12, write_id = $13, rev = rev + 1 WHERE id = $1 AND rev = $2 RETURNING due_at, rev)` +
        ` SELECT up.rev, CASE WHEN $14::boolean THEN pg_notify('${channel}', $13) END FROM up`,
    ),
    updateWithStep: statement(
      `WITH up AS (UPDATE ${wf} SET status = $3, due_at = $4, claim_token = $5, claim_expires_at = $6, claimed_at = $7, failures = $8,` +
        ` updated_at = $9, error = $10, step_count = $11, record = $12, write_id = $13, rev = rev + 1 WHERE id = $1 AND rev = $2 RETURNING id, due_at, rev),` +
        ` st AS (INSERT INTO ${steps} (workflow_id, position, step_id, kind, done, memo) SELECT up.id, $15, $16, $17, $18, $19 FROM up` +
        ` ON CONFLICT (workflow_id, position) DO UPDATE SET step_id = excluded.step_id, kind = excluded.kind, done = excluded.done, memo = excluded.memo RETURNING 1)` +
        ` SELECT up.rev, (SELECT count(*) FROM st) AS steps, CASE WHEN $14::boolean THEN pg_notify('${channel}', $13) END FROM up`,
    ),
    stepAt: statement(`SELECT memo FROM ${steps} WHERE workflow_id = $1 AND position = $2`),
  };
}

/** The header of a row, its claim fields taken from the columns (they supersede the JSON's). */
export function headerOf(row: HeaderRow, context: string): WorkflowRecord {
  const record = parseWorkflowRecord(row.record, context);
  record.status = row.status as WorkflowRecord['status'];
  record.failures = row.failures;
  record.updatedAt = Number(row.updated_at);
  if (row.claim_token === null) delete record.claim;
  else
    record.claim = {
      token: row.claim_token,
      expiresAt: Number(row.claim_expires_at),
      claimedAt: Number(row.claimed_at),
    };
  if (row.error === null) delete record.error;
  else record.error = JSON.parse(row.error) as NonNullable<WorkflowRecord['error']>;
  record.steps = [];
  return record;
}

/** The whole record of a row read with its steps. */
export function recordOf(row: HeaderRow, context: string): WorkflowRecord {
  const record = headerOf(row, context);
  record.steps =
    row.steps === null || row.steps === undefined
      ? []
      : (JSON.parse(`[${row.steps}]`) as StepMemo[]);
  return record;
}

/** When `record` may next be claimed, or null once it is finished. */
export function dueAt(record: WorkflowRecord): number | null {
  if (isFinishedStatus(record.status)) return null;
  if (record.status === WorkflowStatus.RUNNING) return record.claim?.expiresAt ?? 0;
  return record.runAt;
}

/** The statement of one listing page: the filters given, in `order`, after the cursor. */
export function listStatement(
  names: Names,
  query: {
    statuses: boolean;
    handler: boolean;
    after: boolean;
    before: boolean;
    cursor: boolean;
    desc: boolean;
  },
): Statement {
  const conditions: string[] = [];
  // $1: limit + 1; then, in this order, the values of the filters present.
  let n = 2;
  if (query.statuses) conditions.push(`w.status = ANY($${n++})`);
  if (query.handler) conditions.push(`w.handler = $${n++}`);
  if (query.after) conditions.push(`w.created_at >= $${n++}`);
  if (query.before) conditions.push(`w.created_at < $${n++}`);
  if (query.cursor) {
    conditions.push(`(w.created_at, w.id) ${query.desc ? '<' : '>'} ($${n}, $${n + 1})`);
    n += 2;
  }
  const direction = query.desc ? 'DESC' : 'ASC';
  return statement(
    `SELECT ${HEADER} FROM ${names.table('workflows')} w${
      conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`
    }` + ` ORDER BY w.created_at ${direction}, w.id ${direction} LIMIT $1`,
  );
}

/** The column values of a header, in the order of the insert and update statements ($2..$11 / $3..$12). */
export function headerColumns(record: WorkflowRecord, stepCount: number): unknown[] {
  const header: Partial<WorkflowRecord> = { ...record };
  delete header.steps;
  return [
    record.status,
    dueAt(record),
    record.claim?.token ?? null,
    record.claim?.expiresAt ?? null,
    record.claim?.claimedAt ?? null,
    record.failures,
    record.updatedAt,
    record.error === undefined ? null : JSON.stringify(record.error),
    stepCount,
    JSON.stringify(header),
  ];
}

/** True when two memos record the same thing, their write times aside (core's rule for a retried saveStep). */
export function isSameMemo(a: StepMemo, b: StepMemo): boolean {
  return (
    a.id === b.id &&
    a.kind === b.kind &&
    a.done === b.done &&
    a.until === b.until &&
    isSameJson(a.value, b.value) &&
    isSameJson(a.error, b.error)
  );
}

function isSameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((item, i) => isSameJson(item, b[i]));
  const left = Object.entries(a).filter(([, v]) => v !== undefined);
  const right = new Map(Object.entries(b).filter(([, v]) => v !== undefined));
  return (
    left.length === right.size &&
    left.every(([key, value]) => right.has(key) && isSameJson(value, right.get(key)))
  );
}

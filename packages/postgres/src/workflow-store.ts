import type {
  ClaimedWorkflow,
  Clock,
  NewWorkflow,
  StepMemo,
  SuspendOptions,
  WorkflowCounts,
  WorkflowListQuery,
  WorkflowPage,
  WorkflowRecord,
  WorkflowStore,
} from '@durable/core';
import type { ClaimTransition } from '@durable/core/adapter';
import { DurableError, ErrorCode, systemClock } from '@durable/core';
import {
  ClaimWrites,
  assertJsonValue,
  assertValidWorkflowId,
  checkWorkflowListQuery,
  claimedStart,
  createClaimToken,
  createLockToken,
  encodeWorkflowCursor,
  isWellFormedText,
  toWorkflowSummary,
  workflowTransitions,
} from '@durable/core/adapter';
import { AmbiguousWrite, Connection } from './connection.js';
import { Notifier, channelName } from './notifier.js';
import type { PostgresConnectionOptions } from './options.js';
import { checkConnectionOptions } from './options.js';
import type { HeaderRow, WorkflowStatements } from './workflow-sql.js';
import {
  headerColumns,
  headerOf,
  isSameMemo,
  listStatement,
  prepareWorkflowStatements,
  recordOf,
  workflowMigrations,
} from './workflow-sql.js';

/** Options for {@link PostgresWorkflowStore}. */
export interface PostgresWorkflowStoreOptions extends PostgresConnectionOptions {
  /** Epoch-ms time source; every process using the store must agree on it. @default Date.now */
  clock?: Clock;
}

const CONTEXT = 'postgres workflow store';
// Headers a claim holder remembers (revision included), so its next write under the claim needs
// no read first; a stale one only costs a refused compare-and-swap and a read.
const REMEMBERED = 10_000;
const WAKING = new Set(['signal', 'cancel', 'resume', 'release', 'finish']);

interface Remembered {
  token: string;
  rev: string;
  header: WorkflowRecord;
  stepCount: number;
}

/**
 * {@link WorkflowStore} on two PostgreSQL tables: a header row per workflow and a row per
 * recorded step. Claims are one statement that takes the earliest due workflow with
 * `FOR UPDATE SKIP LOCKED` on a partial index of due times, so concurrent claimers never wait on
 * each other and a claim costs the same with 100 or 100,000 workflows asleep or finished.
 * Recording a step is one statement (one transaction) that appends one row under the claim. The
 * other writes apply core's {@link workflowTransitions} and compare-and-swap the header on its
 * revision. Every write under a claim checks the claim's token in the same statement, so a
 * worker whose lease was taken over changes nothing (`LOCK_LOST`).
 */
export class PostgresWorkflowStore extends ClaimWrites implements WorkflowStore {
  private readonly connection: Connection;
  private readonly clock: Clock;
  private readonly sql: WorkflowStatements;
  private readonly channel: string;
  private readonly notifier: Notifier;
  private readonly remembered = new Map<string, Remembered>();
  private readonly origin = createLockToken();

  constructor(options: PostgresWorkflowStoreOptions) {
    super();
    checkConnectionOptions(options, CONTEXT, ['clock']);
    this.connection = new Connection(options, CONTEXT, workflowMigrations);
    this.clock = options.clock ?? systemClock;
    const { names } = this.connection;
    this.channel = channelName(names.schema, names.prefix, 'workflows');
    this.notifier = new Notifier(() => this.connection.clients);
    this.sql = prepareWorkflowStatements(names, this.channel);
  }

  async insert(workflow: NewWorkflow): Promise<boolean> {
    return this.create(workflowTransitions.create(workflow, this.clock()), 'insert');
  }

  /**
   * Creates the workflow already claimed by the caller (see `WorkflowStore.insertClaimed`): the
   * insert's one statement with the claim's columns set; no claim query after it.
   */
  async insertClaimed(
    workflow: NewWorkflow,
    options: { leaseMs: number },
  ): Promise<ClaimedWorkflow | undefined> {
    const claimed = claimedStart(workflow, options.leaseMs, this.clock());
    return (await this.create(claimed.record, 'insertClaimed')) ? claimed : undefined;
  }

  // Inserts `record` if its id is absent (a lost reply is read back: the row is ours if it has our write id).
  private async create(record: WorkflowRecord, operation: string): Promise<boolean> {
    assertStorableId(record.id, operation);
    if (record.parentId !== undefined) assertStorableId(record.parentId, operation);
    const writeId = this.writeId();
    for (;;) {
      try {
        const values = [
          record.id,
          ...headerColumns(record, 0),
          writeId,
          record.handler,
          record.createdAt,
        ];
        const result = await this.connection.write(this.sql.insert, values, operation, record.id);
        const created = result.rowCount === 1;
        // A claimed one is nobody else's work: no wake-up in this process.
        if (created && record.claim === undefined) this.notifier.local(this.channel, '');
        return created;
      } catch (error) {
        if (!(error instanceof AmbiguousWrite)) throw error;
        const row = await this.readBack(record.id, error, operation);
        if (row === undefined) continue;
        return row.write_id === writeId;
      }
    }
  }

  /**
   * Creates each absent workflow in one statement (one transaction, one round trip); true for
   * each one created, false when its id existed or came earlier in the batch.
   */
  async insertMany(workflows: readonly NewWorkflow[]): Promise<boolean[]> {
    const now = this.clock();
    const records = workflows.map((workflow) => workflowTransitions.create(workflow, now));
    for (const record of records) {
      assertStorableId(record.id, 'insertMany');
      if (record.parentId !== undefined) assertStorableId(record.parentId, 'insertMany');
    }
    const writeId = this.writeId();
    const created = new Set<string>();
    let pending = records;
    while (pending.length > 0) {
      const columns = [
        pending.map((r) => r.id),
        pending.map((r) => r.runAt),
        pending.map((r) => r.updatedAt),
        pending.map((r) => headerColumns(r, 0)[9]),
        pending.map((r) => r.handler),
        pending.map((r) => r.createdAt),
        writeId,
      ];
      try {
        const result = await this.connection.write<{ id: string }>(
          this.sql.insertMany,
          columns,
          'insertMany',
        );
        for (const row of result.rows) created.add(row.id);
        pending = [];
      } catch (error) {
        if (!(error instanceof AmbiguousWrite)) throw error;
        if (!error.settled)
          throw this.connection.fail(
            error,
            'insertMany (its outcome is unknown: the connection failed after it was sent; inserting the same batch again is safe)',
          );
        const ids = pending.map((r) => r.id);
        const ours = (
          await this.connection.query<{ id: string }>(
            this.sql.idsWritten,
            [ids, writeId],
            'insertMany',
          )
        ).rows.map((row) => row.id);
        for (const id of ours) created.add(id);
        // Those neither ours nor someone else's were not inserted: make them again.
        const present = new Set(
          (
            await this.connection.query<{ id: string }>(this.sql.existing, [ids], 'insertMany')
          ).rows.map((row) => row.id),
        );
        pending = pending.filter((r) => !present.has(r.id));
      }
    }
    if (created.size > 0) this.notifier.local(this.channel, '');
    const seen = new Set<string>();
    return records.map((record) => {
      const first = !seen.has(record.id);
      seen.add(record.id);
      return first && created.has(record.id);
    });
  }

  /** One page of workflow summaries (see `WorkflowStore.list`), from the index on (created_at, id). */
  async list(query: WorkflowListQuery): Promise<WorkflowPage> {
    const checked = checkWorkflowListQuery(query, CONTEXT);
    const desc = checked.order === 'desc';
    const sql = listStatement(this.connection.names, {
      statuses: checked.statuses !== undefined,
      handler: checked.handler !== undefined,
      after: checked.createdAfter !== undefined,
      before: checked.createdBefore !== undefined,
      cursor: checked.after !== undefined,
      desc,
    });
    const values: unknown[] = [checked.limit + 1];
    if (checked.statuses !== undefined) values.push([...checked.statuses]);
    if (checked.handler !== undefined) values.push(checked.handler);
    if (checked.createdAfter !== undefined) values.push(checked.createdAfter);
    if (checked.createdBefore !== undefined) values.push(checked.createdBefore);
    if (checked.after !== undefined) values.push(checked.after.createdAt, checked.after.id);
    const rows = (await this.connection.query<HeaderRow>(sql, values, 'list')).rows;
    const items = rows.slice(0, checked.limit).map((row) => {
      const record = headerOf(row, CONTEXT);
      record.steps = new Array<StepMemo>(row.step_count);
      return toWorkflowSummary(record);
    });
    const last = items[items.length - 1];
    return rows.length > checked.limit && last !== undefined
      ? { items, cursor: encodeWorkflowCursor({ createdAt: last.createdAt, id: last.id }) }
      : { items };
  }

  /** How many workflows are in each status now. */
  async counts(): Promise<WorkflowCounts> {
    const counts: WorkflowCounts = {
      ready: 0,
      running: 0,
      sleeping: 0,
      failed: 0,
      completed: 0,
      aborted: 0,
      cancelled: 0,
    };
    for (const row of (
      await this.connection.query<{ status: keyof WorkflowCounts; n: number }>(
        this.sql.counts,
        [],
        'counts',
      )
    ).rows)
      counts[row.status] = row.n;
    return counts;
  }

  /** Makes an aborted, cancelled or failed workflow ready again at once (see `WorkflowStore.resume`). */
  async resume(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: resume`);
    return (
      (await this.change(id, 'resume', undefined, undefined, (record, now) =>
        workflowTransitions.resume(record, now),
      )) !== undefined
    );
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    assertValidWorkflowId(id, `${CONTEXT}: get`);
    assertStorableId(id, 'get');
    const row = (await this.connection.query<HeaderRow>(this.sql.get, [id], 'get', id)).rows[0];
    return row === undefined ? undefined : recordOf(row, CONTEXT);
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    const token = createClaimToken();
    for (;;) {
      const now = this.clock();
      let row: HeaderRow | undefined;
      try {
        row = (
          await this.connection.write<HeaderRow>(
            this.sql.claim,
            [now, token, now + Math.max(0, options.leaseMs)],
            'claim',
          )
        ).rows[0];
      } catch (error) {
        if (!(error instanceof AmbiguousWrite)) throw error;
        if (!error.settled)
          throw this.connection.fail(
            error,
            'claim (its outcome is unknown: the connection failed after it was sent)',
          );
        // Rare enough to afford a scan: the claim was applied if a workflow holds our token.
        row = (await this.connection.query<HeaderRow>(this.sql.claimedBy, [token], 'claim'))
          .rows[0];
        if (row === undefined) continue;
      }
      if (row === undefined) return undefined;
      const record = recordOf(row, CONTEXT);
      this.remember(record, row.rev, row.step_count);
      return { token, record };
    }
  }

  override async saveStep(id: string, token: string, index: number, memo: StepMemo): Promise<void> {
    assertValidWorkflowId(id, `${CONTEXT}: saveStep`);
    assertStorableId(id, 'saveStep');
    if (memo.value !== undefined)
      assertJsonValue(memo.value, `result of step ${JSON.stringify(memo.id)}`);
    const position = Number.isSafeInteger(index) && index >= 0 && index < 2 ** 31 ? index : -1;
    const text = JSON.stringify(memo);
    for (;;) {
      const now = this.clock();
      const writeId = this.writeId();
      let row: { held: boolean; rev: string | null; existing: string | null } | undefined;
      try {
        // The step id as JSON: any string, NUL and lone surrogates included, compares exactly.
        const values = [
          id,
          token,
          position,
          text,
          JSON.stringify(memo.id),
          memo.kind,
          memo.done,
          now,
          writeId,
        ];
        row = (
          await this.connection.write<{
            held: boolean;
            rev: string | null;
            existing: string | null;
          }>(this.sql.saveStep, values, 'saveStep', id)
        ).rows[0];
      } catch (error) {
        if (!(error instanceof AmbiguousWrite)) throw error;
        if (!error.settled)
          throw this.connection.fail(
            error,
            'saveStep (its outcome is unknown: the connection failed after it was sent)',
            id,
          );
        // Applied or not, making it again is safe: the memo already there is accepted as ours.
        continue;
      }
      if (row === undefined || !row.held) {
        this.remembered.delete(id);
        throw lockLost('saveStep', id);
      }
      if (row.rev !== null) {
        const known = this.remembered.get(id);
        if (known !== undefined && known.token === token) {
          known.rev = row.rev;
          known.header.updatedAt = now;
          if (position === known.stepCount) known.stepCount++;
        }
        return;
      }
      const existing = row.existing === null ? undefined : (JSON.parse(row.existing) as StepMemo);
      // The holder's own write already there (its reply was lost and the write made again).
      if (existing !== undefined && existing.done && isSameMemo(existing, memo)) return;
      throw new DurableError(
        ErrorCode.NON_DETERMINISTIC,
        `workflow ${id}: cannot record ${memo.kind} ${JSON.stringify(
          memo.id,
        )} at position ${index}` +
          (existing === undefined
            ? ': it is not the next position'
            : `: position ${index} holds ${existing.kind} ${JSON.stringify(existing.id)}`),
      );
    }
  }

  override async suspend(id: string, token: string, options: SuspendOptions): Promise<void> {
    await this.change(id, 'suspend', token, options.step?.index, (record, now) =>
      workflowTransitions.suspend(record, token, options, now),
    );
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: signal`);
    return (
      (await this.change(id, 'signal', undefined, undefined, (record, now) =>
        workflowTransitions.signal(record, name, payload, now),
      )) !== undefined
    );
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: cancel`);
    return (
      (await this.change(id, 'cancel', undefined, undefined, (record, now) =>
        workflowTransitions.cancel(record, now),
      )) !== undefined
    );
  }

  /**
   * Calls `listener` when work may have become due (a workflow inserted, released, woken or put
   * back to sleep until now), in this process at once and in others through LISTEN/NOTIFY;
   * returns the unsubscribe function. Hints only: a claim decides.
   */
  watch(listener: () => void): () => void {
    // A change made by this store has woken its listeners already (notifier.local); the payload
    // (the change's write id, which starts with this store's origin) tells its echo apart.
    return this.notifier.subscribe(this.channel, (payload) =>
      payload.startsWith(this.origin) ? undefined : listener(),
    );
  }

  /** Stops listening and ends the pool this store created (never an injected one). */
  async close(): Promise<void> {
    await this.notifier.close();
    await this.connection.close();
  }

  protected async underClaim(
    id: string,
    token: string,
    operation: string,
    apply: ClaimTransition,
  ): Promise<WorkflowRecord> {
    assertValidWorkflowId(id, `${CONTEXT}: ${operation}`);
    const next = await this.change(id, operation, token, undefined, (record, now) =>
      apply(record, now),
    );
    return next as WorkflowRecord;
  }

  // Read (or recall), apply, compare-and-swap on the revision; again when another write came
  // between. `position`: the step the transition may record (read with the header, so core's
  // placement rules see the memo there). Returns the stored record, or undefined when `apply`
  // declined (signal or cancel of a finished workflow).
  private async change(
    id: string,
    operation: string,
    token: string | undefined,
    position: number | undefined,
    apply: (record: WorkflowRecord, now: number) => WorkflowRecord | undefined,
  ): Promise<WorkflowRecord | undefined> {
    assertStorableId(id, operation);
    const index =
      position !== undefined &&
      Number.isSafeInteger(position) &&
      position >= 0 &&
      position < 2 ** 31
        ? position
        : -1;
    let recalled = token === undefined || index !== -1 ? undefined : this.remembered.get(id);
    for (;;) {
      let rev: string;
      let stepCount: number;
      let record: WorkflowRecord;
      if (recalled !== undefined && recalled.token === token) {
        ({ rev, stepCount } = recalled);
        record = { ...recalled.header, steps: new Array<StepMemo>(stepCount) };
      } else {
        const row = (
          await this.connection.query<HeaderRow>(this.sql.header, [id, index], operation, id)
        ).rows[0];
        if (row === undefined) {
          if (token !== undefined) throw lockLost(operation, id);
          return undefined;
        }
        rev = row.rev;
        stepCount = row.step_count;
        record = headerOf(row, CONTEXT);
        // The history as core's placement rules see it: its length, and the memo at `index`.
        record.steps = new Array<StepMemo>(stepCount);
        if (row.at_index !== null && row.at_index !== undefined)
          record.steps[index] = JSON.parse(row.at_index) as StepMemo;
      }
      recalled = undefined;
      const now = this.clock();
      let next: WorkflowRecord | undefined;
      try {
        next = apply(record, now);
      } catch (error) {
        if (token !== undefined && (error as { code?: unknown }).code === ErrorCode.LOCK_LOST)
          this.remembered.delete(id);
        throw error;
      }
      if (next === undefined) return undefined;
      const memo = index === -1 ? undefined : next.steps[index];
      const writesStep = memo !== undefined && memo !== record.steps[index];
      const nextCount = writesStep && index === stepCount ? stepCount + 1 : stepCount;
      const writeId = this.writeId();
      // Watchers are told of every change that may let a worker claim or a waiter go on: a
      // workflow due now, and any signal, cancel, resume, release or finish.
      const wake = WAKING.has(operation) || (next.status !== 'running' && next.runAt <= now);
      const values: unknown[] = [id, rev, ...headerColumns(next, nextCount), writeId, wake];
      if (writesStep)
        values.push(index, JSON.stringify(memo.id), memo.kind, memo.done, JSON.stringify(memo));
      let newRev: string | undefined;
      try {
        const result = await this.connection.write<{ rev: string }>(
          writesStep ? this.sql.updateWithStep : this.sql.update,
          values,
          operation,
          id,
        );
        newRev = result.rows[0]?.rev;
      } catch (error) {
        if (!(error instanceof AmbiguousWrite)) throw error;
        const row = await this.readBack(id, error, operation);
        if (row?.write_id === writeId) newRev = row.rev;
      }
      if (newRev === undefined) continue;
      if (next.status === 'running' && next.claim !== undefined) {
        this.remember(next, newRev, nextCount);
      } else {
        this.remembered.delete(id);
      }
      if (wake) this.notifier.local(this.channel, '');
      return next;
    }
  }

  // Write ids start with this store's origin, so its own notifications can be told apart.
  private writeId(): string {
    return `${this.origin}:${createLockToken()}`;
  }

  private remember(record: WorkflowRecord, rev: string, stepCount: number): void {
    if (record.claim === undefined) return;
    if (this.remembered.size >= REMEMBERED)
      this.remembered.delete(this.remembered.keys().next().value as string);
    this.remembered.set(record.id, {
      token: record.claim.token,
      rev,
      header: { ...record, steps: [] },
      stepCount,
    });
  }

  // The header once the server process of a write whose reply was lost is gone (so the write is
  // applied or never will be); a retryable BACKEND error when that cannot be made sure of.
  private async readBack(
    id: string,
    lost: AmbiguousWrite,
    operation: string,
  ): Promise<HeaderRow | undefined> {
    if (!lost.settled)
      throw this.connection.fail(
        lost,
        `${operation} (its outcome is unknown: the connection failed after it was sent)`,
        id,
      );
    return (await this.connection.query<HeaderRow>(this.sql.header, [id, -1], operation, id))
      .rows[0];
  }
}

function lockLost(operation: string, id: string): DurableError {
  return new DurableError(
    ErrorCode.LOCK_LOST,
    `workflow store: ${operation} refused for ${id}: the claim is no longer held (taken over, cancelled or finished)`,
    { details: { id } },
  );
}

// PostgreSQL text holds no NUL, and a lone surrogate would reach it as U+FFFD (two ids, one row).
function assertStorableId(id: string, operation: string): void {
  if (id.includes('\u0000') || !isWellFormedText(id)) {
    throw new DurableError(
      ErrorCode.INVALID_KEY,
      `${CONTEXT}: ${operation}: a workflow id stored in PostgreSQL cannot hold NUL characters or lone surrogates, got ${JSON.stringify(
        id,
      )}`,
      { details: { id } },
    );
  }
}

import { ObjectId } from 'mongodb';
import type { Collection, Document, Filter } from 'mongodb';
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
import {
  DurableError,
  ErrorCode,
  WorkflowListOrder,
  WorkflowStatus,
  systemClock,
} from '@durable/core';
import {
  ClaimWrites,
  WakeListeners,
  assertClaimHeld,
  assertValidWorkflowId,
  checkWorkflowListQuery,
  createClaimToken,
  emptyWorkflowCounts,
  encodeWorkflowCursor,
  isWorkflowDue,
  workflowTransitions,
} from '@durable/core/adapter';
import { isAmbiguousWriteError } from './ambiguous-writes.js';
import type { MongoConnection, MongoConnectionOptions } from './connection.js';
import { resolveMongoConnection } from './connection.js';
import {
  duplicatesOnly,
  isBulkFailureWithoutWriteErrors,
  isDuplicateKey,
  mongoBackendError,
} from './mongo-errors.js';
import type { WorkflowDocument } from './workflow-document.js';
import {
  documentRecord,
  documentSummary,
  newWorkflowDocument,
  workflowIdKey,
  workflowUpdate,
} from './workflow-document.js';

/** Options for {@link MongoWorkflowStore}. */
export interface MongoWorkflowStoreOptions extends MongoConnectionOptions {
  /** Collection of the workflow documents. @default "durable_workflows" */
  collection?: string;
  /** Time source (epoch ms); workers sharing a store must have roughly synchronised clocks. @default Date.now */
  clock?: Clock;
  /** Due workflows read per claim attempt; claimers start at a random one of them to spread out. @default 32 */
  claimBatch?: number;
}

const CONTEXT = 'mongo workflow store';
const MAX_ATTEMPTS = 100;
/** How many times a write whose reply was lost is settled by reading back and sending it again. */
const SETTLE_ROUNDS = 3;
/** Changes that may make work claimable whatever the record's due time (a parent may wait on them). */
const WAKING = new Set(['signal', 'cancel', 'resume', 'release', 'finish']);
/** Everything but the history: what claims, signals, cancels and listings read. */
const WITHOUT_HISTORY = { projection: { steps: 0 } } as const;

/** Every field but the history, for an inclusion projection. */
const HEAD_FIELDS = {
  format: 1,
  rev: 1,
  dueAt: 1,
  status: 1,
  handler: 1,
  createdAt: 1,
  idKey: 1,
  head: 1,
  stepCount: 1,
  ops: 1,
  json: 1,
} as const;

/** What a change reads of the history: none, one position, or all of it. */
type HistoryRead = { kind: 'none' } | { kind: 'one'; index: number } | { kind: 'all' };

/**
 * A {@link WorkflowStore} on one MongoDB collection. Every change reads the document, applies the
 * shared {@link workflowTransitions}, and writes back with a filter on the revision it read
 * (compare-and-swap), so claims are exclusive and a stale claimer's writes change nothing
 * (`LOCK_LOST`). Due workflows are found through an index on `dueAt`. The history is stored one
 * array element per position: recording a step reads and writes that position alone, so its cost
 * does not grow with the history, and claims, signals and heartbeats never read it.
 *
 * Every write carries a fresh write id, kept in the document's `ops` (the last 16): a write whose
 * reply was lost is settled by reading them back (landed: success; the revision moved on without
 * it: it never will land, so the change is tried again on what is there; unchanged: the same
 * write is sent again), and what cannot be settled is `UNKNOWN_OUTCOME`, never a false failure.
 */
export class MongoWorkflowStore extends ClaimWrites implements WorkflowStore {
  private readonly connection: MongoConnection;
  private readonly workflows: Collection<WorkflowDocument>;
  private readonly clock: Clock;
  private readonly claimBatch: number;
  private indexes: Promise<void> | undefined;
  private readonly wakes = new WakeListeners();

  constructor(options: MongoWorkflowStoreOptions) {
    super();
    this.connection = resolveMongoConnection(
      options,
      options?.collection ?? 'durable_workflows',
      CONTEXT,
      ['collection', 'clock', 'claimBatch'],
    );
    this.clock = options.clock ?? systemClock;
    this.claimBatch = options.claimBatch ?? 32;
    if (!Number.isInteger(this.claimBatch) || this.claimBatch < 1) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: claimBatch must be a positive integer, got ${String(this.claimBatch)}`,
      );
    }
    this.workflows = this.connection.collection<WorkflowDocument>();
  }

  /**
   * Creates the indexes (due time; creation order and id for listings; status) and rewrites any
   * format-1 document in the current format, so listings see every workflow. Idempotent; done
   * before the first claim, list or count.
   */
  ensureIndexes(): Promise<void> {
    this.indexes ??= this.prepare().catch((error: unknown) => {
      this.indexes = undefined;
      throw error instanceof DurableError
        ? error
        : mongoBackendError(error, `${CONTEXT}: creating the indexes failed`);
    });
    return this.indexes;
  }

  async insert(workflow: NewWorkflow): Promise<boolean> {
    const record = workflowTransitions.create(workflow, this.clock());
    const writeId = newWriteId();
    const document = newWorkflowDocument(record, writeId);
    let failure: unknown;
    for (let round = 0; round < SETTLE_ROUNDS; round++) {
      try {
        await this.connection.ready();
        await this.workflows.insertOne(document);
        this.wakes.notify();
        return true;
      } catch (error) {
        if (!isDuplicateKey(error) && !isAmbiguousWriteError(error)) {
          throw mongoBackendError(error, `${CONTEXT}: insert failed for ${record.id}`, record.id);
        }
        if (isDuplicateKey(error) && failure === undefined) return false;
        failure = isDuplicateKey(error) ? failure : error;
      }
      // Lost reply (or a duplicate after one): ours if the document carries this insert's write id.
      const seen = await this.readBack(record.id, 'insert', failure);
      if (seen !== null) {
        const ours = seen.ops?.includes(writeId) === true;
        if (ours) this.wakes.notify();
        return ours;
      }
    }
    throw stillUnknown(record.id, 'insert', failure);
  }

  /**
   * Creates each workflow whose id is absent in one `insertMany` (unordered: a duplicate does not
   * stop the rest), and returns one boolean per workflow in order: false when the id existed or
   * came earlier in the batch (see {@link WorkflowStore.insertMany}). Every document of the batch
   * carries one write id, so a batch whose reply was lost is settled by reading the ids back (ours,
   * someone else's, or absent and sent again), never by guessing.
   */
  async insertMany(workflows: readonly NewWorkflow[]): Promise<boolean[]> {
    const now = this.clock();
    const records = Array.from(workflows, (workflow) => workflowTransitions.create(workflow, now));
    const writeId = newWriteId();
    const created = records.map(() => false);
    // The first of each id is sent; a later one in the same batch is false without a request.
    const first = new Map<string, number>();
    records.forEach((record, index) => {
      if (!first.has(record.id)) first.set(record.id, index);
    });
    let pending = [...first.values()];
    let failure: unknown;
    for (let round = 0; round < SETTLE_ROUNDS && pending.length > 0; round++) {
      try {
        await this.connection.ready();
        await this.workflows.insertMany(
          pending.map((index) => newWorkflowDocument(records[index] as WorkflowRecord, writeId)),
          { ordered: false },
        );
        for (const index of pending) created[index] = true;
        pending = [];
        break;
      } catch (error) {
        // Duplicates alone, with no lost reply before: those ids existed, the rest are created.
        const duplicates = duplicatesOnly(error);
        if (duplicates !== undefined && failure === undefined) {
          pending.forEach((index, position) => {
            created[index] = !duplicates.has(position);
          });
          pending = [];
          break;
        }
        if (
          duplicates === undefined &&
          !isAmbiguousWriteError(error) &&
          !isBulkFailureWithoutWriteErrors(error)
        )
          throw mongoBackendError(
            error,
            `${CONTEXT}: insertMany failed (some of the ${pending.length} workflows may have been created; inserting the same batch again is safe)`,
          );
        failure = error;
      }
      // A lost reply (or a duplicate after one): what carries this batch's write id is ours;
      // what another writer created is not; what is absent was not created and is sent again.
      const seen = await this.readBackMany(
        pending.map((index) => (records[index] as WorkflowRecord).id),
        failure,
      );
      pending = pending.filter((index) => {
        const ops = seen.get((records[index] as WorkflowRecord).id);
        if (ops === undefined) return true;
        created[index] = ops.includes(writeId);
        return false;
      });
    }
    if (created.includes(true)) this.wakes.notify();
    if (pending.length > 0) {
      const ids = pending.map((index) => (records[index] as WorkflowRecord).id);
      throw stillUnknown(ids.join(', '), 'insertMany', failure);
    }
    return created;
  }

  /**
   * Calls `listener` (coalesced, in a microtask) after a change made through this store that may
   * have made work claimable: an insert, a signal, cancel, resume, release or finish, a run
   * suspended or failed with its due time passed. Changes made by other processes are not seen
   * (MongoDB's change streams need a replica set, and neither test server has them: see the
   * README), so workers still poll for those (`pollIntervalMs`).
   */
  watch(listener: () => void): () => void {
    return this.wakes.add(listener);
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    assertValidWorkflowId(id, `${CONTEXT}: get`);
    const document = await this.read(id, 'get', { kind: 'all' });
    return document === null ? undefined : documentRecord(document);
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    await this.ensureIndexes();
    let unreadable: Error | undefined;
    for (let round = 0; round < MAX_ATTEMPTS; round++) {
      const now = this.clock();
      let candidates: WorkflowDocument[];
      try {
        await this.connection.ready();
        candidates = await this.workflows
          .find({ dueAt: { $lte: now } }, WITHOUT_HISTORY)
          .sort({ dueAt: 1 })
          .limit(this.claimBatch)
          .toArray();
      } catch (error) {
        throw mongoBackendError(error, `${CONTEXT}: claim failed`);
      }
      if (candidates.length === 0) break;
      let raced = false;
      const offset = Math.floor(Math.random() * candidates.length);
      for (let i = 0; i < candidates.length; i++) {
        const document = candidates[(offset + i) % candidates.length] as WorkflowDocument;
        let record: WorkflowRecord;
        try {
          record = documentRecord(document, 0);
        } catch (error) {
          // One unreadable record must not stop every other workflow: go on, report it if idle.
          unreadable ??= error instanceof Error ? error : new Error(String(error));
          continue;
        }
        if (!isWorkflowDue(record, now)) continue;
        const token = createClaimToken();
        const next = workflowTransitions.claim(record, token, options.leaseMs, now);
        if (await this.swap(document, next, 'claim', undefined)) {
          // The claim is ours, so the history cannot change before we read it.
          const full = await this.read(document._id, 'claim', { kind: 'all' });
          return {
            token,
            record: { ...next, steps: full === null ? [] : documentRecord(full).steps },
          };
        }
        raced = true;
      }
      if (!raced) break;
    }
    if (unreadable !== undefined) throw unreadable;
    return undefined;
  }

  override async saveStep(id: string, token: string, index: number, memo: StepMemo): Promise<void> {
    await this.changeUnderClaim(
      id,
      token,
      'saveStep',
      (r, now) => workflowTransitions.saveStep(r, token, index, memo, now),
      historyAt(index),
    );
  }

  override async suspend(id: string, token: string, options: SuspendOptions): Promise<void> {
    const history: HistoryRead =
      options?.step === undefined ? { kind: 'none' } : historyAt(options.step.index);
    await this.changeUnderClaim(
      id,
      token,
      'suspend',
      (r, now) => workflowTransitions.suspend(r, token, options, now),
      history,
    );
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: signal`);
    return (
      (await this.mutate(id, 'signal', (r, now) =>
        workflowTransitions.signal(r, name, payload, now),
      )) !== undefined
    );
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: cancel`);
    return (
      (await this.mutate(id, 'cancel', (r, now) => workflowTransitions.cancel(r, now))) !==
      undefined
    );
  }

  /** Makes an aborted, cancelled or failed workflow ready at once, its history kept (see {@link WorkflowStore.resume}). */
  async resume(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: resume`);
    return (
      (await this.mutate(id, 'resume', (r, now) => workflowTransitions.resume(r, now))) !==
      undefined
    );
  }

  /** One page of workflows, through the index on creation time and id (see {@link WorkflowStore.list}). */
  async list(query: WorkflowListQuery): Promise<WorkflowPage> {
    const checked = checkWorkflowListQuery(query, CONTEXT);
    const conditions: Array<Filter<WorkflowDocument>> = [];
    if (checked.statuses !== undefined) conditions.push({ status: { $in: [...checked.statuses] } });
    if (checked.handler !== undefined) conditions.push({ handler: checked.handler });
    if (checked.createdAfter !== undefined)
      conditions.push({ createdAt: { $gte: checked.createdAfter } });
    if (checked.createdBefore !== undefined)
      conditions.push({ createdAt: { $lt: checked.createdBefore } });
    const desc = checked.order === WorkflowListOrder.DESC;
    const beyond = desc ? '$lt' : '$gt';
    if (checked.after !== undefined) {
      const { createdAt, id } = checked.after;
      const idKey = workflowIdKey(id);
      conditions.push({
        $or: [
          { createdAt: { [beyond]: createdAt } },
          { $and: [{ createdAt }, { idKey: { [beyond]: idKey } }] },
        ],
      } as Filter<WorkflowDocument>);
    }
    const direction = desc ? -1 : 1;
    let documents: WorkflowDocument[];
    try {
      await this.ensureIndexes();
      documents = await this.workflows
        .find(conditions.length === 0 ? {} : { $and: conditions }, {
          projection: { steps: 0, ops: 0, idKey: 0 },
        })
        .sort({ createdAt: direction, idKey: direction })
        .limit(checked.limit + 1)
        .toArray();
    } catch (error) {
      throw error instanceof DurableError
        ? error
        : mongoBackendError(error, `${CONTEXT}: list failed`);
    }
    const items = documents.slice(0, checked.limit).map(documentSummary);
    const last = items[items.length - 1];
    return documents.length > checked.limit && last !== undefined
      ? { items, cursor: encodeWorkflowCursor(last) }
      : { items };
  }

  /** How many workflows are in each status (one indexed count per status). */
  async counts(): Promise<WorkflowCounts> {
    const counts = emptyWorkflowCounts();
    try {
      await this.ensureIndexes();
      const statuses = Object.values(WorkflowStatus);
      const found = await Promise.all(
        statuses.map((status) => this.workflows.countDocuments({ status })),
      );
      statuses.forEach((status, i) => {
        counts[status] = found[i] ?? 0;
      });
    } catch (error) {
      throw error instanceof DurableError
        ? error
        : mongoBackendError(error, `${CONTEXT}: counts failed`);
    }
    return counts;
  }

  /** Closes the client if this store created it (never an injected one). */
  close(): Promise<void> {
    return this.connection.close();
  }

  protected async underClaim(
    id: string,
    token: string,
    operation: string,
    change: ClaimTransition,
  ): Promise<WorkflowRecord> {
    return this.changeUnderClaim(id, token, operation, change, { kind: 'none' });
  }

  private async changeUnderClaim(
    id: string,
    token: string,
    operation: string,
    change: ClaimTransition,
    history: HistoryRead,
  ): Promise<WorkflowRecord> {
    assertValidWorkflowId(id, `${CONTEXT}: ${operation}`);
    const next = await this.mutate(
      id,
      operation,
      (record, now) => {
        assertClaimHeld(record, token, operation, id);
        return change(record, now);
      },
      history,
      () => assertClaimHeld(undefined, token, operation, id),
    );
    return next as WorkflowRecord;
  }

  // Read, transform, compare-and-swap on the revision; retried when another writer got between.
  private async mutate(
    id: string,
    operation: string,
    change: (record: WorkflowRecord, now: number) => WorkflowRecord | undefined,
    history: HistoryRead = { kind: 'none' },
    onAbsent: () => void = () => undefined,
  ): Promise<WorkflowRecord | undefined> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const document = await this.read(id, operation, history);
      if (document === null) {
        onAbsent();
        return undefined;
      }
      const only = history.kind === 'one' ? history.index : history.kind === 'none' ? 0 : undefined;
      const now = this.clock();
      const next = change(documentRecord(document, only), now);
      if (next === undefined) return undefined;
      if (
        await this.swap(
          document,
          next,
          operation,
          history.kind === 'one' ? history.index : undefined,
        )
      ) {
        // Released, signalled, finished (a parent may wait), or suspended / failed already due.
        if (WAKING.has(operation) || (next.status !== 'running' && isWorkflowDue(next, now)))
          this.wakes.notify();
        return next;
      }
    }
    throw new DurableError(
      ErrorCode.CONFLICT,
      `${CONTEXT}: ${operation} for ${id} kept racing other writers`,
      {
        retryable: true,
        details: { id },
      },
    );
  }

  private async read(
    id: string,
    operation: string,
    history: HistoryRead,
  ): Promise<WorkflowDocument | null> {
    // An inclusion projection with the $slice: servers differ on whether a $slice alone keeps the
    // other fields (MongoDB does; mongo-java-server returns only the slice).
    const projection: Document | undefined =
      history.kind === 'none'
        ? { steps: 0 }
        : history.kind === 'one'
          ? { ...HEAD_FIELDS, steps: { $slice: [history.index, 1] } }
          : undefined;
    try {
      await this.connection.ready();
      return await this.workflows.findOne(
        { _id: id },
        projection === undefined ? {} : { projection },
      );
    } catch (error) {
      // mongo-java-server refuses a $slice that starts past the end (MongoDB returns none): the
      // transition will refuse that position anyway; read the whole history for it.
      if (history.kind === 'one' && isServerError(error))
        return this.read(id, operation, { kind: 'all' });
      throw mongoBackendError(error, `${CONTEXT}: ${operation} failed for ${id}`, id);
    }
  }

  /**
   * Stores `next` if the document is still at the revision read: true when it is stored (also
   * when its reply was lost and the write id is found), false when another writer got there
   * first (the revision moved on without it, so it can never land).
   */
  private async swap(
    document: WorkflowDocument,
    next: WorkflowRecord,
    operation: string,
    stepIndex: number | undefined,
  ): Promise<boolean> {
    const writeId = newWriteId();
    const update = workflowUpdate(document, next, writeId, stepIndex);
    let failure: unknown;
    for (let round = 0; round < SETTLE_ROUNDS; round++) {
      try {
        await this.connection.ready();
        const result = await this.workflows.updateOne(
          { _id: document._id, rev: document.rev },
          update,
        );
        if (result.matchedCount === 1) return true;
        if (failure === undefined) return false;
      } catch (error) {
        if (!isAmbiguousWriteError(error))
          throw mongoBackendError(
            error,
            `${CONTEXT}: ${operation} failed for ${document._id}`,
            document._id,
          );
        failure = error;
      }
      const seen = await this.readBack(document._id, operation, failure);
      if (seen?.ops?.includes(writeId) === true) return true;
      if (seen === null || seen.rev !== document.rev) return false;
      // Unchanged: not applied (yet). The same write again: at most one of them can match the revision.
    }
    throw stillUnknown(document._id, operation, failure);
  }

  // The revision and write ids after a write whose reply was lost; a failed read leaves the outcome unknown.
  private async readBack(
    id: string,
    operation: string,
    failure: unknown,
  ): Promise<Pick<WorkflowDocument, 'rev' | 'ops'> | null> {
    try {
      await this.connection.ready();
      return await this.workflows.findOne({ _id: id }, { projection: { rev: 1, ops: 1 } });
    } catch (readError) {
      throw new DurableError(
        ErrorCode.UNKNOWN_OUTCOME,
        `${CONTEXT}: the outcome of ${operation} for ${id} is unknown: the connection failed after the request was sent and reading it back failed too; read the workflow and try again`,
        { retryable: true, cause: failure, details: { id, readError: String(readError) } },
      );
    }
  }

  // The write ids of each of `ids` that exists, after a batch whose reply was lost.
  private async readBackMany(ids: string[], failure: unknown): Promise<Map<string, string[]>> {
    try {
      await this.connection.ready();
      const found = await this.workflows
        .find({ _id: { $in: ids } }, { projection: { ops: 1 } })
        .toArray();
      return new Map(found.map((document) => [document._id, document.ops ?? []]));
    } catch (readError) {
      throw new DurableError(
        ErrorCode.UNKNOWN_OUTCOME,
        `${CONTEXT}: the outcome of insertMany is unknown: the connection failed after the request was sent and reading it back failed too; inserting the same batch again is safe`,
        { retryable: true, cause: failure, details: { ids, readError: String(readError) } },
      );
    }
  }

  private async prepare(): Promise<void> {
    await this.connection.ready();
    await this.workflows.createIndex({ dueAt: 1 }, { name: 'durable_due_at' });
    await this.workflows.createIndex({ createdAt: 1, idKey: 1 }, { name: 'durable_created_at' });
    await this.workflows.createIndex({ status: 1 }, { name: 'durable_status' });
    // Format-1 documents lack the listing's fields: rewrite each in the current format.
    const old = await this.workflows.find({ head: { $exists: false } }).toArray();
    for (const document of old)
      await this.swap(document, documentRecord(document), 'upgrade', undefined);
  }
}

/** Reads one position of the history; an index that cannot be one reads all (the transition refuses it). */
function historyAt(index: number): HistoryRead {
  return Number.isSafeInteger(index) && index >= 0 ? { kind: 'one', index } : { kind: 'all' };
}

function isServerError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'MongoServerError'
  );
}

function newWriteId(): string {
  return new ObjectId().toHexString();
}

function stillUnknown(id: string, operation: string, failure: unknown): DurableError {
  return new DurableError(
    ErrorCode.UNKNOWN_OUTCOME,
    `${CONTEXT}: the outcome of ${operation} for ${id} is unknown: ${SETTLE_ROUNDS} attempts lost their replies; read the workflow and try again`,
    { retryable: true, cause: failure, details: { id } },
  );
}

import type { Collection } from 'mongodb';
import type {
  ClaimTransition,
  ClaimedWorkflow,
  Clock,
  NewWorkflow,
  WorkflowRecord,
  WorkflowStore,
} from '@durable/core';
import {
  ClaimWrites,
  DurableError,
  ErrorCode,
  WorkflowStatus,
  assertClaimHeld,
  assertValidWorkflowId,
  createClaimToken,
  isWorkflowDue,
  parseWorkflowRecord,
  systemClock,
  workflowTransitions,
} from '@durable/core';
import type { MongoConnection, MongoConnectionOptions } from './connection.js';
import { resolveMongoConnection } from './connection.js';
import { isDuplicateKey, mongoBackendError } from './mongo-errors.js';

/**
 * One workflow: the record as JSON text (user data may hold keys MongoDB treats specially, like
 * "$x" or "a.b"), a revision for compare-and-swap, and `dueAt`, the indexed instant it may be
 * claimed (null once finished).
 */
export interface WorkflowDocument {
  _id: string;
  rev: number;
  dueAt: number | null;
  status: WorkflowStatus;
  json: string;
}

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

/** When a record may next be claimed: `runAt` while waiting, the lease's end while running, never once finished. */
export function workflowDueAt(record: WorkflowRecord): number | null {
  switch (record.status) {
    case WorkflowStatus.READY:
    case WorkflowStatus.FAILED:
    case WorkflowStatus.SLEEPING:
      return record.runAt;
    case WorkflowStatus.RUNNING:
      return record.claim?.expiresAt ?? 0;
    default:
      return null;
  }
}

/** The document fields that store `record` (everything but `_id` and `rev`). */
export function workflowFields(record: WorkflowRecord): Pick<WorkflowDocument, 'dueAt' | 'status' | 'json'> {
  return { dueAt: workflowDueAt(record), status: record.status, json: JSON.stringify(record) };
}

/**
 * A {@link WorkflowStore} on one MongoDB collection. Every change reads the document, applies the
 * shared {@link workflowTransitions}, and writes back with a filter on the revision it read
 * (compare-and-swap), so claims are exclusive and a stale claimer's writes change nothing
 * (`LOCK_LOST`). Due workflows are found through an index on `dueAt`.
 */
export class MongoWorkflowStore extends ClaimWrites implements WorkflowStore {
  private readonly connection: MongoConnection;
  private readonly workflows: Collection<WorkflowDocument>;
  private readonly clock: Clock;
  private readonly claimBatch: number;
  private indexes: Promise<void> | undefined;

  constructor(options: MongoWorkflowStoreOptions) {
    super();
    this.connection = resolveMongoConnection(options, options?.collection ?? 'durable_workflows', CONTEXT, ['collection', 'clock', 'claimBatch']);
    this.clock = options.clock ?? systemClock;
    this.claimBatch = options.claimBatch ?? 32;
    if (!Number.isInteger(this.claimBatch) || this.claimBatch < 1) {
      throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: claimBatch must be a positive integer, got ${String(this.claimBatch)}`);
    }
    this.workflows = this.connection.collection<WorkflowDocument>();
  }

  /** Creates the `dueAt` index (idempotent; also done before the first claim). */
  ensureIndexes(): Promise<void> {
    this.indexes ??= this.connection.ready().then(() => this.workflows.createIndex({ dueAt: 1 }, { name: 'durable_due_at' })).then(
      () => undefined,
      (error: unknown) => {
        this.indexes = undefined;
        throw mongoBackendError(error, `${CONTEXT}: creating the dueAt index failed`);
      },
    );
    return this.indexes;
  }

  async insert(workflow: NewWorkflow): Promise<boolean> {
    const record = workflowTransitions.create(workflow, this.clock());
    try {
      await this.connection.ready();
      await this.workflows.insertOne({ _id: record.id, rev: 1, ...workflowFields(record) });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw mongoBackendError(error, `${CONTEXT}: insert failed for ${record.id}`, record.id);
    }
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    assertValidWorkflowId(id, `${CONTEXT}: get`);
    const document = await this.read(id, 'get');
    return document === null ? undefined : parseWorkflowRecord(document.json, CONTEXT);
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    await this.ensureIndexes();
    let unreadable: unknown;
    for (let round = 0; round < MAX_ATTEMPTS; round++) {
      const now = this.clock();
      let candidates: WorkflowDocument[];
      try {
        await this.connection.ready();
        candidates = await this.workflows.find({ dueAt: { $lte: now } }).sort({ dueAt: 1 }).limit(this.claimBatch).toArray();
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
          record = parseWorkflowRecord(document.json, CONTEXT);
        } catch (error) {
          // One unreadable record must not stop every other workflow: go on, report it if idle.
          unreadable ??= error;
          continue;
        }
        if (!isWorkflowDue(record, now)) continue;
        const token = createClaimToken();
        const next = workflowTransitions.claim(record, token, options.leaseMs, now);
        if (await this.swap(document, next, 'claim')) return { token, record: next };
        raced = true;
      }
      if (!raced) break;
    }
    if (unreadable !== undefined) throw unreadable;
    return undefined;
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: signal`);
    return (await this.mutate(id, 'signal', (r, now) => workflowTransitions.signal(r, name, payload, now))) !== undefined;
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: cancel`);
    return (await this.mutate(id, 'cancel', (r, now) => workflowTransitions.cancel(r, now))) !== undefined;
  }

  /** Closes the client if this store created it (never an injected one). */
  close(): Promise<void> {
    return this.connection.close();
  }

  protected async underClaim(id: string, token: string, operation: string, change: ClaimTransition): Promise<WorkflowRecord> {
    assertValidWorkflowId(id, `${CONTEXT}: ${operation}`);
    const next = await this.mutate(id, operation, (record, now) => {
      assertClaimHeld(record, token, operation, id);
      return change(record, now);
    }, () => assertClaimHeld(undefined, token, operation, id));
    return next as WorkflowRecord;
  }

  // Read, transform, compare-and-swap on the revision; retried when another writer got between.
  private async mutate(
    id: string,
    operation: string,
    change: (record: WorkflowRecord, now: number) => WorkflowRecord | undefined,
    onAbsent: () => void = () => undefined,
  ): Promise<WorkflowRecord | undefined> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const document = await this.read(id, operation);
      if (document === null) {
        onAbsent();
        return undefined;
      }
      const next = change(parseWorkflowRecord(document.json, CONTEXT), this.clock());
      if (next === undefined) return undefined;
      if (await this.swap(document, next, operation)) return next;
    }
    throw new DurableError(ErrorCode.CONFLICT, `${CONTEXT}: ${operation} for ${id} kept racing other writers`, {
      retryable: true,
      details: { id },
    });
  }

  private async read(id: string, operation: string): Promise<WorkflowDocument | null> {
    try {
      await this.connection.ready();
      return await this.workflows.findOne({ _id: id });
    } catch (error) {
      throw mongoBackendError(error, `${CONTEXT}: ${operation} failed for ${id}`, id);
    }
  }

  private async swap(document: WorkflowDocument, next: WorkflowRecord, operation: string): Promise<boolean> {
    try {
      await this.connection.ready();
      const result = await this.workflows.updateOne(
        { _id: document._id, rev: document.rev },
        { $set: { ...workflowFields(next), rev: document.rev + 1 } },
      );
      return result.matchedCount === 1;
    } catch (error) {
      throw mongoBackendError(error, `${CONTEXT}: ${operation} failed for ${document._id}`, document._id);
    }
  }
}

/** Creates a {@link MongoWorkflowStore}. */
export function createMongoWorkflowStore(options: MongoWorkflowStoreOptions): MongoWorkflowStore {
  return new MongoWorkflowStore(options);
}

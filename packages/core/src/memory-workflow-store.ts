import { checkOptions } from './option-checks.js';
import { settle } from './settle.js';
import type { ClaimTransition } from './claim-writes.js';
import { ClaimWrites } from './claim-writes.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { DueQueue } from './due-queue.js';
import { WakeListeners } from './wake-listeners.js';
import type {
  ClaimedWorkflow,
  NewWorkflow,
  StepMemo,
  WorkflowRecord,
  WorkflowStore,
} from './workflow-store.js';
import {
  WorkflowStatus,
  assertClaimHeld,
  assertValidWorkflowId,
  checkStepPlacement,
  claimedStart,
  cloneJson,
  createClaimToken,
  isFinishedStatus,
  isWorkflowDue,
  workflowTransitions,
} from './workflow-store.js';
import type { WorkflowCounts, WorkflowListQuery, WorkflowPage } from './workflow-listing.js';
import { checkWorkflowListQuery, countWorkflows, pageWorkflows } from './workflow-listing.js';

/** Options for {@link MemoryWorkflowStore}. */
export interface MemoryWorkflowStoreOptions {
  /** The time source. @default Date.now */
  clock?: Clock;
}

/**
 * In-process {@link WorkflowStore}: for tests and single-process use (nothing survives a restart).
 * Claims take the earliest due workflow from a queue ordered by due time (no scan of sleeping or
 * finished ones), and a step appends one memo to the history (no copy of it), so neither grows
 * with the number of workflows or steps. Records are copied in and out: callers never share them.
 */
export class MemoryWorkflowStore extends ClaimWrites implements WorkflowStore {
  private readonly records = new Map<string, WorkflowRecord>();
  private readonly queue = new DueQueue();
  private readonly clock: Clock;
  private readonly wakes = new WakeListeners();

  constructor(options: MemoryWorkflowStoreOptions = {}) {
    super();
    checkOptions(options, 'memory workflow store', { known: ['clock'] });
    this.clock = options.clock ?? systemClock;
  }

  insert(workflow: NewWorkflow): Promise<boolean> {
    return settle(() => {
      const record = workflowTransitions.create(workflow, this.clock());
      if (this.records.has(record.id)) return false;
      this.put(cloneJson(record));
      this.wakes.notify();
      return true;
    });
  }

  /** Inserts a batch at once: every workflow is checked before any is created. */
  insertMany(workflows: readonly NewWorkflow[]): Promise<boolean[]> {
    return settle(() => {
      const now = this.clock();
      const records = Array.from(workflows, (workflow) =>
        workflowTransitions.create(workflow, now),
      );
      const created = records.map((record) => {
        if (this.records.has(record.id)) return false;
        this.put(cloneJson(record));
        return true;
      });
      if (created.includes(true)) this.wakes.notify();
      return created;
    });
  }

  /** Creates the workflow claimed by the caller (see `WorkflowStore.insertClaimed`). */
  insertClaimed(
    workflow: NewWorkflow,
    options: { leaseMs: number },
  ): Promise<ClaimedWorkflow | undefined> {
    return settle(() => {
      const { token, record } = claimedStart(workflow, options.leaseMs, this.clock());
      if (this.records.has(record.id)) return undefined;
      this.put(cloneJson(record));
      return { token, record: cloneJson(record) };
    });
  }

  /** Calls `listener` (coalesced, in a microtask) after a change that may have made work claimable. */
  watch(listener: () => void): () => void {
    return this.wakes.add(listener);
  }

  get(id: string): Promise<WorkflowRecord | undefined> {
    return settle(() => {
      assertValidWorkflowId(id, 'memory workflow store: get');
      const record = this.records.get(id);
      return record === undefined ? undefined : cloneJson(record);
    });
  }

  claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    return settle(() => {
      const now = this.clock();
      for (const id of this.queue.due(now)) {
        const record = this.records.get(id);
        // The queue holds each workflow's current due time, so this is a safety net, not a scan.
        if (record === undefined || !isWorkflowDue(record, now)) continue;
        const token = createClaimToken();
        const next = workflowTransitions.claim(record, token, options.leaseMs, now);
        this.put(next);
        return { token, record: cloneJson(next) };
      }
      return undefined;
    });
  }

  /** Records `memo` at `index` in place: the history is appended to, never copied. */
  override saveStep(id: string, token: string, index: number, memo: StepMemo): Promise<void> {
    return settle(() => {
      assertValidWorkflowId(id, 'memory workflow store: saveStep');
      const record = this.records.get(id);
      assertClaimHeld(record, token, 'saveStep', id);
      if (checkStepPlacement(id, record.steps, index, memo) === 'recorded') return;
      record.steps[index] = cloneJson(memo);
      record.updatedAt = this.clock();
    });
  }

  signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    return settle(() => {
      assertValidWorkflowId(id, 'memory workflow store: signal');
      const record = this.records.get(id);
      if (record === undefined) return false;
      const next = workflowTransitions.signal(record, name, payload, this.clock());
      if (next === undefined) return false;
      this.put(this.owned(next, record));
      this.wakes.notify();
      return true;
    });
  }

  cancel(id: string): Promise<boolean> {
    return settle(() => {
      assertValidWorkflowId(id, 'memory workflow store: cancel');
      const record = this.records.get(id);
      const next =
        record === undefined ? undefined : workflowTransitions.cancel(record, this.clock());
      if (next === undefined) return false;
      this.put(this.owned(next, record as WorkflowRecord));
      this.wakes.notify();
      return true;
    });
  }

  list(query: WorkflowListQuery): Promise<WorkflowPage> {
    return settle(() => {
      return pageWorkflows(
        this.records.values(),
        checkWorkflowListQuery(query, 'memory workflow store'),
      );
    });
  }

  counts(): Promise<WorkflowCounts> {
    return settle(() => {
      return countWorkflows(this.records.values());
    });
  }

  resume(id: string): Promise<boolean> {
    return settle(() => {
      assertValidWorkflowId(id, 'memory workflow store: resume');
      const record = this.records.get(id);
      const next =
        record === undefined ? undefined : workflowTransitions.resume(record, this.clock());
      if (next === undefined) return false;
      this.put(this.owned(next, record as WorkflowRecord));
      this.wakes.notify();
      return true;
    });
  }

  protected underClaim(
    id: string,
    token: string,
    operation: string,
    apply: ClaimTransition,
  ): Promise<WorkflowRecord> {
    return settle(() => {
      assertValidWorkflowId(id, `memory workflow store: ${operation}`);
      const record = this.records.get(id);
      assertClaimHeld(record, token, operation, id);
      const now = this.clock();
      const next = this.owned(apply(record, now), record);
      this.put(next);
      // Released, or suspended / failed with a due time already passed: claimable again at once.
      if (isWorkflowDue(next, now)) this.wakes.notify();
      return next;
    });
  }

  private put(record: WorkflowRecord): void {
    this.records.set(record.id, record);
    this.queue.set(record.id, dueAt(record));
  }

  /**
   * A copy of a transition's result that shares nothing with the caller: everything but the
   * history is copied, and of the history only the memos the transition placed (a suspend's
   * pending memo), so an operation costs the same at step 10 and at step 10,000.
   */
  private owned(next: WorkflowRecord, before: WorkflowRecord): WorkflowRecord {
    const { steps, ...rest } = next;
    const copy = cloneJson(rest) as WorkflowRecord;
    copy.steps =
      steps === before.steps
        ? steps
        : steps.map((memo, i) => (memo === before.steps[i] ? memo : cloneJson(memo)));
    return copy;
  }
}

// When a workflow is next claimable: at its runAt, or when a running one's lease expires.
function dueAt(record: WorkflowRecord): number | undefined {
  if (isFinishedStatus(record.status)) return undefined;
  return record.status === WorkflowStatus.RUNNING ? (record.claim?.expiresAt ?? 0) : record.runAt;
}

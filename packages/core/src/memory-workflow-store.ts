import { checkOptions } from './option-checks.js';
import type { ClaimTransition } from './claim-writes.js';
import { ClaimWrites } from './claim-writes.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { WakeListeners } from './wake-listeners.js';
import type {
  ClaimedWorkflow,
  NewWorkflow,
  WorkflowRecord,
  WorkflowStore,
} from './workflow-store.js';
import { assertClaimHeld, assertValidWorkflowId, cloneJson, createClaimToken, isWorkflowDue, workflowTransitions } from './workflow-store.js';
import type { WorkflowCounts, WorkflowListQuery, WorkflowPage } from './workflow-listing.js';
import { checkWorkflowListQuery, countWorkflows, pageWorkflows } from './workflow-listing.js';

/** Options for {@link MemoryWorkflowStore}. */
export interface MemoryWorkflowStoreOptions {
  /** The time source. @default Date.now */
  clock?: Clock;
}

/** In-process {@link WorkflowStore}: for tests and single-process use (nothing survives a restart). */
export class MemoryWorkflowStore extends ClaimWrites implements WorkflowStore {
  private readonly records = new Map<string, WorkflowRecord>();
  private readonly clock: Clock;
  private readonly wakes = new WakeListeners();

  constructor(options: MemoryWorkflowStoreOptions = {}) {
    super();
    checkOptions(options, 'memory workflow store', { known: ['clock'] });
    this.clock = options.clock ?? systemClock;
  }

  async insert(workflow: NewWorkflow): Promise<boolean> {
    const record = workflowTransitions.create(workflow, this.clock());
    if (this.records.has(record.id)) return false;
    this.records.set(record.id, cloneJson(record));
    this.wakes.notify();
    return true;
  }

  /** Inserts a batch at once: every workflow is checked before any is created. */
  async insertMany(workflows: readonly NewWorkflow[]): Promise<boolean[]> {
    const now = this.clock();
    const records = Array.from(workflows, (workflow) => workflowTransitions.create(workflow, now));
    const created = records.map((record) => {
      if (this.records.has(record.id)) return false;
      this.records.set(record.id, cloneJson(record));
      return true;
    });
    if (created.includes(true)) this.wakes.notify();
    return created;
  }

  /** Calls `listener` (coalesced, in a microtask) after a change that may have made work claimable. */
  watch(listener: () => void): () => void {
    return this.wakes.add(listener);
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    assertValidWorkflowId(id, 'memory workflow store: get');
    const record = this.records.get(id);
    return record === undefined ? undefined : cloneJson(record);
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    const now = this.clock();
    for (const record of this.records.values()) {
      if (!isWorkflowDue(record, now)) continue;
      const token = createClaimToken();
      const next = workflowTransitions.claim(record, token, options.leaseMs, now);
      this.records.set(record.id, next);
      return { token, record: cloneJson(next) };
    }
    return undefined;
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, 'memory workflow store: signal');
    const record = this.records.get(id);
    if (record === undefined) return false;
    const next = workflowTransitions.signal(record, name, payload, this.clock());
    if (next === undefined) return false;
    this.records.set(id, cloneJson(next));
    this.wakes.notify();
    return true;
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, 'memory workflow store: cancel');
    const record = this.records.get(id);
    const next = record === undefined ? undefined : workflowTransitions.cancel(record, this.clock());
    if (next === undefined) return false;
    this.records.set(id, cloneJson(next));
    this.wakes.notify();
    return true;
  }

  async list(query: WorkflowListQuery): Promise<WorkflowPage> {
    return pageWorkflows(this.records.values(), checkWorkflowListQuery(query, 'memory workflow store'));
  }

  async counts(): Promise<WorkflowCounts> {
    return countWorkflows(this.records.values());
  }

  async resume(id: string): Promise<boolean> {
    assertValidWorkflowId(id, 'memory workflow store: resume');
    const record = this.records.get(id);
    const next = record === undefined ? undefined : workflowTransitions.resume(record, this.clock());
    if (next === undefined) return false;
    this.records.set(id, cloneJson(next));
    this.wakes.notify();
    return true;
  }

  protected async underClaim(id: string, token: string, operation: string, apply: ClaimTransition): Promise<WorkflowRecord> {
    assertValidWorkflowId(id, `memory workflow store: ${operation}`);
    const record = this.records.get(id);
    assertClaimHeld(record, token, operation, id);
    const now = this.clock();
    const next = apply(record, now);
    this.records.set(id, cloneJson(next));
    // Released, or suspended / failed with a due time already passed: claimable again at once.
    if (isWorkflowDue(next, now)) this.wakes.notify();
    return next;
  }
}

/** Creates a {@link MemoryWorkflowStore}. */
export function createMemoryWorkflowStore(options: MemoryWorkflowStoreOptions = {}): MemoryWorkflowStore {
  return new MemoryWorkflowStore(options);
}

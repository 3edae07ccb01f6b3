import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import type {
  ClaimedWorkflow,
  NewWorkflow,
  StepMemo,
  SuspendOptions,
  WorkflowOutcome,
  WorkflowRecord,
  WorkflowStore,
} from './workflow-store.js';
import { assertClaimHeld, assertValidWorkflowId, cloneJson, createClaimToken, isWorkflowDue, workflowTransitions } from './workflow-store.js';

/** Options for {@link MemoryWorkflowStore}. */
export interface MemoryWorkflowStoreOptions {
  /** The time source. @default Date.now */
  clock?: Clock;
}

/** In-process {@link WorkflowStore}: for tests and single-process use (nothing survives a restart). */
export class MemoryWorkflowStore implements WorkflowStore {
  private readonly records = new Map<string, WorkflowRecord>();
  private readonly clock: Clock;

  constructor(options: MemoryWorkflowStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  async insert(workflow: NewWorkflow): Promise<boolean> {
    const record = workflowTransitions.create(workflow, this.clock());
    if (this.records.has(record.id)) return false;
    this.records.set(record.id, cloneJson(record));
    return true;
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

  async heartbeat(id: string, token: string, leaseMs: number): Promise<number> {
    const next = workflowTransitions.heartbeat(this.held(id, token, 'heartbeat'), token, leaseMs, this.clock());
    this.records.set(id, cloneJson(next));
    return next.claim?.expiresAt ?? 0;
  }

  async saveStep(id: string, token: string, index: number, memo: StepMemo): Promise<void> {
    const next = workflowTransitions.saveStep(this.held(id, token, 'saveStep'), token, index, memo, this.clock());
    this.records.set(id, cloneJson(next));
  }

  async suspend(id: string, token: string, options: SuspendOptions): Promise<void> {
    const next = workflowTransitions.suspend(this.held(id, token, 'suspend'), token, options, this.clock());
    this.records.set(id, cloneJson(next));
  }

  async release(id: string, token: string): Promise<void> {
    this.records.set(id, cloneJson(workflowTransitions.release(this.held(id, token, 'release'), token, this.clock())));
  }

  async finish(id: string, token: string, outcome: WorkflowOutcome): Promise<void> {
    const next = workflowTransitions.finish(this.held(id, token, 'finish'), token, outcome, this.clock());
    this.records.set(id, cloneJson(next));
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, 'memory workflow store: signal');
    const record = this.records.get(id);
    if (record === undefined) return false;
    const next = workflowTransitions.signal(record, name, payload, this.clock());
    if (next === undefined) return false;
    this.records.set(id, cloneJson(next));
    return true;
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, 'memory workflow store: cancel');
    const record = this.records.get(id);
    const next = record === undefined ? undefined : workflowTransitions.cancel(record, this.clock());
    if (next === undefined) return false;
    this.records.set(id, cloneJson(next));
    return true;
  }

  private held(id: string, token: string, operation: string): WorkflowRecord {
    assertValidWorkflowId(id, `memory workflow store: ${operation}`);
    const record = this.records.get(id);
    assertClaimHeld(record, token, operation, id);
    return record;
  }
}

/** Creates a {@link MemoryWorkflowStore}. */
export function createMemoryWorkflowStore(options: MemoryWorkflowStoreOptions = {}): MemoryWorkflowStore {
  return new MemoryWorkflowStore(options);
}

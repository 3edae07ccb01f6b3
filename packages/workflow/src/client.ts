import type { WorkflowRecord, WorkflowStatus } from '@durable/core';
import { DurableError, ErrorCode, assertValidWorkflowId, checkOptions } from '@durable/core';
import { WorkflowErrorCode, workflowFailedError } from './errors.js';
import { childEventName } from './misuse.js';
import type { ResolvedOptions, WorkflowClientOptions } from './options.js';
import { resolveOptions } from './options.js';
import { pause } from './timers.js';
import type { WorkerStats } from './worker.js';
import { WorkflowWorker } from './worker.js';

/** Lidex's status names, accepted by {@link WorkflowClient.wait}. */
export type LidexStatus = 'idle' | 'finished';

const LIDEX_STATUSES: Record<LidexStatus, WorkflowStatus[]> = { idle: ['ready', 'sleeping'], finished: ['completed'] };

/** Options for {@link WorkflowClient.start}. */
export interface StartOptions {
  /** Not run before this instant (epoch ms or a Date). @default now */
  runAt?: number | Date;
}

/** Options for {@link WorkflowClient.poll}. */
export interface PollOptions {
  /** Stops the worker gracefully when aborted (same as `worker.stop()`). */
  signal?: AbortSignal;
}

/** Options for {@link WorkflowClient.drain}. */
export interface DrainOptions {
  /** Stop gracefully after this long (a serverless function's remaining time, less a margin). */
  maxMs?: number;
  /** Stops the drain gracefully when aborted. */
  signal?: AbortSignal;
}

/**
 * Starts, runs and inspects workflows. The app that starts workflows also runs them
 * (`poll()`); more instances of the app mean more throughput. No workflow server.
 */
export class WorkflowClient {
  private readonly options: ResolvedOptions;

  constructor(options: WorkflowClientOptions) {
    this.options = resolveOptions(options);
  }

  /** Starts workflow `id` running `handler` on `input`; false when the id exists already. */
  async start(id: string, handler: string, input?: unknown, options: StartOptions = {}): Promise<boolean> {
    assertValidWorkflowId(id, 'workflow: start');
    checkOptions(options, `workflow: start ${id}`, { known: ['runAt'] });
    this.options.checkHandler(handler, `workflow: start ${id}`);
    const runAt = options.runAt instanceof Date ? options.runAt.getTime() : options.runAt;
    if (runAt !== undefined && !Number.isFinite(runAt)) throw new DurableError(ErrorCode.CONFIG, `workflow: start ${id}: runAt is not a valid time`);
    return this.options.store.insert({ id, handler, input, ...(runAt === undefined ? {} : { runAt }) });
  }

  /** Turns this process into a worker; `await worker.stop()` to stop it gracefully. */
  poll(options: PollOptions = {}): WorkflowWorker {
    checkOptions(options, 'workflow: poll', { known: ['signal'] });
    return new WorkflowWorker(this.options, options.signal);
  }

  /**
   * Runs due workflows until none is due and none runs, or until `maxMs` (then stops gracefully),
   * and resolves with how the runs ended. For serverless functions on a schedule, which cannot
   * poll forever: each invocation drains what is due (sleeps, retries, new starts).
   */
  async drain(options: DrainOptions = {}): Promise<WorkerStats> {
    checkOptions(options, 'workflow: drain', { known: ['maxMs', 'signal'] });
    const maxMs = options.maxMs;
    if (maxMs !== undefined && (typeof maxMs !== 'number' || !Number.isFinite(maxMs) || maxMs < 0)) {
      throw new DurableError(ErrorCode.CONFIG, 'workflow: drain: maxMs must be >= 0');
    }
    const worker = new WorkflowWorker(this.options, options.signal, true);
    const timer = maxMs === undefined ? undefined : setTimeout(() => void worker.stop(), maxMs);
    try {
      await worker.done;
    } finally {
      clearTimeout(timer);
    }
    return { ...worker.stats };
  }

  /** The workflow's stored state, or `undefined`. */
  get(id: string): Promise<WorkflowRecord | undefined> {
    return this.options.store.get(id);
  }

  /**
   * Checks the workflow's status up to `times` times, `ms` apart (as Lidex does); resolves with
   * its state once the status is one of `statuses`, or `undefined`. Lidex's status names work
   * too: `finished` is `completed`, `idle` is `ready` or `sleeping`.
   */
  async wait(id: string, statuses: Array<WorkflowStatus | LidexStatus>, times: number, ms: number): Promise<WorkflowRecord | undefined> {
    if (!Array.isArray(statuses)) throw new DurableError(ErrorCode.CONFIG, `workflow: wait ${id}: statuses must be an array of status names`);
    if (!Number.isSafeInteger(times) || times < 0) throw new DurableError(ErrorCode.CONFIG, `workflow: wait ${id}: times must be a whole number >= 0`);
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new DurableError(ErrorCode.CONFIG, `workflow: wait ${id}: ms must be >= 0`);
    const wanted = new Set<string>(statuses.flatMap((status) => (Object.hasOwn(LIDEX_STATUSES, status) ? LIDEX_STATUSES[status as LidexStatus] : [status])));
    let last: WorkflowRecord | undefined;
    for (let attempt = 1; attempt <= times; attempt++) {
      last = await this.options.store.get(id);
      if (last !== undefined && wanted.has(last.status)) return last;
      if (attempt < times) await pause(ms);
    }
    // Lidex resolves undefined here; a workflow no worker ever took is worth a word to onError.
    if (last !== undefined && neverClaimed(last)) {
      this.options.onError(new DurableError(WorkflowErrorCode.NOT_FINISHED, `workflow: wait ${id} gave up after ${times} checks: ${unfinishedReason(last)}`), id);
    }
    return undefined;
  }

  /**
   * The result of a completed workflow. Rejects with `NOT_FOUND`, `NOT_FINISHED`,
   * `WORKFLOW_FAILED` (its stored error in `details.error`) or `CANCELLED`.
   */
  async result<T = unknown>(id: string): Promise<T> {
    const record = await this.options.store.get(id);
    if (record === undefined) throw new DurableError(ErrorCode.NOT_FOUND, `workflow: no workflow ${id}`);
    switch (record.status) {
      case 'completed':
        return record.result as T;
      case 'cancelled':
        throw new DurableError(ErrorCode.CANCELLED, `workflow ${id} was cancelled`);
      case 'aborted':
        throw workflowFailedError(id, record.error ?? { name: 'Error', message: 'unknown error' });
      default:
        throw new DurableError(WorkflowErrorCode.NOT_FINISHED, `workflow ${id} has not finished: ${unfinishedReason(record)}`, {
          retryable: true,
          details: { id, status: record.status },
        });
    }
  }

  /** Delivers an event to `ctx.waitForEvent(name)`; false when the workflow is absent or finished. */
  signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    return this.options.store.signal(id, name, payload);
  }

  /** Cancels an unfinished workflow (a running one stops at its next operation); false otherwise. */
  async cancel(id: string): Promise<boolean> {
    const cancelled = await this.options.store.cancel(id);
    if (cancelled) {
      const record = await this.options.store.get(id);
      if (record?.parentId !== undefined) await this.options.store.signal(record.parentId, childEventName(id), null);
    }
    return cancelled;
  }
}

// Started and never touched by a worker since (a release or a failure would have changed it).
function neverClaimed(record: WorkflowRecord): boolean {
  return record.status === 'ready' && record.failures === 0 && record.steps.length === 0 && record.updatedAt === record.createdAt;
}

function unfinishedReason(record: WorkflowRecord): string {
  if (neverClaimed(record)) return 'status ready, never claimed: is a worker polling this store (client.poll() or drain() with this handler)?';
  return `status ${record.status}${record.failures > 0 ? `, ${record.failures} failed runs (last: ${record.error?.message ?? 'unknown'})` : ''}`;
}

/** Creates a {@link WorkflowClient}. */
export function createWorkflowClient(options: WorkflowClientOptions): WorkflowClient {
  return new WorkflowClient(options);
}

/** Lidex's name for {@link createWorkflowClient} (async, as in Lidex), for an easy move. */
export async function makeClient(options: WorkflowClientOptions): Promise<WorkflowClient> {
  return new WorkflowClient(options);
}

import type { WorkflowRecord } from '@durable/core';
import { DurableError, ErrorCode, assertValidWorkflowId, checkOptions } from '@durable/core';
import { WorkflowErrorCode, workflowFailedError } from './errors.js';
import { childEventName } from './misuse.js';
import type { EngineOptions, HandlersOption, ResolvedOptions } from './options.js';
import { resolveOptions } from './options.js';
import type { WorkerStats } from './worker.js';
import { WorkflowWorker } from './worker.js';

/** Options for starting a workflow. */
export interface StartOptions {
  /** Not run before this instant (epoch ms or a Date). @default now */
  runAt?: number | Date;
}

/** Options for `poll()`. */
export interface PollOptions {
  /** Stops the worker gracefully when aborted (same as `worker.stop()`). */
  signal?: AbortSignal;
}

/** Options for `drain()`. */
export interface DrainOptions {
  /** Stop gracefully after this long (a serverless function's remaining time, less a margin). */
  maxMs?: number;
  /** Stops the drain gracefully when aborted. */
  signal?: AbortSignal;
}

/**
 * What both clients share: workflows by id and handler name, the worker, drain. The typed
 * {@link WorkflowClient} and Lidex's client are thin faces over it.
 */
export class Engine {
  /** The validated options. */
  readonly options: ResolvedOptions;

  /** @param options Either client's options; `flavour` says which option names the functions. */
  constructor(options: EngineOptions, flavour: HandlersOption) {
    this.options = resolveOptions(options, flavour);
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
   * The result of a completed workflow. Rejects with `NOT_FOUND`, `NOT_FINISHED`,
   * `WORKFLOW_FAILED` (its stored error in `details.error`) or `CANCELLED`.
   */
  async result<T = unknown>(id: string): Promise<T> {
    return resultOf<T>(id, await this.options.store.get(id));
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

/**
 * The result of a stored workflow, or the error `result()` rejects with: `NOT_FOUND`,
 * `NOT_FINISHED` (retryable), `WORKFLOW_FAILED` (its stored error in `details.error`), `CANCELLED`.
 */
export function resultOf<T>(id: string, record: WorkflowRecord | undefined): T {
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

/** Started and never touched by a worker since (a release or a failure would have changed it). */
export function neverClaimed(record: WorkflowRecord): boolean {
  return record.status === 'ready' && record.failures === 0 && record.steps.length === 0 && record.updatedAt === record.createdAt;
}

/** Why a workflow has not finished, in words (for NOT_FINISHED messages). */
export function unfinishedReason(record: WorkflowRecord): string {
  if (neverClaimed(record)) return 'status ready, never claimed: is a worker polling this store (client.poll() or drain() with this handler)?';
  return `status ${record.status}${record.failures > 0 ? `, ${record.failures} failed runs (last: ${record.error?.message ?? 'unknown'})` : ''}`;
}


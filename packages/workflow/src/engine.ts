import type { NewWorkflow, WorkflowRecord } from '@durable/core';
import { DurableError, ErrorCode, isFinishedStatus } from '@durable/core';
import { assertValidWorkflowId, checkOptions, cloneJson } from '@durable/core/adapter';
import { logClient } from './observe.js';
import { WorkflowErrorCode, workflowFailedError } from './errors.js';
import { childEventName } from './misuse.js';
import type { EngineOptions, HandlersOption, ResolvedOptions } from './options.js';
import { resolveOptions } from './options.js';
import type { WorkerStats } from './worker.js';
import { WorkflowWorker } from './worker.js';
import { pause } from './timers.js';
import type { LocalFinish } from './wakes.js';
import { announceFinished, onFinished, startHere, wakeWorkers } from './wakes.js';

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

  /**
   * Starts workflow `id` running `handler` on `input` (one insert into the store); false when the
   * id exists already. Wakes this process's workers, so one of them runs it at once.
   */
  async start(
    id: string,
    handler: string,
    input?: unknown,
    options: StartOptions = {},
  ): Promise<boolean> {
    const workflow = this.newWorkflow(id, handler, input, options, 'start');
    const store = this.options.store;
    // Due now and a worker of this process has a free place: created claimed for it (one write,
    // no claim after it), as DBOS runs a workflow where it starts. Else an insert and a wake.
    const here =
      typeof store.insertClaimed === 'function' &&
      (workflow.runAt === undefined || workflow.runAt <= this.options.clock())
        ? startHere(store, workflow)
        : undefined;
    const created = here === undefined ? await store.insert(workflow) : await here;
    if (created && here === undefined) wakeWorkers(store);
    logClient(
      this.options,
      { workflowId: id, handler, created },
      created ? `workflow ${id} started` : `workflow ${id} exists already (start is idempotent)`,
    );
    return created;
  }

  /**
   * Starts a batch: every entry is checked first (a bad one throws before any is started), then
   * all are inserted at once (the store's `insertMany` when it has one, else parallel inserts).
   * Resolves with one boolean per entry, in order: false when the id existed already (or
   * appeared earlier in the batch).
   */
  async startMany(starts: readonly ManyStart[]): Promise<boolean[]> {
    if (!Array.isArray(starts))
      throw new DurableError(
        ErrorCode.CONFIG,
        'workflow: startMany takes an array of { id, handler, input?, options? }',
      );
    const workflows = starts.map((start: ManyStart, i) => {
      if (start === null || typeof start !== 'object')
        throw new DurableError(
          ErrorCode.CONFIG,
          `workflow: startMany: entry ${i} is not an object`,
        );
      checkOptions(start, `workflow: startMany entry ${i}`, {
        known: ['id', 'handler', 'input', 'options'],
        required: ['id', 'handler'],
      });
      return this.newWorkflow(
        start.id,
        start.handler,
        start.input,
        start.options ?? {},
        'startMany',
      );
    });
    if (workflows.length === 0) return [];
    const store = this.options.store;
    let created: boolean[];
    if (typeof store.insertMany === 'function') {
      created = await store.insertMany(workflows);
      if (!Array.isArray(created) || created.length !== workflows.length) {
        throw new DurableError(
          ErrorCode.BACKEND,
          `workflow: startMany: the store's insertMany answered ${
            Array.isArray(created) ? created.length : typeof created
          } results for ${workflows.length} workflows`,
        );
      }
    } else {
      // Parallel inserts; a repeated id in the batch is created by its first entry only.
      const first = new Map<string, number>();
      workflows.forEach((w, i) => {
        if (!first.has(w.id)) first.set(w.id, i);
      });
      const inserted = await Promise.allSettled(
        workflows.map((w, i) => (first.get(w.id) === i ? store.insert(w) : Promise.resolve(false))),
      );
      created = inserted.map((r) => r.status === 'fulfilled' && r.value);
      const failed = inserted.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) {
        // Those that were created run anyway: wake for them, then report the failure.
        if (created.includes(true)) wakeWorkers(store);
        throw failed.reason;
      }
    }
    if (created.includes(true)) wakeWorkers(store);
    logClient(
      this.options,
      { workflows: workflows.length, created: created.filter(Boolean).length },
      `workflows started: ${created.filter(Boolean).length} of ${workflows.length}`,
    );
    return created;
  }

  private newWorkflow(
    id: string,
    handler: string,
    input: unknown,
    options: StartOptions,
    operation: string,
  ): NewWorkflow {
    assertValidWorkflowId(id, `workflow: ${operation}`);
    checkOptions(options, `workflow: ${operation} ${id}`, { known: ['runAt'] });
    this.options.checkHandler(handler, `workflow: ${operation} ${id}`);
    const runAt = options.runAt instanceof Date ? options.runAt.getTime() : options.runAt;
    if (runAt !== undefined && !Number.isFinite(runAt))
      throw new DurableError(
        ErrorCode.CONFIG,
        `workflow: ${operation} ${id}: runAt is not a valid time`,
      );
    return { id, handler, input, ...(runAt === undefined ? {} : { runAt }) };
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
    if (
      maxMs !== undefined &&
      (typeof maxMs !== 'number' || !Number.isFinite(maxMs) || maxMs < 0)
    ) {
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
  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    const delivered = await this.options.store.signal(id, name, payload);
    if (delivered) wakeWorkers(this.options.store);
    return delivered;
  }

  /** Cancels an unfinished workflow (a running one stops at its next operation); false otherwise. */
  async cancel(id: string): Promise<boolean> {
    const store = this.options.store;
    const cancelled = await store.cancel(id);
    if (cancelled) {
      logClient(this.options, { workflowId: id }, `workflow ${id} cancelled`);
      announceFinished(store, id);
      const record = await store.get(id);
      if (
        record?.parentId !== undefined &&
        (await store.signal(record.parentId, childEventName(id), null))
      )
        wakeWorkers(store);
    }
    return cancelled;
  }

  /**
   * Waits until workflow `id` is finished and returns its state (`undefined` when absent). A run
   * that ends in this process wakes the wait at once, with no polling; a workflow run elsewhere
   * is read again with backoff, from 10 ms up to `everyMs`. Gives up at `deadline` (epoch ms of
   * the system clock) and returns the last state read; returns early too when `stop(record)`.
   * With `onLocal`, a run that ends in this process is handed to it (what the store accepted)
   * instead of being read back, and the wait resolves with `undefined`.
   */
  async waitFinished(
    id: string,
    everyMs: number,
    deadline: number,
    stop?: (record: WorkflowRecord) => boolean,
    onLocal?: (finish: LocalFinish) => void,
  ): Promise<WorkflowRecord | undefined> {
    const store = this.options.store;
    let woken = new AbortController();
    let local: LocalFinish | undefined;
    // Subscribed before the first read: a run that ends between the read and the wait still wakes it.
    const unsubscribe = onFinished(store, id, (finish) => {
      local ??= finish;
      woken.abort();
    });
    try {
      let delay = Math.min(10, everyMs);
      for (;;) {
        if (local !== undefined && onLocal !== undefined) {
          onLocal(local);
          return undefined;
        }
        if (woken.signal.aborted) woken = new AbortController();
        const record = await store.get(id);
        if (record === undefined || isFinishedStatus(record.status) || stop?.(record) === true)
          return record;
        const left = deadline - Date.now();
        if (left <= 0) return record;
        await pause(Math.min(delay, left), woken.signal);
        delay = Math.min(everyMs, delay * 2);
      }
    } finally {
      unsubscribe();
    }
  }
}

/** One entry of `startMany`: what `start` takes, as an object. */
export interface ManyStart {
  /** The workflow's id. */
  id: string;
  /** The handler's (workflow's) name. */
  handler: string;
  /** Its input (JSON). */
  input?: unknown;
  /** As for `start`. */
  options?: StartOptions;
}

/**
 * The result of a run that ended in this process, as the store accepted it (see `resultOf`): a
 * copy of the value, or the error `result()` rejects with.
 */
export function localResultOf<T>(id: string, finish: LocalFinish): T {
  const { outcome } = finish;
  if (outcome.status === 'completed')
    return (outcome.result === undefined ? undefined : cloneJson(outcome.result)) as T;
  if (outcome.status === 'aborted')
    throw workflowFailedError(id, outcome.error ?? { name: 'Error', message: 'unknown error' });
  throw new DurableError(
    WorkflowErrorCode.NOT_FINISHED,
    `workflow ${id} has not finished: status ${outcome.status}`,
    { retryable: true, details: { id, status: outcome.status } },
  );
}

/**
 * The result of a stored workflow, or the error `result()` rejects with: `NOT_FOUND`,
 * `NOT_FINISHED` (retryable), `WORKFLOW_FAILED` (its stored error in `details.error`), `CANCELLED`.
 */
export function resultOf<T>(id: string, record: WorkflowRecord | undefined): T {
  if (record === undefined)
    throw new DurableError(ErrorCode.NOT_FOUND, `workflow: no workflow ${id}`);
  switch (record.status) {
    case 'completed':
      return record.result as T;
    case 'cancelled':
      throw new DurableError(ErrorCode.CANCELLED, `workflow ${id} was cancelled`);
    case 'aborted':
      throw workflowFailedError(id, record.error ?? { name: 'Error', message: 'unknown error' });
    default:
      throw new DurableError(
        WorkflowErrorCode.NOT_FINISHED,
        `workflow ${id} has not finished: ${unfinishedReason(record)}`,
        {
          retryable: true,
          details: { id, status: record.status },
        },
      );
  }
}

/** Started and never touched by a worker since (a release or a failure would have changed it). */
export function neverClaimed(record: WorkflowRecord): boolean {
  return (
    record.status === 'ready' &&
    record.failures === 0 &&
    record.steps.length === 0 &&
    record.updatedAt === record.createdAt
  );
}

/** Why a workflow has not finished, in words (for NOT_FINISHED messages). */
export function unfinishedReason(record: WorkflowRecord): string {
  if (neverClaimed(record))
    return 'status ready, never claimed: is a worker polling this store (client.poll() or drain() with this handler)?';
  return `status ${record.status}${
    record.failures > 0
      ? `, ${record.failures} failed runs (last: ${record.error?.message ?? 'unknown'})`
      : ''
  }`;
}

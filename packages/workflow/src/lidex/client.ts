import type { WorkflowRecord, WorkflowStatus } from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import type { BaseWorkflowContext } from '../context-api.js';
import { Engine, neverClaimed, unfinishedReason } from '../engine.js';
import { WorkflowErrorCode } from '../errors.js';
import type { EngineOptions, WorkflowHandler } from '../options.js';
import { pause } from '../timers.js';

/** Lidex's status names, accepted by {@link LidexClient.wait}. */
export type LidexStatus = 'idle' | 'finished';

const LIDEX_STATUSES: Record<LidexStatus, WorkflowStatus[]> = {
  idle: ['ready', 'sleeping'],
  finished: ['completed'],
};

/** The context a Lidex-style handler gets: other workflows are named by their handler's name. */
export interface LidexContext extends BaseWorkflowContext {
  /** Starts workflow `id` running handler `handler` once; true when this call created it. */
  start(id: string, handler: string, input?: unknown): Promise<boolean>;
  /** Starts a child workflow (once) and resolves with its result; rejects with `WORKFLOW_FAILED` if it fails. */
  child<T = unknown>(id: string, handler: string, input?: unknown): Promise<T>;
}

/** Options for {@link LidexClient}: workflow functions by name, as in Lidex. */
export interface LidexClientOptions extends EngineOptions {
  /** Workflow functions by name (an object or, as in Lidex, a Map); `start(id, name, input)` refers to them. */
  handlers: Record<string, WorkflowHandler> | ReadonlyMap<string, WorkflowHandler>;
}

/**
 * Lidex's client shape, for code moving over from Lidex: handlers by name, `start(id, handler,
 * input)` returning false when the id exists, `wait` returning the record. New code should use
 * the typed client of `@durable/workflow` (`defineWorkflow`, `WorkflowClient`).
 */
export class LidexClient extends Engine {
  /** @param options Handlers by name, the store, and the engine's options. */
  constructor(options: LidexClientOptions) {
    super(options, 'handlers');
  }

  /**
   * Checks the workflow's status up to `times` times, `ms` apart (as Lidex does); resolves with
   * its state once the status is one of `statuses`, or `undefined`. Lidex's status names work
   * too: `finished` is `completed`, `idle` is `ready` or `sleeping`.
   */
  async wait(
    id: string,
    statuses: Array<WorkflowStatus | LidexStatus>,
    times: number,
    ms: number,
  ): Promise<WorkflowRecord | undefined> {
    if (!Array.isArray(statuses))
      throw new DurableError(
        ErrorCode.CONFIG,
        `workflow: wait ${id}: statuses must be an array of status names`,
      );
    if (!Number.isSafeInteger(times) || times < 0)
      throw new DurableError(
        ErrorCode.CONFIG,
        `workflow: wait ${id}: times must be a whole number >= 0`,
      );
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
      throw new DurableError(ErrorCode.CONFIG, `workflow: wait ${id}: ms must be >= 0`);
    const wanted = new Set<string>(
      statuses.flatMap((status) =>
        Object.hasOwn(LIDEX_STATUSES, status) ? LIDEX_STATUSES[status as LidexStatus] : [status],
      ),
    );
    let last: WorkflowRecord | undefined;
    for (let attempt = 1; attempt <= times; attempt++) {
      last = await this.options.store.get(id);
      if (last !== undefined && wanted.has(last.status)) return last;
      if (attempt < times) await pause(ms);
    }
    // Lidex resolves undefined here; a workflow no worker ever took is worth a word to onError.
    if (last !== undefined && neverClaimed(last)) {
      this.options.onError(
        new DurableError(
          WorkflowErrorCode.NOT_FINISHED,
          `workflow: wait ${id} gave up after ${times} checks: ${unfinishedReason(last)}`,
        ),
        id,
      );
    }
    return undefined;
  }
}

/** Lidex's factory (async, as in Lidex), for an easy move. */
export function makeClient(options: LidexClientOptions): Promise<LidexClient> {
  // A bad option rejects (as Lidex's async factory did) rather than throwing synchronously.
  return Promise.resolve().then(() => new LidexClient(options));
}

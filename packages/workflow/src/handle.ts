import type { WorkflowStatus } from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import { checkOptions } from '@durable/core/adapter';
import type { Engine } from './engine.js';
import { localResultOf, resultOf } from './engine.js';
import type { LocalFinish } from './wakes.js';
import { WorkflowErrorCode } from './errors.js';

/** Options for {@link WorkflowHandle.result}. */
export interface ResultOptions {
  /** Give up with `NOT_FINISHED` after this long (real time). @default wait until it finishes */
  timeoutMs?: number;
  /**
   * The longest wait between two reads of the store while waiting for a workflow run by another
   * process (reads back off from 10 ms up to this). A run that ends in this process ends the
   * wait at once, without reading in between. @default the client's pollIntervalMs (at least 10)
   */
  pollIntervalMs?: number;
}

/** A typed handle on one workflow: what `client.start` and `client.handle` return. */
export interface WorkflowHandle<Result> {
  /** The workflow's id. */
  readonly id: string;
  /** The workflow's name (its definition's). */
  readonly workflow: string;
  /**
   * Waits until the workflow finishes and resolves with its result; rejects with
   * `WORKFLOW_FAILED` (the stored error in `details.error`), `CANCELLED`, `NOT_FOUND`, or
   * `NOT_FINISHED` after `timeoutMs`.
   */
  result(options?: ResultOptions): Promise<Result>;
  /** Where the workflow stands, or `undefined` when no workflow has this id. */
  status(): Promise<WorkflowStatus | undefined>;
  /** Cancels it (a running one stops at its next operation); false when absent or finished. */
  cancel(): Promise<boolean>;
  /** Delivers an event to its `ctx.waitForEvent(name)`; false when absent or finished. */
  signal(name: string, payload?: unknown): Promise<boolean>;
}

/** The handle {@link WorkflowClient.start} returns: also says whether this call created it. */
export interface StartedWorkflowHandle<Result> extends WorkflowHandle<Result> {
  /** False when a workflow with this id (and this name) existed already: start is idempotent. */
  readonly created: boolean;
}

/** Builds a handle; every read checks the stored workflow is the one the handle's type says. */
export function createHandle<Result>(
  engine: Engine,
  workflow: string,
  id: string,
): WorkflowHandle<Result> {
  const read = async (): Promise<Awaited<ReturnType<Engine['get']>>> => {
    const record = await engine.get(id);
    if (record !== undefined && record.handler !== workflow)
      throw conflictError(id, workflow, record.handler);
    return record;
  };
  return {
    id,
    workflow,
    async result(options: ResultOptions = {}): Promise<Result> {
      checkOptions(options, `workflow: result of ${id}`, {
        known: ['timeoutMs', 'pollIntervalMs'],
      });
      const every = options.pollIntervalMs ?? Math.max(10, engine.options.pollIntervalMs);
      if (typeof every !== 'number' || !(every >= 0))
        throw new DurableError(
          ErrorCode.CONFIG,
          `workflow: result of ${id}: pollIntervalMs must be >= 0`,
        );
      const timeoutMs = options.timeoutMs;
      if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs >= 0))) {
        throw new DurableError(
          ErrorCode.CONFIG,
          `workflow: result of ${id}: timeoutMs must be >= 0`,
        );
      }
      const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
      // A workflow of another name stops the wait at once: the handle's types would lie about it.
      // A run that ends in this process answers from what the store accepted, without a read.
      let local: LocalFinish | undefined;
      const record = await engine.waitFinished(
        id,
        Math.max(1, every),
        deadline,
        (r) => r.handler !== workflow,
        (finish) => (local = finish),
      );
      if (local !== undefined) {
        const finish: LocalFinish = local;
        if (finish.handler !== workflow) throw conflictError(id, workflow, finish.handler);
        return localResultOf<Result>(id, finish);
      }
      if (record !== undefined && record.handler !== workflow)
        throw conflictError(id, workflow, record.handler);
      return resultOf<Result>(id, record);
    },
    async status() {
      return (await read())?.status;
    },
    async cancel() {
      return (await read()) === undefined ? false : engine.cancel(id);
    },
    async signal(name: string, payload?: unknown) {
      return (await read()) === undefined ? false : engine.signal(id, name, payload);
    },
  };
}

/** The id belongs to a workflow of another name: the handle's types would lie about it. */
export function conflictError(id: string, wanted: string, stored: string): DurableError {
  return new DurableError(
    WorkflowErrorCode.WORKFLOW_CONFLICT,
    `workflow: ${id} is a ${JSON.stringify(stored)} workflow, not ${JSON.stringify(
      wanted,
    )}: use another id, or the handle of its own definition`,
    { details: { id, workflow: wanted, stored } },
  );
}

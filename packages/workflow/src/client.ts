import type { WorkflowCounts, WorkflowPage, WorkflowRecord } from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import type { AnyWorkflow, WorkflowInput, WorkflowResult } from './definition.js';
import { isWorkflowDefinition } from './definition.js';
import type { DrainOptions, PollOptions, StartOptions } from './engine.js';
import { Engine } from './engine.js';
import type { StartedWorkflowHandle, WorkflowHandle } from './handle.js';
import { conflictError, createHandle } from './handle.js';
import type { ListWorkflowsQuery } from './operations.js';
import { countWorkflowsByStatus, listWorkflows, resumeWorkflow } from './operations.js';
import type { EngineOptions } from './options.js';
import type { WorkerStats, WorkflowWorker } from './worker.js';

/** Options for {@link WorkflowClient}. Every duration may be 0. */
export interface WorkflowClientOptions<W extends AnyWorkflow = AnyWorkflow> extends EngineOptions {
  /**
   * The workflows this client starts and runs (`defineWorkflow(...)` definitions, unique
   * names). `start` accepts only these, checked by the compiler and at run time.
   */
  workflows: readonly W[];
}

/** The arguments after the id of {@link WorkflowClient.start}: the input is optional when the workflow takes none. */
export type StartArgs<W> =
  undefined extends WorkflowInput<W>
    ? [input?: WorkflowInput<W>, options?: StartOptions]
    : [input: WorkflowInput<W>, options?: StartOptions];

/**
 * One entry of {@link WorkflowClient.startMany}: a workflow, an id, and the workflow's input
 * (optional when the workflow takes none), checked against that entry's own workflow.
 */
export type StartRequest<W extends AnyWorkflow> = W extends AnyWorkflow
  ? { workflow: W; id: string; options?: StartOptions } & (undefined extends WorkflowInput<W>
      ? { input?: WorkflowInput<W> }
      : { input: WorkflowInput<W> })
  : never;

/**
 * Starts, runs and inspects typed workflows. The app that starts workflows also runs them
 * (`poll()`); more instances of the app mean more throughput. No workflow server.
 */
export class WorkflowClient<W extends AnyWorkflow = AnyWorkflow> {
  private readonly engine: Engine;

  /** @param options The workflows, the store, and the engine's options. */
  constructor(options: WorkflowClientOptions<W>) {
    this.engine = new Engine(options, 'workflows');
  }

  /**
   * Starts `workflow` as `id` on `input` and returns its handle. Idempotent: when `id` exists
   * already the handle is for it (`created: false`); an id used by another workflow is
   * `WORKFLOW_CONFLICT`.
   */
  async start<D extends W>(
    workflow: D,
    id: string,
    ...args: StartArgs<D>
  ): Promise<StartedWorkflowHandle<WorkflowResult<D>>> {
    const [input, options] = args;
    const name = nameOf(workflow);
    const created = await this.engine.start(id, name, input, options);
    if (!created) {
      const stored = (await this.engine.get(id))?.handler;
      if (stored !== undefined && stored !== name) throw conflictError(id, name, stored);
    }
    return { ...createHandle<WorkflowResult<D>>(this.engine, name, id), created };
  }

  /**
   * Starts a batch of workflows at once, each entry typed as `start`'s arguments, and returns
   * their handles in order. Every entry is checked before any is started; the inserts run in
   * parallel (one batch when the store has `insertMany`). Idempotent per id like `start`; an id
   * used by another workflow is `WORKFLOW_CONFLICT` (the other entries are started regardless).
   */
  async startMany<const R extends ReadonlyArray<StartRequest<W>>>(
    requests: R,
  ): Promise<{
    -readonly [K in keyof R]: StartedWorkflowHandle<WorkflowResult<R[K]['workflow']>>;
  }> {
    if (!Array.isArray(requests))
      throw new DurableError(
        ErrorCode.CONFIG,
        'workflow: startMany takes an array of { workflow, id, input?, options? }',
      );
    const names = requests.map((request: StartRequest<W>, i) => {
      if (request === null || typeof request !== 'object')
        throw new DurableError(
          ErrorCode.CONFIG,
          `workflow: startMany: entry ${i} is not an object`,
        );
      return nameOf(request.workflow);
    });
    const created = await this.engine.startMany(
      requests.map((request: StartRequest<W>, i) => ({
        id: request.id,
        handler: names[i] as string,
        input: request.input,
        ...(request.options === undefined ? {} : { options: request.options }),
      })),
    );
    const existing = await Promise.all(
      created.map((made, i) =>
        made ? Promise.resolve(undefined) : this.engine.get((requests[i] as StartRequest<W>).id),
      ),
    );
    existing.forEach((record, i) => {
      const name = names[i] as string;
      if (record !== undefined && record.handler !== name)
        throw conflictError(record.id, name, record.handler);
    });
    return requests.map((request: StartRequest<W>, i) => ({
      ...createHandle(this.engine, names[i] as string, request.id),
      created: created[i] === true,
    })) as never;
  }

  /** A handle on workflow `id` of this definition (no I/O: reads check the stored name). */
  handle<D extends W>(workflow: D, id: string): WorkflowHandle<WorkflowResult<D>> {
    return createHandle<WorkflowResult<D>>(this.engine, nameOf(workflow), id);
  }

  /** Turns this process into a worker; `await worker.stop()` to stop it gracefully. */
  poll(options: PollOptions = {}): WorkflowWorker {
    return this.engine.poll(options);
  }

  /**
   * Runs due workflows until none is due and none runs, or until `maxMs` (then stops gracefully),
   * and resolves with how the runs ended: for serverless functions on a schedule.
   */
  drain(options: DrainOptions = {}): Promise<WorkerStats> {
    return this.engine.drain(options);
  }

  /** The workflow's stored state (history, attempts, errors), or `undefined`: for inspection. */
  get(id: string): Promise<WorkflowRecord | undefined> {
    return this.engine.get(id);
  }

  /** One page of workflows, oldest first by default (100 unless `limit`); pass `cursor` on. */
  list(query: ListWorkflowsQuery = {}): Promise<WorkflowPage> {
    return listWorkflows(this.engine.options.store, query);
  }

  /** How many workflows are in each status. */
  counts(): Promise<WorkflowCounts> {
    return countWorkflowsByStatus(this.engine.options.store);
  }

  /** Runs an aborted, cancelled or failed workflow again from its last recorded step; false otherwise. */
  resume(id: string): Promise<boolean> {
    return resumeWorkflow(this.engine.options.store, id);
  }
}

// A plain JS caller can pass anything; a name string is the Lidex client's form.
function nameOf(workflow: AnyWorkflow): string {
  if (!isWorkflowDefinition(workflow)) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `workflow: expected a defineWorkflow(...) definition, got ${
        typeof workflow === 'string' ? JSON.stringify(workflow) : typeof workflow
      }; to start workflows by name use LidexClient from @durable/workflow/lidex`,
    );
  }
  return workflow.name;
}

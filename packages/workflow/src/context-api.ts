// The handle a workflow function gets: its types only (the implementation is RunContext).
import type { AnyWorkflow, WorkflowInput, WorkflowResult } from './definition.js';
import type { StepOptions } from './step-policy.js';

/** What {@link WorkflowContext.waitForEvent} resolves with. */
export type EventResult<T = unknown> = { received: true; payload: T } | { received: false };

/** Options for {@link WorkflowContext.waitForEvent}. */
export interface WaitForEventOptions {
  /** Give up after this long (durably: the deadline survives restarts). @default no timeout */
  timeoutMs?: number;
}

/** What a step's function is told about its attempt. */
export interface StepAttempt {
  /** 1 for the first attempt of this run, 2 for the first retry, ... */
  readonly attempt: number;
  /** Aborted when the attempt's `timeoutMs` has passed: stop the work, its result is ignored. */
  readonly signal: AbortSignal;
}

/** The input argument of a workflow: optional when the workflow takes none. */
export type WorkflowInputArgs<W> =
  undefined extends WorkflowInput<W> ? [input?: WorkflowInput<W>] : [input: WorkflowInput<W>];

/** The operations every workflow context has, whatever names its children by. */
export interface BaseWorkflowContext {
  /** The workflow's id. */
  readonly workflowId: string;
  /** Failed runs before this one. */
  readonly failures: number;
  /**
   * Runs `fn` once and records its JSON result (also `undefined`); later runs return the record.
   * With a policy, a failed attempt is retried in place (see {@link StepOptions}) before the run
   * fails; the number of attempts is recorded with the result.
   */
  step<T>(
    id: string,
    fn: (attempt: StepAttempt) => Promise<T> | T,
    options?: StepOptions,
  ): Promise<T>;
  /** A durable sleep: the workflow leaves the worker and is claimed again when due. */
  sleep(id: string, ms: number): Promise<void>;
  /** Sleeps until `until` (a Date or epoch ms), durably. */
  sleepUntil(id: string, until: Date | number): Promise<void>;
  /** Waits durably for the next `signal(name, payload)` of this name, or for the timeout. */
  waitForEvent<T = unknown>(name: string, options?: WaitForEventOptions): Promise<EventResult<T>>;
}

/**
 * The handle a workflow uses for everything that must survive a crash. Operations run one at a
 * time (await each) and must be reached in the same order on every run: a changed order is a
 * `NON_DETERMINISTIC` error, never a silent mix-up.
 */
export interface WorkflowContext extends BaseWorkflowContext {
  /** Starts workflow `workflow` as `id` once; true when this call created it. */
  start<W extends AnyWorkflow>(
    workflow: W,
    id: string,
    ...input: WorkflowInputArgs<W>
  ): Promise<boolean>;
  /** Starts a child workflow (once) and resolves with its result; rejects with `WORKFLOW_FAILED` if it fails. */
  child<W extends AnyWorkflow>(
    workflow: W,
    id: string,
    ...input: WorkflowInputArgs<W>
  ): Promise<WorkflowResult<W>>;
}

// The handle a workflow handler gets: its types only (the implementation is RunContext).

/** What {@link WorkflowContext.waitForEvent} resolves with. */
export type EventResult<T = unknown> = { received: true; payload: T } | { received: false };

/** Options for {@link WorkflowContext.waitForEvent}. */
export interface WaitForEventOptions {
  /** Give up after this long (durably: the deadline survives restarts). @default no timeout */
  timeoutMs?: number;
}

/**
 * The handle a workflow uses for everything that must survive a crash. Operations run one at a
 * time (await each) and must be reached in the same order on every run: a changed order is a
 * `NON_DETERMINISTIC` error, never a silent mix-up.
 */
export interface WorkflowContext {
  /** The workflow's id. */
  readonly workflowId: string;
  /** Failed runs before this one. */
  readonly failures: number;
  /** Runs `fn` once and records its JSON result (also `undefined`); later runs return the record. */
  step<T>(id: string, fn: () => Promise<T> | T): Promise<T>;
  /** A durable sleep: the workflow leaves the worker and is claimed again when due. */
  sleep(id: string, ms: number): Promise<void>;
  /** Sleeps until `until` (a Date or epoch ms), durably. */
  sleepUntil(id: string, until: Date | number): Promise<void>;
  /** Starts another workflow once; true when this call created it. */
  start(id: string, handler: string, input?: unknown): Promise<boolean>;
  /** Starts a child workflow (once) and resolves with its result; rejects with `WORKFLOW_FAILED` if it fails. */
  child<T = unknown>(id: string, handler: string, input?: unknown): Promise<T>;
  /** Waits durably for the next `signal(id, name, payload)` of this name, or for the timeout. */
  waitForEvent<T = unknown>(name: string, options?: WaitForEventOptions): Promise<EventResult<T>>;
}

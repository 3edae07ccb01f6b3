import { textOf } from './text.js';
import { createLockToken } from './lease.js';
import { DurableError, ErrorCode } from './errors.js';
import type { WorkflowCounts, WorkflowListQuery, WorkflowPage } from './workflow-listing.js';

/** Format version of a persisted {@link WorkflowRecord}; a later shape change reads old ones. */
export const WORKFLOW_RECORD_FORMAT = 1;

/** Longest workflow id accepted, in UTF-16 code units. */
export const MAX_WORKFLOW_ID_LENGTH = 512;

/**
 * Where a workflow stands. Finished states (`completed`, `aborted`, `cancelled`) never change,
 * except that `resume` makes an aborted or cancelled workflow ready again.
 */
export const WorkflowStatus = {
  /** Started, not yet run: due at `runAt`. */
  READY: 'ready',
  /** Claimed by a worker whose lease ends at `claim.expiresAt`. */
  RUNNING: 'running',
  /** Waiting for a durable sleep, an event or a child: due at `runAt` (or when woken). */
  SLEEPING: 'sleeping',
  /** Failed and due for a retry at `runAt`. */
  FAILED: 'failed',
  /** Finished with a `result`. */
  COMPLETED: 'completed',
  /** Failed more often than allowed, or failed for good: see `error`. */
  ABORTED: 'aborted',
  /** Cancelled by `cancel()`. */
  CANCELLED: 'cancelled',
} as const;

/** One of the {@link WorkflowStatus} values. */
export type WorkflowStatus = (typeof WorkflowStatus)[keyof typeof WorkflowStatus];

/** The kinds of recorded positions in a workflow's history. */
export const StepKind = {
  STEP: 'step',
  SLEEP: 'sleep',
  EVENT: 'event',
  START: 'start',
  CHILD: 'child',
} as const;

/** One of the {@link StepKind} values. */
export type StepKind = (typeof StepKind)[keyof typeof StepKind];

/** An error as stored: name, message and stack survive the process that threw it. */
export interface StoredError {
  name: string;
  message: string;
  stack?: string;
  /** A DurableError's code, when it was one. */
  code?: string;
  /** A DurableError's details, when JSON (the `path` of a value that is not JSON, say). */
  details?: Record<string, unknown>;
}

/** A recorded position of a workflow's history (a step result, a sleep, an awaited event...). */
export interface StepMemo {
  /** The id the handler gave (any string). */
  id: string;
  kind: StepKind;
  /** False while a sleep, an event wait or a child wait is still pending. */
  done: boolean;
  /** The JSON result; absent means `undefined`. */
  value?: unknown;
  /** A failure recorded at this position (a failed child). */
  error?: StoredError;
  /** Deadline of a sleep or of an event wait (epoch ms). */
  until?: number;
  /** When this memo was written (epoch ms). */
  at: number;
  /**
   * How many attempts a step's function took in the run that recorded it (retries of its
   * policy included). Absent in records written before step policies existed: read it as 1.
   */
  attempts?: number;
}

/** A signal delivered to a workflow by `signal()`. */
export interface WorkflowEvent {
  name: string;
  payload: unknown;
  at: number;
}

/** The lease a worker holds on a running workflow. */
export interface WorkflowClaim {
  /** Secret to the holder; every write under the claim must present it. */
  token: string;
  /** Others may take the workflow over after this instant (epoch ms). */
  expiresAt: number;
  claimedAt: number;
}

/** The persisted state of one workflow (plain JSON). */
export interface WorkflowRecord {
  format: typeof WORKFLOW_RECORD_FORMAT;
  id: string;
  handler: string;
  input: unknown;
  status: WorkflowStatus;
  /** When a ready, failed or sleeping workflow is due (epoch ms). */
  runAt: number;
  /** Failed runs so far (errors thrown and expired leases). */
  failures: number;
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
  claim?: WorkflowClaim;
  /** The history, in the order the handler reached each position. */
  steps: StepMemo[];
  events: WorkflowEvent[];
  /** Event names that wake this sleeping workflow at once. */
  wakeOn?: string[];
  result?: unknown;
  error?: StoredError;
  /** The workflow that started this one as its child. */
  parentId?: string;
}

/** What {@link WorkflowStore.insert} needs. */
export interface NewWorkflow {
  id: string;
  handler: string;
  input?: unknown;
  /** Not due before this instant. @default now */
  runAt?: number;
  parentId?: string;
}

/** A workflow claimed by {@link WorkflowStore.claim}: its state and the claim's token. */
export interface ClaimedWorkflow {
  token: string;
  record: WorkflowRecord;
}

/** How a run under a claim ended, for {@link WorkflowStore.finish}. */
export type WorkflowOutcome =
  | { status: typeof WorkflowStatus.COMPLETED; result?: unknown }
  | { status: typeof WorkflowStatus.FAILED; error: StoredError; runAt: number }
  | { status: typeof WorkflowStatus.ABORTED; error: StoredError };

/** Options for {@link WorkflowStore.suspend}. */
export interface SuspendOptions {
  /** Due again at this instant (epoch ms). */
  runAt: number;
  /** A memo to record in the same write (the sleep's deadline, a pending event wait). */
  step?: { index: number; memo: StepMemo };
  /** Event names that wake the workflow at once. */
  wakeOn?: string[];
  /**
   * How many events the worker had seen; an event named in `wakeOn` that arrived after those
   * makes the workflow due at once (a signal racing the suspend is never lost).
   */
  knownEvents?: number;
}

/**
 * The persistence contract of the workflow engine. Every write made under a claim presents the
 * claim's token and is refused with `LOCK_LOST` (changing nothing) once the claim is no longer
 * the current one, so a worker whose lease expired can never overwrite its successor's state.
 * Implementations must make each method atomic with respect to every other.
 */
export interface WorkflowStore {
  /** Creates the workflow if its id is absent; false when it exists (whatever its state). */
  insert(workflow: NewWorkflow): Promise<boolean>;
  /** The workflow's state, or `undefined`. */
  get(id: string): Promise<WorkflowRecord | undefined>;
  /**
   * Atomically claims one due workflow (ready, failed or sleeping with `runAt <= now`, or running
   * with an expired lease, which counts as a failure) for `leaseMs`; `undefined` when none is
   * due. Concurrent claimers never get the same claim.
   */
  claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined>;
  /** Extends the claim to now + `leaseMs`; returns the new expiry. */
  heartbeat(id: string, token: string, leaseMs: number): Promise<number>;
  /** Records `memo` at `index` (the next position, or a pending memo of the same id). */
  saveStep(id: string, token: string, index: number, memo: StepMemo): Promise<void>;
  /** Ends the claim and puts the workflow to sleep until `runAt` (or a wake-up event). */
  suspend(id: string, token: string, options: SuspendOptions): Promise<void>;
  /** Ends the claim without a failure: the workflow is ready again at once (graceful stop). */
  release(id: string, token: string): Promise<void>;
  /** Ends the claim with an outcome; a failure increments `failures`. */
  finish(id: string, token: string, outcome: WorkflowOutcome): Promise<void>;
  /** Delivers an event (wakes the workflow if it waits for it); false when absent or finished. */
  signal(id: string, name: string, payload?: unknown): Promise<boolean>;
  /** Cancels an unfinished workflow (its claim, if any, is revoked); false when absent or finished. */
  cancel(id: string): Promise<boolean>;
  /**
   * One page of workflows matching `query` (check it with `checkWorkflowListQuery`: a bad query
   * is `CONFIG`). Order: by `createdAt`, then by id in code-point order (UTF-8 byte order),
   * ascending unless `order` is "desc". The cursor is a position in that order, so paging is
   * stable under concurrent inserts and changes: a workflow that exists for the whole listing and
   * matches the filters appears on exactly one page; one inserted meanwhile may or may not.
   * Reads only (no claim, no write). The CLI and the console are built on it.
   */
  list(query: WorkflowListQuery): Promise<WorkflowPage>;
  /** How many workflows are in each status now (every status present). Reads only. */
  counts(): Promise<WorkflowCounts>;
  /**
   * Makes an aborted, cancelled or failed workflow ready at once with no failures counted
   * (`workflowTransitions.resume`, applied atomically like `cancel`): it runs again from its
   * last recorded position, and recorded positions are replayed, never re-run. A store that
   * indexes unfinished workflows must index it again. False when absent or in another status
   * (ready, running, sleeping, completed); of concurrent resumes exactly one returns true.
   */
  resume(id: string): Promise<boolean>;
  /**
   * Creates each workflow whose id is absent, as {@link WorkflowStore.insert} does, and returns
   * one boolean per workflow in the same order (false when the id existed, or appeared earlier in
   * the same batch). A store that can batch (one transaction, one round trip) implements it;
   * callers fall back to parallel `insert` calls when it is absent. The batch need not be atomic
   * as a whole: when it throws, some workflows may have been created, and a retry with the same
   * ids is idempotent.
   */
  insertMany?(workflows: readonly NewWorkflow[]): Promise<boolean[]>;
  /**
   * Creates the workflow, as {@link WorkflowStore.insert} does, already claimed by the caller
   * for `leaseMs`: the state a claim right after the insert would leave (`running`, the claim's
   * token, no failure counted), in one atomic write. It is how a process starts a workflow it
   * runs itself (as DBOS and Temporal's eager start do), without a claim's second write. Returns
   * the claim, or `undefined` when the id exists (nothing changes). Only for a workflow due at
   * once: a `runAt` after now is `CONFIG`. No other claim takes it before the lease expires;
   * after that it is due like any running workflow whose lease expired, so a crash of the caller
   * loses nothing. Callers fall back to `insert` (and a worker's claim) when it is absent.
   */
  insertClaimed?(
    workflow: NewWorkflow,
    options: { leaseMs: number },
  ): Promise<ClaimedWorkflow | undefined>;
  /**
   * Subscribes to wake-ups: the store calls `listener` whenever work may have become claimable,
   * from any process it can observe (a workflow inserted, signalled, cancelled, released or
   * resumed, a child finishing, a run suspended or failed with a due time already passed). Calls may be
   * spurious and may be coalesced (one call for several changes), and come after the change is
   * visible to `claim`; a listener must not throw (what it throws is ignored). Returns a function
   * that stops listening. Stores that cannot notify omit this method, and workers poll
   * (`pollIntervalMs`); workers poll anyway for work that becomes due by the passing of time.
   */
  watch?(listener: () => void): () => void;
  /** Releases resources the store created itself. */
  close?(): Promise<void>;
}

/** Statuses `resume` accepts. */
export const RESUMABLE_STATUSES: readonly WorkflowStatus[] = ['aborted', 'cancelled', 'failed'];

/** True when `status` is final. */
export function isFinishedStatus(status: WorkflowStatus): boolean {
  return (
    status === WorkflowStatus.COMPLETED ||
    status === WorkflowStatus.ABORTED ||
    status === WorkflowStatus.CANCELLED
  );
}

/** True when `record` may be claimed at `now`. */
export function isWorkflowDue(record: WorkflowRecord, now: number): boolean {
  switch (record.status) {
    case WorkflowStatus.READY:
    case WorkflowStatus.FAILED:
    case WorkflowStatus.SLEEPING:
      return record.runAt <= now;
    case WorkflowStatus.RUNNING:
      return (record.claim?.expiresAt ?? 0) <= now;
    default:
      return false;
  }
}

/** Throws `INVALID_KEY` unless `id` is a usable workflow id (a non-empty string, any characters). */
export function assertValidWorkflowId(id: unknown, context = 'workflow'): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_WORKFLOW_ID_LENGTH) {
    throw new DurableError(
      ErrorCode.INVALID_KEY,
      `${context}: a workflow id must be a non-empty string of at most ${MAX_WORKFLOW_ID_LENGTH} characters, got ${describe(
        id,
      )}`,
      { details: { id } },
    );
  }
}

/** A key segment for a workflow id: base64url, so dots, slashes and any character are safe. */
export function encodeWorkflowId(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url') || '-';
}

/** Inverse of {@link encodeWorkflowId}. */
export function decodeWorkflowId(segment: string): string {
  return Buffer.from(segment, 'base64url').toString('utf8');
}

/** A fresh unguessable claim token (an owner token: 128 random bits as 32 hex characters). */
export function createClaimToken(): string {
  return createLockToken();
}

/**
 * A new workflow claimed at once by a fresh token, for a store's `insertClaimed`: the record
 * (`workflowTransitions.createClaimed`) and the token; the store writes it if the id is absent.
 */
export function claimedStart(workflow: NewWorkflow, leaseMs: number, now: number): ClaimedWorkflow {
  const token = createClaimToken();
  return { token, record: workflowTransitions.createClaimed(workflow, token, leaseMs, now) };
}

/**
 * Throws `SERIALIZATION` unless `value` survives JSON unchanged: plain objects, arrays, strings,
 * finite numbers, booleans and null (`undefined` object properties are dropped, as JSON does).
 */
export function assertJsonValue(value: unknown, what: string): void {
  let problem: JsonProblem | undefined;
  try {
    problem = jsonProblem(value, '$', new Set());
  } catch (error) {
    // A getter or a proxy that throws while we look: not JSON either, and never a crash.
    problem = { path: '$', reason: `could not be inspected (${describeError(error)})` };
  }
  if (problem !== undefined) {
    throw new DurableError(
      ErrorCode.SERIALIZATION,
      `${what} is not JSON-serialisable: ${problem.path} ${problem.reason}`,
      {
        details: { path: problem.path },
      },
    );
  }
}

interface JsonProblem {
  path: string;
  reason: string;
}

function jsonProblem(value: unknown, path: string, seen: Set<object>): JsonProblem | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number')
    return Number.isFinite(value) ? undefined : { path, reason: `is ${value}` };
  if (typeof value !== 'object') return { path, reason: `is a ${typeof value}` };
  if (seen.has(value)) return { path, reason: 'is a circular reference' };
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (value[i] === undefined) return { path: `${path}[${i}]`, reason: 'is undefined' };
        const problem = jsonProblem(value[i], `${path}[${i}]`, seen);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    // A plain object of any realm (vm contexts, jest) has a prototype whose own prototype is null.
    const proto = Object.getPrototypeOf(value) as object | null;
    if (proto !== null && Object.getPrototypeOf(proto) !== null) {
      const name = value.constructor?.name ?? 'non-plain object';
      return {
        path,
        reason: `is a ${
          typeof name === 'string' ? name : 'non-plain object'
        } (convert it to plain JSON)`,
      };
    }
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue;
      const problem = jsonProblem(item, `${path}.${key}`, seen);
      if (problem !== undefined) return problem;
    }
    return undefined;
  } finally {
    seen.delete(value);
  }
}

/**
 * An error as stored: name, message, stack, a DurableError's code and JSON details. Never throws,
 * whatever was thrown (a string, undefined, a proxy, an Error with a throwing getter).
 */
export function toStoredError(error: unknown): StoredError {
  try {
    if (error instanceof Error) {
      const { name, message, stack } = error;
      const code = (error as { code?: unknown }).code;
      const details = (error as { details?: unknown }).details;
      return {
        name: typeof name === 'string' ? name : 'Error',
        message: typeof message === 'string' ? message : textOf(message),
        ...(typeof stack === 'string' ? { stack } : {}),
        ...(typeof code === 'string' ? { code } : {}),
        ...(isJsonObject(details) ? { details: cloneJson(details) } : {}),
      };
    }
    return {
      name: 'Error',
      message: typeof error === 'string' ? error : `a non-Error value was thrown: ${textOf(error)}`,
    };
  } catch (inspecting) {
    return {
      name: 'Error',
      message: `a value that cannot be inspected was thrown (${describeError(inspecting)})`,
    };
  }
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  try {
    return jsonProblem(value, '$', new Set()) === undefined;
  } catch {
    return false;
  }
}

function describeError(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : textOf(error);
  } catch {
    return 'unknown error';
  }
}

/** A deep copy of a JSON value (records, memos, outcomes). */
export function cloneJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** Parses a stored record, refusing an unknown format with `VERSION_UNKNOWN`. */
export function parseWorkflowRecord(text: string, context = 'workflow store'): WorkflowRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DurableError(ErrorCode.BACKEND, `${context}: a stored workflow is not valid JSON`, {
      cause: error,
    });
  }
  const format = (parsed as { format?: unknown } | null)?.format;
  if (format !== WORKFLOW_RECORD_FORMAT) {
    throw new DurableError(
      ErrorCode.VERSION_UNKNOWN,
      `${context}: unknown workflow record format ${String(format)}`,
    );
  }
  return parsed as WorkflowRecord;
}

/**
 * The state transitions every {@link WorkflowStore} applies, as pure functions of a record: an
 * implementation reads, applies one, and writes back atomically (compare-and-swap or a
 * conditional update), so all stores share one meaning. Each returns a new record or throws
 * (`LOCK_LOST` for a stale token).
 */
export const workflowTransitions = {
  create(workflow: NewWorkflow, now: number): WorkflowRecord {
    assertValidWorkflowId(workflow.id, 'workflow store: insert');
    if (typeof workflow.handler !== 'string' || workflow.handler.length === 0) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `workflow store: insert ${workflow.id}: handler must be a non-empty string`,
      );
    }
    assertJsonValue(workflow.input ?? null, `input of workflow ${workflow.id}`);
    if (workflow.parentId !== undefined)
      assertValidWorkflowId(workflow.parentId, 'workflow store: insert');
    return {
      format: WORKFLOW_RECORD_FORMAT,
      id: workflow.id,
      handler: workflow.handler,
      input: workflow.input === undefined ? null : workflow.input,
      status: WorkflowStatus.READY,
      runAt: workflow.runAt ?? now,
      failures: 0,
      createdAt: now,
      updatedAt: now,
      steps: [],
      events: [],
      ...(workflow.parentId === undefined ? {} : { parentId: workflow.parentId }),
    };
  },

  /**
   * A new workflow claimed at once (see {@link WorkflowStore.insertClaimed}): `create`, then
   * `claim`, at the same instant. A `runAt` after `now` is `CONFIG` (the workflow is not due).
   */
  createClaimed(
    workflow: NewWorkflow,
    token: string,
    leaseMs: number,
    now: number,
  ): WorkflowRecord {
    const record = workflowTransitions.create(workflow, now);
    if (record.runAt > now) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `workflow store: insertClaimed ${workflow.id}: runAt is after now; only a workflow due at once can be claimed at its start (use insert)`,
      );
    }
    return workflowTransitions.claim(record, token, leaseMs, now);
  },

  claim(record: WorkflowRecord, token: string, leaseMs: number, now: number): WorkflowRecord {
    const expired = record.status === WorkflowStatus.RUNNING;
    const next = base(record, now);
    next.status = WorkflowStatus.RUNNING;
    next.claim = { token, expiresAt: now + Math.max(0, leaseMs), claimedAt: now };
    if (expired) {
      next.failures = record.failures + 1;
      next.error = {
        name: 'LeaseExpired',
        message: `workflow ${record.id}: the worker's lease expired (crashed or stalled)`,
      };
    }
    return next;
  },

  heartbeat(record: WorkflowRecord, token: string, leaseMs: number, now: number): WorkflowRecord {
    const next = held(record, token, now, 'heartbeat');
    next.claim = { ...(record.claim as WorkflowClaim), expiresAt: now + Math.max(0, leaseMs) };
    return next;
  },

  saveStep(
    record: WorkflowRecord,
    token: string,
    index: number,
    memo: StepMemo,
    now: number,
  ): WorkflowRecord {
    const next = held(record, token, now, 'saveStep');
    next.steps = placeStep(record, index, memo);
    return next;
  },

  suspend(
    record: WorkflowRecord,
    token: string,
    options: SuspendOptions,
    now: number,
  ): WorkflowRecord {
    const next = held(record, token, now, 'suspend');
    if (options.step !== undefined)
      next.steps = placeStep(record, options.step.index, options.step.memo);
    next.status = WorkflowStatus.SLEEPING;
    next.runAt = options.runAt;
    delete next.claim;
    const wakeOn = options.wakeOn ?? [];
    if (wakeOn.length > 0) next.wakeOn = [...wakeOn];
    else delete next.wakeOn;
    const fresh = record.events.slice(options.knownEvents ?? record.events.length);
    if (fresh.some((event) => wakeOn.includes(event.name))) next.runAt = Math.min(next.runAt, now);
    return next;
  },

  release(record: WorkflowRecord, token: string, now: number): WorkflowRecord {
    const next = held(record, token, now, 'release');
    next.status = WorkflowStatus.READY;
    next.runAt = now;
    delete next.claim;
    return next;
  },

  finish(
    record: WorkflowRecord,
    token: string,
    outcome: WorkflowOutcome,
    now: number,
  ): WorkflowRecord {
    const next = held(record, token, now, 'finish');
    delete next.claim;
    delete next.wakeOn;
    if (outcome.status === WorkflowStatus.COMPLETED) {
      next.status = WorkflowStatus.COMPLETED;
      if (outcome.result !== undefined) {
        assertJsonValue(outcome.result, `result of workflow ${record.id}`);
        next.result = outcome.result;
      }
      delete next.error;
      next.finishedAt = now;
    } else if (outcome.status === WorkflowStatus.FAILED) {
      next.status = WorkflowStatus.FAILED;
      next.failures = record.failures + 1;
      next.error = outcome.error;
      next.runAt = outcome.runAt;
    } else if (outcome.status === WorkflowStatus.ABORTED) {
      next.status = WorkflowStatus.ABORTED;
      next.failures = record.failures + 1;
      next.error = outcome.error;
      next.finishedAt = now;
    } else {
      throw new DurableError(
        ErrorCode.CONFIG,
        `workflow store: finish ${record.id}: unknown outcome ${describe(
          (outcome as { status?: unknown }).status,
        )}`,
      );
    }
    return next;
  },

  /** `undefined` when the workflow is finished (the event is refused). */
  signal(
    record: WorkflowRecord,
    name: string,
    payload: unknown,
    now: number,
  ): WorkflowRecord | undefined {
    if (isFinishedStatus(record.status)) return undefined;
    if (typeof name !== 'string' || name.length === 0) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `workflow store: signal ${record.id}: the event name must be a non-empty string`,
      );
    }
    assertJsonValue(payload ?? null, `payload of event ${name} for workflow ${record.id}`);
    const next = base(record, now);
    next.events = [
      ...record.events,
      { name, payload: payload === undefined ? null : payload, at: now },
    ];
    if (record.status === WorkflowStatus.SLEEPING && record.wakeOn?.includes(name) === true) {
      next.runAt = Math.min(record.runAt, now);
    }
    return next;
  },

  /** `undefined` when the workflow is already finished. */
  cancel(record: WorkflowRecord, now: number): WorkflowRecord | undefined {
    if (isFinishedStatus(record.status)) return undefined;
    const next = base(record, now);
    next.status = WorkflowStatus.CANCELLED;
    next.error = {
      name: 'DurableError',
      message: `workflow ${record.id} was cancelled`,
      code: ErrorCode.CANCELLED,
    };
    next.finishedAt = now;
    delete next.claim;
    delete next.wakeOn;
    return next;
  },

  /** `undefined` unless the workflow is aborted, cancelled or failed (see `WorkflowStore.resume`). */
  resume(record: WorkflowRecord, now: number): WorkflowRecord | undefined {
    if (!RESUMABLE_STATUSES.includes(record.status)) return undefined;
    const next = base(record, now);
    next.status = WorkflowStatus.READY;
    next.runAt = now;
    next.failures = 0;
    delete next.finishedAt;
    delete next.claim;
    delete next.wakeOn;
    delete next.error;
    return next;
  },
};

function base(record: WorkflowRecord, now: number): WorkflowRecord {
  return { ...record, updatedAt: now };
}

function held(
  record: WorkflowRecord,
  token: string,
  now: number,
  operation: string,
): WorkflowRecord {
  assertClaimHeld(record, token, operation);
  return base(record, now);
}

/** Throws `LOCK_LOST` unless `token` is the record's current claim. */
export function assertClaimHeld(
  record: WorkflowRecord | undefined,
  token: string,
  operation: string,
  id?: string,
): asserts record is WorkflowRecord {
  if (
    record === undefined ||
    record.status !== WorkflowStatus.RUNNING ||
    record.claim?.token !== token
  ) {
    const name = record?.id ?? id ?? '?';
    throw new DurableError(
      ErrorCode.LOCK_LOST,
      `workflow store: ${operation} refused for ${name}: the claim is no longer held (taken over, cancelled or finished)`,
      { details: { id: name, status: record?.status } },
    );
  }
}

function placeStep(record: WorkflowRecord, index: number, memo: StepMemo): StepMemo[] {
  if (checkStepPlacement(record.id, record.steps, index, memo) === 'recorded') return record.steps;
  const steps = record.steps.slice();
  steps[index] = memo;
  return steps;
}

/**
 * Checks that `memo` may be recorded at `index` of a history `steps` (the shared rule of
 * `saveStep`, for stores that record a step without rewriting the history): `"recorded"` when
 * the very same memo is there already (the holder's own write, retried after a lost reply),
 * `"place"` when it goes at the next position or replaces a pending memo of the same id and
 * kind. Throws `NON_DETERMINISTIC` otherwise, `SERIALIZATION` for a value that is not JSON.
 */
export function checkStepPlacement(
  id: string,
  steps: readonly StepMemo[],
  index: number,
  memo: StepMemo,
): 'recorded' | 'place' {
  const existing = steps[index];
  // The holder's own write already there (its reply was lost and the write retried): success,
  // not non-determinism. Only the claim holder gets here, and it records a position once.
  if (existing !== undefined && existing.done && isSameMemo(existing, memo)) return 'recorded';
  const ok =
    Number.isSafeInteger(index) &&
    index >= 0 &&
    (index === steps.length ||
      (existing !== undefined &&
        existing.id === memo.id &&
        existing.kind === memo.kind &&
        !existing.done));
  if (!ok) {
    throw new DurableError(
      ErrorCode.NON_DETERMINISTIC,
      `workflow ${id}: cannot record ${memo.kind} ${JSON.stringify(
        memo.id,
      )} at position ${index}: the history has ${steps.length} positions` +
        (existing === undefined
          ? ''
          : ` and position ${index} holds ${existing.kind} ${JSON.stringify(existing.id)}`),
    );
  }
  if (memo.value !== undefined)
    assertJsonValue(memo.value, `result of step ${JSON.stringify(memo.id)}`);
  return 'place';
}

/** True when two memos record the same thing (their write times aside). */
export function isSameMemo(a: StepMemo, b: StepMemo): boolean {
  return (
    a.id === b.id &&
    a.kind === b.kind &&
    a.done === b.done &&
    a.until === b.until &&
    isSameJson(a.value, b.value) &&
    isSameJson(a.error, b.error)
  );
}

/** Deep equality of JSON values, whatever the order of object keys (a store may reorder them). */
export function isSameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((item, i) => isSameJson(item, b[i]));
  const left = Object.entries(a).filter(([, v]) => v !== undefined);
  const right = Object.entries(b).filter(([, v]) => v !== undefined);
  if (left.length !== right.length) return false;
  const other = new Map(right);
  return left.every(([key, value]) => other.has(key) && isSameJson(value, other.get(key)));
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : textOf(value);
}

import type { StepMemo, SuspendOptions, WorkflowRecord, WorkflowStore } from '@durable/core';
import { DurableError, ErrorCode, StepKind, WorkflowStatus, isDurableError } from '@durable/core';
import {
  assertJsonValue,
  assertValidWorkflowId,
  checkOptions,
  cloneJson,
} from '@durable/core/adapter';
import { Unwind, workflowFailedError } from './errors.js';
import type { EventResult, StepAttempt, WaitForEventOptions } from './context-api.js';
import { isWorkflowDefinition } from './definition.js';
import { wakeWorkers } from './wakes.js';
import {
  childEventName,
  handled,
  isProgrammingError,
  isRetryable,
  isUnwind,
  rejected,
  rethrow,
} from './misuse.js';
import type { StepOptions, StepPolicy } from './step-policy.js';
import {
  isNonRetryable,
  resolveStepPolicy,
  stepRetryDelay,
  stepTimeoutError,
} from './step-policy.js';
import { pause } from './timers.js';
import { observeStep } from './observe.js';

/** What a running workflow's context needs from the worker. */
export interface ContextDeps {
  store: WorkflowStore;
  clock: () => number;
  token: string;
  record: WorkflowRecord;
  /** Set when the worker is stopping: the workflow is released at its next operation. */
  stopping: AbortSignal;
  /** How long a child wait sleeps before it checks the child again (a lost wake-up is harmless). */
  childRecheckMs: number;
  /** Called with the instant a suspended workflow is due again (a hint for this worker's poll). */
  onSuspend: (runAt: number) => void;
  /** Throws `HANDLER_UNKNOWN` for a handler name this client would refuse in `start()`. */
  checkHandler: (name: string, context: string) => void;
  /** Waits between a step's retries (the client's `pause` option); resolves early on abort. */
  pause: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** The step whose retries ran out, for the stored error's details. */
export interface StepFailure {
  error: unknown;
  step: string;
  attempts: number;
}

// Far future for waits without a deadline (the largest valid Date).
const FOREVER = 8.64e15;
// Attempts to record a memo when the store fails with a retryable error, and the first pause.
const SAVE_ATTEMPTS = 3;
const SAVE_RETRY_MS = 100;

/**
 * The context of one run (a `WorkflowContext` for typed workflows, a `LidexContext` for handlers
 * by name: `start` and `child` accept both forms); the worker reads its flags when it returns.
 */
export class RunContext {
  readonly workflowId: string;
  readonly failures: number;
  /** Set once the run has been suspended or released: the handler's result is ignored. */
  unwound: Unwind | undefined;
  /** Set once the store refused a write: someone else owns the workflow now. */
  lost = false;
  /**
   * The first programming error a ctx operation met (a misuse, a result that is not JSON, a
   * changed history): the run is aborted with it even if the handler catches it, and nothing is
   * written under the claim after it, so no side effect runs again for a retry that cannot heal.
   */
  fatal: unknown;
  /** Set when the run is over: a late ctx call (a missing `await`) is refused, never run. */
  ended = false;
  /** The operation in flight (kind and id), if any. */
  current: string | undefined;
  /** performance.now() when the handler last started or finished an operation. */
  lastActive = performance.now();
  private position = 0;
  private readonly used = new Set<string>();
  private readonly history: StepMemo[];
  // The error a step's own function threw: the user's failure, never a misuse of ctx.
  private bodyError: { error: unknown } | undefined;
  // The attempts of the step being run (set by attempt(), read when its memo is written).
  private attempts = 0;
  /** The last step whose policy's attempts ran out in this run (its error is the run's, usually). */
  stepFailure: StepFailure | undefined;

  constructor(private readonly deps: ContextDeps) {
    this.workflowId = deps.record.id;
    this.failures = deps.record.failures;
    this.history = deps.record.steps.slice();
  }

  /** Positions the handler reached in this run (for the "fewer steps than recorded" check). */
  get reached(): number {
    return this.position;
  }

  step<T>(
    id: string,
    fn: (attempt: StepAttempt) => Promise<T> | T,
    options?: StepOptions,
  ): Promise<T> {
    let policy: StepPolicy;
    try {
      policy = resolveStepPolicy(options, `workflow ${this.workflowId}: step ${describe(id)}`);
    } catch (error) {
      return this.misuse(error);
    }
    return this.op(StepKind.STEP, id, async (index, memo) => {
      if (typeof fn !== 'function')
        throw new DurableError(
          ErrorCode.CONFIG,
          `workflow ${this.workflowId}: step ${JSON.stringify(id)} needs a function`,
        );
      if (memo !== undefined) return ('value' in memo ? memo.value : undefined) as T;
      let value: T;
      const observed = observeStep(this.deps.token, id, index);
      const run = observed.wrap(fn);
      for (let attempt = 1; ; attempt++) {
        this.checkStopping();
        try {
          value = await this.attempt(id, run, attempt, policy);
          break;
        } catch (error) {
          if (
            attempt > policy.retries ||
            isNonRetryable(error) ||
            isUnwind(error) ||
            this.ended ||
            this.lost
          ) {
            this.bodyError = { error };
            this.stepFailure = { error, step: id, attempts: attempt };
            observed.failed(error, attempt);
            throw error;
          }
          observed.retrying(error, attempt + 1);
        }
        // Retried in place: the worker keeps the claim (heartbeated) and the run goes on, so a
        // flaky call costs a wait, not a failed run; a stopping worker releases it after the wait.
        await this.deps.pause(stepRetryDelay(policy, attempt), this.deps.stopping);
      }
      if (value !== undefined)
        assertJsonValue(value, `workflow ${this.workflowId}: result of step ${JSON.stringify(id)}`);
      const attempts = this.attempts;
      await this.save(index, {
        id,
        kind: StepKind.STEP,
        done: true,
        at: this.deps.clock(),
        attempts,
        ...(value === undefined ? {} : { value }),
      });
      observed.done(attempts);
      return cloneJson(value);
    });
  }

  /** One attempt of a step's function, failed with `STEP_TIMEOUT` if it outlives `timeoutMs`. */
  private async attempt<T>(
    id: string,
    fn: (attempt: StepAttempt) => Promise<T> | T,
    attempt: number,
    policy: StepPolicy,
  ): Promise<T> {
    this.attempts = attempt;
    const controller = new AbortController();
    const run = Promise.resolve().then(() => fn({ attempt, signal: controller.signal }));
    const timeoutMs = policy.timeoutMs;
    if (timeoutMs === undefined) return run;
    void handled(run); // a late rejection after the timeout is nobody's business
    const timer = new AbortController();
    const timedOut = pause(timeoutMs, timer.signal).then((): never | undefined => {
      if (timer.signal.aborted) return;
      controller.abort(stepTimeoutError(this.workflowId, id, attempt, timeoutMs));
      throw controller.signal.reason;
    });
    try {
      return await Promise.race([run, timedOut as Promise<never>]);
    } finally {
      timer.abort();
    }
  }

  sleep(id: string, ms: number): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      return this.misuse(
        `sleep ${describe(id)}: ms must be a finite number >= 0, got ${describe(ms)}`,
      );
    }
    return this.sleepTo(id, () => this.deps.clock() + ms);
  }

  sleepUntil(id: string, until: Date | number): Promise<void> {
    let at: unknown;
    try {
      at = until instanceof Date ? until.getTime() : until;
    } catch {
      at = undefined; // a value that cannot even be looked at is no date
    }
    if (typeof at !== 'number' || !Number.isFinite(at))
      return this.misuse(`sleepUntil ${describe(id)}: not a valid date: ${describe(until)}`);
    const deadline = at;
    return this.sleepTo(id, () => deadline);
  }

  /** `start(definition, id, input)` (typed) or `start(id, handlerName, input)` (Lidex). */
  start(first: unknown, second: unknown, input?: unknown): Promise<boolean> {
    const [id, handler] = startArgs(first, second);
    return this.startOnce(id, handler, input, false);
  }

  /** `child(definition, id, input)` (typed) or `child(id, handlerName, input)` (Lidex). */
  child<T = unknown>(first: unknown, second: unknown, input?: unknown): Promise<T> {
    const [id, handler] = startArgs(first, second);
    return handled(this.startOnce(id, handler, input, true).then(() => this.awaitChild<T>(id)));
  }

  waitForEvent<T = unknown>(
    name: string,
    options: WaitForEventOptions = {},
  ): Promise<EventResult<T>> {
    if (typeof name !== 'string' || name.length === 0)
      return this.misuse('waitForEvent needs a non-empty event name');
    try {
      checkOptions(options, `workflow ${this.workflowId}: waitForEvent ${name}`, {
        known: ['timeoutMs'],
      });
    } catch (error) {
      return this.misuse(error);
    }
    const timeoutMs = options.timeoutMs;
    if (
      timeoutMs !== undefined &&
      (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)
    ) {
      return this.misuse(`waitForEvent ${name}: timeoutMs must be >= 0`);
    }
    // The k-th wait for a name in a run has id "name#k"; it consumes the next unconsumed event.
    let k = 0;
    while (this.used.has(key(StepKind.EVENT, `${name}#${k}`))) k++;
    return this.op(StepKind.EVENT, `${name}#${k}`, async (index, memo) => {
      if (memo?.done === true) return memo.value as EventResult<T>;
      const consumed = this.history
        .slice(0, index)
        .filter(
          (m) =>
            m.kind === StepKind.EVENT &&
            eventName(m.id) === name &&
            (m.value as EventResult | undefined)?.received === true,
        ).length;
      const self = await this.deps.store.get(this.workflowId);
      const events = self?.events ?? [];
      const match = events.filter((event) => event.name === name)[consumed];
      const now = this.deps.clock();
      const id = `${name}#${k}`;
      if (match !== undefined) {
        const value: EventResult = { received: true, payload: match.payload };
        await this.save(index, { id, kind: StepKind.EVENT, done: true, at: now, value });
        return cloneJson(value) as EventResult<T>;
      }
      const until = memo?.until ?? (timeoutMs === undefined ? undefined : now + timeoutMs);
      if (until !== undefined && now >= until) {
        await this.save(index, {
          id,
          kind: StepKind.EVENT,
          done: true,
          at: now,
          until,
          value: { received: false },
        });
        return { received: false };
      }
      return this.suspend({
        runAt: until ?? FOREVER,
        wakeOn: [name],
        knownEvents: events.length,
        ...(memo === undefined
          ? {
              step: {
                index,
                memo: {
                  id,
                  kind: StepKind.EVENT,
                  done: false,
                  at: now,
                  ...(until === undefined ? {} : { until }),
                },
              },
            }
          : {}),
      });
    });
  }

  private awaitChild<T>(id: string): Promise<T> {
    return this.op(StepKind.CHILD, id, async (index, memo) => {
      if (memo?.done === true) {
        if (memo.error !== undefined) throw workflowFailedError(id, memo.error);
        return memo.value as T;
      }
      // Our own events first, then the child: a child that finishes between the two reads has
      // its wake-up counted as new (so the suspend below is due at once), never as already seen.
      const self = await this.deps.store.get(this.workflowId);
      const child = await this.deps.store.get(id);
      const now = this.deps.clock();
      if (child?.status === WorkflowStatus.COMPLETED) {
        await this.save(index, {
          id,
          kind: StepKind.CHILD,
          done: true,
          at: now,
          ...(child.result === undefined ? {} : { value: child.result }),
        });
        return child.result as T;
      }
      if (
        child === undefined ||
        child.status === WorkflowStatus.ABORTED ||
        child.status === WorkflowStatus.CANCELLED
      ) {
        const error = child?.error ?? {
          name: 'DurableError',
          message: `child workflow ${id} does not exist`,
          code: ErrorCode.NOT_FOUND,
        };
        await this.save(index, { id, kind: StepKind.CHILD, done: true, at: now, error });
        throw workflowFailedError(id, error);
      }
      return this.suspend({
        runAt: now + this.deps.childRecheckMs,
        wakeOn: [childEventName(id)],
        knownEvents: self?.events.length ?? 0,
        ...(memo === undefined
          ? { step: { index, memo: { id, kind: StepKind.CHILD, done: false, at: now } } }
          : {}),
      });
    });
  }

  private sleepTo(id: string, deadline: () => number): Promise<void> {
    return this.op(StepKind.SLEEP, id, async (index, memo) => {
      if (memo?.done === true) return;
      const until = memo?.until ?? deadline();
      const now = this.deps.clock();
      if (now >= until) {
        // Recorded done, also when it was pending: the stored history shows the sleep is over.
        await this.save(index, { id, kind: StepKind.SLEEP, done: true, at: now, until });
        return;
      }
      await this.suspend({
        runAt: until,
        ...(memo === undefined
          ? { step: { index, memo: { id, kind: StepKind.SLEEP, done: false, at: now, until } } }
          : {}),
      });
    });
  }

  private startOnce(
    id: string,
    handler: string,
    input: unknown,
    asChild: boolean,
  ): Promise<boolean> {
    return this.op(StepKind.START, id, async (index, memo) => {
      if (memo !== undefined) return memo.value === true;
      assertValidWorkflowId(id, `workflow ${this.workflowId}: start`);
      this.deps.checkHandler(handler, `workflow ${this.workflowId}: start ${id}`);
      this.checkStopping();
      const created = await this.deps.store.insert({
        id,
        handler,
        input,
        ...(asChild ? { parentId: this.workflowId } : {}),
      });
      if (created) wakeWorkers(this.deps.store);
      await this.save(index, {
        id,
        kind: StepKind.START,
        done: true,
        at: this.deps.clock(),
        value: created,
      });
      return created;
    });
  }

  /** Claims the next position for (kind, id), checks it against the history, runs `body`. */
  private op<T>(
    kind: StepKind,
    id: string,
    body: (index: number, memo: StepMemo | undefined) => Promise<T>,
  ): Promise<T> {
    return handled(this.runOp(kind, id, body));
  }

  private async runOp<T>(
    kind: StepKind,
    id: string,
    body: (index: number, memo: StepMemo | undefined) => Promise<T>,
  ): Promise<T> {
    if (this.ended) {
      throw new DurableError(
        ErrorCode.NON_DETERMINISTIC,
        `workflow ${this.workflowId}: ${kind} ${describe(
          id,
        )} was called after the run ended: await every ctx operation`,
      );
    }
    if (this.fatal !== undefined) rethrow(this.fatal);
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- Unwind is not an Error on purpose (see errors.ts)
    if (this.unwound !== undefined) throw this.unwound;
    if (this.lost) throw lostError(this.workflowId);
    try {
      if (typeof id !== 'string' || id.length === 0) {
        throw new DurableError(
          ErrorCode.CONFIG,
          `workflow ${this.workflowId}: a ${kind} id must be a non-empty string, got ${describe(
            id,
          )}`,
        );
      }
      if (this.current !== undefined) {
        throw new DurableError(
          ErrorCode.NON_DETERMINISTIC,
          `workflow ${this.workflowId}: ${kind} ${JSON.stringify(id)} started while ${
            this.current
          } was running: await each ctx operation before the next (no Promise.all over ctx operations)`,
        );
      }
    } catch (error) {
      this.fatal ??= error;
      throw error;
    }
    const k = key(kind, id);
    const index = this.position;
    try {
      if (this.used.has(k)) {
        throw new DurableError(
          ErrorCode.NON_DETERMINISTIC,
          `workflow ${this.workflowId}: ${kind} id ${JSON.stringify(
            id,
          )} is used twice (again at position ${index}): step ids must be unique in a workflow`,
        );
      }
      const memo = this.history[index];
      if (memo !== undefined && (memo.id !== id || memo.kind !== kind)) {
        throw new DurableError(
          ErrorCode.NON_DETERMINISTIC,
          `workflow ${this.workflowId}: position ${index} was ${memo.kind} ${JSON.stringify(
            memo.id,
          )} in an earlier run but is now ${kind} ${JSON.stringify(
            id,
          )}: the handler changed shape between runs`,
          { details: { index, recorded: { kind: memo.kind, id: memo.id }, now: { kind, id } } },
        );
      }
      this.used.add(k);
      this.position++;
      this.current = `${kind} ${JSON.stringify(id)}`;
      this.lastActive = performance.now();
      return await body(index, memo);
    } catch (error) {
      const own = this.bodyError !== undefined && this.bodyError.error === error;
      this.bodyError = undefined;
      if (!own && isProgrammingError(error)) this.fatal ??= error;
      // Nothing recorded here (the step's function threw, say): the position and the id are free
      // again, so a handler that catches the error may go on or try the same step again.
      if (
        this.position === index + 1 &&
        this.history[index] === undefined &&
        this.unwound === undefined
      ) {
        this.position = index;
        this.used.delete(k);
      }
      throw error;
    } finally {
      if (this.current === `${kind} ${JSON.stringify(id)}`) this.current = undefined;
      this.lastActive = performance.now();
    }
  }

  private async save(index: number, memo: StepMemo): Promise<void> {
    if (this.fatal !== undefined) rethrow(this.fatal);
    if (this.ended) throw lostError(this.workflowId);
    // A store hiccup (a retryable error, a reply lost after the write landed) is retried here
    // rather than failing the run, which would run the step's side effect again: recording the
    // same memo twice is a success, so a retry cannot record it twice.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.guard(() =>
          this.deps.store.saveStep(this.workflowId, this.deps.token, index, memo),
        );
        break;
      } catch (error) {
        if (attempt >= SAVE_ATTEMPTS || !isRetryable(error) || this.ended || this.lost) throw error;
        await pause(SAVE_RETRY_MS * attempt, this.deps.stopping);
      }
    }
    this.history[index] = memo;
  }

  private async suspend(options: SuspendOptions): Promise<never> {
    if (this.fatal !== undefined) rethrow(this.fatal);
    if (this.ended) throw lostError(this.workflowId);
    await this.guard(() => this.deps.store.suspend(this.workflowId, this.deps.token, options));
    this.deps.onSuspend(options.runAt);
    const unwind = new Unwind('suspended');
    this.unwound = unwind;
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- Unwind is not an Error on purpose (see errors.ts)
    throw unwind;
  }

  /** Rejects with `CONFIG` (a misuse of ctx): the run is aborted with it, caught or not. */
  private misuse<T>(problem: unknown): Promise<T> {
    const error =
      typeof problem === 'string'
        ? new DurableError(ErrorCode.CONFIG, `workflow ${this.workflowId}: ${problem}`)
        : problem;
    if (!this.ended) this.fatal ??= error;
    return handled(rejected<T>(error));
  }

  private checkStopping(): void {
    if (this.deps.stopping.aborted) {
      const unwind = new Unwind('released');
      this.unwound = unwind;
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- Unwind is not an Error on purpose (see errors.ts)
      throw unwind;
    }
  }

  private async guard(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (isDurableError(error, ErrorCode.LOCK_LOST)) this.lost = true;
      throw error;
    }
  }
}

// A definition first is the typed form (workflow, id); anything else is Lidex's (id, name).
function startArgs(first: unknown, second: unknown): [string, string] {
  return (isWorkflowDefinition(first) ? [second, first.name] : [first, second]) as [string, string];
}

function key(kind: StepKind, id: string): string {
  return `${kind}\u0000${id}`;
}

function eventName(id: string): string {
  return id.slice(0, id.lastIndexOf('#'));
}

function describe(value: unknown): string {
  try {
    return typeof value === 'string'
      ? JSON.stringify(value)
      : typeof value === 'bigint'
        ? `${value}n`
        : String(value);
  } catch {
    return typeof value;
  }
}

function lostError(id: string): DurableError {
  return new DurableError(
    ErrorCode.LOCK_LOST,
    `workflow ${id}: this worker no longer holds the workflow (its lease was taken over or it was cancelled)`,
  );
}

import type { ClaimedWorkflow, StoredError, WorkflowOutcome } from '@durable/core';
import { DurableError, ErrorCode, WorkflowStatus } from '@durable/core';
import { assertJsonValue, toStoredError } from '@durable/core/adapter';
import { RunContext } from './context.js';
import { WorkflowErrorCode } from './errors.js';
import { childEventName, isDurableErrorSafe, isProgrammingError, isUnwind } from './misuse.js';
import type { ResolvedOptions } from './options.js';
import { isNonRetryableError } from './step-policy.js';
import { announceFinished, wakeWorkers } from './wakes.js';
import { observeOutcome } from './observe.js';

/**
 * How one run ended, for the worker's bookkeeping: `lost` when another worker took the workflow
 * over (or it was cancelled), `errored` when the store failed (reported to `onError`; the lease
 * lets a worker retry it later).
 */
export type RunEnd =
  | 'completed'
  | 'failed'
  | 'aborted'
  | 'suspended'
  | 'released'
  | 'lost'
  | 'errored';

/**
 * Runs one claimed workflow to its next stop: finished (completed, failed, aborted), suspended
 * (sleep, event, child) or released (the worker is stopping). Never throws: a handler's error is
 * the workflow's failure, a store failure is reported and the lease lets another worker retry.
 */
export async function runClaimed(
  options: ResolvedOptions,
  claimed: ClaimedWorkflow,
  stopping: AbortSignal,
  onSuspend: (runAt: number) => void,
): Promise<RunEnd> {
  const { store, clock } = options;
  const { record, token } = claimed;
  const ctx = new RunContext({
    store,
    clock,
    token,
    record,
    stopping,
    childRecheckMs: Math.max(1000, options.timeoutIntervalMs),
    onSuspend,
    checkHandler: (name, context) => options.checkHandler(name, context),
    pause: options.pause,
  });
  const watch = new RunWatch(options, record.id, token, ctx);
  try {
    const handler = Object.hasOwn(options.handlers, record.handler)
      ? options.handlers[record.handler]
      : undefined;
    let outcome: WorkflowOutcome;
    if (handler === undefined) {
      outcome = aborted(
        new DurableError(
          ErrorCode.HANDLER_UNKNOWN,
          `workflow ${record.id}: no handler named ${JSON.stringify(
            record.handler,
          )} is registered with this client`,
        ),
      );
    } else if (record.failures >= Math.max(1, options.maxFailures)) {
      // Expired leases count as failures too: a workflow that keeps killing its workers stops here.
      outcome = aborted(
        new DurableError(
          ErrorCode.LOCK_LOST,
          `workflow ${record.id}: failed ${record.failures} times (last: ${
            record.error?.message ?? 'unknown'
          })`,
        ),
      );
    } else {
      outcome = await execute(
        options,
        ctx,
        handler,
        record.input,
        record.steps.length,
        watch.stalled,
      );
      ctx.ended = true;
      if (ctx.unwound !== undefined) {
        if (ctx.unwound.reason === 'released') await store.release(record.id, token);
        return ctx.unwound.reason;
      }
      if (ctx.lost) return 'lost';
    }
    await store.finish(record.id, token, outcome);
    observeOutcome(token, outcome);
    if (outcome.status !== WorkflowStatus.FAILED) {
      announceFinished(store, record.id, { handler: record.handler, outcome });
      if (record.parentId !== undefined) {
        const parentId = record.parentId;
        await store.signal(parentId, childEventName(record.id), null).then(
          (delivered) => {
            if (delivered) wakeWorkers(store);
          },
          (error: unknown) => options.onError(error, parentId),
        );
      }
    }
    return outcome.status;
  } catch (error) {
    if (isDurableErrorSafe(error, ErrorCode.LOCK_LOST)) return 'lost';
    options.onError(error, record.id);
    return 'errored';
  } finally {
    ctx.ended = true;
    watch.stop();
  }
}

async function execute(
  options: ResolvedOptions,
  ctx: RunContext,
  handler: (ctx: never, input: never) => unknown,
  input: unknown,
  recorded: number,
  stalled: Promise<DurableError>,
): Promise<WorkflowOutcome> {
  let result: unknown;
  let thrown: { error: unknown } | undefined;
  // The handler runs inside a promise chain, so a synchronous throw is a rejection like any other,
  // and it is raced against the stall watch: a handler that never settles cannot hold the worker.
  const run = Promise.resolve()
    .then(() => handler(ctx as never, input as never))
    .then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
  const settled = await Promise.race([run, stalled.then((error) => ({ error, stall: true }))]);
  if ('error' in settled) thrown = { error: settled.error };
  else result = settled.value;
  if (ctx.unwound !== undefined || ctx.lost) return { status: WorkflowStatus.COMPLETED }; // not stored
  if (ctx.current !== undefined && ctx.fatal === undefined && !('stall' in settled)) {
    // Settled while an operation still runs: its result could never be recorded in order.
    ctx.fatal = new DurableError(
      ErrorCode.NON_DETERMINISTIC,
      `workflow ${ctx.workflowId}: the handler ${
        thrown === undefined ? 'returned' : 'threw'
      } while ${ctx.current} was still running: await every ctx operation`,
    );
  }
  ctx.ended = true;
  if (ctx.fatal !== undefined) return aborted(ctx.fatal);
  if (thrown !== undefined) {
    const { error } = thrown;
    if (isUnwind(error)) return { status: WorkflowStatus.COMPLETED };
    // A changed handler, a misuse or data that is not JSON will not heal by retrying; a
    // NonRetryableError says so itself.
    const stored = storedWithAttempts(ctx, error);
    if (isProgrammingError(error) || isNonRetryableError(error))
      return { status: WorkflowStatus.ABORTED, error: stored };
    const failures = ctx.failures + 1;
    if (failures >= options.maxFailures) return { status: WorkflowStatus.ABORTED, error: stored };
    const delay = options.retryIntervalMs * options.retryBackoff ** Math.min(failures - 1, 40);
    return {
      status: WorkflowStatus.FAILED,
      error: stored,
      runAt: options.clock() + Math.min(delay, 8.64e15 / 2),
    };
  }
  if (ctx.reached < recorded) {
    return aborted(
      new DurableError(
        ErrorCode.NON_DETERMINISTIC,
        `workflow ${ctx.workflowId}: returned after ${ctx.reached} operations but an earlier run recorded ${recorded}: the handler changed shape between runs`,
      ),
    );
  }
  if (result === undefined) return { status: WorkflowStatus.COMPLETED };
  try {
    assertJsonValue(result, `workflow ${ctx.workflowId}: result`);
  } catch (error) {
    return aborted(error); // a rerun replays the same steps to the same result: no retry
  }
  return { status: WorkflowStatus.COMPLETED, result };
}

// The error of a step whose retries ran out says which step and how many attempts it took.
function storedWithAttempts(ctx: RunContext, error: unknown): StoredError {
  const stored = toStoredError(error);
  const failure = ctx.stepFailure;
  if (failure === undefined || failure.error !== error) return stored;
  return {
    ...stored,
    details: { ...stored.details, step: failure.step, attempts: failure.attempts },
  };
}

function aborted(error: unknown): WorkflowOutcome {
  return { status: WorkflowStatus.ABORTED, error: toStoredError(error) };
}

/**
 * Heartbeats the claim every third of the lease, and watches the handler: one that spends a
 * whole lease outside any ctx operation (awaiting something that never settles, say) is stalled,
 * and its run fails with that cause instead of holding the worker, or the lease, forever.
 */
class RunWatch {
  readonly stalled: Promise<DurableError>;
  private timer: NodeJS.Timeout | undefined;
  private onStall: (error: DurableError) => void = () => undefined;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly id: string,
    private readonly token: string,
    private readonly ctx: RunContext,
  ) {
    this.stalled = new Promise((resolve) => (this.onStall = resolve));
    if (options.timeoutIntervalMs === 0) return;
    const every = Math.max(1, Math.floor(options.timeoutIntervalMs / 3));
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const { ctx, options } = this;
    if (ctx.lost || ctx.unwound !== undefined || ctx.ended) return;
    const idleMs = performance.now() - ctx.lastActive;
    if (ctx.current === undefined && idleMs > options.timeoutIntervalMs) {
      this.onStall(
        new DurableError(
          WorkflowErrorCode.HANDLER_STALLED,
          `workflow ${this.id}: the handler spent ${Math.round(
            idleMs,
          )} ms (more than timeoutIntervalMs, ${
            options.timeoutIntervalMs
          } ms) outside any ctx operation without settling: code outside ctx.step must be quick (put slow or external work in a step)`,
          { retryable: true },
        ),
      );
      return;
    }
    // A store that throws synchronously is caught as well as one that rejects.
    Promise.resolve()
      .then(() => options.store.heartbeat(this.id, this.token, options.timeoutIntervalMs))
      .catch((error: unknown) => {
        if (isDurableErrorSafe(error, ErrorCode.LOCK_LOST)) ctx.lost = true;
        else options.onError(error, this.id);
      });
  }
}

import type { ClaimedWorkflow, WorkflowOutcome } from '@durable/core';
import { DurableError, ErrorCode, WorkflowStatus, assertJsonValue, isDurableError, toStoredError } from '@durable/core';
import { RunContext } from './context.js';
import { Unwind } from './errors.js';
import type { ResolvedOptions } from './options.js';

/**
 * How one run ended, for the worker's bookkeeping: `lost` when another worker took the workflow
 * over (or it was cancelled), `errored` when the store failed (reported to `onError`; the lease
 * lets a worker retry it later).
 */
export type RunEnd = 'completed' | 'failed' | 'aborted' | 'suspended' | 'released' | 'lost' | 'errored';

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
  });
  const heartbeat = startHeartbeat(options, record.id, token, ctx);
  try {
    const handler = Object.hasOwn(options.handlers, record.handler) ? options.handlers[record.handler] : undefined;
    let outcome: WorkflowOutcome;
    if (handler === undefined) {
      outcome = aborted(new DurableError(ErrorCode.HANDLER_UNKNOWN, `workflow ${record.id}: no handler named ${JSON.stringify(record.handler)} is registered with this client`));
    } else if (record.failures >= Math.max(1, options.maxFailures)) {
      // Expired leases count as failures too: a workflow that keeps killing its workers stops here.
      outcome = aborted(new DurableError(ErrorCode.LOCK_LOST, `workflow ${record.id}: failed ${record.failures} times (last: ${record.error?.message ?? 'unknown'})`));
    } else {
      outcome = await execute(options, ctx, handler, record.input, record.steps.length);
      if (ctx.unwound !== undefined) {
        if (ctx.unwound.reason === 'released') await store.release(record.id, token);
        return ctx.unwound.reason;
      }
      if (ctx.lost) return 'lost';
    }
    await store.finish(record.id, token, outcome);
    if (outcome.status !== WorkflowStatus.FAILED && record.parentId !== undefined) {
      await store.signal(record.parentId, `$child:${record.id}`, null).catch((error: unknown) => options.onError(error, record.parentId));
    }
    return outcome.status;
  } catch (error) {
    if (isDurableError(error, ErrorCode.LOCK_LOST)) return 'lost';
    options.onError(error, record.id);
    return 'errored';
  } finally {
    clearInterval(heartbeat);
  }
}

async function execute(
  options: ResolvedOptions,
  ctx: RunContext,
  handler: (ctx: RunContext, input: never) => unknown,
  input: unknown,
  recorded: number,
): Promise<WorkflowOutcome> {
  try {
    const result = await handler(ctx, input as never);
    if (ctx.unwound !== undefined || ctx.lost) return { status: WorkflowStatus.COMPLETED };
    if (ctx.reached < recorded) {
      throw new DurableError(ErrorCode.NON_DETERMINISTIC, `workflow ${ctx.workflowId}: returned after ${ctx.reached} operations but an earlier run recorded ${recorded}: the handler changed shape between runs`);
    }
    if (result !== undefined) {
      try {
        assertJsonValue(result, `workflow ${ctx.workflowId}: result`);
      } catch (error) {
        return aborted(error); // a rerun replays the same steps to the same result: no retry
      }
    }
    return result === undefined ? { status: WorkflowStatus.COMPLETED } : { status: WorkflowStatus.COMPLETED, result };
  } catch (error) {
    if (error instanceof Unwind || ctx.unwound !== undefined || ctx.lost) return { status: WorkflowStatus.COMPLETED };
    // A changed handler or a missing one will not heal by retrying.
    if (isDurableError(error, ErrorCode.NON_DETERMINISTIC)) return aborted(error);
    const failures = ctx.failures + 1;
    if (failures >= options.maxFailures) return aborted(error);
    const delay = options.retryIntervalMs * options.retryBackoff ** Math.min(failures - 1, 40);
    return { status: WorkflowStatus.FAILED, error: toStoredError(error), runAt: options.clock() + Math.min(delay, 8.64e15 / 2) };
  }
}

function aborted(error: unknown): WorkflowOutcome {
  return { status: WorkflowStatus.ABORTED, error: toStoredError(error) };
}

function startHeartbeat(options: ResolvedOptions, id: string, token: string, ctx: RunContext): NodeJS.Timeout | undefined {
  if (options.timeoutIntervalMs === 0) return undefined;
  const every = Math.max(1, Math.floor(options.timeoutIntervalMs / 3));
  const timer = setInterval(() => {
    if (ctx.lost || ctx.unwound !== undefined) return;
    options.store.heartbeat(id, token, options.timeoutIntervalMs).catch((error: unknown) => {
      if (isDurableError(error, ErrorCode.LOCK_LOST)) ctx.lost = true;
      else options.onError(error, id);
    });
  }, every);
  timer.unref();
  return timer;
}

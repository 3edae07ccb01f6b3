import type { AnyStateMachine } from 'xstate';
import type { DurableLogger } from '../actor/logger.js';
import { consoleLogger, reportAfterCommit } from '../actor/logger.js';
import { DurableError, ErrorCode } from '../errors.js';
import { describeValue } from '../lock-options.js';
import { checkOptions } from '../option-checks.js';
import type { StorageManager } from '../storage.js';
import { onTimerIndexed, timerIndexPrefix } from './due-index.js';
import type { OrchestrateCloudEventsOptions } from './orchestrate-options.js';
import { resolveOrchestration } from './orchestrate-options.js';
import type { FireDueTimersOptions, TimerRunResult } from './timer-run.js';
import { fireDueTimers } from './timer-run.js';

/** Options of {@link startTimerWorker}, beside those of each {@link fireDueTimers} run. */
export interface TimerWorkerOptions extends FireDueTimersOptions {
  /**
   * Longest sleep between runs: how late a timer indexed by another process can be found when
   * the storage cannot notify (or a notification was missed). A timer indexed in this process,
   * one the last run saw coming, or (where the storage declares `capabilities.watch`) a write to
   * the due index by any process wakes the worker sooner. @default 1000
   */
  pollIntervalMs?: number;
  /** After every run (for metrics and tests); a throw goes to the logger. */
  onRun?: (result: TimerRunResult) => void;
  /** A run that failed (the storage was unreachable); the worker goes on. @default the orchestrator's logger */
  onError?: (error: unknown) => void;
}

/** A running timer worker. */
export interface TimerWorker {
  /** Runs now instead of at the next wake-up. */
  wake(): void;
  /** Stops after the run in progress (if any); resolves once it has ended. */
  stop(): Promise<void>;
}

const WORKER_OPTIONS = ['maxMs', 'limit', 'publish', 'pollIntervalMs', 'onRun', 'onError'] as const;

/**
 * Runs {@link fireDueTimers} in a loop in a long-running process: at once, then at the next
 * known deadline or after `pollIntervalMs`, whichever comes first. Orchestrations saved in this
 * process wake it early for a sooner timer; where the storage can watch (`capabilities.watch`),
 * a write to the due index by another process makes it look again soon (coalesced: writes
 * during a run cause one more run). A wake-up only makes it look: what fires is decided by the
 * run, under each process's lease and compare-and-swap, so nothing fires early or twice because
 * of one, and polling finds what a missed notification would have told. Several workers on one
 * store are safe: each process is handled under its lease and each timer fires once.
 */
export function startTimerWorker<TLogic extends AnyStateMachine = AnyStateMachine>(
  options: OrchestrateCloudEventsOptions<TLogic>,
  worker: TimerWorkerOptions = {},
): TimerWorker {
  const config = resolveOrchestration(options as unknown as OrchestrateCloudEventsOptions);
  checkOptions(worker, 'orchestrator: startTimerWorker', { known: WORKER_OPTIONS });
  const pollMs = worker.pollIntervalMs ?? 1000;
  if (typeof pollMs !== 'number' || !Number.isFinite(pollMs) || pollMs < 0) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `orchestrator: startTimerWorker pollIntervalMs must be a number >= 0, got ${describeValue(
        worker.pollIntervalMs,
      )}`,
    );
  }
  const { pollIntervalMs: _poll, onRun, onError, ...run } = worker;
  const logger = config.options.logger ?? consoleLogger;
  let stopped = false;
  let wakeAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let wakeUp: (() => void) | undefined;
  // The soonest deadline indexed in this process since the current run began listing.
  let heard = Number.POSITIVE_INFINITY;

  const sleepUntil = (at: number): Promise<void> =>
    new Promise((resolve) => {
      wakeAt = at;
      wakeUp = resolve;
      timer = setTimeout(resolve, Math.max(0, at - config.clock()));
    });
  const wake = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    wakeUp?.();
  };
  // Set by a write to the due index (any process): the run in progress, or the sleep, may have
  // missed it, so the worker looks again at once. The whole index is watched, markers included:
  // an entry is written before its markers and a run finds it through them, so the write that
  // makes it findable is the last one of the three, and it is heard too.
  let changed = false;
  const unwatch = watchIndex(
    config.options.storage,
    timerIndexPrefix(config.prefix),
    () => {
      changed = true;
      if (wakeUp !== undefined) wake();
    },
    logger,
  );
  const unlisten = onTimerIndexed(config.options.storage, (deadline) => {
    heard = Math.min(heard, deadline);
    if (wakeUp === undefined || deadline >= wakeAt) return;
    if (timer !== undefined) clearTimeout(timer);
    wakeAt = deadline;
    timer = setTimeout(wake, Math.max(0, deadline - config.clock()));
  });

  const loop = async (): Promise<void> => {
    while (!stopped) {
      let next = config.clock() + pollMs;
      heard = Number.POSITIVE_INFINITY;
      changed = false;
      try {
        const result = await fireDueTimers(options, run);
        if (result.more) next = config.clock();
        else if (result.nextDeadline !== undefined) next = Math.min(next, result.nextDeadline);
        try {
          onRun?.(result);
        } catch (error) {
          reportAfterCommit(logger, 'orchestrator: the timer worker onRun failed', error, {});
        }
      } catch (error) {
        try {
          if (onError === undefined) throw error;
          onError(error);
        } catch (reported) {
          reportAfterCommit(
            logger,
            'orchestrator: a timer run failed (the worker tries again)',
            reported,
            {},
          );
        }
      }
      if (stopped) break;
      if (changed) next = config.clock();
      await sleepUntil(Math.min(next, heard));
      wakeUp = undefined;
    }
  };
  const done = loop();
  return {
    wake,
    async stop(): Promise<void> {
      stopped = true;
      unlisten();
      unwatch();
      wake();
      await done;
    },
  };
}

// Subscribes to writes under the due index where the storage declares it can watch; a storage
// that cannot (or whose watch fails to start) leaves the worker to its polling.
function watchIndex(
  storage: StorageManager,
  prefix: string,
  onChange: () => void,
  logger: DurableLogger,
): () => void {
  if (storage.capabilities.watch !== true || typeof storage.watch !== 'function') return () => {};
  try {
    return storage.watch(prefix, onChange);
  } catch (error) {
    reportAfterCommit(
      logger,
      'orchestrator: the timer worker could not watch the due index (it polls instead)',
      error,
      { prefix },
    );
    return () => {};
  }
}

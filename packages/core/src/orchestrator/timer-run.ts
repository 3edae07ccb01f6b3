import type { AnyStateMachine } from 'xstate';
import type { DurableLogger } from '../actor/logger.js';
import { consoleLogger, reportAfterCommit } from '../actor/logger.js';
import { DurableError, ErrorCode, toBackendError } from '../errors.js';
import { describeValue } from '../lock-options.js';
import { checkOptions } from '../option-checks.js';
import { mapBounded } from './bounded.js';
import type { DurableCloudEvent } from './cloudevent.js';
import { scanDue } from './due-scan.js';
import { errorEvent } from './error-events.js';
import type { Group, GroupOutcome } from './group-run.js';
import type { OrchestrateCloudEventsOptions, ProcessState } from './orchestrate-options.js';
import { resolveOrchestration } from './orchestrate-options.js';
import { BatchRun } from './orchestrate.js';

/** Publishes the events a timer run produced for one process; a throw keeps its timers for the next run. */
export type TimerPublish = (
  events: readonly DurableCloudEvent[],
  subject: string,
) => void | Promise<void>;

/** Options of one {@link fireDueTimers} run. */
export interface FireDueTimersOptions {
  /**
   * Stop taking up more due timers after this long (those left wait for the next run; a process
   * already started is finished). @default 30000
   */
  maxMs?: number;
  /** Most due-index entries taken up in one run. @default 1000 */
  limit?: number;
  /**
   * Called for each process after its save, still under its lease, with the events its timers
   * produced; its index entries are removed only once it returns, so a crash or a throw before
   * that makes a later run publish the same events (same ids) again. Without it the events are
   * only returned, and a crash before you publish them loses them.
   */
  publish?: TimerPublish;
}

/** What {@link fireDueTimers} returns. */
export interface TimerRunResult {
  /** `cmd.*`/`notif.*` events the fired timers produced (or re-emitted after a crash), per process in order. */
  eventsToEmit: DurableCloudEvent[];
  /** One `sys.orchestrator.error` event per timer that could not be delivered (it stays due). */
  errors: DurableCloudEvent[];
  /** Timers delivered by this run. */
  fired: number;
  /** State of every process the run touched, by subject. */
  processes: Record<string, ProcessState>;
  /** Deadline of the soonest timer not yet due, when the run saw one (when to run next). */
  nextDeadline?: number;
  /** True when due timers were left for the next run (`limit` or `maxMs` reached). */
  more: boolean;
}

const RUN_OPTIONS = ['maxMs', 'limit', 'publish'] as const;

/**
 * Delivers every timer that is due across all orchestrations of the store (the `after` delays and
 * delayed self-sends their machines had pending when saved), under the same per-subject lease
 * and compare-and-swap as {@link orchestrateCloudEvents}. What a scheduled function calls every
 * minute, or {@link startTimerWorker} in a long-running process. A timer fires once: its
 * firing is saved with its transition; a run that crashed after the save emits the same events
 * with the same ids. Timers of processes that left the waiting state, finished or were deleted
 * do nothing. A process whose machine version is no longer registered gets a `VERSION_UNKNOWN`
 * error event and keeps its timers until the version is registered again.
 */
export async function fireDueTimers<TLogic extends AnyStateMachine = AnyStateMachine>(
  options: OrchestrateCloudEventsOptions<TLogic>,
  run: FireDueTimersOptions = {},
): Promise<TimerRunResult> {
  const config = resolveOrchestration(options as unknown as OrchestrateCloudEventsOptions);
  checkOptions(run, 'orchestrator: fireDueTimers', { known: RUN_OPTIONS });
  const maxMs = nonNegative(run.maxMs, 30_000, 'maxMs');
  const limit = nonNegative(run.limit, 1000, 'limit');
  if (run.publish !== undefined && typeof run.publish !== 'function') {
    throw new DurableError(
      ErrorCode.CONFIG,
      `orchestrator: fireDueTimers publish must be a function, got ${describeValue(run.publish)}`,
    );
  }
  const started = performance.now();
  const now = config.clock();
  const { entries, nextDeadline, more } = await scanDue(
    config.options.storage,
    config.prefix,
    now,
    limit,
    () => performance.now() - started > maxMs,
  );
  const groups = new Map<string, Group>();
  entries.forEach((timer, position) => {
    let group = groups.get(timer.subject);
    if (group === undefined)
      groups.set(
        timer.subject,
        (group = { subject: timer.subject, starts: [], events: [], timers: [] }),
      );
    group.timers.push({ kind: 'timer', timer, position });
  });
  const logger = config.options.logger ?? consoleLogger;
  const batch = new BatchRun(config);
  const list = [...groups.values()];
  const outcomes = await mapBounded(list, config.concurrency, (group) =>
    batch.runGroup(group, {
      before: (whole) => stillIndexed(config.options.storage, whole),
      after: (applied, outcome) =>
        afterSave(
          config.options.storage,
          config.source,
          config.clock,
          logger,
          applied,
          outcome,
          run.publish,
        ),
    }),
  );
  const result: TimerRunResult = { eventsToEmit: [], errors: [], fired: 0, processes: {}, more };
  if (nextDeadline !== undefined) result.nextDeadline = nextDeadline;
  for (const [index, group] of list.entries()) {
    const outcome = outcomes[index] as GroupOutcome;
    result.eventsToEmit.push(...outcome.emitted);
    result.errors.push(...outcome.errors);
    result.fired += outcome.fired;
    if (outcome.state !== undefined) result.processes[group.subject] = outcome.state;
  }
  return result;
}

// Under the lease: an entry another run removed meanwhile was handled there (its events
// published); taking it up again would publish them twice.
async function stillIndexed(
  storage: OrchestrateCloudEventsOptions['storage'],
  group: Group,
): Promise<Group> {
  const timers: Group['timers'] = [];
  for (const input of group.timers) {
    try {
      if (await storage.exists(input.timer.key)) timers.push(input);
    } catch (error) {
      throw toBackendError(
        error,
        `orchestrator: reading the due-index entry ${input.timer.key} failed`,
      );
    }
  }
  return { ...group, timers };
}

// Saved: publish, then remove spent entries. Nothing here may fail the run (commit first): a
// publish that throws keeps the entries (the next run publishes the same events again) and is
// reported as error events; an entry that cannot be removed is retried by the next run.
async function afterSave(
  storage: OrchestrateCloudEventsOptions['storage'],
  source: string,
  clock: () => number,
  logger: DurableLogger,
  group: Group,
  outcome: GroupOutcome,
  publish: TimerPublish | undefined,
): Promise<void> {
  if (publish !== undefined && outcome.emitted.length > 0) {
    try {
      await publish(outcome.emitted, group.subject);
    } catch (error) {
      const failed = toBackendError(
        error,
        `orchestrator: publishing the timer events of ${group.subject} failed (a later run publishes them again)`,
        { retryable: true },
      );
      for (const input of group.timers)
        outcome.errors.push(errorEvent(source, clock, input, failed));
      outcome.emitted = [];
      return;
    }
  }
  for (const timer of outcome.spent) {
    try {
      await storage.delete(timer.key);
    } catch (error) {
      reportAfterCommit(
        logger,
        `orchestrator: removing the spent due-index entry ${timer.key} failed (a later run removes it)`,
        error,
        { key: timer.key },
      );
    }
  }
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isFinite(resolved) || resolved < 0) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `orchestrator: fireDueTimers ${name} must be a number >= 0, got ${describeValue(value)}`,
      { details: { option: name } },
    );
  }
  return resolved;
}

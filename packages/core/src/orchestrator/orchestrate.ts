import type { AnyStateMachine } from 'xstate';
import { LockingMode, acquireLease } from '../actor/locking.js';
import type { DurableLogger } from '../actor/logger.js';
import { consoleLogger, reportAfterCommit } from '../actor/logger.js';
import { DurableError, ErrorCode, isDurableError, toBackendError } from '../errors.js';
import { keyProblem } from '../keys.js';
import type { Lease, LockManager } from '../lock.js';
import { checkOptions } from '../option-checks.js';
import { mapBounded } from './bounded.js';
import { assertInputType } from './cloud-orchestration-actor.js';
import type { DurableCloudEvent } from './cloudevent.js';
import { assertCloudEvent } from './cloudevent.js';
import type { Input } from './error-events.js';
import { errorEvent } from './error-events.js';
import type { Group, GroupOutcome } from './group-run.js';
import { applyGroup, groupInputs } from './group-run.js';
import type {
  OrchestrateCloudEventsOptions,
  OrchestrationConfig,
  OrchestrationResult,
  OrchestrationStart,
} from './orchestrate-options.js';
import { resolveOrchestration } from './orchestrate-options.js';
import { loadTelemetry, logEvent, startSpan } from '../telemetry.js';

/**
 * Applies a batch of CloudEvents (and process starts) to their processes: grouped by subject,
 * one lease per subject, subjects in parallel up to `concurrency`. Each process is saved once,
 * together with the events it produced; a bad input yields an error event and never stops the
 * rest. Once a process is saved, its inputs are reported applied whatever fails afterwards (a
 * lease release, `onSnapshot`): that goes to the logger.
 */
export async function orchestrateCloudEvents<TLogic extends AnyStateMachine = AnyStateMachine>(
  options: OrchestrateCloudEventsOptions<TLogic>,
  events: readonly unknown[],
  starts: NoInfer<readonly OrchestrationStart<TLogic>[]> = [],
): Promise<OrchestrationResult<TLogic>> {
  // The run itself handles any machine; the caller's types were checked at this call.
  const run = new BatchRun(
    resolveOrchestration(options as unknown as OrchestrateCloudEventsOptions),
  );
  await loadTelemetry();
  const counts = {
    events: Array.isArray(events) ? events.length : 0,
    starts: Array.isArray(starts) ? starts.length : 0,
  };
  const batch = startSpan('durable.orchestrator.batch', {
    'durable.orchestrator.events': counts.events,
    'durable.orchestrator.starts': counts.starts,
  });
  let result: OrchestrationResult;
  try {
    result = await batch.run(() => run.execute(events, starts));
  } catch (error) {
    batch.end('failed', error);
    throw error;
  }
  batch.set({
    'durable.orchestrator.emitted': result.eventsToEmit.length,
    'durable.orchestrator.errors': result.errors.length,
  });
  batch.end(result.errors.length === 0 ? 'ok' : 'errors');
  const { logger } = options;
  logEvent(
    logger,
    'info',
    {
      ...counts,
      emitted: result.eventsToEmit.length,
      errors: result.errors.length,
      notAccepted: result.notAccepted.length,
    },
    'orchestrator: batch',
  );
  if (logger?.debug !== undefined) {
    for (const event of result.eventsToEmit)
      logEvent(
        logger,
        'debug',
        { subject: event.subject, eventId: event.id, type: event.type },
        `orchestrator: emitted ${event.type}`,
      );
  }
  return result as OrchestrationResult<TLogic>;
}

/** @internal What a timer run does under a subject's lease, around the shared group run. */
export interface GroupHooks {
  /** Narrows the group before it is applied (drops index entries another run already handled). */
  before(group: Group): Promise<Group>;
  /** After the save, still under the lease: publish, then remove spent index entries. */
  after(group: Group, outcome: GroupOutcome): Promise<void>;
}

/** @internal Runs subjects' groups: one lease per subject, conflict retries, commit first. */
export class BatchRun {
  private readonly config: OrchestrationConfig;
  private readonly logger: DurableLogger;

  constructor(config: OrchestrationConfig) {
    this.config = config;
    this.logger = config.options.logger ?? consoleLogger;
  }

  async execute(
    events: readonly unknown[],
    starts: readonly OrchestrationStart[],
  ): Promise<OrchestrationResult> {
    if (!isList(events) || !isList(starts)) {
      throw new DurableError(ErrorCode.CONFIG, 'orchestrator: events and starts must be arrays');
    }
    const { source, clock } = this.config;
    const errors: DurableCloudEvent[] = [];
    const groups = new Map<string, Group>();
    const groupOf = (subject: string): Group => {
      let group = groups.get(subject);
      if (group === undefined)
        groups.set(subject, (group = { subject, starts: [], events: [], timers: [] }));
      return group;
    };
    starts.forEach((start, position) => {
      const input = { kind: 'start' as const, start, position };
      const problem = this.startProblem(start);
      if (problem !== undefined) errors.push(errorEvent(source, clock, input, problem));
      else groupOf(start.subject).starts.push(input);
    });
    events.forEach((event, position) => {
      const input = { kind: 'event' as const, event: event as DurableCloudEvent, position };
      try {
        groupOf(this.subjectOf(event)).events.push(input);
      } catch (error) {
        errors.push(errorEvent(source, clock, input, error));
      }
    });
    const list = [...groups.values()];
    const outcomes = await mapBounded(list, this.config.concurrency, (group) =>
      this.runGroup(group),
    );
    const result: OrchestrationResult = {
      eventsToEmit: [],
      errors,
      notAccepted: [],
      processIdContext: {},
      processes: {},
    };
    for (const [index, group] of list.entries()) {
      const outcome = outcomes[index] as GroupOutcome;
      result.eventsToEmit.push(...outcome.emitted);
      result.errors.push(...outcome.errors);
      result.notAccepted.push(...outcome.notAccepted);
      if (outcome.state !== undefined) {
        result.processes[group.subject] = outcome.state;
        result.processIdContext[group.subject] = outcome.context;
      }
    }
    this.logNotAccepted(result);
    return result;
  }

  private subjectOf(event: unknown): string {
    assertCloudEvent(event, 'orchestrator');
    const subject = event.subject;
    if (subject === undefined) {
      throw new DurableError(
        ErrorCode.INVALID_EVENT,
        `orchestrator: event ${event.id} has no subject (the process id)`,
      );
    }
    assertInputType(event);
    const problem = keyProblem(subject) ?? keyProblem(this.keyOf(subject));
    if (problem !== undefined) {
      throw new DurableError(
        ErrorCode.INVALID_EVENT,
        `orchestrator: subject ${JSON.stringify(subject)} cannot name a process (key ${
          this.config.prefix
        }/...): ${problem}`,
      );
    }
    return subject;
  }

  private keyOf(subject: string): string {
    return `${this.config.prefix}/${subject}`;
  }

  private startProblem(start: OrchestrationStart): DurableError | undefined {
    try {
      checkOptions(start, 'orchestrator: start', {
        known: ['subject', 'input', 'version'],
        required: ['subject'],
        renamed: {
          context: 'input (the machine input: context: ({ input }) => ...)',
          processId: 'subject',
        },
      });
    } catch (error) {
      return error as DurableError;
    }
    const problem = keyProblem(start.subject) ?? keyProblem(this.keyOf(start.subject));
    if (problem !== undefined) {
      return new DurableError(
        ErrorCode.INVALID_EVENT,
        `orchestrator: start subject ${JSON.stringify(
          start.subject,
        )} cannot name a process: ${problem}`,
      );
    }
    if (start.version !== undefined && !this.config.versions.has(start.version)) {
      return new DurableError(
        ErrorCode.VERSION_UNKNOWN,
        `orchestrator: start of ${start.subject} names unknown machine version ${String(
          start.version,
        )}`,
      );
    }
    return undefined;
  }

  /** Runs one subject's group under its lease; never throws: failures become error events. */
  async runGroup(group: Group, hooks?: GroupHooks): Promise<GroupOutcome> {
    const key = this.keyOf(group.subject);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attemptGroup(group, key, hooks);
      } catch (error) {
        // A conflict means another writer got in between our read and our write: redo the
        // whole group on the newer state (inputs it already applied are then redeliveries).
        if (isDurableError(error, ErrorCode.CONFLICT) && attempt < this.config.maxConflictRetries)
          continue;
        const wrapped = toBackendError(error, `orchestrator: processing ${key} failed`);
        const failed = groupInputs(group).map((input: Input) =>
          errorEvent(this.config.source, this.config.clock, input, wrapped),
        );
        return { emitted: [], errors: failed, notAccepted: [], fired: 0, spent: [] };
      }
    }
  }

  private async attemptGroup(
    group: Group,
    key: string,
    hooks: GroupHooks | undefined,
  ): Promise<GroupOutcome> {
    let lease: Lease | undefined;
    if (this.config.locking === LockingMode.READ_WRITE) {
      lease = await acquireLease(
        this.config.options.lock as LockManager,
        key,
        this.config.lease,
        'orchestrator',
      );
    }
    let outcome: GroupOutcome;
    let applied = group;
    try {
      if (hooks !== undefined) applied = await hooks.before(group);
      outcome = await applyGroup(this.config, applied, key);
    } catch (error) {
      await this.release(lease, key);
      throw error;
    }
    // Saved: from here on nothing may turn the group into a failure (commit first, then report).
    if (hooks !== undefined) await hooks.after(applied, outcome);
    await this.release(lease, key);
    await this.notifySnapshot(group.subject, outcome);
    return outcome;
  }

  private async release(lease: Lease | undefined, key: string): Promise<void> {
    if (lease === undefined) return;
    try {
      await lease.release();
    } catch (error) {
      reportAfterCommit(
        this.logger,
        `orchestrator: releasing the lease on ${key} failed (it expires by itself)`,
        error,
        { key },
      );
    }
  }

  private async notifySnapshot(subject: string, outcome: GroupOutcome): Promise<void> {
    const { onSnapshot } = this.config.options;
    if (
      onSnapshot === undefined ||
      outcome.lastSnapshot === undefined ||
      outcome.state === undefined
    )
      return;
    try {
      await onSnapshot(subject, outcome.lastSnapshot, outcome.state);
    } catch (error) {
      reportAfterCommit(
        this.logger,
        `orchestrator: onSnapshot failed for ${subject} (the process was saved)`,
        error,
        { subject },
      );
    }
  }

  private logNotAccepted(result: OrchestrationResult): void {
    const { logger } = this.config.options;
    if (logger === undefined) return;
    for (const event of result.notAccepted) {
      try {
        logger.warn(
          { ...event },
          `orchestrator: ${event.type} ${event.id} is not accepted by ${
            event.subject
          } in state ${event.states.join(', ')} (${
            event.status
          }); not applied, a redelivery is evaluated again`,
        );
      } catch {
        // A failing logger must not fail a batch whose processes were saved.
      }
    }
  }
}

// Not a type guard: Array.isArray would narrow `starts` to any[] and lose its element type.
function isList(value: unknown): boolean {
  return Array.isArray(value);
}

import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { LockingMode, leaseOptions, resolveLocking } from '../actor/locking.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { DurableError, ErrorCode, isDurableError, toBackendError } from '../errors.js';
import { assertValidKey, keyProblem } from '../keys.js';
import type { Lease, LockManager } from '../lock.js';
import type { StorageManager } from '../storage.js';
import { mapBounded } from './bounded.js';
import type { DurableCloudEvent } from './cloudevent.js';
import { assertCloudEvent, cloudEventProblem, createCloudEvent, deterministicEventId, eventFacts } from './cloudevent.js';
import type { CloudEventMiddleware, OrchestrationMiddleware } from './cloud-orchestration-actor.js';
import { CloudOrchestrationActor } from './cloud-orchestration-actor.js';
import { OrchestratorErrorCode } from './errors.js';
import type { ProcessRecord } from './process-record.js';
import { START_KEY, decodeProcessRecord, encodeProcessRecord, trimWindow } from './process-record.js';

/** Type of the CloudEvent reported for an input that failed. */
export const ORCHESTRATION_ERROR_TYPE = 'sys.orchestrator.error';

/** One registered version of the orchestration machine. */
export interface OrchestrationVersion<TLogic extends AnyStateMachine = AnyStateMachine> {
  /** Version label stored with every process that starts on it (for life). */
  version: string;
  /** The machine. */
  logic: TLogic;
}

/** A request to start a process; idempotent (create-if-absent). */
export interface OrchestrationStart {
  /** The new process id; later events carry it as `subject`. */
  subject: string;
  /** The machine's input (`context: ({ input }) => ...`). */
  input?: unknown;
  /** Version to start on. @default the newest (last) of `versions` */
  version?: string;
}

/** Facts about one process after a batch. */
export interface ProcessState {
  /** The pinned machine version. */
  version: string;
  /** xstate state value. */
  value: AnyMachineSnapshot['value'];
  /** xstate status: `active`, `done`, ... */
  status: string;
  /** Transitions applied so far. */
  sequence: number;
}

/** Called after a process's snapshot was saved. */
export type OnSnapshot = (subject: string, snapshot: AnyMachineSnapshot, state: ProcessState) => void | Promise<void>;

/** Options for {@link orchestrateCloudEvents}. */
export interface OrchestrateCloudEventsOptions {
  /** Registered machine versions, oldest first: the last one serves new starts. */
  versions: readonly OrchestrationVersion[];
  /** Where processes live (one key per process). */
  storage: StorageManager;
  /** Serialises work on one process; required for `read-write`. */
  lock?: LockManager;
  /**
   * `read-write`: one lease per subject for the whole group. `write`: no lease; each save is
   * conditional on the version read and a conflict re-runs the group.
   * @default "read-write" when a lock is given, "write" otherwise
   */
  locking?: LockingMode;
  /** `source` of emitted and error events. @default "durable.orchestrator" */
  source?: string;
  /** Storage (and lock) key prefix of processes. @default "orchestrations" */
  keyPrefix?: string;
  /** Subjects processed at the same time. @default 4 */
  concurrency?: number;
  /** Wait for a subject's lease before reporting `LOCK_TIMEOUT`. @default 10000 */
  acquireLockMaxTimeout?: number;
  /** Lease duration. @default 30000 */
  lockTtlMs?: number;
  /**
   * Applied inputs remembered per process (with the events each produced) for redelivery; older
   * ones are forgotten, so the stored process stays small. @default 200
   */
  redeliveryWindow?: number;
  /** Re-runs of a subject's group after a save `CONFLICT`. @default 5 */
  maxConflictRetries?: number;
  /** Time source for events whose trigger has no `time`. @default Date.now */
  clock?: Clock;
  /** CloudEvent type → transform into the machine event (the `cloudevent` middleware). */
  onCloudEvent?: Readonly<Record<string, CloudEventMiddleware>>;
  /** State path → CloudEvents to emit on entry (the `orchestration` middleware). */
  onOrchestrationState?: Readonly<Record<string, OrchestrationMiddleware>>;
  /** Called after each process touched by the batch was saved. */
  onSnapshot?: OnSnapshot;
}

/** What {@link orchestrateCloudEvents} returns. */
export interface OrchestrationResult {
  /** `cmd.*` and `notif.*` CloudEvents to publish, in input order per subject. */
  eventsToEmit: DurableCloudEvent[];
  /** One {@link ORCHESTRATION_ERROR_TYPE} CloudEvent per input (event or start) that failed. */
  errors: DurableCloudEvent[];
  /** Context of every process the batch touched, by subject. */
  processIdContext: Record<string, unknown>;
  /** Version, state value and status of every process the batch touched, by subject. */
  processes: Record<string, ProcessState>;
}

interface Group {
  subject: string;
  starts: OrchestrationStart[];
  events: DurableCloudEvent[];
}

interface GroupOutcome {
  emitted: DurableCloudEvent[];
  errors: DurableCloudEvent[];
  context?: unknown;
  state?: ProcessState;
}

type Input = { kind: 'event'; event: DurableCloudEvent } | { kind: 'start'; start: OrchestrationStart };

/**
 * Applies a batch of CloudEvents (and process starts) to their processes: grouped by subject,
 * one lease per subject, subjects in parallel up to `concurrency`. Each process is saved once,
 * together with the events it produced; a bad input yields an error event and never stops the rest.
 */
export async function orchestrateCloudEvents(
  options: OrchestrateCloudEventsOptions,
  events: readonly unknown[],
  starts: readonly OrchestrationStart[] = [],
): Promise<OrchestrationResult> {
  const run = new BatchRun(options);
  return run.execute(events, starts);
}

class BatchRun {
  private readonly options: OrchestrateCloudEventsOptions;
  private readonly versions: Map<string, AnyStateMachine>;
  private readonly newest: string;
  private readonly locking: LockingMode;
  private readonly source: string;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly concurrency: number;
  private readonly redeliveryWindow: number;

  constructor(options: OrchestrateCloudEventsOptions) {
    this.options = options;
    if (!Array.isArray(options.versions) || options.versions.length === 0) {
      throw new DurableError(ErrorCode.CONFIG, 'orchestrator: at least one machine version is needed');
    }
    this.versions = new Map();
    for (const entry of options.versions) {
      if (typeof entry.version !== 'string' || entry.version.length === 0 || this.versions.has(entry.version)) {
        throw new DurableError(ErrorCode.CONFIG, `orchestrator: machine versions must be distinct non-empty strings (${String(entry.version)})`);
      }
      this.versions.set(entry.version, entry.logic);
    }
    this.newest = (options.versions[options.versions.length - 1] as OrchestrationVersion).version;
    this.locking = resolveLocking(options.locking, options.lock !== undefined, 'orchestrator');
    this.concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new DurableError(ErrorCode.CONFIG, `orchestrator: concurrency must be a positive integer, got ${String(this.concurrency)}`);
    }
    this.redeliveryWindow = options.redeliveryWindow ?? 200;
    if (!Number.isInteger(this.redeliveryWindow) || this.redeliveryWindow < 1) {
      throw new DurableError(ErrorCode.CONFIG, `orchestrator: redeliveryWindow must be a positive integer, got ${String(this.redeliveryWindow)}`);
    }
    this.source = options.source ?? 'durable.orchestrator';
    this.prefix = options.keyPrefix ?? 'orchestrations';
    assertValidKey(this.prefix, 'orchestrator');
    this.clock = options.clock ?? systemClock;
  }

  async execute(events: readonly unknown[], starts: readonly OrchestrationStart[]): Promise<OrchestrationResult> {
    if (!Array.isArray(events) || !Array.isArray(starts)) {
      throw new DurableError(ErrorCode.CONFIG, 'orchestrator: events and starts must be arrays');
    }
    const errors: DurableCloudEvent[] = [];
    const groups = new Map<string, Group>();
    const groupOf = (subject: string): Group => {
      let group = groups.get(subject);
      if (group === undefined) {
        group = { subject, starts: [], events: [] };
        groups.set(subject, group);
      }
      return group;
    };
    for (const start of starts) {
      const problem = this.startProblem(start);
      if (problem !== undefined) errors.push(this.errorEvent({ kind: 'start', start }, problem));
      else groupOf(start.subject).starts.push(start);
    }
    for (const event of events) {
      try {
        assertCloudEvent(event, 'orchestrator');
        const subject = event.subject;
        if (subject === undefined) {
          throw new DurableError(ErrorCode.INVALID_EVENT, `orchestrator: event ${event.id} has no subject (the process id)`);
        }
        const problem = keyProblem(subject);
        if (problem !== undefined) {
          throw new DurableError(ErrorCode.INVALID_EVENT, `orchestrator: subject ${JSON.stringify(subject)} cannot name a process: ${problem}`);
        }
        groupOf(subject).events.push(event);
      } catch (error) {
        errors.push(this.errorEvent({ kind: 'event', event: event as DurableCloudEvent }, error));
      }
    }
    const outcomes = await mapBounded([...groups.values()], this.concurrency, (group) => this.runGroup(group));
    const result: OrchestrationResult = { eventsToEmit: [], errors, processIdContext: {}, processes: {} };
    for (const [index, group] of [...groups.values()].entries()) {
      const outcome = outcomes[index] as GroupOutcome;
      result.eventsToEmit.push(...outcome.emitted);
      result.errors.push(...outcome.errors);
      if (outcome.state !== undefined) {
        result.processes[group.subject] = outcome.state;
        result.processIdContext[group.subject] = outcome.context;
      }
    }
    return result;
  }

  private startProblem(start: OrchestrationStart): DurableError | undefined {
    if (typeof start !== 'object' || start === null) {
      return new DurableError(ErrorCode.INVALID_EVENT, 'orchestrator: a start must be an object with a subject');
    }
    const problem = keyProblem(start.subject);
    if (problem !== undefined) {
      return new DurableError(ErrorCode.INVALID_EVENT, `orchestrator: start subject ${JSON.stringify(start.subject)} cannot name a process: ${problem}`);
    }
    if (start.version !== undefined && !this.versions.has(start.version)) {
      return new DurableError(ErrorCode.VERSION_UNKNOWN, `orchestrator: start of ${start.subject} names unknown machine version ${String(start.version)}`);
    }
    return undefined;
  }

  private async runGroup(group: Group): Promise<GroupOutcome> {
    const key = `${this.prefix}/${group.subject}`;
    const retries = this.options.maxConflictRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attemptGroup(group, key);
      } catch (error) {
        // A conflict means another writer got in between our read and our write: redo the
        // whole group on the newer state (inputs it already applied are then redeliveries).
        if (isDurableError(error, ErrorCode.CONFLICT) && attempt < retries) continue;
        const wrapped = toBackendError(error, `orchestrator: processing ${key} failed`);
        return { emitted: [], errors: this.groupInputs(group).map((input) => this.errorEvent(input, wrapped)) };
      }
    }
  }

  private async attemptGroup(group: Group, key: string): Promise<GroupOutcome> {
    let lease: Lease | undefined;
    if (this.locking === LockingMode.READ_WRITE) {
      lease = await (this.options.lock as LockManager).acquire(key, leaseOptions(this.options, 'orchestrator'));
    }
    try {
      return await this.applyGroup(group, key);
    } finally {
      await lease?.release();
    }
  }

  private async applyGroup(group: Group, key: string): Promise<GroupOutcome> {
    let entry: { data: Uint8Array; version: string } | undefined;
    try {
      entry = await this.options.storage.read(key);
    } catch (error) {
      throw toBackendError(error, `orchestrator: read failed for ${key}`);
    }
    let record = entry === undefined ? undefined : decodeProcessRecord(entry.data, key);
    const outcome: GroupOutcome = { emitted: [], errors: [] };
    let changed = false;
    let lastSnapshot: AnyMachineSnapshot | undefined;
    let actor: CloudOrchestrationActor | undefined;
    const dropActor = (): void => {
      actor?.stop();
      actor = undefined;
    };
    try {
      for (const start of group.starts) {
        if (record !== undefined) {
          outcome.emitted.push(...(record.applied.get(START_KEY) ?? []));
          continue;
        }
        const version = start.version ?? this.newest;
        const logic = this.versions.get(version) as AnyStateMachine;
        try {
          actor = this.createActor(logic, group.subject, { input: start.input });
          const produced = actor.start();
          record = {
            machineId: logic.id,
            version,
            snapshot: actor.getPersistedSnapshot(),
            sequence: actor.sequence,
            applied: new Map([[START_KEY, produced]]),
          };
          lastSnapshot = actor.getSnapshot() as AnyMachineSnapshot;
          outcome.emitted.push(...produced);
          changed = true;
        } catch (error) {
          dropActor();
          outcome.errors.push(this.errorEvent({ kind: 'start', start }, error));
        }
      }
      for (const event of group.events) {
        const dedupKey = `${event.source}\u0000${event.id}`;
        if (record === undefined) {
          outcome.errors.push(
            this.errorEvent(
              { kind: 'event', event },
              new DurableError(ErrorCode.NOT_FOUND, `orchestrator: no process ${group.subject} (it was never started)`, { retryable: true }),
            ),
          );
          continue;
        }
        const applied = record.applied.get(dedupKey);
        if (applied !== undefined) {
          outcome.emitted.push(...applied);
          continue;
        }
        const logic = this.versions.get(record.version);
        if (logic === undefined) {
          outcome.errors.push(
            this.errorEvent(
              { kind: 'event', event },
              new DurableError(ErrorCode.VERSION_UNKNOWN, `orchestrator: process ${group.subject} runs machine version ${record.version}, which is not registered`),
            ),
          );
          continue;
        }
        try {
          if (actor === undefined) {
            actor = this.createActor(logic, group.subject, { snapshot: record.snapshot, sequence: record.sequence });
            actor.start();
          }
          const produced = actor.applyValidated(event);
          record.snapshot = actor.getPersistedSnapshot();
          record.sequence = actor.sequence;
          record.applied.set(dedupKey, produced);
          trimWindow(record.applied, this.redeliveryWindow);
          lastSnapshot = actor.getSnapshot() as AnyMachineSnapshot;
          outcome.emitted.push(...produced);
          changed = true;
        } catch (error) {
          // The actor may have advanced before the failure: throw it away so the next input
          // starts again from the last good snapshot.
          dropActor();
          outcome.errors.push(this.errorEvent({ kind: 'event', event }, error));
        }
      }
    } finally {
      dropActor();
    }
    if (record === undefined) return outcome;
    if (changed) {
      const body = encodeProcessRecord(record, key, this.clock());
      try {
        await this.options.storage.write(key, body, { ifVersion: entry?.version ?? null });
      } catch (error) {
        throw toBackendError(error, `orchestrator: save failed for ${key}`); // a CONFLICT passes through
      }
    }
    const persisted = record.snapshot as unknown as { value: ProcessState['value']; status: string; context?: unknown };
    outcome.state = {
      version: record.version,
      value: persisted.value,
      status: persisted.status,
      sequence: record.sequence,
    };
    outcome.context = persisted.context;
    if (lastSnapshot !== undefined && this.options.onSnapshot !== undefined) {
      try {
        await this.options.onSnapshot(group.subject, lastSnapshot, outcome.state);
      } catch (error) {
        outcome.errors.push(
          this.errorEvent(
            { kind: 'start', start: { subject: group.subject } },
            new DurableError(OrchestratorErrorCode.MIDDLEWARE, `orchestrator: onSnapshot failed for ${group.subject} (the process was saved)`, { cause: error }),
          ),
        );
      }
    }
    return outcome;
  }

  private createActor(
    logic: AnyStateMachine,
    subject: string,
    extra: { input?: unknown; snapshot?: ProcessRecord['snapshot']; sequence?: number },
  ): CloudOrchestrationActor {
    return new CloudOrchestrationActor(logic, {
      id: subject,
      source: this.source,
      clock: this.clock,
      middleware: {
        ...(this.options.onCloudEvent === undefined ? {} : { cloudevent: this.options.onCloudEvent }),
        ...(this.options.onOrchestrationState === undefined ? {} : { orchestration: this.options.onOrchestrationState }),
      },
      ...(extra.input === undefined ? {} : { input: extra.input }),
      ...(extra.snapshot === undefined ? {} : { snapshot: extra.snapshot }),
      ...(extra.sequence === undefined ? {} : { sequence: extra.sequence }),
    });
  }

  private groupInputs(group: Group): Input[] {
    return [
      ...group.starts.map((start): Input => ({ kind: 'start', start })),
      ...group.events.map((event): Input => ({ kind: 'event', event })),
    ];
  }

  private errorEvent(input: Input, error: unknown): DurableCloudEvent {
    const durable = toBackendError(error, 'orchestrator: unexpected failure');
    const facts = input.kind === 'event' ? eventFacts(input.event) : { start: describeStart(input.start) };
    const subject = input.kind === 'event' ? facts['subject'] : describeStart(input.start);
    const trigger = input.kind === 'event' ? [facts['source'], facts['id']] : ['start', describeStart(input.start)];
    // Only a valid input's time is reused (it keeps a re-run's error events identical); an
    // invalid one may carry anything there.
    const time = input.kind === 'event' && cloudEventProblem(input.event) === undefined ? input.event.time : undefined;
    const base = {
      id: deterministicEventId(this.source, 'error', String(trigger[0]), String(trigger[1]), durable.code),
      source: this.source,
      type: ORCHESTRATION_ERROR_TYPE,
      data: { code: durable.code, message: durable.message, retryable: durable.retryable, input: facts },
    };
    try {
      return createCloudEvent({
        ...base,
        ...(typeof subject === 'string' && subject.length > 0 ? { subject } : {}),
        time: time ?? new Date(this.clock()).toISOString(),
      });
    } catch {
      // The input's own attributes made the report invalid: report it without them.
      return createCloudEvent({ ...base, time: new Date(this.clock()).toISOString() });
    }
  }
}

function describeStart(start: OrchestrationStart): string {
  return typeof start === 'object' && start !== null && typeof start.subject === 'string' ? start.subject : '';
}

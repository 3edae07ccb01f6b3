import type { AnyMachineSnapshot, AnyStateMachine, StateValue } from 'xstate';
import { stringifyFinite } from '../actor/envelope.js';
import { writeRecognisingOwn } from '../actor/own-write.js';
import { DurableError, ErrorCode, isDurableError, toBackendError } from '../errors.js';
import type { PendingTimer } from '../actor/timers.js';
import type { DurableCloudEvent } from './cloudevent.js';
import { CloudOrchestrationActor, timerKey } from './cloud-orchestration-actor.js';
import type { TimerEntry } from './due-index.js';
import { indexTimers, newTimers, notifyTimer, timerHash } from './due-index.js';
import type { Input } from './error-events.js';
import { errorEvent } from './error-events.js';
import { EventTrace, startTrace } from './event-tracing.js';
import { stampTraceContext } from '../telemetry.js';
import type { NotAcceptedEvent, OrchestrationConfig, ProcessState } from './orchestrate-options.js';
import type { ProcessRecord } from './process-record.js';
import {
  START_KEY,
  decodeProcessRecord,
  encodeProcessRecord,
  trimWindow,
} from './process-record.js';
import { leafPaths } from './state-paths.js';

/** @internal The inputs of one subject in a batch. */
export interface Group {
  subject: string;
  starts: Array<Input & { kind: 'start' }>;
  events: Array<Input & { kind: 'event' }>;
  /** Due-index entries to handle (a timer run); empty in a batch of events. */
  timers: Array<Input & { kind: 'timer' }>;
}

/** @internal What one subject's group produced. */
export interface GroupOutcome {
  emitted: DurableCloudEvent[];
  errors: DurableCloudEvent[];
  notAccepted: NotAcceptedEvent[];
  context?: unknown;
  state?: ProcessState;
  /** The live snapshot after the last applied input, for `onSnapshot`. */
  lastSnapshot?: AnyMachineSnapshot;
  /** Timers delivered by this run. */
  fired: number;
  /** Due-index entries of the group whose timer is no longer pending: to remove. */
  spent: TimerEntry[];
}

/** Timers one process may fire in one run: bounds a machine whose `after: 0` loops. */
const MAX_FIRINGS = 100;

/**
 * @internal Reads one process, applies its inputs one by one and saves it once (conditionally on
 * the version read). Each input has its own outcome: one that fails, also one whose new state
 * could not be saved (a BigInt, a NaN), is reported and the next input starts again from the
 * last good state, as if the failing one had not been there. A save `CONFLICT` is thrown for the
 * caller to re-run the group on the newer state.
 */
export async function applyGroup(
  config: OrchestrationConfig,
  group: Group,
  key: string,
): Promise<GroupOutcome> {
  const { storage } = config.options;
  let entry: { data: Uint8Array; version: string } | undefined;
  try {
    entry = await storage.read(key);
  } catch (error) {
    if (isDurableError(error, ErrorCode.INVALID_KEY)) {
      // The subject is a valid key, but this backend cannot store it under the prefix.
      throw new DurableError(
        ErrorCode.INVALID_EVENT,
        `orchestrator: subject ${JSON.stringify(
          group.subject,
        )} cannot name a process in this storage: ${error.message}`,
        { cause: error },
      );
    }
    throw toBackendError(error, `orchestrator: read failed for ${key}`);
  }
  let record = entry === undefined ? undefined : decodeProcessRecord(entry.data, key);
  const outcome: GroupOutcome = { emitted: [], errors: [], notAccepted: [], fired: 0, spent: [] };
  const loadedTimers = record?.timers ?? [];
  const fail = (input: Input, error: unknown): void => {
    outcome.errors.push(errorEvent(config.source, config.clock, input, error));
  };
  let changed = false;
  let actor: CloudOrchestrationActor | undefined;
  const dropActor = (): void => {
    actor?.stop();
    actor = undefined;
  };
  try {
    for (const input of group.starts) {
      if (record !== undefined) {
        outcome.emitted.push(...(record.applied.get(START_KEY) ?? []));
        continue;
      }
      const version = input.start.version ?? config.newest;
      const span = startTrace(group.subject);
      try {
        actor = createActor(config, version, group.subject, {
          input: input.start.input,
          timers: [],
        });
        const produced = span.run(() => (actor as CloudOrchestrationActor).start());
        stampTraceContext(produced as unknown as Array<Record<string, unknown>>, span);
        span.end('started');
        const snapshot = savable(actor, produced, key, `start of ${group.subject}`);
        const logic = config.versions.get(version)?.logic as AnyStateMachine;
        const timers = actor.pendingTimers();
        record = {
          machineId: logic.id,
          version,
          snapshot,
          sequence: actor.sequence,
          applied: new Map([[START_KEY, produced]]),
          timers,
        };
        outcome.lastSnapshot = actor.getSnapshot() as AnyMachineSnapshot;
        outcome.emitted.push(...produced);
        changed = true;
      } catch (error) {
        span.end('refused', error);
        dropActor();
        fail(input, error);
      }
    }
    for (const input of group.events) {
      const { event } = input;
      const trace = new EventTrace(config.options.logger, event, group.subject);
      if (record === undefined) {
        const error = new DurableError(
          ErrorCode.NOT_FOUND,
          `orchestrator: no process ${group.subject} (it was never started)`,
          { retryable: true },
        );
        trace.end('refused', error);
        fail(input, error);
        continue;
      }
      const dedupKey = `${event.source}\u0000${event.id}`;
      const applied = record.applied.get(dedupKey);
      if (applied !== undefined) {
        trace.end('redelivered');
        outcome.emitted.push(...applied);
        continue;
      }
      if (!config.versions.has(record.version)) {
        const error = unregistered(group.subject, record.version);
        trace.end('refused', error);
        fail(input, error);
        continue;
      }
      try {
        actor ??= resume(config, record, group.subject);
        // A deadline that passed before this event arrived fires first, as it would have live.
        changed = fireDue(actor, record, outcome, key, config.clock()) || changed;
        const running = actor;
        const produced = trace.run(() => running.applyValidated(event));
        if (produced === undefined) {
          trace.end('ignored');
          outcome.notAccepted.push(
            notAccepted(group.subject, event, actor.getSnapshot() as AnyMachineSnapshot),
          );
          continue;
        }
        // Before the save: the stored copies (returned again on redelivery) carry the context too.
        trace.stamp(produced);
        record.snapshot = savable(
          actor,
          produced,
          key,
          `${event.type} ${event.id} on ${group.subject}`,
        );
        record.sequence = actor.sequence;
        record.timers = actor.pendingTimers();
        record.applied.set(dedupKey, produced);
        trimWindow(record.applied, config.redeliveryWindow);
        outcome.lastSnapshot = actor.getSnapshot() as AnyMachineSnapshot;
        outcome.emitted.push(...produced);
        changed = true;
        trace.end('applied');
      } catch (error) {
        trace.end('refused', error);
        // The actor may have advanced before the failure: throw it away so the next input
        // starts again from the last good snapshot.
        dropActor();
        fail(input, error);
      }
    }
    if (group.timers.length > 0) {
      if (record === undefined) {
        outcome.spent.push(...group.timers.map((input) => input.timer));
      } else if (!config.versions.has(record.version)) {
        for (const input of group.timers) fail(input, unregistered(group.subject, record.version));
      } else {
        try {
          actor ??= resume(config, record, group.subject);
          changed = fireDue(actor, record, outcome, key, config.clock()) || changed;
        } catch (error) {
          dropActor();
          for (const input of group.timers) fail(input, error);
        }
        collectTimerEntries(group, record, outcome);
      }
    }
  } finally {
    dropActor();
  }
  if (record === undefined) return outcome;
  if (changed) {
    const added = newTimers(loadedTimers, record.timers);
    await indexTimers(storage, config.prefix, group.subject, added);
    const body = encodeProcessRecord(record, key, config.clock());
    try {
      await writeRecognisingOwn(storage, key, body, entry?.version ?? null);
    } catch (error) {
      throw toBackendError(error, `orchestrator: save failed for ${key}`); // a CONFLICT passes through
    }
    for (const timer of added) notifyTimer(storage, timer.deadline);
  }
  const persisted = record.snapshot as unknown as {
    value: StateValue;
    status: string;
    context?: unknown;
  };
  outcome.state = {
    version: record.version,
    value: persisted.value,
    status: persisted.status,
    sequence: record.sequence,
  };
  outcome.context = persisted.context;
  return outcome;
}

/**
 * The snapshot after an input, as it will be stored (a JSON copy), or `SERIALIZATION` when the
 * new state or the events it produced cannot be saved: the input then fails alone, before the
 * save, instead of failing the save of every input of its subject.
 */
function savable(
  actor: CloudOrchestrationActor,
  produced: readonly DurableCloudEvent[],
  key: string,
  what: string,
): ProcessRecord['snapshot'] {
  actor.assertOwnDelaysOnly(
    `orchestrator: ${what} leads to a state of ${key} that cannot be saved`,
  );
  try {
    stringifyFinite(produced);
    return JSON.parse(stringifyFinite(actor.getPersistedSnapshot())) as ProcessRecord['snapshot'];
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new DurableError(
      ErrorCode.SERIALIZATION,
      `orchestrator: ${what} leads to a state of ${key} that cannot be saved as JSON: ${reason}; the input is not applied (keep the context and event data plain JSON)`,
      { cause, details: { key } },
    );
  }
}

function unregistered(subject: string, version: string): DurableError {
  return new DurableError(
    ErrorCode.VERSION_UNKNOWN,
    `orchestrator: process ${subject} runs machine version ${version}, which is not registered (register it again in versions to run its events and timers)`,
  );
}

function resume(
  config: OrchestrationConfig,
  record: ProcessRecord,
  subject: string,
): CloudOrchestrationActor {
  const actor = createActor(config, record.version, subject, {
    snapshot: record.snapshot,
    sequence: record.sequence,
    timers: record.timers,
  });
  actor.start();
  return actor;
}

/**
 * Delivers the process's due timers, soonest first, each as one transition recorded like an
 * applied input (its events kept in the redelivery window under the timer's id and deadline).
 * True when any fired. A timer that fails leaves the actor unusable: the caller drops it.
 */
function fireDue(
  actor: CloudOrchestrationActor,
  record: ProcessRecord,
  outcome: GroupOutcome,
  key: string,
  now: number,
): boolean {
  let any = false;
  for (let count = 0; count < MAX_FIRINGS; count++) {
    const fired = actor.fireNextDue(now);
    if (fired === undefined) break;
    record.snapshot = savable(actor, fired.emitted, key, `timer ${fired.timer.id} on ${actor.id}`);
    record.sequence = actor.sequence;
    record.timers = actor.pendingTimers();
    record.applied.set(timerKey(fired.timer), fired.emitted);
    outcome.lastSnapshot = actor.getSnapshot() as AnyMachineSnapshot;
    outcome.emitted.push(...fired.emitted);
    outcome.fired += 1;
    any = true;
  }
  return any;
}

/**
 * Sorts a timer run's index entries: one whose timer is still pending stays (not fired yet);
 * any other is spent, and if its firing is remembered (a run that crashed after the save, or
 * another run's), its events are emitted again with the same ids.
 */
function collectTimerEntries(group: Group, record: ProcessRecord, outcome: GroupOutcome): void {
  const pending = new Set(record.timers.map(timerHash));
  const emitted = new Set(outcome.emitted.map((event) => event.id));
  const fired = new Map<string, readonly DurableCloudEvent[]>();
  for (const [applied, events] of record.applied) {
    if (!applied.startsWith('timer\u0000')) continue;
    const [, id, deadline] = applied.split('\u0000');
    fired.set(
      timerHash({ id: id as string, deadline: Number(deadline), event: { type: '' } }),
      events,
    );
  }
  for (const { timer } of group.timers) {
    if (pending.has(timer.hash)) continue;
    outcome.spent.push(timer);
    for (const event of fired.get(timer.hash) ?? []) {
      if (emitted.has(event.id)) continue;
      emitted.add(event.id);
      outcome.emitted.push(event);
    }
  }
}

function createActor(
  config: OrchestrationConfig,
  version: string,
  subject: string,
  extra: {
    input?: unknown;
    snapshot?: ProcessRecord['snapshot'];
    sequence?: number;
    timers: readonly PendingTimer[];
  },
): CloudOrchestrationActor {
  const registered = config.versions.get(version) as {
    logic: AnyStateMachine;
    orchestration?: Readonly<Record<string, unknown>>;
  };
  const { onCloudEvent } = config.options;
  return new CloudOrchestrationActor(registered.logic, {
    id: subject,
    source: config.source,
    clock: config.clock,
    middleware: {
      ...(onCloudEvent === undefined ? {} : { cloudevent: onCloudEvent }),
      ...(registered.orchestration === undefined
        ? {}
        : { orchestration: registered.orchestration as never }),
    },
    ...(extra.input === undefined ? {} : { input: extra.input }),
    ...(extra.snapshot === undefined ? {} : { snapshot: extra.snapshot }),
    ...(extra.sequence === undefined ? {} : { sequence: extra.sequence }),
    timers: extra.timers,
  });
}

function notAccepted(
  subject: string,
  event: DurableCloudEvent,
  snapshot: AnyMachineSnapshot,
): NotAcceptedEvent {
  return {
    subject,
    id: event.id,
    source: event.source,
    type: event.type,
    states: leafPaths(snapshot.value as StateValue),
    status: snapshot.status,
  };
}

/** @internal Every input of a group, starts first. */
export function groupInputs(group: Group): Input[] {
  return [...group.starts, ...group.events, ...group.timers];
}

import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { stringifyFinite } from '../actor/envelope.js';
import { writeRecognisingOwn } from '../actor/own-write.js';
import { DurableError, ErrorCode, isDurableError, toBackendError } from '../errors.js';
import type { DurableCloudEvent } from './cloudevent.js';
import { CloudOrchestrationActor } from './cloud-orchestration-actor.js';
import type { Input } from './error-events.js';
import { errorEvent } from './error-events.js';
import type { NotAcceptedEvent, OrchestrationConfig, ProcessState } from './orchestrate-options.js';
import type { ProcessRecord } from './process-record.js';
import { START_KEY, decodeProcessRecord, encodeProcessRecord, trimWindow } from './process-record.js';
import { leafPaths } from './state-paths.js';

/** @internal The inputs of one subject in a batch. */
export interface Group {
  subject: string;
  starts: Array<Input & { kind: 'start' }>;
  events: Array<Input & { kind: 'event' }>;
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
}

/**
 * @internal Reads one process, applies its inputs one by one and saves it once (conditionally on
 * the version read). Each input has its own outcome: one that fails, also one whose new state
 * could not be saved (a BigInt, a NaN), is reported and the next input starts again from the
 * last good state, as if the failing one had not been there. A save `CONFLICT` is thrown for the
 * caller to re-run the group on the newer state.
 */
export async function applyGroup(config: OrchestrationConfig, group: Group, key: string): Promise<GroupOutcome> {
  const { storage } = config.options;
  let entry: { data: Uint8Array; version: string } | undefined;
  try {
    entry = await storage.read(key);
  } catch (error) {
    if (isDurableError(error, ErrorCode.INVALID_KEY)) {
      // The subject is a valid key, but this backend cannot store it under the prefix.
      throw new DurableError(ErrorCode.INVALID_EVENT, `orchestrator: subject ${JSON.stringify(group.subject)} cannot name a process in this storage: ${error.message}`, { cause: error });
    }
    throw toBackendError(error, `orchestrator: read failed for ${key}`);
  }
  let record = entry === undefined ? undefined : decodeProcessRecord(entry.data, key);
  const outcome: GroupOutcome = { emitted: [], errors: [], notAccepted: [] };
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
      try {
        actor = createActor(config, version, group.subject, { input: input.start.input });
        const produced = actor.start();
        const snapshot = savable(actor, produced, key, `start of ${group.subject}`);
        const logic = config.versions.get(version)?.logic as AnyStateMachine;
        record = { machineId: logic.id, version, snapshot, sequence: actor.sequence, applied: new Map([[START_KEY, produced]]) };
        outcome.lastSnapshot = actor.getSnapshot() as AnyMachineSnapshot;
        outcome.emitted.push(...produced);
        changed = true;
      } catch (error) {
        dropActor();
        fail(input, error);
      }
    }
    for (const input of group.events) {
      const { event } = input;
      if (record === undefined) {
        fail(input, new DurableError(ErrorCode.NOT_FOUND, `orchestrator: no process ${group.subject} (it was never started)`, { retryable: true }));
        continue;
      }
      const dedupKey = `${event.source}\u0000${event.id}`;
      const applied = record.applied.get(dedupKey);
      if (applied !== undefined) {
        outcome.emitted.push(...applied);
        continue;
      }
      if (!config.versions.has(record.version)) {
        fail(input, new DurableError(ErrorCode.VERSION_UNKNOWN, `orchestrator: process ${group.subject} runs machine version ${record.version}, which is not registered`));
        continue;
      }
      try {
        if (actor === undefined) {
          actor = createActor(config, record.version, group.subject, { snapshot: record.snapshot, sequence: record.sequence });
          actor.start();
        }
        const produced = actor.applyValidated(event);
        if (produced === undefined) {
          outcome.notAccepted.push(notAccepted(group.subject, event, actor.getSnapshot() as AnyMachineSnapshot));
          continue;
        }
        record.snapshot = savable(actor, produced, key, `${event.type} ${event.id} on ${group.subject}`);
        record.sequence = actor.sequence;
        record.applied.set(dedupKey, produced);
        trimWindow(record.applied, config.redeliveryWindow);
        outcome.lastSnapshot = actor.getSnapshot() as AnyMachineSnapshot;
        outcome.emitted.push(...produced);
        changed = true;
      } catch (error) {
        // The actor may have advanced before the failure: throw it away so the next input
        // starts again from the last good snapshot.
        dropActor();
        fail(input, error);
      }
    }
  } finally {
    dropActor();
  }
  if (record === undefined) return outcome;
  if (changed) {
    const body = encodeProcessRecord(record, key, config.clock());
    try {
      await writeRecognisingOwn(storage, key, body, entry?.version ?? null);
    } catch (error) {
      throw toBackendError(error, `orchestrator: save failed for ${key}`); // a CONFLICT passes through
    }
  }
  const persisted = record.snapshot as unknown as { value: ProcessState['value']; status: string; context?: unknown };
  outcome.state = { version: record.version, value: persisted.value, status: persisted.status, sequence: record.sequence };
  outcome.context = persisted.context;
  return outcome;
}

/**
 * The snapshot after an input, as it will be stored (a JSON copy), or `SERIALIZATION` when the
 * new state or the events it produced cannot be saved: the input then fails alone, before the
 * save, instead of failing the save of every input of its subject.
 */
function savable(actor: CloudOrchestrationActor, produced: readonly DurableCloudEvent[], key: string, what: string): ProcessRecord['snapshot'] {
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

function createActor(
  config: OrchestrationConfig,
  version: string,
  subject: string,
  extra: { input?: unknown; snapshot?: ProcessRecord['snapshot']; sequence?: number },
): CloudOrchestrationActor {
  const registered = config.versions.get(version) as { logic: AnyStateMachine; orchestration?: Readonly<Record<string, unknown>> };
  const { onCloudEvent } = config.options;
  return new CloudOrchestrationActor(registered.logic, {
    id: subject,
    source: config.source,
    clock: config.clock,
    middleware: {
      ...(onCloudEvent === undefined ? {} : { cloudevent: onCloudEvent }),
      ...(registered.orchestration === undefined ? {} : { orchestration: registered.orchestration as never }),
    },
    ...(extra.input === undefined ? {} : { input: extra.input }),
    ...(extra.snapshot === undefined ? {} : { snapshot: extra.snapshot }),
    ...(extra.sequence === undefined ? {} : { sequence: extra.sequence }),
  });
}

function notAccepted(subject: string, event: DurableCloudEvent, snapshot: AnyMachineSnapshot): NotAcceptedEvent {
  return { subject, id: event.id, source: event.source, type: event.type, states: leafPaths(snapshot.value), status: snapshot.status };
}

/** @internal Every input of a group, starts first. */
export function groupInputs(group: Group): Input[] {
  return [...group.starts, ...group.events];
}


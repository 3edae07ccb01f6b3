import { DurableError, ErrorCode } from '../errors.js';
import type { DurableCloudEvent } from './cloudevent.js';
import { createCloudEvent, deterministicEventId } from './cloudevent.js';
import { OrchestratorErrorCode } from './errors.js';
import type { AnyActorRef, AnyMachineSnapshot } from 'xstate';
import type {
  CloudOrchestratorMiddlewares,
  MachineEvent,
  OrchestrationEmit,
} from './middleware.js';

/** The prefix of the only CloudEvent types an orchestrator consumes. */
export const INPUT_TYPE_PREFIX = 'evt.';

/** `INVALID_EVENT` unless `event` is an `evt.*` event: orchestrators consume those only. */
export function assertInputType(event: DurableCloudEvent): void {
  if (event.type.startsWith(INPUT_TYPE_PREFIX)) return;
  throw new DurableError(
    ErrorCode.INVALID_EVENT,
    `orchestrator: event ${event.id} has type ${event.type}: an orchestrator consumes evt.* events only (cmd.* and notif.* are what it emits)`,
    { details: { id: event.id, source: event.source, type: event.type } },
  );
}

/** @internal A `MIDDLEWARE` error, naming the event when there is one. */
export function middlewareError(
  message: string,
  cause?: unknown,
  event?: DurableCloudEvent,
): DurableError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new DurableError(OrchestratorErrorCode.MIDDLEWARE, `orchestrator: ${message}${reason}`, {
    ...(cause === undefined ? {} : { cause }),
    ...(event === undefined
      ? {}
      : { details: { id: event.id, source: event.source, type: event.type } }),
  });
}

/** @internal Where an emitted event comes from: its id derives from all of it. */
export interface EmitOrigin {
  source: string;
  subject: string;
  sequence: number;
  triggerKey: string;
  time: string;
  index: number;
}

/**
 * @internal The CloudEvent for what an `orchestration` middleware returned on entering `path`:
 * only `cmd.*`/`notif.*`, the subject kept, and an id that is the same on every re-run.
 */
export function emittedEvent(
  emit: OrchestrationEmit,
  path: string,
  origin: EmitOrigin,
): DurableCloudEvent {
  if (typeof emit !== 'object' || emit === null || typeof emit.type !== 'string') {
    throw middlewareError(
      `orchestration middleware for state ${path} returned an event without a type`,
    );
  }
  if (!emit.type.startsWith('cmd.') && !emit.type.startsWith('notif.')) {
    throw middlewareError(
      `orchestration middleware for state ${path} returned type ${emit.type}: only cmd.* and notif.* can be emitted`,
    );
  }
  if (
    (emit as { subject?: unknown }).subject !== undefined &&
    (emit as { subject?: unknown }).subject !== origin.subject
  ) {
    throw middlewareError(
      `orchestration middleware for state ${path} changed the subject: it must stay ${origin.subject}`,
    );
  }
  return createCloudEvent({
    id: deterministicEventId(
      origin.source,
      origin.subject,
      origin.sequence,
      origin.triggerKey,
      origin.index,
    ),
    source: origin.source,
    type: emit.type,
    subject: origin.subject,
    time: origin.time,
    ...(emit.data === undefined ? {} : { data: emit.data }),
    ...(emit.datacontenttype === undefined ? {} : { datacontenttype: emit.datacontenttype }),
    ...(emit.dataschema === undefined ? {} : { dataschema: emit.dataschema }),
    ...(emit.extensions === undefined ? {} : { extensions: emit.extensions }),
  });
}

/** @internal The machine event for `event`: its `cloudevent` middleware's, or `{ type, data }`. */
export function toMachineEvent(
  middleware: CloudOrchestratorMiddlewares,
  event: DurableCloudEvent,
): MachineEvent {
  const transform = middleware.cloudevent?.[event.type];
  let machineEvent: MachineEvent;
  try {
    machineEvent =
      transform === undefined
        ? { type: event.type, data: event.data }
        : (transform(event) as MachineEvent);
  } catch (cause) {
    throw middlewareError(
      `cloudevent middleware for ${event.type} failed on ${event.id}`,
      cause,
      event,
    );
  }
  if (
    typeof machineEvent !== 'object' ||
    machineEvent === null ||
    typeof machineEvent.type !== 'string'
  ) {
    throw middlewareError(
      `cloudevent middleware for ${event.type} returned no { type }`,
      undefined,
      event,
    );
  }
  return machineEvent;
}

/** @internal True when an active state of `actor` has an enabled transition for `machineEvent`. */
export function acceptsEvent(actor: AnyActorRef, machineEvent: MachineEvent): boolean {
  const snapshot = actor.getSnapshot() as AnyMachineSnapshot;
  if (snapshot.status !== 'active') return false;
  try {
    return snapshot.can(machineEvent as never);
  } catch {
    // A guard that throws: let the send report it (ACTOR_FAILED) rather than hide it here.
    return true;
  }
}

/** @internal `ACTOR_FAILED` when the machine is in error after `what`. */
export function assertHealthy(actor: AnyActorRef, subject: string, what: string): void {
  const snapshot = actor.getSnapshot() as { status?: string; error?: unknown };
  if (snapshot.status === 'error') {
    const reason =
      snapshot.error instanceof Error ? snapshot.error.message : String(snapshot.error);
    throw new DurableError(
      OrchestratorErrorCode.ACTOR_FAILED,
      `orchestrator: the machine failed during ${what}: ${reason}`,
      {
        cause: snapshot.error,
        details: { subject },
      },
    );
  }
}

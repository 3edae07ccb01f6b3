import { DurableError, ErrorCode } from '../errors.js';
import type { DurableCloudEvent } from './cloudevent.js';
import { createCloudEvent, deterministicEventId } from './cloudevent.js';
import { OrchestratorErrorCode } from './errors.js';
import type { OrchestrationEmit } from './middleware.js';

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
export function middlewareError(message: string, cause?: unknown, event?: DurableCloudEvent): DurableError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new DurableError(OrchestratorErrorCode.MIDDLEWARE, `orchestrator: ${message}${reason}`, {
    ...(cause === undefined ? {} : { cause }),
    ...(event === undefined ? {} : { details: { id: event.id, source: event.source, type: event.type } }),
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
export function emittedEvent(emit: OrchestrationEmit, path: string, origin: EmitOrigin): DurableCloudEvent {
  if (typeof emit !== 'object' || emit === null || typeof emit.type !== 'string') {
    throw middlewareError(`orchestration middleware for state ${path} returned an event without a type`);
  }
  if (!emit.type.startsWith('cmd.') && !emit.type.startsWith('notif.')) {
    throw middlewareError(`orchestration middleware for state ${path} returned type ${emit.type}: only cmd.* and notif.* can be emitted`);
  }
  if ((emit as { subject?: unknown }).subject !== undefined && (emit as { subject?: unknown }).subject !== origin.subject) {
    throw middlewareError(`orchestration middleware for state ${path} changed the subject: it must stay ${origin.subject}`);
  }
  return createCloudEvent({
    id: deterministicEventId(origin.source, origin.subject, origin.sequence, origin.triggerKey, origin.index),
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

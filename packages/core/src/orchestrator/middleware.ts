import type { AnyStateMachine, EventFromLogic } from 'xstate';
import type { DurableCloudEvent } from './cloudevent.js';
import type { MachineSnapshotOf } from './machine-types.js';

/** What a `cloudevent` middleware turns an incoming CloudEvent into: the xstate event to send. */
export interface MachineEvent {
  /** The xstate event type. */
  type: string;
  /** Payload available to the machine as `event.data`. */
  data?: unknown;
}

/**
 * Transforms an incoming CloudEvent (selected by its `type`) into one of the machine's events.
 * `TData` is the CloudEvent's `data` as the caller declares it: annotate the handler's parameter
 * (`(event: DurableCloudEvent<{ text: string }>) => ...`) or pass it here.
 */
export type CloudEventMiddleware<
  TLogic extends AnyStateMachine = AnyStateMachine,
  TData = unknown,
> = {
  // Method syntax on purpose: each handler of a map may declare its own event's data type, which a
  // plain function type would refuse (parameters are compared contravariantly under strict).
  handle(event: DurableCloudEvent<TData>): EventFromLogic<TLogic>;
}['handle'];

/** A CloudEvent an `orchestration` middleware asks to emit; id, source, subject and time are filled in. */
export interface OrchestrationEmit {
  /** `cmd.*` (a command to a service) or `notif.*` (a notification). */
  type: string;
  /** Payload. */
  data?: unknown;
  /** @default "application/json" */
  datacontenttype?: string;
  /** URI of the data's schema. */
  dataschema?: string;
  /** Extension attributes. */
  extensions?: Record<string, string | number | boolean>;
}

/**
 * Runs when the process enters the state it is keyed by, with the machine's typed snapshot;
 * returns the CloudEvents to emit.
 */
export type OrchestrationMiddleware<TLogic extends AnyStateMachine = AnyStateMachine> = (
  id: string,
  snapshot: MachineSnapshotOf<TLogic>,
) => OrchestrationEmit | readonly OrchestrationEmit[] | undefined;

/** Middleware of an orchestration, by CloudEvent type and by state path (`check.grounded.running`). */
export interface CloudOrchestratorMiddlewares<TLogic extends AnyStateMachine = AnyStateMachine> {
  /** Incoming CloudEvent type → transform into a machine event. Default: `{ type, data }`. */
  cloudevent?: Readonly<Record<string, CloudEventMiddleware<TLogic>>>;
  /**
   * State → events to emit on entry. Keys are dot-separated paths from the root (nested states
   * included) or xstate `#id` references; a key naming no state is `CONFIG`.
   */
  orchestration?: Readonly<Record<string, OrchestrationMiddleware<TLogic>>>;
}

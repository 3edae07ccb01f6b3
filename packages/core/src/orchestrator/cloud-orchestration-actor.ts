import { createActor } from 'xstate';
import type {
  Actor,
  AnyMachineSnapshot,
  AnyStateMachine,
  EventFromLogic,
  InputFrom,
  InspectionEvent,
  Snapshot,
  SnapshotFrom,
} from 'xstate';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { DurableError, ErrorCode, isDurableError } from '../errors.js';
import { checkOptions } from '../option-checks.js';
import type { DurableCloudEvent } from './cloudevent.js';
import { assertCloudEvent, createCloudEvent, deterministicEventId } from './cloudevent.js';
import { OrchestratorErrorCode } from './errors.js';
import type { MachineSnapshotOf } from './machine-types.js';
import { activePaths } from './state-paths.js';
import { resolveMiddlewareKeys } from './state-keys.js';

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
export type CloudEventMiddleware<TLogic extends AnyStateMachine = AnyStateMachine, TData = unknown> = {
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

/** Options for {@link CloudOrchestrationActor}. */
export interface CloudOrchestrationActorOptions<TLogic extends AnyStateMachine = AnyStateMachine> {
  /** The orchestration (process) id; every emitted event carries it as `subject`. */
  id: string;
  /** `source` of emitted events. @default "durable.orchestrator" */
  source?: string;
  /** Transforms and emissions. */
  middleware?: CloudOrchestratorMiddlewares<TLogic>;
  /** Persisted snapshot to resume from; entering states already active emits nothing. */
  snapshot?: Snapshot<unknown>;
  /** Input of a new process (`context: ({ input }) => ...`). */
  input?: InputFrom<TLogic>;
  /** Transitions applied so far; emitted ids derive from it. @default 0 */
  sequence?: number;
  /** Time source for events whose trigger has no `time`. @default Date.now */
  clock?: Clock;
}

const START = 'start';

const ACTOR_OPTIONS = ['id', 'source', 'middleware', 'snapshot', 'input', 'sequence', 'clock'] as const;

/** The prefix of the only CloudEvent types an orchestrator consumes. */
export const INPUT_TYPE_PREFIX = 'evt.';

/**
 * Wraps an xstate machine for CloudEvents: `cloudevent(event)` validates, transforms and sends;
 * entering a state with an `orchestration` middleware adds its CloudEvents to `eventsToEmit`.
 * Ids of emitted events are deterministic (process id, transition number, trigger, position).
 */
export class CloudOrchestrationActor<TLogic extends AnyStateMachine = AnyStateMachine> {
  /** The orchestration id (the `subject` end to end). */
  readonly id: string;
  /** The underlying xstate actor. */
  readonly actor: Actor<TLogic>;
  private readonly source: string;
  private readonly middleware: CloudOrchestratorMiddlewares;
  private readonly orchestration: Readonly<Record<string, OrchestrationMiddleware>> | undefined;
  private readonly clock: Clock;
  private readonly fresh: boolean;
  private emitted: DurableCloudEvent[] = [];
  private previous = new Set<string>();
  private listening = false;
  private seq: number;
  private trigger = { key: START, time: '' };
  private stepIndex = 0;
  private failure: DurableError | undefined;

  constructor(logic: TLogic, options: CloudOrchestrationActorOptions<TLogic>) {
    checkOptions(options, 'orchestrator: CloudOrchestrationActor', {
      known: ACTOR_OPTIONS,
      required: ['id'],
      renamed: { version: 'orchestrateCloudEvents versions (this actor is not versioned itself)' },
    });
    if (typeof options.id !== 'string' || options.id.length === 0) {
      throw new DurableError(ErrorCode.CONFIG, 'orchestrator: an orchestration actor needs a non-empty id');
    }
    this.id = options.id;
    this.source = options.source ?? 'durable.orchestrator';
    // Inside, the middleware sees any machine: the types were checked where the caller wrote it.
    this.middleware = (options.middleware ?? {}) as CloudOrchestratorMiddlewares;
    checkOptions(this.middleware, 'orchestrator: middleware', { known: ['cloudevent', 'orchestration'] });
    this.orchestration =
      this.middleware.orchestration === undefined ? undefined : resolveMiddlewareKeys(logic, this.middleware.orchestration, 'orchestrator');
    this.clock = options.clock ?? systemClock;
    this.seq = options.sequence ?? 0;
    this.fresh = options.snapshot === undefined;
    this.actor = createActor(logic as AnyStateMachine, {
      id: options.id,
      ...(options.snapshot === undefined ? {} : { snapshot: options.snapshot }),
      ...(options.input === undefined ? {} : { input: options.input }),
      inspect: (event: InspectionEvent) => this.onInspect(event),
    }) as unknown as Actor<TLogic>;
    // Errors inside the machine are read from its snapshot; without a listener xstate would
    // rethrow them asynchronously and crash the process.
    this.actor.subscribe({ error: () => undefined });
  }

  /** Every CloudEvent produced since this actor was created, in order. */
  get eventsToEmit(): readonly DurableCloudEvent[] {
    return this.emitted;
  }

  /** Transitions applied so far (the start counts as none). */
  get sequence(): number {
    return this.seq;
  }

  /**
   * Starts the actor. A new process enters its initial states, so their `orchestration`
   * middleware runs; a resumed one emits nothing. Returns the events produced.
   */
  start(): DurableCloudEvent[] {
    const before = this.emitted.length;
    this.trigger = { key: START, time: new Date(this.clock()).toISOString() };
    this.stepIndex = 0;
    this.actor.start();
    this.assertHealthy(`start of ${this.id}`);
    const snapshot = this.actor.getSnapshot() as AnyMachineSnapshot;
    const paths = activePaths(snapshot.value);
    if (this.fresh) this.enter(paths, snapshot);
    this.previous = new Set(paths);
    this.listening = true;
    this.throwFailure();
    return this.emitted.slice(before);
  }

  /**
   * Validates `event`, applies its `cloudevent` middleware and sends it. Returns the events
   * produced by the states it entered. Throws `INVALID_EVENT`, `MIDDLEWARE` or `ACTOR_FAILED`;
   * after a throw the actor's state must not be saved.
   */
  cloudevent(event: DurableCloudEvent): DurableCloudEvent[] {
    if (!this.listening) {
      throw new DurableError(ErrorCode.CONFIG, `orchestrator: start() the actor ${this.id} before sending it events`);
    }
    assertCloudEvent(event, 'orchestrator');
    assertInputType(event);
    if (event.subject !== undefined && event.subject !== this.id) {
      throw new DurableError(
        ErrorCode.INVALID_EVENT,
        `orchestrator: event ${event.id} is for ${event.subject}, not for ${this.id}`,
        { details: { id: event.id, subject: event.subject } },
      );
    }
    return this.applyValidated(event) ?? [];
  }

  /**
   * True when the current state accepts `event` (after its `cloudevent` middleware): some
   * transition of an active state is enabled for it. `cloudevent()` ignores events it does not accept.
   */
  accepts(event: DurableCloudEvent): boolean {
    return this.acceptsMachineEvent(this.toMachineEvent(event));
  }

  /**
   * @internal `cloudevent` without its checks, for `orchestrateCloudEvents`, which has already
   * validated each event and grouped it under this actor's subject. `undefined` when the current
   * state does not accept the event: nothing was applied and the sequence did not move.
   */
  applyValidated(event: DurableCloudEvent): DurableCloudEvent[] | undefined {
    const machineEvent = this.toMachineEvent(event);
    if (!this.acceptsMachineEvent(machineEvent)) return undefined;
    const before = this.emitted.length;
    this.seq += 1;
    this.trigger = { key: `${event.source}\u0000${event.id}`, time: event.time ?? new Date(this.clock()).toISOString() };
    this.stepIndex = 0;
    this.actor.send(machineEvent as never);
    this.assertHealthy(`${event.type} ${event.id} on ${this.id}`);
    this.throwFailure();
    return this.emitted.slice(before);
  }

  private toMachineEvent(event: DurableCloudEvent): MachineEvent {
    const transform = this.middleware.cloudevent?.[event.type];
    let machineEvent: MachineEvent;
    try {
      machineEvent = transform === undefined ? { type: event.type, data: event.data } : transform(event);
    } catch (cause) {
      throw middlewareError(`cloudevent middleware for ${event.type} failed on ${event.id}`, cause, event);
    }
    if (typeof machineEvent !== 'object' || machineEvent === null || typeof machineEvent.type !== 'string') {
      throw middlewareError(`cloudevent middleware for ${event.type} returned no { type }`, undefined, event);
    }
    return machineEvent;
  }

  private acceptsMachineEvent(machineEvent: MachineEvent): boolean {
    const snapshot = this.actor.getSnapshot() as AnyMachineSnapshot;
    if (snapshot.status !== 'active') return false;
    try {
      return snapshot.can(machineEvent as never);
    } catch {
      // A guard that throws: let the send report it (ACTOR_FAILED) rather than hide it here.
      return true;
    }
  }

  /** The current snapshot. */
  getSnapshot(): SnapshotFrom<TLogic> {
    return this.actor.getSnapshot();
  }

  /** The snapshot to store (`actor.getPersistedSnapshot()`). */
  getPersistedSnapshot(): Snapshot<unknown> {
    return this.actor.getPersistedSnapshot();
  }

  /** Stops the actor. */
  stop(): void {
    this.actor.stop();
  }

  private onInspect(event: InspectionEvent): void {
    // Entered states matter only to `orchestration` middleware: without it, nothing to track.
    if (!this.listening || this.orchestration === undefined || event.type !== '@xstate.microstep' || event.actorRef !== this.actor) return;
    const snapshot = event.snapshot as AnyMachineSnapshot;
    const paths = activePaths(snapshot.value);
    const entered = paths.filter((path) => !this.previous.has(path));
    this.previous = new Set(paths);
    this.enter(entered, snapshot);
  }

  private enter(paths: readonly string[], snapshot: AnyMachineSnapshot): void {
    const handlers = this.orchestration;
    if (handlers === undefined || this.failure !== undefined) return;
    for (const path of paths) {
      const handler = handlers[path];
      if (handler === undefined) continue;
      try {
        const result = handler(this.id, snapshot);
        const emits = result === undefined ? [] : Array.isArray(result) ? result : [result as OrchestrationEmit];
        for (const emit of emits) this.emitted.push(this.toCloudEvent(emit, path));
      } catch (cause) {
        // Recorded and thrown after the step: throwing inside xstate's inspection would leave the
        // actor half-updated, and swallowing it would let the state advance silently.
        this.failure = isDurableError(cause, OrchestratorErrorCode.MIDDLEWARE)
          ? cause
          : middlewareError(`orchestration middleware for state ${path} of ${this.id} failed`, cause);
        return;
      }
    }
  }

  private toCloudEvent(emit: OrchestrationEmit, path: string): DurableCloudEvent {
    if (typeof emit !== 'object' || emit === null || typeof emit.type !== 'string') {
      throw middlewareError(`orchestration middleware for state ${path} returned an event without a type`);
    }
    if (!emit.type.startsWith('cmd.') && !emit.type.startsWith('notif.')) {
      throw middlewareError(`orchestration middleware for state ${path} returned type ${emit.type}: only cmd.* and notif.* can be emitted`);
    }
    if ((emit as { subject?: unknown }).subject !== undefined && (emit as { subject?: unknown }).subject !== this.id) {
      throw middlewareError(`orchestration middleware for state ${path} changed the subject: it must stay ${this.id}`);
    }
    const index = this.stepIndex++;
    return createCloudEvent({
      id: deterministicEventId(this.source, this.id, this.seq, this.trigger.key, index),
      source: this.source,
      type: emit.type,
      subject: this.id,
      time: this.trigger.time,
      ...(emit.data === undefined ? {} : { data: emit.data }),
      ...(emit.datacontenttype === undefined ? {} : { datacontenttype: emit.datacontenttype }),
      ...(emit.dataschema === undefined ? {} : { dataschema: emit.dataschema }),
      ...(emit.extensions === undefined ? {} : { extensions: emit.extensions }),
    });
  }

  private assertHealthy(what: string): void {
    const snapshot = this.actor.getSnapshot() as { status?: string; error?: unknown };
    if (snapshot.status === 'error') {
      const reason = snapshot.error instanceof Error ? snapshot.error.message : String(snapshot.error);
      throw new DurableError(OrchestratorErrorCode.ACTOR_FAILED, `orchestrator: the machine failed during ${what}: ${reason}`, {
        cause: snapshot.error,
        details: { subject: this.id },
      });
    }
  }

  private throwFailure(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** Creates a {@link CloudOrchestrationActor} (not yet started). */
export function createCloudOrchestrationActor<TLogic extends AnyStateMachine>(
  logic: TLogic,
  options: CloudOrchestrationActorOptions<TLogic>,
): CloudOrchestrationActor<TLogic> {
  return new CloudOrchestrationActor(logic, options);
}

/** `INVALID_EVENT` unless `event` is an `evt.*` event: orchestrators consume those only. */
export function assertInputType(event: DurableCloudEvent): void {
  if (event.type.startsWith(INPUT_TYPE_PREFIX)) return;
  throw new DurableError(
    ErrorCode.INVALID_EVENT,
    `orchestrator: event ${event.id} has type ${event.type}: an orchestrator consumes evt.* events only (cmd.* and notif.* are what it emits)`,
    { details: { id: event.id, source: event.source, type: event.type } },
  );
}

function middlewareError(message: string, cause?: unknown, event?: DurableCloudEvent): DurableError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new DurableError(OrchestratorErrorCode.MIDDLEWARE, `orchestrator: ${message}${reason}`, {
    ...(cause === undefined ? {} : { cause }),
    ...(event === undefined ? {} : { details: { id: event.id, source: event.source, type: event.type } }),
  });
}

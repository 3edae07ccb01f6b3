import { createActor } from 'xstate';
import type {
  Actor,
  AnyMachineSnapshot,
  AnyStateMachine,
  InputFrom,
  InspectionEvent,
  Snapshot,
  SnapshotFrom,
  StateValue,
} from 'xstate';
import type { PendingTimer } from '../actor/timers.js';
import { TimerBook, manualClock } from '../actor/timers.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { DurableError, ErrorCode, isDurableError } from '../errors.js';
import { checkOptions } from '../option-checks.js';
import type { DurableCloudEvent } from './cloudevent.js';
import { assertCloudEvent } from './cloudevent.js';
import {
  acceptsEvent,
  assertHealthy,
  assertInputType,
  emittedEvent,
  middlewareError,
  toMachineEvent,
} from './emit.js';
import { OrchestratorErrorCode } from './errors.js';
import type {
  CloudOrchestratorMiddlewares,
  OrchestrationEmit,
  OrchestrationMiddleware,
} from './middleware.js';
import { activePaths } from './state-paths.js';
import { resolveMiddlewareKeys } from './state-keys.js';

export { INPUT_TYPE_PREFIX, assertInputType } from './emit.js';
export type {
  CloudEventMiddleware,
  CloudOrchestratorMiddlewares,
  MachineEvent,
  OrchestrationEmit,
  OrchestrationMiddleware,
} from './middleware.js';

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
  /** Time source for events whose trigger has no `time`, and for timer deadlines. @default Date.now */
  clock?: Clock;
  /**
   * Durable timers: the delayed events pending at the last save (`[]` for none). When given, no
   * delay fires by itself: `pendingTimers()` lists them for saving and `fireDueTimers(now)`
   * delivers the due ones (what `orchestrateCloudEvents` and its timer run do). Omitted: xstate's
   * own in-memory timers, lost with the process.
   */
  timers?: readonly PendingTimer[];
}

const START = 'start';

const ACTOR_OPTIONS = [
  'id',
  'source',
  'middleware',
  'snapshot',
  'input',
  'sequence',
  'clock',
  'timers',
] as const;

/** @internal The redelivery key of a timer's firing: its id and deadline. */
export function timerKey(timer: PendingTimer): string {
  return `timer\u0000${timer.id}\u0000${timer.deadline}`;
}

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
  private readonly stored: readonly PendingTimer[] | undefined;
  private book: TimerBook | undefined;
  private transitionAt = 0;

  constructor(logic: TLogic, options: CloudOrchestrationActorOptions<TLogic>) {
    checkOptions(options, 'orchestrator: CloudOrchestrationActor', {
      known: ACTOR_OPTIONS,
      required: ['id'],
      renamed: { version: 'orchestrateCloudEvents versions (this actor is not versioned itself)' },
    });
    if (typeof options.id !== 'string' || options.id.length === 0) {
      throw new DurableError(
        ErrorCode.CONFIG,
        'orchestrator: an orchestration actor needs a non-empty id',
      );
    }
    this.id = options.id;
    this.source = options.source ?? 'durable.orchestrator';
    // Inside, the middleware sees any machine: the types were checked where the caller wrote it.
    this.middleware = (options.middleware ?? {}) as CloudOrchestratorMiddlewares;
    checkOptions(this.middleware, 'orchestrator: middleware', {
      known: ['cloudevent', 'orchestration'],
    });
    this.orchestration =
      this.middleware.orchestration === undefined
        ? undefined
        : resolveMiddlewareKeys(logic, this.middleware.orchestration, 'orchestrator');
    this.clock = options.clock ?? systemClock;
    this.seq = options.sequence ?? 0;
    this.fresh = options.snapshot === undefined;
    this.stored = options.timers;
    this.actor = createActor(logic as AnyStateMachine, {
      id: options.id,
      ...(options.snapshot === undefined ? {} : { snapshot: options.snapshot }),
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.timers === undefined ? {} : { clock: manualClock }),
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
    this.transitionAt = this.clock();
    this.trigger = { key: START, time: new Date(this.transitionAt).toISOString() };
    this.stepIndex = 0;
    this.actor.start();
    assertHealthy(this.actor, this.id, `start of ${this.id}`);
    if (this.stored !== undefined) {
      this.book = new TimerBook(this.actor, 'orchestrator');
      this.book.rearm(this.stored, this.transitionAt);
    }
    const snapshot = this.actor.getSnapshot() as AnyMachineSnapshot;
    const paths = activePaths(snapshot.value as StateValue);
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
      throw new DurableError(
        ErrorCode.CONFIG,
        `orchestrator: start() the actor ${this.id} before sending it events`,
      );
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
    return acceptsEvent(this.actor, toMachineEvent(this.middleware, event));
  }

  /**
   * @internal `cloudevent` without its checks, for `orchestrateCloudEvents`, which has already
   * validated each event and grouped it under this actor's subject. `undefined` when the current
   * state does not accept the event: nothing was applied and the sequence did not move.
   */
  applyValidated(event: DurableCloudEvent): DurableCloudEvent[] | undefined {
    const machineEvent = toMachineEvent(this.middleware, event);
    if (!acceptsEvent(this.actor, machineEvent)) return undefined;
    const before = this.emitted.length;
    this.seq += 1;
    this.transitionAt = this.clock();
    this.trigger = {
      key: `${event.source}\u0000${event.id}`,
      time: event.time ?? new Date(this.transitionAt).toISOString(),
    };
    this.stepIndex = 0;
    this.actor.send(machineEvent as never);
    assertHealthy(this.actor, this.id, `${event.type} ${event.id} on ${this.id}`);
    this.throwFailure();
    return this.emitted.slice(before);
  }

  /**
   * The delayed events pending now, soonest first, with absolute deadlines (a delay scheduled by
   * the last transition is due its delay after that transition): what a save records. Empty
   * without the `timers` option.
   */
  pendingTimers(): PendingTimer[] {
    return this.book?.pending((scheduled) => this.transitionAt + scheduled.delay) ?? [];
  }

  /**
   * `SERIALIZATION` while a delayed event to another actor is pending (a `sendTo` a child with a
   * `delay`): no timer run could deliver it to that actor after a restore, so it is not saved.
   */
  assertOwnDelaysOnly(context: string): void {
    this.book?.assertOwnDelaysOnly(context);
  }

  /**
   * Delivers the next pending timer due at `now` (its deadline passed), as one transition;
   * `undefined` when none is due. Emitted events take the deadline as `time` and an id from the
   * timer's id and deadline, so a re-run after a crash emits the same events.
   */
  fireNextDue(now: number): { timer: PendingTimer; emitted: DurableCloudEvent[] } | undefined {
    const timer = this.pendingTimers()[0];
    if (timer === undefined || timer.deadline > now || this.book === undefined) return undefined;
    const before = this.emitted.length;
    this.seq += 1;
    this.transitionAt = this.clock();
    this.trigger = { key: timerKey(timer), time: new Date(timer.deadline).toISOString() };
    this.stepIndex = 0;
    this.book.fire(timer);
    assertHealthy(this.actor, this.id, `timer ${timer.id} on ${this.id}`);
    this.throwFailure();
    return { timer, emitted: this.emitted.slice(before) };
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
    if (
      !this.listening ||
      this.orchestration === undefined ||
      event.type !== '@xstate.microstep' ||
      event.actorRef !== this.actor
    )
      return;
    const snapshot = event.snapshot as AnyMachineSnapshot;
    const paths = activePaths(snapshot.value as StateValue);
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
        const emits: readonly OrchestrationEmit[] =
          result === undefined ? [] : isEmitList(result) ? result : [result];
        for (const emit of emits) this.emitted.push(this.toCloudEvent(emit, path));
      } catch (cause) {
        // Recorded and thrown after the step: throwing inside xstate's inspection would leave the
        // actor half-updated, and swallowing it would let the state advance silently.
        this.failure = isDurableError(cause, OrchestratorErrorCode.MIDDLEWARE)
          ? cause
          : middlewareError(
              `orchestration middleware for state ${path} of ${this.id} failed`,
              cause,
            );
        return;
      }
    }
  }

  private toCloudEvent(emit: OrchestrationEmit, path: string): DurableCloudEvent {
    const { key: triggerKey, time } = this.trigger;
    return emittedEvent(emit, path, {
      source: this.source,
      subject: this.id,
      sequence: this.seq,
      triggerKey,
      time,
      index: this.stepIndex++,
    });
  }

  private throwFailure(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

// Array.isArray narrows a readonly array to any[]; this keeps the element type.
function isEmitList(
  result: OrchestrationEmit | readonly OrchestrationEmit[],
): result is readonly OrchestrationEmit[] {
  return Array.isArray(result);
}

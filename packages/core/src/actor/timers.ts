import type { AnyActorRef } from 'xstate';
import { DurableError, ErrorCode } from '../errors.js';

/**
 * A delayed event pending in an actor (an `after` transition, a `raise` or `sendTo` itself with
 * a `delay`): what is saved beside the snapshot, because xstate's persisted snapshot drops it.
 */
export interface PendingTimer {
  /** xstate's send id: `xstate.after.<delay>.<state id>` for `after`, the action's `id` otherwise. */
  readonly id: string;
  /** When it is due, in epoch milliseconds of the saving side's clock. */
  readonly deadline: number;
  /** The event it delivers to the actor. */
  readonly event: { readonly type: string; readonly [key: string]: unknown };
}

// What xstate 5 keeps of a scheduled event (`system._snapshot._scheduledEvents`), and the parts
// of its system the timers use. Not public API: checked at run time, `CONFIG` when absent.
interface ScheduledEvent {
  source: unknown;
  target: unknown;
  event: { type: string };
  delay: number;
  id: string;
  startedAt: number;
}
interface SchedulingSystem {
  scheduler: {
    schedule(
      source: AnyActorRef,
      target: AnyActorRef,
      event: unknown,
      delay: number,
      id: string,
    ): void;
    cancel(source: AnyActorRef, id: string): void;
  };
  _snapshot: { _scheduledEvents: Record<string, ScheduledEvent> };
}

/** @internal An xstate clock that never fires: the owner delivers due timers itself. */
export const manualClock = {
  setTimeout: (): object => ({}),
  clearTimeout: (): void => undefined,
};

/** @internal How a timer first seen in the actor gets its deadline. */
export type DeadlineOf = (scheduled: { delay: number; startedAt: number }) => number;

/**
 * @internal Reads and restores the delayed events of one actor through xstate's own scheduler:
 * a stored timer is scheduled again under its id, so leaving its state cancels it as xstate
 * would; firing goes through `cancel` and `send`, xstate's own path. Only delays the actor sends
 * itself are kept: a delay to or from another actor has no name that survives a restore, and a
 * save while the actor has one to another actor pending is refused ({@link assertOwnDelaysOnly}).
 */
export class TimerBook {
  // Deadlines by scheduled-event object: xstate makes a new object per schedule, so a state
  // re-entered (cancel, then schedule under the same id) gets a new deadline, never the old one.
  private readonly deadlines = new WeakMap<object, number>();
  private readonly system: SchedulingSystem;

  constructor(
    private readonly actor: AnyActorRef,
    context: string,
  ) {
    const system = (actor as unknown as { system?: Partial<SchedulingSystem> }).system;
    if (
      typeof system?.scheduler?.schedule !== 'function' ||
      typeof system._snapshot?._scheduledEvents !== 'object'
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: this xstate has no system scheduler to read delayed events from; durable timers need an xstate 5 release whose actor system has a scheduler (upgrade xstate)`,
      );
    }
    this.system = system as SchedulingSystem;
  }

  /** Schedules stored timers again (due ones with no delay); the actor must be started. */
  rearm(timers: readonly PendingTimer[], now: number): void {
    for (const timer of timers) {
      this.system.scheduler.schedule(
        this.actor,
        this.actor,
        timer.event,
        Math.max(0, timer.deadline - now),
        timer.id,
      );
      const scheduled =
        this.system._snapshot._scheduledEvents[`${this.actor.sessionId}.${timer.id}`];
      if (scheduled !== undefined) this.deadlines.set(scheduled, timer.deadline);
    }
  }

  /** The actor's own pending delays, soonest first; a delay first seen here gets `deadlineOf`. */
  pending(deadlineOf: DeadlineOf): PendingTimer[] {
    const timers: PendingTimer[] = [];
    for (const scheduled of Object.values(this.system._snapshot._scheduledEvents)) {
      if (scheduled.source !== this.actor || scheduled.target !== this.actor) continue;
      let deadline = this.deadlines.get(scheduled);
      if (deadline === undefined) this.deadlines.set(scheduled, (deadline = deadlineOf(scheduled)));
      timers.push({ id: scheduled.id, deadline, event: scheduled.event });
    }
    return timers.sort(
      (a, b) => a.deadline - b.deadline || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }

  /**
   * Refuses a save while the actor has a delayed event to another actor pending (`sendTo` a
   * child or a system actor with a `delay`): `SERIALIZATION`, and nothing is written. It cannot
   * be kept safely. xstate's scheduler names its target by the actor object of this process; after
   * a restore the target is a new actor (a re-created child, a fresh session), and a timer run
   * (`fireDueTimers`) only delivers events to the orchestration itself, so the event would be
   * delivered to nobody, or to an actor that is not the one it was sent to. Saving without it
   * would lose it silently, as xstate's own persisted snapshot does.
   */
  assertOwnDelaysOnly(context: string): void {
    for (const scheduled of Object.values(this.system._snapshot._scheduledEvents)) {
      if (scheduled.source !== this.actor || scheduled.target === this.actor) continue;
      const target = (scheduled.target as { id?: unknown } | null)?.id;
      const named = typeof target === 'string' ? target : 'another actor';
      throw new DurableError(
        ErrorCode.SERIALIZATION,
        `${context}: a delayed ${scheduled.event.type} to ${named} (send id ${scheduled.id}) is pending, and durable timers keep only the delays an actor sends itself: after a restore ${named} is another actor instance and no timer run could deliver it safely. Delay the event to the actor itself and forward it when it arrives (raise it with the delay, then sendTo ${named} without one)`,
        { details: { id: scheduled.id, target: named, event: scheduled.event.type } },
      );
    }
  }

  /** True while `timer` (same id and deadline) is still pending. */
  isPending(timer: PendingTimer): boolean {
    const scheduled = this.system._snapshot._scheduledEvents[`${this.actor.sessionId}.${timer.id}`];
    return scheduled !== undefined && this.deadlines.get(scheduled) === timer.deadline;
  }

  /** Delivers a pending timer now, as xstate's scheduler would when it is due. */
  fire(timer: PendingTimer): void {
    this.system.scheduler.cancel(this.actor, timer.id);
    this.actor.send(timer.event as never);
  }
}

/** @internal Checks stored timers (an envelope's `timers`); `undefined` when they are unreadable. */
export function parseTimers(value: unknown): PendingTimer[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return undefined;
  const timers: PendingTimer[] = [];
  for (const item of value as unknown[]) {
    const timer = item as Partial<PendingTimer> | null;
    if (
      typeof timer !== 'object' ||
      timer === null ||
      typeof timer.id !== 'string' ||
      typeof timer.deadline !== 'number' ||
      !Number.isFinite(timer.deadline) ||
      typeof timer.event !== 'object' ||
      timer.event === null ||
      typeof timer.event.type !== 'string'
    ) {
      return undefined;
    }
    timers.push({ id: timer.id, deadline: timer.deadline, event: timer.event });
  }
  return timers;
}

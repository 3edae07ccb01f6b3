import type { FsOp } from '../../src/protocol.js';
import { ModelFs } from './model-fs.js';

/*
 * A generic schedule explorer for protocol routines: several actors, each a generator of file-system
 * calls, run against ModelFs in every order with at most `bound` preemptions. After every step an
 * invariant is checked; at the end, the outcomes. Used for the workflow store's layout, and by
 * explore.ts for the storage protocol's register histories.
 */

/** What an actor ended with: its return value, or what it threw. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown } | undefined;

/** One run's world: a fresh file system (set up) and the actors' routines. */
export interface World {
  readonly fs: ModelFs;
  readonly actors: readonly Generator<FsOp, unknown, unknown>[];
  /** Must hold after every step. */
  invariant?(): void;
  /** Checks the outcomes once every actor is done (or stopped for good), given the schedule taken. */
  check(outcomes: readonly Outcome[], decisions: readonly Decision[]): void;
}

const MAX_STEPS = 5000;

/** Runs a routine alone to completion against `fs` (setup and checks, not a scheduled step). */
export function drive<T>(fs: ModelFs, gen: Generator<FsOp, T, unknown>): T {
  let next = gen.next();
  while (!next.done) {
    let answer: unknown;
    try {
      answer = fs.perform(next.value);
    } catch (error) {
      next = gen.throw(error);
      continue;
    }
    next = gen.next(answer);
  }
  return next.value;
}

/** One scheduling decision: the actors that could go, the one that went, the one that went before. */
export interface Decision {
  enabled: number[];
  chosen: number;
  current: number | undefined;
}

function runOnce(
  world: World,
  choose: (enabled: number[], current: number | undefined) => number | undefined,
  check = true,
): Decision[] {
  const actors = world.actors.map((gen) => ({
    gen,
    pending: undefined as IteratorResult<FsOp, unknown> | undefined,
    // The second step of a two-step call whose paths are resolved (see ModelFs.begin): a link,
    // mkdir, rename or create acts on the folder it resolved, even if that folder moved meanwhile.
    resolved: undefined as (() => unknown) | undefined,
    done: false,
    outcome: undefined as Outcome,
  }));
  const decisions: Decision[] = [];
  let current: number | undefined;
  const settle = (
    actor: (typeof actors)[number],
    step: () => IteratorResult<FsOp, unknown>,
  ): void => {
    try {
      const next = step();
      actor.pending = next;
      if (next.done === true) {
        actor.done = true;
        actor.outcome = { ok: true, value: next.value };
      }
    } catch (error) {
      actor.done = true;
      actor.outcome = { ok: false, error };
    }
  };
  for (let steps = 0; ; steps++) {
    const enabled = actors.flatMap((actor, i) => (actor.done ? [] : [i]));
    if (enabled.length === 0) break;
    const chosen = choose(enabled, current);
    if (chosen === undefined) break;
    if (steps > MAX_STEPS)
      throw new Error(
        `no progress after ${MAX_STEPS} steps (a livelock?): ${decisions
          .slice(-60)
          .map((d) => d.chosen)
          .join('')}`,
      );
    decisions.push({ enabled, chosen, current });
    current = chosen;
    const actor = actors[chosen]!;
    if (actor.pending === undefined) {
      settle(actor, () => actor.gen.next());
    } else {
      const op = actor.pending.value as FsOp;
      let answer: unknown;
      let failure: { error: unknown } | undefined;
      try {
        if (actor.resolved === undefined) {
          const second = world.fs.begin(op);
          if (second !== undefined) {
            actor.resolved = second;
            world.invariant?.();
            continue;
          }
          answer = world.fs.perform(op);
        } else {
          const second = actor.resolved;
          actor.resolved = undefined;
          answer = second();
        }
      } catch (error) {
        failure = { error };
      }
      settle(actor, () =>
        failure === undefined ? actor.gen.next(answer) : actor.gen.throw(failure.error),
      );
    }
    world.invariant?.();
  }
  if (check)
    world.check(
      actors.map((actor) => actor.outcome),
      decisions,
    );
  return decisions;
}

/** Every schedule with at most `bound` preemptions; returns how many ran. */
export function exploreSchedules(makeWorld: () => World, bound: number): number {
  let count = 0;
  const dfs = (prefix: readonly number[]): void => {
    let calls = 0;
    const decisions = runOnce(makeWorld(), (enabled, current) => {
      const i = calls++;
      if (i < prefix.length) return prefix[i];
      return current !== undefined && enabled.includes(current) ? current : enabled[0];
    });
    count++;
    let preemptions = 0;
    decisions.forEach((decision, j) => {
      const cost = (choice: number): number =>
        decision.current !== undefined &&
        decision.enabled.includes(decision.current) &&
        choice !== decision.current
          ? 1
          : 0;
      if (j >= prefix.length) {
        for (const alt of decision.enabled) {
          if (alt === decision.chosen || preemptions + cost(alt) > bound) continue;
          dfs([...decisions.slice(0, j).map((d) => d.chosen), alt]);
        }
      }
      preemptions += cost(decision.chosen);
    });
  };
  dfs([]);
  return count;
}

/** Actor `paused` stopped after each of its steps in turn while the others run, then resumed (or, with `crash`, never). */
export function pauseEachStep(makeWorld: () => World, paused: number, crash: boolean): number {
  let steps = 0;
  runOnce(
    makeWorld(),
    (enabled) => {
      if (!enabled.includes(paused)) return undefined;
      steps++;
      return paused;
    },
    false,
  );
  for (let at = 0; at <= steps; at++) {
    let taken = 0;
    runOnce(makeWorld(), (enabled) => {
      if (taken < at && enabled.includes(paused)) {
        taken++;
        return paused;
      }
      const other = enabled.find((i) => i !== paused);
      if (other !== undefined) return other;
      return crash ? undefined : paused;
    });
  }
  return steps + 1;
}

export { ModelFs };

import type { FsOp, Head, KeyFolder, ProtocolOptions } from '../../src/protocol.js';
import { commit, readHead } from '../../src/protocol.js';
import { ValueKind, encodeValueFile } from '../../src/value-file.js';
import { ModelFs } from './model-fs.js';

/*
 * Runs the production protocol steps (src/protocol.ts) of several actors against ModelFs in
 * chosen orders, records each storage operation's call and return (in steps), and checks the
 * history is linearizable for a compare-and-swap register whose versions are never reused.
 */

/** One storage operation an actor performs. `cond: 'read'` uses the version of its own last read. */
export type Spec =
  | { readonly kind: 'read' }
  | { readonly kind: 'write'; readonly value: string; readonly cond: 'any' | 'absent' | 'read' }
  | { readonly kind: 'delete'; readonly cond: 'any' | 'read' };

/** A recorded operation. */
export interface Event {
  readonly actor: number;
  readonly spec: Spec;
  readonly ifVersion: string | null | undefined;
  readonly start: number;
  end?: number;
  result?:
    | { kind: 'written'; version: string }
    | { kind: 'conflict' }
    | { kind: 'read'; value: string | undefined; version: string | undefined }
    | { kind: 'deleted'; existed: boolean };
}

/** A scenario: operations run alone first (setup), then the actors' programs. */
export interface Scenario {
  readonly sealAt: number;
  readonly setup: readonly Spec[];
  readonly actors: readonly (readonly Spec[])[];
}

const MAX_STEPS = 3000;
const KEY: KeyFolder = { dir: '/root/k~', parent: '/root' };
const ABSENT = encodeValueFile(ValueKind.ABSENT, new Uint8Array(0));

function present(head: Head | undefined): head is Head {
  return head !== undefined && head.kind === ValueKind.VALUE;
}

function holds(head: Head | undefined, ifVersion: string | null | undefined): boolean {
  if (ifVersion === undefined) return true;
  if (ifVersion === null) return !present(head);
  return present(head) && String(head.version) === ifVersion;
}

// One actor's program as protocol steps, recording events against the shared step clock.
function* program(
  actor: number,
  specs: readonly Spec[],
  options: ProtocolOptions,
  clock: { now: number },
  history: Event[],
): Generator<FsOp, void, unknown> {
  let lastRead: string | null = null;
  for (const spec of specs) {
    const ifVersion =
      spec.kind === 'read' || spec.cond === 'any'
        ? undefined
        : spec.cond === 'absent'
          ? null
          : lastRead;
    const event: Event = { actor, spec, ifVersion, start: clock.now };
    history.push(event);
    if (spec.kind === 'read') {
      const head = yield* readHead(KEY, options);
      if (head !== undefined && head.kind === undefined)
        throw new Error(`corrupt head ${head.path}: ${head.corrupt}`);
      const value = present(head) ? Buffer.from(head.data).toString() : undefined;
      lastRead = present(head) ? String(head.version) : null;
      event.result = {
        kind: 'read',
        value,
        version: present(head) ? String(head.version) : undefined,
      };
    } else if (spec.kind === 'write') {
      const chunks = encodeValueFile(ValueKind.VALUE, Buffer.from(spec.value));
      const result = yield* commit(
        KEY,
        (head) => (holds(head, ifVersion) ? { chunks, sync: true } : undefined),
        options,
      );
      event.result = result.committed
        ? { kind: 'written', version: String(result.version) }
        : { kind: 'conflict' };
    } else {
      const result = yield* commit(
        KEY,
        (head) =>
          present(head) && holds(head, ifVersion) ? { chunks: ABSENT, sync: true } : undefined,
        options,
      );
      event.result = result.committed
        ? { kind: 'deleted', existed: true }
        : typeof ifVersion === 'string'
          ? { kind: 'conflict' }
          : { kind: 'deleted', existed: false };
    }
    event.end = clock.now;
  }
}

/** One run: the file system, the history, and the decisions taken. */
export interface Run {
  readonly fs: ModelFs;
  readonly history: Event[];
  readonly decisions: { enabled: number[]; chosen: number; current: number | undefined }[];
}

/**
 * Runs a scenario; `choose` picks the actor that performs the next step among those not done
 * (returning undefined stops the run there: the others never finish, as if they crashed).
 */
export function runScenario(
  scenario: Scenario,
  choose: (enabled: number[], step: number, current: number | undefined) => number | undefined,
): Run {
  const fs = new ModelFs();
  fs.mkdirs(KEY.parent);
  let names = 0;
  // Everything counts as abandoned: sweeps hit files and folders still in use, which must be harmless.
  const options: ProtocolOptions = {
    sealAt: scenario.sealAt,
    uniqueName: () => String(names++),
    isAbandoned: () => true,
  };
  const clock = { now: 0 };
  const history: Event[] = [];
  drive(program(-1, scenario.setup, options, clock, []), fs);
  // Each actor keeps its own epoch hints, as a process does, so stale hints are exercised too.
  const actors = scenario.actors.map((specs, i) => ({
    gen: program(i, specs, { ...options, epochHints: new Map() }, clock, history),
    pending: undefined as IteratorResult<FsOp, void> | undefined,
    // The second step of a two-step call whose paths are resolved (see ModelFs.begin).
    resolved: undefined as (() => unknown) | undefined,
    done: false,
  }));
  const decisions: Run['decisions'] = [];
  let current: number | undefined;
  for (;;) {
    const enabled = actors.flatMap((actor, i) => (actor.done ? [] : [i]));
    if (enabled.length === 0) break;
    const chosen = choose(enabled, clock.now, current);
    if (chosen === undefined) break;
    if (clock.now > MAX_STEPS)
      throw new Error(
        `no progress after ${MAX_STEPS} steps (a livelock?): ${decisions
          .slice(-60)
          .map((d) => d.chosen)
          .join('')}`,
      );
    decisions.push({ enabled, chosen, current });
    current = chosen;
    const actor = actors[chosen]!;
    clock.now++;
    // An actor's first next() runs its code up to its first call; each later step answers its call.
    let next = actor.pending ?? actor.gen.next();
    if (!next.done) {
      let answer: unknown;
      try {
        if (actor.resolved === undefined) {
          const second = fs.begin(next.value);
          if (second !== undefined) {
            // The call has resolved its paths; it acts when this actor is scheduled again.
            actor.resolved = second;
            actor.pending = next;
            continue;
          }
          answer = fs.perform(next.value);
        } else {
          const second = actor.resolved;
          actor.resolved = undefined;
          answer = second();
        }
      } catch (error) {
        next = actor.gen.throw(error);
        actor.pending = next;
        actor.done = next.done === true;
        continue;
      }
      next = actor.gen.next(answer);
    }
    actor.pending = next;
    actor.done = next.done === true;
  }
  return { fs, history, decisions };
}

function drive(gen: Generator<FsOp, void, unknown>, fs: ModelFs): void {
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
}

/** Reads the key alone after a run (a fresh reader, finishing any half-done compaction). */
export function finalRead(
  fs: ModelFs,
  sealAt: number,
): { value: string | undefined; version: string | undefined } {
  let names = 1_000_000;
  const gen = readHead(KEY, { sealAt, uniqueName: () => String(names++), isAbandoned: () => true });
  let next = gen.next();
  while (!next.done) next = gen.next(fs.perform(next.value));
  const head = next.value;
  return present(head)
    ? { value: Buffer.from(head.data).toString(), version: String(head.version) }
    : { value: undefined, version: undefined };
}

interface RegisterState {
  present: boolean;
  value: string | undefined;
  version: string | undefined; // undefined while unknown (written by an operation that never returned)
}

/**
 * Whether the history (plus a final read, which must come last) has a linearization: an order
 * that respects real time (an operation that returned before another started comes first) in
 * which each result is what a compare-and-swap register gives, and no version names two values.
 * Operations that never returned may be placed anywhere or left out.
 */
export function isLinearizable(
  history: readonly Event[],
  initial: RegisterState,
  final: { value: string | undefined; version: string | undefined },
): boolean {
  const ops = history.filter((event) => event.result !== undefined || event.end === undefined);
  const versions = new Map<string, string>();
  for (const event of history) {
    const r = event.result;
    if (r?.kind === 'read' && r.version !== undefined) {
      const seen = versions.get(r.version);
      if (seen !== undefined && seen !== r.value) return false; // one version, two values
      versions.set(r.version, r.value as string);
    }
  }
  const search = (state: RegisterState, used: Set<string>, remaining: Event[]): boolean => {
    if (remaining.every((event) => event.end === undefined)) {
      if (final.value !== (state.present ? state.value : undefined)) return false;
      return !state.present || state.version === undefined || state.version === final.version;
    }
    const firstEnd = Math.min(...remaining.map((event) => event.end ?? Infinity));
    for (const event of remaining) {
      if (event.start > firstEnd) continue; // something that finished before it started is still unplaced
      const rest = remaining.filter((other) => other !== event);
      for (const next of apply(state, used, event)) {
        if (search(next.state, next.used, rest)) return true;
      }
      if (event.end === undefined && search(state, used, rest)) return true; // never took effect
    }
    return false;
  };
  return search(initial, new Set(initial.version === undefined ? [] : [initial.version]), [...ops]);
}

function apply(
  state: RegisterState,
  used: Set<string>,
  event: Event,
): { state: RegisterState; used: Set<string> }[] {
  const { spec, ifVersion, result } = event;
  const matches = (): boolean =>
    ifVersion === undefined ||
    (ifVersion === null
      ? !state.present
      : state.present && (state.version === undefined || state.version === ifVersion));
  const bind = (): RegisterState =>
    state.present && state.version === undefined && typeof ifVersion === 'string'
      ? { ...state, version: ifVersion }
      : state;
  if (spec.kind === 'read') {
    if (result === undefined) return [{ state, used }];
    if (result.kind !== 'read') return [];
    if (!state.present) return result.value === undefined ? [{ state, used }] : [];
    if (result.value !== state.value) return [];
    if (state.version === undefined)
      return result.version !== undefined && !used.has(result.version)
        ? [
            {
              state: { ...state, version: result.version },
              used: new Set([...used, result.version]),
            },
          ]
        : [];
    return result.version === state.version ? [{ state, used }] : [];
  }
  if (spec.kind === 'write') {
    if (result === undefined)
      return matches()
        ? [{ state: { present: true, value: spec.value, version: undefined }, used }]
        : [];
    if (result.kind === 'conflict') return matches() ? [] : [{ state, used }];
    if (result.kind !== 'written' || !matches() || used.has(result.version)) return [];
    bind();
    return [
      {
        state: { present: true, value: spec.value, version: result.version },
        used: new Set([...used, result.version]),
      },
    ];
  }
  if (result === undefined)
    return state.present && matches()
      ? [{ state: { present: false, value: undefined, version: undefined }, used }]
      : [{ state, used }];
  if (result.kind === 'conflict') return matches() ? [] : [{ state, used }];
  if (result.kind !== 'deleted') return [];
  if (result.existed)
    return state.present && matches()
      ? [{ state: { present: false, value: undefined, version: undefined }, used }]
      : [];
  return state.present ? [] : [{ state, used }];
}

/** The register state the scenario's setup leaves. */
export function setupState(scenario: Scenario): RegisterState {
  const run = runScenario({ ...scenario, actors: [] }, () => undefined);
  const read = finalRead(run.fs, scenario.sealAt);
  return { present: read.value !== undefined, value: read.value, version: read.version };
}

/**
 * Every schedule with at most `bound` preemptions (switching away from an actor that could go on),
 * each checked by `check`; returns how many schedules ran.
 */
export function exploreAll(scenario: Scenario, bound: number, check: (run: Run) => void): number {
  let count = 0;
  const dfs = (prefix: readonly number[]): void => {
    let calls = 0;
    const run = runScenario(scenario, (enabled, _step, current) => {
      const i = calls++;
      if (i < prefix.length) return prefix[i];
      return current !== undefined && enabled.includes(current) ? current : enabled[0];
    });
    count++;
    check(run);
    let preemptions = 0;
    run.decisions.forEach((decision, j) => {
      const cost = (choice: number): number =>
        decision.current !== undefined &&
        decision.enabled.includes(decision.current) &&
        choice !== decision.current
          ? 1
          : 0;
      if (j >= prefix.length) {
        for (const alt of decision.enabled) {
          if (alt === decision.chosen || preemptions + cost(alt) > bound) continue;
          dfs([...run.decisions.slice(0, j).map((d) => d.chosen), alt]);
        }
      }
      preemptions += cost(decision.chosen);
    });
  };
  dfs([]);
  return count;
}

/**
 * Pauses actor `paused` after each of its steps in turn while the other actors run to the end one
 * after another, then lets it finish (or, with `crash`, never): returns how many pauses ran.
 */
export function pauseEachStep(
  scenario: Scenario,
  paused: number,
  crash: boolean,
  check: (run: Run) => void,
): number {
  const alone = runScenario(scenario, (enabled) => (enabled.includes(paused) ? paused : undefined));
  const steps = alone.decisions.length;
  for (let at = 0; at <= steps; at++) {
    let taken = 0;
    const run = runScenario(scenario, (enabled) => {
      if (taken < at && enabled.includes(paused)) {
        taken++;
        return paused;
      }
      const other = enabled.find((i) => i !== paused);
      if (other !== undefined) return other;
      return crash ? undefined : paused;
    });
    check(run);
  }
  return steps + 1;
}

import type { FsOp, Head, KeyFolder, ProtocolOptions } from '../../src/protocol.js';
import { commit, readHead } from '../../src/protocol.js';
import { ValueKind, encodeValueFile } from '../../src/value-file.js';
import type { Decision, World } from './actors.js';
import { drive, exploreSchedules, pauseEachStep as pauseActor } from './actors.js';
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
  readonly decisions: readonly Decision[];
}

// A fresh file system with the scenario's setup run alone, and the options its actors share.
function setUp(scenario: Scenario): { fs: ModelFs; options: ProtocolOptions } {
  const fs = new ModelFs();
  fs.mkdirs(KEY.parent);
  let names = 0;
  // Everything counts as abandoned: sweeps hit files and folders still in use, which must be harmless.
  const options: ProtocolOptions = {
    sealAt: scenario.sealAt,
    uniqueName: () => String(names++),
    isAbandoned: () => true,
  };
  drive(fs, program(-1, scenario.setup, options, { now: 0 }, []));
  return { fs, options };
}

// Advances the shared clock each time the actor resumes, so an operation's start and end stamps
// order it against every other step actually taken (real time, for the linearizability check).
function* ticking<T>(
  gen: Generator<FsOp, T, unknown>,
  clock: { now: number },
): Generator<FsOp, T, unknown> {
  clock.now++;
  let next = gen.next();
  while (!next.done) {
    let answer: unknown;
    try {
      answer = yield next.value;
    } catch (error) {
      clock.now++;
      next = gen.throw(error);
      continue;
    }
    clock.now++;
    next = gen.next(answer);
  }
  return next.value;
}

/**
 * The scenario as a world for the schedule explorer (model/actors.ts): its actors' programs, and
 * a check that hands `check` the run (an actor that threw fails the run with its error).
 */
function scenarioWorld(scenario: Scenario, check: (run: Run) => void): World {
  const { fs, options } = setUp(scenario);
  const clock = { now: 0 };
  const history: Event[] = [];
  // Each actor keeps its own epoch hints, as a process does, so stale hints are exercised too.
  const actors = scenario.actors.map((specs, i) =>
    ticking(
      program(
        i,
        specs,
        { ...options, epochHints: new Map(), knownHeads: new Map() },
        clock,
        history,
      ),
      clock,
    ),
  );
  return {
    fs,
    actors,
    check: (outcomes, decisions) => {
      for (const outcome of outcomes) if (outcome?.ok === false) throw outcome.error;
      check({ fs, history, decisions });
    },
  };
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
  const read = finalRead(setUp(scenario).fs, scenario.sealAt);
  return { present: read.value !== undefined, value: read.value, version: read.version };
}

/**
 * Every schedule with at most `bound` preemptions (switching away from an actor that could go on),
 * each checked by `check`; returns how many schedules ran.
 */
export function exploreAll(scenario: Scenario, bound: number, check: (run: Run) => void): number {
  return exploreSchedules(() => scenarioWorld(scenario, check), bound);
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
  return pauseActor(() => scenarioWorld(scenario, check), paused, crash);
}

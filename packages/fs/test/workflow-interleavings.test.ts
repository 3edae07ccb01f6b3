import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClaimedWorkflow, StepMemo, WorkflowRecord } from '@durable/core';
import { isDurableError } from '@durable/core';
import { workflowTransitions } from '@durable/core/adapter';
import { finestBucket, parseMarker, workflowName } from '../src/due-index.js';
import { FileWorkflowStore } from '../src/index.js';
import { protocolOptions } from '../src/key-store.js';
import type { Steps } from '../src/protocol.js';
import { readHead } from '../src/protocol.js';
import { ValueKind } from '../src/value-file.js';
import { currentRun, readSteps, sweepPrepared } from '../src/workflow-layout.js';
import type { Outcome, World } from './model/actors.js';
import { ModelFs, drive, exploreSchedules, pauseEachStep } from './model/actors.js';

/*
 * The workflow store's own routines (src/workflow-store.ts, src/workflow-layout.ts, src/due-index.ts)
 * run against the in-memory file system in every order with up to 2 preemptions, and with each
 * step of one actor paused, or crashed for good, while the others run. Checked:
 *   - fencing: a stalled holder's step is recorded only if the new holder's history holds it;
 *     otherwise it is refused (LOCK_LOST) and appears nowhere; a position is never recorded twice;
 *   - the due index: after every single step, an unfinished workflow has a marker in a bucket no
 *     later than its due time, so a claim at that time finds it, whatever a claimer moving
 *     markers, a suspend and a signal do meanwhile.
 */

const root = mkdtempSync(join(tmpdir(), 'durable-fs-wf-model-'));
const random = Math.random;
// Claims start at a random marker of a bucket; a replayed schedule must take the same path.
beforeAll(() => (Math.random = () => 0));
afterAll(() => {
  Math.random = random;
  rmSync(root, { recursive: true, force: true });
});

/** The store with its routines reachable: the very code production runs, one file-system call at a time. */
class ModelStore extends FileWorkflowStore {
  readonly dirs = {
    workflows: join(this.root, '.workflows'),
    due: join(this.root, '.workflow-due'),
    created: join(this.root, '.workflow-created'),
  };
  insertRoutine(record: WorkflowRecord): Steps<boolean> {
    return this.insertSteps(record);
  }
  insertClaimedRoutine(record: WorkflowRecord, token: string): Steps<ClaimedWorkflow | undefined> {
    return this.insertClaimedSteps(record, token);
  }
  claimRoutine(
    token: string,
    leaseMs: number,
    now: number,
  ): ReturnType<FileWorkflowStore['claimSteps']> {
    return this.claimSteps(token, leaseMs, now);
  }
  stepRoutine(
    id: string,
    token: string,
    index: number,
    memo: StepMemo,
  ): ReturnType<FileWorkflowStore['recordMemo']> {
    return this.recordMemo(id, workflowName(id), token, index, memo, 'saveStep');
  }
  changeRoutine(
    id: string,
    apply: (record: WorkflowRecord | undefined, now: number) => WorkflowRecord | undefined,
  ): ReturnType<FileWorkflowStore['changeSteps']> {
    return this.changeSteps(id, apply);
  }
}

const ID = 'w';
const NAME = workflowName(ID);
const memo = (id: string): StepMemo => ({ id, kind: 'step', done: true, value: id, at: 0 });

function world(clock: { now: number }): { fs: ModelFs; store: () => ModelStore } {
  // The stores share this process's caches, which must not carry one world's files into another.
  protocolOptions.epochHints?.clear();
  protocolOptions.knownHeads?.clear();
  const fs = new ModelFs();
  const store = (): ModelStore => new ModelStore({ root, clock: () => clock.now, fsync: false });
  const dirs = store().dirs;
  fs.mkdirs(dirs.workflows);
  fs.mkdirs(dirs.due);
  fs.mkdirs(dirs.created);
  return { fs, store };
}

function headOf(fs: ModelFs, store: ModelStore): WorkflowRecord | undefined {
  const dir = `${store.dirs.workflows}/${NAME}`;
  const head = drive(
    fs,
    readHead({ dir, parent: store.dirs.workflows }, { ...protocolOptions, epochHints: new Map() }),
  );
  if (head === undefined || head.kind !== ValueKind.VALUE) return undefined;
  return JSON.parse(Buffer.from(head.data).toString('utf8')) as WorkflowRecord;
}

function stepsOf(fs: ModelFs, store: ModelStore): StepMemo[] {
  const dir = `${store.dirs.workflows}/${NAME}`;
  const run = drive(fs, currentRun(dir));
  return (drive(fs, readSteps(`${dir}/r${run}`))?.memos ?? []) as StepMemo[];
}

/** The finest buckets of every marker of the workflow. */
function markerBuckets(fs: ModelFs, store: ModelStore): number[] {
  const out: number[] = [];
  for (const path of fs.tree(store.dirs.due)) {
    const parts = path.split('/');
    const marker = parseMarker(parts[3] ?? '');
    if (parts.length === 4 && marker?.name === NAME) out.push(Number(parts[2]));
  }
  return out;
}

function dueOf(record: WorkflowRecord): number {
  if (['completed', 'aborted', 'cancelled'].includes(record.status)) return Infinity;
  return record.status === 'running' ? (record.claim?.expiresAt ?? 0) : record.runAt;
}

function assertIndexed(fs: ModelFs, store: ModelStore): void {
  const head = headOf(fs, store);
  if (head === undefined || dueOf(head) === Infinity) return;
  const buckets = markerBuckets(fs, store);
  if (!buckets.some((bucket) => bucket <= finestBucket(dueOf(head)))) {
    throw new Error(
      `workflow ${head.status} due ${dueOf(head)} (bucket ${finestBucket(
        dueOf(head),
      )}) has markers only in ${JSON.stringify(buckets)}:\n${fs.tree(store.dirs.due).join('\n')}`,
    );
  }
}

const lockLost = (outcome: Outcome): boolean =>
  outcome?.ok === false && isDurableError(outcome.error, 'LOCK_LOST');

// A holder whose lease expired records step 1 while a claimer takes the workflow over and records
// its own. The holder's claim came from a claim, or (`started`) from the insert itself
// (insertClaimed: its run folder is r0).
function takeover(started = false): World {
  const clock = { now: 1_000_000 };
  const { fs, store } = world(clock);
  const holder = store();
  const first = started
    ? (drive(
        fs,
        holder.insertClaimedRoutine(
          workflowTransitions.createClaimed({ id: ID, handler: 'h' }, 'stale', 100, clock.now),
          'stale',
        ),
      ) as ClaimedWorkflow)
    : (drive(
        fs,
        holder.insertRoutine(workflowTransitions.create({ id: ID, handler: 'h' }, clock.now)),
      ),
      drive(fs, holder.claimRoutine('stale', 100, clock.now)).claimed as ClaimedWorkflow);
  drive(fs, holder.stepRoutine(ID, first.token, 0, memo('s0')));
  clock.now += 1000;
  const claimer = store();
  let seen: StepMemo[] | undefined;
  const taker = function* (): Steps<number> {
    const claimed = (yield* claimer.claimRoutine('fresh', 60_000, clock.now)).claimed;
    if (claimed === undefined) throw new Error('the expired lease was not taken over');
    seen = claimed.record.steps;
    yield* claimer.stepRoutine(ID, 'fresh', seen.length, memo('fresh'));
    return seen.length;
  };
  return {
    fs,
    actors: [holder.stepRoutine(ID, 'stale', 1, memo('stale')), taker()],
    check: ([stale, fresh]) => {
      const final = stepsOf(fs, store()).map((m) => m.id);
      if (fresh?.ok !== true)
        throw new Error(`the taker failed: ${String((fresh as { error?: unknown })?.error)}`);
      // The new holder's history is what it read, then its own step: nothing recorded since by the
      // stale holder (a link that landed late is superseded), nothing it read ever changes.
      expect(final).toEqual([...(seen ?? []).map((m) => m.id), 'fresh']);
      if (stale?.ok === true) {
        // Acknowledged: recorded before the takeover, so the new holder replayed it.
        if (seen?.[1]?.id !== 'stale')
          throw new Error(
            `the stale step was acknowledged but the new holder did not see it: ${JSON.stringify(
              seen,
            )}`,
          );
      } else if (stale !== undefined && !lockLost(stale)) {
        throw new Error(
          `the stale holder failed otherwise: ${String((stale as { error?: unknown }).error)}`,
        );
      }
    },
  };
}

// Two takeovers in a row: a stale holder records step 1, a first taker (whose own lease is short)
// claims and records, and a second taker, later, claims over it and records. Each taker's history
// must start with everything the takers before it read (nothing read ever changes), and an
// acknowledged step must be in every later taker's history.
function twoTakeovers(): World {
  const clock = { now: 1_000_000 };
  const { fs, store } = world(clock);
  const holder = store();
  drive(fs, holder.insertRoutine(workflowTransitions.create({ id: ID, handler: 'h' }, clock.now)));
  const first = drive(fs, holder.claimRoutine('stale', 100, clock.now)).claimed as ClaimedWorkflow;
  drive(fs, holder.stepRoutine(ID, first.token, 0, memo('s0')));
  clock.now += 1000;
  const later = { now: clock.now + 10_000 };
  const seen: (StepMemo[] | undefined)[] = [undefined, undefined];
  const taker = (slot: number, token: string, at: { now: number }): Steps<boolean> =>
    (function* () {
      const mine = new ModelStore({ root, clock: () => at.now, fsync: false });
      const claimed = (yield* mine.claimRoutine(token, 100, at.now)).claimed;
      if (claimed === undefined) return false;
      seen[slot] = claimed.record.steps;
      yield* mine.stepRoutine(ID, token, claimed.record.steps.length, memo(token));
      return true;
    })();
  return {
    fs,
    actors: [
      holder.stepRoutine(ID, 'stale', 1, memo('stale')),
      taker(0, 'first', clock),
      taker(1, 'second', later),
    ],
    check: ([stale, a, b]) => {
      const final = stepsOf(fs, store()).map((m) => m.id);
      const ids = seen.map((steps) => steps?.map((m) => m.id));
      const isPrefix = (short: string[] | undefined, long: string[] | undefined): boolean =>
        short === undefined || long === undefined || short.every((id, i) => long[i] === id);
      // Whoever claimed last: the history is what it read, then its own step if acknowledged.
      for (const [slot, outcome] of [a, b].entries()) {
        if (outcome?.ok !== true || outcome.value !== true) continue;
        if (!isPrefix(ids[slot], final))
          throw new Error(`taker ${slot} read ${ids[slot]} but the history is ${final}`);
      }
      if (ids[0] !== undefined && ids[1] !== undefined) {
        if (!isPrefix(ids[0], ids[1]))
          throw new Error(`the second taker read ${ids[1]}, not after the first's ${ids[0]}`);
      }
      if (stale?.ok === true) {
        for (const slot of [0, 1])
          if (ids[slot] !== undefined && ids[slot]?.[1] !== 'stale')
            throw new Error(
              `an acknowledged stale step is missing from taker ${slot}: ${ids[slot]}`,
            );
      } else if (stale !== undefined && !lockLost(stale)) {
        throw new Error(
          `the stale holder failed otherwise: ${String((stale as { error?: unknown }).error)}`,
        );
      }
      if (a?.ok === false && !lockLost(a))
        throw new Error(
          `the first taker failed otherwise: ${String((a as { error?: unknown }).error)}`,
        );
      if (b?.ok === false && !lockLost(b))
        throw new Error(
          `the second taker failed otherwise: ${String((b as { error?: unknown }).error)}`,
        );
    },
  };
}

// A holder suspends (earlier than its lease), a claimer looks at the workflow's marker (moving it
// when early), and a signal wakes it: after every step an unfinished workflow stays findable.
function wakeups(): World {
  const clock = { now: 100_000 };
  const { fs, store } = world(clock);
  const holder = store();
  drive(fs, holder.insertRoutine(workflowTransitions.create({ id: ID, handler: 'h' }, clock.now)));
  const claimed = drive(fs, holder.claimRoutine('t1', 60_000, clock.now))
    .claimed as ClaimedWorkflow;
  const signaller = store();
  const claimer = store();
  return {
    fs,
    actors: [
      holder.changeRoutine(ID, (r, now) =>
        workflowTransitions.suspend(
          r as WorkflowRecord,
          claimed.token,
          { runAt: now + 20_000, wakeOn: ['go'] },
          now,
        ),
      ),
      claimer.claimRoutine('t2', 60_000, clock.now),
      signaller.changeRoutine(ID, (r, now) =>
        r === undefined ? undefined : workflowTransitions.signal(r, 'go', null, now),
      ),
    ],
    invariant: () => assertIndexed(fs, store()),
    check: () => {
      assertIndexed(fs, store());
      const head = headOf(fs, store());
      // Woken (the signal came after the suspend) or not yet asleep: a claim now or at the lease's end finds it.
      const at = head?.status === 'sleeping' ? head.runAt : (head?.claim?.expiresAt ?? 0);
      clock.now = Math.max(at, clock.now);
      const found = drive(fs, store().claimRoutine('t3', 1000, clock.now)).claimed;
      if (found === undefined)
        throw new Error(
          `a due workflow was not found: ${JSON.stringify(head)}\n${fs
            .tree(store().dirs.due)
            .join('\n')}`,
        );
    },
  };
}

// An insert racing a claimer: once the workflow exists it is indexed, and it is claimed once.
function insertAndClaim(): World {
  const clock = { now: 5_000 };
  const { fs, store } = world(clock);
  const a = store();
  const b = store();
  return {
    fs,
    actors: [
      a.insertRoutine(workflowTransitions.create({ id: ID, handler: 'h' }, clock.now)),
      b.claimRoutine('t1', 60_000, clock.now),
      b.insertRoutine(workflowTransitions.create({ id: ID, handler: 'other' }, clock.now)),
    ],
    invariant: () => {
      assertIndexed(fs, store());
      assertWhole(fs, store());
    },
    check: ([first, claim, second]) => {
      // Exactly one insert wins; an inserter crashed for good never answers (it may have won).
      const won = [first, second].filter((o) => o?.ok === true && o.value === true).length;
      expect(won === 1 || (won === 0 && first === undefined)).toBe(true);
      if (won === 0) expect(headOf(fs, store())).toBeDefined();
      const claimed =
        claim?.ok === true ? (claim.value as { claimed?: ClaimedWorkflow }).claimed : undefined;
      if (claimed === undefined)
        expect(drive(fs, store().claimRoutine('t2', 60_000, clock.now)).claimed).toBeDefined();
    },
  };
}

// A start claimed by its inserter (insertClaimed) racing an insert of the same id and a claimer:
// one of the two wins; the claimer never takes a workflow whose start holds it; it is indexed at
// its lease's end, so a claim then takes it over.
function startClaimedAndClaim(): World {
  const clock = { now: 5_000 };
  const { fs, store } = world(clock);
  const a = store();
  const b = store();
  return {
    fs,
    actors: [
      a.insertClaimedRoutine(
        workflowTransitions.createClaimed({ id: ID, handler: 'h' }, 't0', 60_000, clock.now),
        't0',
      ),
      b.claimRoutine('t1', 60_000, clock.now),
      b.insertRoutine(workflowTransitions.create({ id: ID, handler: 'other' }, clock.now)),
    ],
    invariant: () => {
      assertIndexed(fs, store());
      assertWhole(fs, store());
    },
    check: ([started, claim, inserted]) => {
      const startWon = started?.ok === true && started.value !== undefined;
      const insertWon = inserted?.ok === true && inserted.value === true;
      expect(startWon && insertWon).toBe(false);
      const head = headOf(fs, store());
      if (started !== undefined && inserted !== undefined) expect(startWon || insertWon).toBe(true);
      const claimed =
        claim?.ok === true ? (claim.value as { claimed?: ClaimedWorkflow }).claimed : undefined;
      if (head?.handler === 'h') {
        // The start's: held by its token until the lease ends, then taken over.
        expect(claimed).toBeUndefined();
        expect(head.claim?.token).toBe('t0');
        expect(drive(fs, store().claimRoutine('t2', 60_000, clock.now)).claimed).toBeUndefined();
        clock.now += 60_000;
        const taken = drive(fs, store().claimRoutine('t3', 60_000, clock.now)).claimed;
        expect(taken?.record.failures).toBe(1);
      }
    },
  };
}

// The workflow folder, whenever it exists, is whole (its head's slot 0 and a run folder) and
// listed (its creation marker exists).
function assertWhole(fs: ModelFs, store: ModelStore): void {
  const dir = `${store.dirs.workflows}/${NAME}`;
  const tree = fs.tree(store.dirs.workflows);
  if (!tree.includes(`${NAME}/`)) return;
  if (!tree.includes(`${NAME}/e0/0`) || drive(fs, currentRun(dir)) === undefined)
    throw new Error(`${dir} exists but is not whole:\n${tree.join('\n')}`);
  if (!fs.tree(store.dirs.created).some((path) => path.endsWith(`.${NAME}`)))
    throw new Error(`${dir} exists but has no creation marker`);
}

// An insert while a sweeper takes every prepared folder for abandoned (as it would one whose
// insert paused past the abandon age): the insert still succeeds, and the workflow folder is never
// seen half made.
function insertAndSweep(): World {
  const clock = { now: 5_000 };
  const { fs, store } = world(clock);
  const inserter = store();
  let names = 0;
  const sweeper = (): Steps<number> =>
    sweepPrepared(
      store().dirs.workflows,
      () => true,
      () => `sweep${names++}`,
    );
  return {
    fs,
    actors: [
      inserter.insertRoutine(workflowTransitions.create({ id: ID, handler: 'h' }, clock.now)),
      sweeper(),
      sweeper(),
    ],
    invariant: () => assertWhole(fs, store()),
    check: ([insert]) => {
      assertWhole(fs, store());
      if (insert !== undefined) {
        if (insert.ok !== true) throw insert.error as Error;
        expect(insert.value).toBe(true);
        expect(headOf(fs, store())?.id).toBe(ID);
      }
      // Alone, a sweep leaves nothing prepared or trashed behind, and the id can be inserted.
      drive(fs, sweeper());
      expect(fs.tree(store().dirs.workflows).filter((name) => /^\.[px]-/.test(name))).toEqual([]);
      if (insert === undefined && headOf(fs, store()) === undefined)
        expect(
          drive(fs, store().insertRoutine(workflowTransitions.create({ id: ID, handler: 'h' }, 1))),
        ).toBe(true);
    },
  };
}

describe('every interleaving of the workflow store routines keeps fencing and the due index', () => {
  // Two preemptions for two actors; one for three (two take minutes on a shared machine).
  test.each([
    ['a stale holder recording a step while its workflow is taken over', 2, () => takeover()],
    [
      'a stale holder that started its workflow claimed, recording a step while it is taken over',
      2,
      () => takeover(true),
    ],
    ['a stale holder recording a step while its workflow is taken over twice', 1, twoTakeovers],
    ['a suspend, a claimer moving markers and a waking signal', 1, wakeups],
    ['two inserts of one id and a claimer', 1, insertAndClaim],
    ['a start claimed by its inserter, an insert of the id and a claimer', 1, startClaimedAndClaim],
    ['an insert and two sweepers of prepared folders', 2, insertAndSweep],
  ] as const)(
    '%s: every schedule with up to %i preemptions',
    (_name, bound, make) => {
      expect(exploreSchedules(make, bound)).toBeGreaterThan(20);
    },
    600_000,
  );

  test.each([
    ['the stale holder', () => takeover(), 0],
    ['the taker', () => takeover(), 1],
    ['the stale holder that started its workflow claimed', () => takeover(true), 0],
    ['the taker of a workflow started claimed', () => takeover(true), 1],
    ['the first of two takers', twoTakeovers, 1],
    ['the stale holder of two takeovers', twoTakeovers, 0],
    ['the suspending holder', wakeups, 0],
    ['the claimer moving markers', wakeups, 1],
    ['the signaller', wakeups, 2],
    ['an inserter', insertAndClaim, 0],
    ['an inserter that claims its start', startClaimedAndClaim, 0],
    ['an inserter whose prepared folder is swept', insertAndSweep, 0],
    ['a sweeper of prepared folders', insertAndSweep, 1],
  ] as const)(
    '%s paused after each of its steps, then resumed, or crashed there for good',
    (name, make, actor) => {
      expect(pauseEachStep(make, actor, false)).toBeGreaterThan(2);
      if (!(name.startsWith('the taker') && actor === 1))
        expect(pauseEachStep(make, actor, true)).toBeGreaterThan(2);
    },
    600_000,
  );
});

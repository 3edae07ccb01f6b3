import type { Run, Scenario, Spec } from './model/explore.js';
import {
  exploreAll,
  finalRead,
  isLinearizable,
  pauseEachStep,
  setupState,
} from './model/explore.js';

/*
 * The commit protocol's own steps (src/protocol.ts), run against an in-memory file system in
 * every order up to a bound on preemptions, and with each step of one actor paused while the
 * others commit (and compact, every commit with sealAt 2) as much as they like. Every history must
 * be linearizable for a compare-and-swap register whose versions name one value forever.
 */

const read: Spec = { kind: 'read' };
const cas = (value: string): Spec => ({ kind: 'write', value, cond: 'read' });
const create = (value: string): Spec => ({ kind: 'write', value, cond: 'absent' });
const put = (value: string): Spec => ({ kind: 'write', value, cond: 'any' });
const del: Spec = { kind: 'delete', cond: 'read' };

function checker(scenario: Scenario): (run: Run) => void {
  const initial = setupState(scenario);
  return (run) => {
    const final = finalRead(run.fs, scenario.sealAt);
    if (!isLinearizable(run.history, initial, final)) {
      throw new Error(
        `not linearizable: schedule ${run.decisions.map((d) => d.chosen).join('')}\n` +
          `${JSON.stringify(
            run.history.map(({ actor, spec, ifVersion, start, end, result }) => ({
              actor,
              spec,
              ifVersion,
              start,
              end,
              result,
            })),
          )}\n` +
          `final ${JSON.stringify(final)}\n${run.fs.tree().join('\n')}`,
      );
    }
    // Exactly one epoch is left at its path once everything is finished.
    const epochs = run.fs.tree('/root/k~').filter((name) => /^e\d+\/$/.test(name));
    if (epochs.length === 0) throw new Error(`no epoch left: ${run.fs.tree().join(' ')}`);
  };
}

const scenarios: Record<string, Scenario> = {
  'two compare-and-swap writers and a reader, compacting on every commit': {
    sealAt: 2,
    setup: [put('v0'), put('v1')],
    actors: [
      [read, cas('a')],
      [read, cas('b')],
      [read, read],
    ],
  },
  'two creators of an absent key and a reader': {
    sealAt: 2,
    setup: [],
    actors: [[create('a')], [create('b')], [read]],
  },
  'a writer, a deleter and a re-creator': {
    sealAt: 2,
    setup: [put('v0')],
    actors: [
      [read, cas('a')],
      [read, del],
      [create('c'), read],
    ],
  },
  'a blind writer and a compare-and-swap writer with slow compaction': {
    sealAt: 3,
    setup: [put('v0'), put('v1')],
    actors: [
      [put('x'), put('y')],
      [read, cas('b')],
    ],
  },
};

describe('every interleaving of the commit protocol is linearizable', () => {
  for (const [name, scenario] of Object.entries(scenarios)) {
    test(`${name}: every schedule with up to 2 preemptions`, () => {
      const runs = exploreAll(scenario, 2, checker(scenario));
      if (process.env.SHOW_COUNTS) process.stdout.write(`${name}: ${runs} schedules\n`);
      expect(runs).toBeGreaterThan(100);
    }, 600_000);
  }
});

describe('a pause at any step of one process, while others commit and compact, breaks nothing', () => {
  const busy: Spec[] = [
    read,
    cas('o1'),
    read,
    cas('o2'),
    read,
    cas('o3'),
    put('o4'),
    read,
    cas('o5'),
  ];
  const stalls: Record<string, Scenario> = {
    'a compare-and-swap writer': {
      sealAt: 2,
      setup: [put('v0'), put('v1')],
      actors: [[read, cas('late')], busy, [read, cas('p1'), put('p2')]],
    },
    'a reader': {
      sealAt: 2,
      setup: [put('v0'), put('v1')],
      actors: [[read], busy, [put('p1'), put('p2'), put('p3')]],
    },
    'a creator': { sealAt: 2, setup: [], actors: [[create('late')], [create('c'), ...busy]] },
    'a blind writer that compacts': {
      sealAt: 2,
      setup: [put('v0'), put('v1')],
      actors: [[put('late'), read], busy],
    },
    'a deleter': {
      sealAt: 2,
      setup: [put('v0')],
      actors: [
        [read, del, read],
        [...busy, { kind: 'delete', cond: 'any' }, create('again')],
      ],
    },
  };
  for (const [name, scenario] of Object.entries(stalls)) {
    test(`${name}, paused after each of its steps, then resumed`, () => {
      expect(pauseEachStep(scenario, 0, false, checker(scenario))).toBeGreaterThan(2);
    });
    test(`${name}, stopped for good after each of its steps (a crash)`, () => {
      expect(pauseEachStep(scenario, 0, true, checker(scenario))).toBeGreaterThan(2);
    });
  }
});

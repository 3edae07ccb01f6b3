import type { StepMemo } from '../src/index.js';
import { MemoryStorageManager, StorageWorkflowStore, isDurableError } from '../src/index.js';
import { Gate } from './support/storage-gate.js';

// The storage-backed store's step path with a holder paused at every storage call of a saveStep
// (before it and after it) while its lease is taken over and the new holder records, itself
// paused at every call of its own saveStep while the old one resumes. Whatever the schedule:
// a saveStep that resolved is in the next holder's history (a recorded step never runs again),
// and a holder whose lease was taken over never records over the new holder (LOCK_LOST).

const memo = (id: string, value: unknown): StepMemo => ({
  id,
  kind: 'step',
  done: true,
  at: 1,
  value,
});

type Settled = { ok: true } | { ok: false; code: string | undefined };

function settle(promise: Promise<unknown>): Promise<Settled> {
  return promise.then(
    () => ({ ok: true }),
    (error: unknown) => ({ ok: false, code: isDurableError(error) ? error.code : String(error) }),
  );
}

// Resolves when `gate` stopped the call or `work` settled, whichever first.
async function pausedOrDone(gate: Gate, work: Promise<Settled>): Promise<boolean> {
  return Promise.race([gate.reached.then(() => true), work.then(() => false)]);
}

interface Outcome {
  staleAcknowledged: boolean;
  nextSawStale: boolean;
  history: unknown[];
}

async function schedule(
  a: { at: number; phase: 'before' | 'after' },
  b: { at: number; phase: 'before' | 'after' } | undefined,
): Promise<{ outcome: Outcome; aPaused: boolean; bPaused: boolean }> {
  let now = 1000;
  const storage = new MemoryStorageManager();
  const gateA = new Gate(storage);
  const gateB = new Gate(storage);
  const stale = new StorageWorkflowStore({ storage: gateA.storage, clock: () => now });
  const next = new StorageWorkflowStore({ storage: gateB.storage, clock: () => now });
  await stale.insert({ id: 'w', handler: 'h' });
  const first = await stale.claim({ leaseMs: 100 });
  if (first === undefined) throw new Error('not claimed');
  await stale.saveStep('w', first.token, 0, memo('charge', 'a0'));

  // The first holder records position 1, stopped at one of its storage calls.
  gateA.arm(a.at, a.phase);
  const staleSave = settle(stale.saveStep('w', first.token, 1, memo('ship', 'a1')));
  const aPaused = await pausedOrDone(gateA, staleSave);

  // Its lease ends; another worker takes the workflow over and runs what is not recorded.
  now += 101;
  const second = await next.claim({ leaseMs: 60_000 });
  if (second === undefined) throw new Error('not taken over');
  const nextSawStale = second.record.steps[1]?.value === 'a1';
  let bPaused = false;
  let nextSave: Promise<Settled> = Promise.resolve({ ok: true });
  if (!nextSawStale) {
    if (b !== undefined) gateB.arm(b.at, b.phase);
    nextSave = settle(next.saveStep('w', second.token, 1, memo('ship', 'b1')));
    if (b !== undefined) bPaused = await pausedOrDone(gateB, nextSave);
  }
  // The first holder resumes (while the second may be stopped in its own save), then the second.
  gateA.release();
  const staleResult = await staleSave;
  gateB.release();
  const nextResult = await nextSave;

  expect(nextResult).toEqual({ ok: true });
  if (!staleResult.ok) expect(staleResult.code).toBe('LOCK_LOST');
  if (process.env.DEBUG_PAUSES)
    console.log(JSON.stringify({ a, b, aPaused, nextSawStale, staleResult }));
  // Either way the old holder can record nothing more, and the new one goes on.
  expect(await settle(stale.saveStep('w', first.token, 2, memo('done', 'a2')))).toEqual({
    ok: false,
    code: 'LOCK_LOST',
  });
  await next.saveStep('w', second.token, 2, memo('done', 'b2'));
  await next.finish('w', second.token, { status: 'completed' });
  const record = await new StorageWorkflowStore({ storage }).get('w');
  return {
    outcome: {
      staleAcknowledged: staleResult.ok,
      nextSawStale,
      history: record?.steps.map((s) => s.value) ?? [],
    },
    aPaused,
    bPaused,
  };
}

describe('storage workflow store: a holder paused at any storage call of a step', () => {
  it('a recorded step is in the next holder history, and a taken-over holder never records over the new one, at every pause point of either', async () => {
    let schedules = 0;
    let acknowledgedBeforeTakeover = 0;
    for (const aPhase of ['before', 'after'] as const) {
      for (let aAt = 1; ; aAt++) {
        let bAt = 1;
        let aPaused = true;
        for (const bPhase of [undefined, 'before', 'after'] as const) {
          for (bAt = 1; ; bAt++) {
            const run = await schedule(
              { at: aAt, phase: aPhase },
              bPhase === undefined ? undefined : { at: bAt, phase: bPhase },
            );
            schedules++;
            aPaused = run.aPaused;
            const { outcome } = run;
            // A resolved save was committed before the takeover: the next holder sees it and
            // never runs it again; otherwise the old holder's record was refused.
            expect({ aAt, aPhase, bAt, bPhase, saw: outcome.nextSawStale }).toEqual({
              aAt,
              aPhase,
              bAt,
              bPhase,
              saw: outcome.staleAcknowledged,
            });
            expect({ aAt, aPhase, bAt, bPhase, history: outcome.history }).toEqual({
              aAt,
              aPhase,
              bAt,
              bPhase,
              history: outcome.nextSawStale ? ['a0', 'a1', 'b2'] : ['a0', 'b1', 'b2'],
            });
            if (outcome.staleAcknowledged) acknowledgedBeforeTakeover++;
            if (bPhase === undefined || !run.bPaused) break;
          }
          if (!aPaused) break;
        }
        if (!aPaused) break;
      }
    }
    // Both branches were reached: pauses after the commit, and pauses before it.
    expect(acknowledgedBeforeTakeover).toBeGreaterThan(0);
    expect(schedules).toBeGreaterThan(acknowledgedBeforeTakeover);
    console.log(
      `${schedules} schedules, ${acknowledgedBeforeTakeover} with the old holder's save committed before the takeover`,
    );
  });
});

import assert from 'node:assert/strict';
import type { Clock, StepMemo, WorkflowRecord, WorkflowStore } from '@durable/core';
import type { SuiteRunner } from './runner.js';
import { runBatchAndWatchCases } from './workflow-store-batch-cases.js';
import { expectDurableError, resolveRunner, uniquePrefix } from './runner.js';
import { registerListingCases } from './workflow-store-listing-cases.js';

/** Options for {@link runWorkflowStoreSuite}. */
export interface WorkflowStoreSuiteOptions {
  /**
   * A fresh store whose notion of "now" is `clock` (the suite moves time by hand, so no test
   * sleeps). Workflow ids are unique per test, so stores may share one backend namespace, but
   * `claim` must not hand out workflows of earlier tests: give each test an empty namespace.
   */
  create: (options: { clock: Clock }) => WorkflowStore | Promise<WorkflowStore>;
  /**
   * A second store on the same backend namespace as `store` (another connection, another folder
   * handle), so claims and fencing are proven between instances. Defaults to `store` itself.
   */
  createPeer?: (
    store: WorkflowStore,
    options: { clock: Clock },
  ) => WorkflowStore | Promise<WorkflowStore>;
  /** Cleans up after every test. */
  destroy?: (store: WorkflowStore) => void | Promise<void>;
  /** The runner's functions; defaults to the jest/vitest/mocha globals. */
  runner?: SuiteRunner;
  /** Timeout for each test. @default 60000 */
  timeoutMs?: number;
  /** Workflows in the concurrent-claim test. @default 40 */
  workflows?: number;
  /** Concurrent claimers in the concurrent-claim test. @default 8 */
  claimers?: number;
  /**
   * Ignored: `list`, `counts` and `resume` are required methods of every {@link WorkflowStore}
   * now, and their cases always run. Kept so suites written when they were optional still compile.
   * @deprecated Drop it; the listing cases run whatever it says.
   */
  listing?: boolean;
}

const LEASE = 10_000;

function memo(id: string, value?: unknown, kind: StepMemo['kind'] = 'step'): StepMemo {
  return { id, kind, done: true, at: 1, ...(value === undefined ? {} : { value }) };
}

/**
 * The workflow-store conformance suite: insert-if-absent, atomic claims (every due workflow
 * claimed by exactly one of many concurrent claimers), leases and their takeover, token-fenced
 * writes (a stale claimer's writes are all refused and change nothing), sleeps, events, finish,
 * cancel. Every {@link WorkflowStore} runs it.
 */
export function runWorkflowStoreSuite(name: string, options: WorkflowStoreSuiteOptions): void {
  const { describe, it, beforeEach, afterEach } = resolveRunner(options.runner);
  const timeout = options.timeoutMs ?? 60_000;
  const total = options.workflows ?? 40;
  const claimers = options.claimers ?? 8;
  let store: WorkflowStore;
  let peer: WorkflowStore;
  let now = 0;
  let ns = '';
  const clock: Clock = () => now;
  const id = (label: string): string => `${ns}-${label}`;

  describe(`workflow store conformance: ${name}`, () => {
    beforeEach(async () => {
      now = 1_700_000_000_000;
      ns = uniquePrefix('wf');
      store = await options.create({ clock });
      peer = options.createPeer === undefined ? store : await options.createPeer(store, { clock });
    }, timeout);
    afterEach(async () => {
      await options.destroy?.(store);
    }, timeout);

    it(
      'insert creates a ready workflow once; a second insert of the id returns false and changes nothing',
      async () => {
        assert.equal(
          await store.insert({ id: id('a'), handler: 'h', input: { n: 1, s: 'x' } }),
          true,
        );
        now += 5;
        assert.equal(await store.insert({ id: id('a'), handler: 'other', input: 2 }), false);
        const record = await store.get(id('a'));
        assert.ok(record);
        assert.equal(record.format, 1);
        assert.equal(record.status, 'ready');
        assert.equal(record.handler, 'h');
        assert.deepEqual(record.input, { n: 1, s: 'x' });
        assert.equal(record.failures, 0);
        assert.equal(record.createdAt, now - 5);
        assert.deepEqual(record.steps, []);
        assert.equal(await store.get(id('absent')), undefined);
      },
      timeout,
    );

    it(
      "8 concurrent inserts of one id: exactly one returns true, and the record is the winner's",
      async () => {
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, n) =>
            (n % 2 === 0 ? store : peer).insert({ id: id('race'), handler: 'h', input: n }),
          ),
        );
        const winners = results.flatMap((created, n) => (created ? [n] : []));
        assert.equal(winners.length, 1, `winners: ${winners.join(',')}`);
        assert.equal((await store.get(id('race')))?.input, winners[0]);
      },
      timeout,
    );

    it(
      'saveStep of the memo already recorded there under the same claim succeeds and changes nothing (a retried write whose reply was lost)',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.ok(claimed);
        await store.saveStep(id('a'), claimed.token, 0, memo('charge', { ok: true, n: [1, 2] }));
        now += 3;
        await store.saveStep(id('a'), claimed.token, 0, {
          ...memo('charge', { n: [1, 2], ok: true }),
          at: 4,
        });
        await store.saveStep(id('a'), claimed.token, 1, memo('nothing'));
        await store.saveStep(id('a'), claimed.token, 1, memo('nothing'));
        await expectDurableError(
          () => store.saveStep(id('a'), claimed.token, 0, memo('charge', { ok: false })),
          'NON_DETERMINISTIC',
        );
        await expectDurableError(
          () => store.saveStep(id('a'), claimed.token, 1, memo('nothing', 0)),
          'NON_DETERMINISTIC',
        );
        const record = await store.get(id('a'));
        assert.equal(record?.steps.length, 2);
        assert.deepEqual(record?.steps[0]?.value, { ok: true, n: [1, 2] });
        await expectDurableError(
          () =>
            store.saveStep(id('a'), 'not-the-token', 0, memo('charge', { ok: true, n: [1, 2] })),
          'LOCK_LOST',
        );
      },
      timeout,
    );

    it(
      'ids with slashes, dots, spaces and any Unicode are distinct and round-trip',
      async () => {
        const ids = [
          id('a/b'),
          id('a.b'),
          id('../x'),
          id('ü 🎉 %2F'),
          `${id('')}.`,
          id('A'),
          id('a'),
        ];
        for (const wid of ids)
          assert.equal(await store.insert({ id: wid, handler: 'h', input: wid }), true);
        for (const wid of ids) assert.equal((await store.get(wid))?.input, wid);
      },
      timeout,
    );

    it(
      'bad input is refused with a typed error: empty id INVALID_KEY, non-JSON input SERIALIZATION',
      async () => {
        await expectDurableError(() => store.insert({ id: '', handler: 'h' }), 'INVALID_KEY');
        await expectDurableError(
          () => store.insert({ id: id('f'), handler: 'h', input: { f: () => 1 } }),
          'SERIALIZATION',
        );
        await expectDurableError(
          () => store.insert({ id: id('n'), handler: 'h', input: 10n }),
          'SERIALIZATION',
        );
        assert.equal(await store.get(id('f')), undefined);
      },
      timeout,
    );

    it(
      'claim returns undefined when nothing is due, and respects runAt',
      async () => {
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
        await store.insert({ id: id('later'), handler: 'h', runAt: now + 1000 });
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
        now += 1000;
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.equal(claimed?.record.id, id('later'));
      },
      timeout,
    );

    it(
      'claim takes a ready workflow with a token and a lease; a live lease is not claimed again',
      async () => {
        await store.insert({ id: id('a'), handler: 'h', input: 7 });
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.ok(claimed);
        assert.equal(claimed.record.status, 'running');
        assert.equal(claimed.record.input, 7);
        assert.ok(claimed.token.length >= 16);
        assert.equal(claimed.record.claim?.expiresAt, now + LEASE);
        now += LEASE - 1;
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
        const stored = await store.get(id('a'));
        assert.equal(stored?.status, 'running');
      },
      timeout,
    );

    it(
      'an expired lease is taken over with a new token and counts as a failure',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const first = await store.claim({ leaseMs: 100 });
        now += 100;
        const second = await store.claim({ leaseMs: LEASE });
        assert.ok(first && second);
        assert.notEqual(second.token, first.token);
        assert.equal(second.record.failures, 1);
        assert.equal(second.record.status, 'running');
      },
      timeout,
    );

    it(
      'heartbeat extends the lease; a heartbeat with a stale token throws LOCK_LOST',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const claimed = await store.claim({ leaseMs: 100 });
        assert.ok(claimed);
        now += 90;
        assert.equal(await store.heartbeat(id('a'), claimed.token, 100), now + 100);
        now += 90;
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
        await expectDurableError(() => store.heartbeat(id('a'), 'not-the-token', 100), 'LOCK_LOST');
        await expectDurableError(
          () => store.heartbeat(id('absent'), claimed.token, 100),
          'LOCK_LOST',
        );
      },
      timeout,
    );

    it(
      'saveStep records memos in order, keeps undefined and any step id, and refuses a gap',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.ok(claimed);
        await store.saveStep(
          id('a'),
          claimed.token,
          0,
          memo('charge.card/1 ü', { ok: true, n: [1, 2] }),
        );
        await store.saveStep(id('a'), claimed.token, 1, memo('nothing'));
        await expectDurableError(
          () => store.saveStep(id('a'), claimed.token, 5, memo('gap')),
          'NON_DETERMINISTIC',
        );
        await expectDurableError(
          () => store.saveStep(id('a'), claimed.token, 0, memo('other')),
          'NON_DETERMINISTIC',
        );
        const record = await store.get(id('a'));
        assert.equal(record?.steps.length, 2);
        assert.deepEqual(record?.steps[0]?.value, { ok: true, n: [1, 2] });
        assert.equal(record?.steps[0]?.id, 'charge.card/1 ü');
        assert.equal(record?.steps[1]?.id, 'nothing');
        assert.equal('value' in (record?.steps[1] ?? {}), false);
      },
      timeout,
    );

    it(
      'a pending memo (a sleep or a wait) is replaced in place by its resolution',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.ok(claimed);
        await store.saveStep(id('a'), claimed.token, 0, {
          id: 'e',
          kind: 'event',
          done: false,
          until: now + 5,
          at: now,
        });
        await store.saveStep(id('a'), claimed.token, 0, {
          id: 'e',
          kind: 'event',
          done: true,
          value: 3,
          at: now,
        });
        const record = await store.get(id('a'));
        assert.equal(record?.steps.length, 1);
        assert.equal(record?.steps[0]?.value, 3);
        await expectDurableError(
          () => store.saveStep(id('a'), claimed.token, 0, memo('e', 4, 'event')),
          'NON_DETERMINISTIC',
        );
      },
      timeout,
    );

    it(
      'suspend ends the claim; the workflow is due again at runAt, with its history',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.ok(claimed);
        await store.suspend(id('a'), claimed.token, {
          runAt: now + 500,
          step: {
            index: 0,
            memo: { id: 's', kind: 'sleep', done: false, until: now + 500, at: now },
          },
        });
        const record = await store.get(id('a'));
        assert.equal(record?.status, 'sleeping');
        assert.equal(record?.claim, undefined);
        await expectDurableError(
          () => store.saveStep(id('a'), claimed.token, 1, memo('x')),
          'LOCK_LOST',
        );
        now += 499;
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
        now += 1;
        const again = await store.claim({ leaseMs: LEASE });
        assert.equal(again?.record.id, id('a'));
        assert.equal(again?.record.steps[0]?.until, now);
        assert.equal(again?.record.failures, 0);
      },
      timeout,
    );

    it(
      'signal wakes a workflow sleeping on that event name, not on another name',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        await store.insert({ id: id('b'), handler: 'h' });
        for (let n = 0; n < 2; n++) {
          const claimed = await store.claim({ leaseMs: LEASE });
          assert.ok(claimed);
          await store.suspend(claimed.record.id, claimed.token, {
            runAt: now + 1e12,
            wakeOn: ['paid'],
          });
        }
        assert.equal(await store.signal(id('a'), 'paid', { amount: 5 }), true);
        assert.equal(await store.signal(id('b'), 'refunded'), true);
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.equal(claimed?.record.id, id('a'));
        assert.deepEqual(
          claimed?.record.events.map((e) => [e.name, e.payload]),
          [['paid', { amount: 5 }]],
        );
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
        assert.equal((await store.get(id('b')))?.events.length, 1);
        assert.equal(await store.signal(id('absent'), 'paid'), false);
        await expectDurableError(
          () => store.signal(id('a'), 'x', { f: Symbol('s') }),
          'SERIALIZATION',
        );
      },
      timeout,
    );

    it(
      'an event that raced a suspend (arrived after knownEvents) makes the workflow due at once',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.ok(claimed);
        assert.equal(await store.signal(id('a'), 'go', 1), true);
        await store.suspend(id('a'), claimed.token, {
          runAt: now + 1e12,
          wakeOn: ['go'],
          knownEvents: 0,
        });
        assert.equal((await store.claim({ leaseMs: LEASE }))?.record.id, id('a'));
      },
      timeout,
    );

    it(
      'finish completed stores the result; the workflow is never claimed again and a second finish is refused',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.ok(claimed);
        await store.finish(id('a'), claimed.token, { status: 'completed', result: { paid: 12.5 } });
        const record = await store.get(id('a'));
        assert.equal(record?.status, 'completed');
        assert.deepEqual(record?.result, { paid: 12.5 });
        assert.equal(record?.finishedAt, now);
        now += 1e9;
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
        await expectDurableError(
          () => store.finish(id('a'), claimed.token, { status: 'completed', result: 2 }),
          'LOCK_LOST',
        );
        assert.deepEqual((await store.get(id('a')))?.result, { paid: 12.5 });
        assert.equal(await store.signal(id('a'), 'late'), false);
      },
      timeout,
    );

    it(
      'finish failed counts the failure, keeps name, message and stack, and is due at runAt; aborted is final',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const first = await store.claim({ leaseMs: LEASE });
        assert.ok(first);
        const error = { name: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at x' };
        await store.finish(id('a'), first.token, { status: 'failed', error, runAt: now + 50 });
        let record: WorkflowRecord | undefined = await store.get(id('a'));
        assert.equal(record?.status, 'failed');
        assert.equal(record?.failures, 1);
        assert.deepEqual(record?.error, error);
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
        now += 50;
        const second = await store.claim({ leaseMs: LEASE });
        assert.ok(second);
        await store.finish(id('a'), second.token, {
          status: 'aborted',
          error: { name: 'Error', message: 'final' },
        });
        record = await store.get(id('a'));
        assert.equal(record?.status, 'aborted');
        assert.equal(record?.failures, 2);
        assert.equal(record?.error?.message, 'final');
        now += 1e9;
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
      },
      timeout,
    );

    it(
      'release makes the workflow ready at once without counting a failure',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const first = await store.claim({ leaseMs: LEASE });
        assert.ok(first);
        await store.release(id('a'), first.token);
        const second = await store.claim({ leaseMs: LEASE });
        assert.equal(second?.record.id, id('a'));
        assert.equal(second?.record.failures, 0);
        await expectDurableError(() => store.release(id('a'), first.token), 'LOCK_LOST');
      },
      timeout,
    );

    it(
      'cancel finishes an unfinished workflow and revokes its claim; false when absent or finished',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        await store.insert({ id: id('b'), handler: 'h' });
        const claimed = await store.claim({ leaseMs: LEASE });
        assert.ok(claimed);
        const other = claimed.record.id === id('a') ? id('b') : id('a');
        assert.equal(await store.cancel(claimed.record.id), true);
        assert.equal(await store.cancel(other), true);
        await expectDurableError(
          () => store.saveStep(claimed.record.id, claimed.token, 0, memo('x')),
          'LOCK_LOST',
        );
        await expectDurableError(
          () => store.finish(claimed.record.id, claimed.token, { status: 'completed' }),
          'LOCK_LOST',
        );
        const record = await store.get(claimed.record.id);
        assert.equal(record?.status, 'cancelled');
        assert.equal(record?.error?.code, 'CANCELLED');
        assert.equal(await store.cancel(claimed.record.id), false);
        assert.equal(await store.cancel(id('absent')), false);
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
      },
      timeout,
    );

    it(
      'a stale claimer (lease expired and taken over) has every write refused with LOCK_LOST, changing nothing',
      async () => {
        await store.insert({ id: id('a'), handler: 'h' });
        const stale = await store.claim({ leaseMs: 100 });
        assert.ok(stale);
        await store.saveStep(id('a'), stale.token, 0, memo('one', 1));
        now += 101;
        const fresh = await peer.claim({ leaseMs: LEASE });
        assert.ok(fresh);
        await peer.saveStep(id('a'), fresh.token, 1, memo('two', 2));
        const before = await store.get(id('a'));
        await expectDurableError(() => store.heartbeat(id('a'), stale.token, LEASE), 'LOCK_LOST');
        await expectDurableError(
          () => store.saveStep(id('a'), stale.token, 2, memo('stale', 3)),
          'LOCK_LOST',
        );
        await expectDurableError(
          () => store.suspend(id('a'), stale.token, { runAt: now + 10 }),
          'LOCK_LOST',
        );
        await expectDurableError(() => store.release(id('a'), stale.token), 'LOCK_LOST');
        await expectDurableError(
          () => store.finish(id('a'), stale.token, { status: 'completed', result: 'stale' }),
          'LOCK_LOST',
        );
        await expectDurableError(
          () =>
            store.finish(id('a'), stale.token, {
              status: 'failed',
              error: { name: 'E', message: 'm' },
              runAt: now,
            }),
          'LOCK_LOST',
        );
        const after = await store.get(id('a'));
        assert.deepEqual(after, before);
        assert.equal(after?.claim?.token, fresh.token);
      },
      timeout,
    );

    registerListingCases({
      it,
      name,
      timeout,
      store: () => store,
      peer: () => peer,
      id,
      now: () => now,
      setNow: (value) => {
        now = value;
      },
    });

    it(
      `${claimers} concurrent claimers: each of ${total} due workflows is claimed by exactly one`,
      async () => {
        const ids = Array.from({ length: total }, (_, i) => id(`c${i}`));
        for (const wid of ids) await store.insert({ id: wid, handler: 'h', input: wid });
        const claimedBy = new Map<string, number[]>();
        await Promise.all(
          Array.from({ length: claimers }, async (_, worker) => {
            const mine = worker % 2 === 0 ? store : peer;
            for (;;) {
              const claimed = await mine.claim({ leaseMs: LEASE });
              if (claimed === undefined) return;
              claimedBy.set(claimed.record.id, [
                ...(claimedBy.get(claimed.record.id) ?? []),
                worker,
              ]);
              await mine.saveStep(claimed.record.id, claimed.token, 0, memo('only', worker));
              await mine.finish(claimed.record.id, claimed.token, {
                status: 'completed',
                result: worker,
              });
            }
          }),
        );
        assert.deepEqual([...claimedBy.keys()].sort(), [...ids].sort());
        for (const [wid, workers] of claimedBy)
          assert.equal(workers.length, 1, `${wid} claimed by ${workers.join(',')}`);
        for (const wid of ids) {
          const record = await store.get(wid);
          assert.equal(record?.status, 'completed');
          assert.equal(record?.steps.length, 1);
          assert.equal(record?.result, claimedBy.get(wid)?.[0]);
        }
      },
      timeout,
    );

    it(
      'insertClaimed (when the store has it) creates the workflow claimed by the caller once; no claim takes it before its lease expires, then one does with a failure counted',
      async () => {
        if (store.insertClaimed === undefined) {
          assert.equal(typeof store.insertClaimed, 'undefined');
          return;
        }
        const first = await store.insertClaimed(
          { id: id('a'), handler: 'h', input: 1 },
          { leaseMs: 100 },
        );
        assert.ok(first);
        assert.equal(first.record.status, 'running');
        assert.equal(first.record.claim?.token, first.token);
        assert.equal(first.record.claim?.expiresAt, now + 100);
        assert.equal(first.record.failures, 0);
        assert.equal(first.record.input, 1);
        assert.deepEqual(first.record.steps, []);
        // Once per id, whichever way it is created.
        assert.equal(
          await store.insertClaimed({ id: id('a'), handler: 'h', input: 2 }, { leaseMs: 100 }),
          undefined,
        );
        assert.equal(await store.insert({ id: id('a'), handler: 'h', input: 3 }), false);
        assert.equal(await store.insert({ id: id('b'), handler: 'h', input: 'b' }), true);
        assert.equal(
          await peer.insertClaimed!({ id: id('b'), handler: 'h' }, { leaseMs: 100 }),
          undefined,
        );
        const stored = await peer.get(id('a'));
        assert.equal(stored?.status, 'running');
        assert.equal(stored?.input, 1);
        assert.equal(stored?.claim?.token, first.token);
        assert.equal((await peer.get(id('b')))?.status, 'ready');
        // Not due while the lease holds: a claim (here or in another process) takes only b.
        assert.equal((await peer.claim({ leaseMs: LEASE }))?.record.id, id('b'));
        assert.equal(await peer.claim({ leaseMs: LEASE }), undefined);
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
        // The holder records under its token like any claim's.
        await store.saveStep(id('a'), first.token, 0, memo('s0', 'x'));
        // Expired: taken over with the step kept and a failure counted; the first holder is fenced.
        now += 100;
        const second = await peer.claim({ leaseMs: LEASE });
        assert.equal(second?.record.id, id('a'));
        assert.ok(second);
        assert.equal(second.record.failures, 1);
        assert.deepEqual(second.record.steps, [memo('s0', 'x')]);
        await expectDurableError(
          () => store.saveStep(id('a'), first.token, 1, memo('s1', 'late')),
          'LOCK_LOST',
        );
        await expectDurableError(
          () => store.finish(id('a'), first.token, { status: 'completed', result: 'late' }),
          'LOCK_LOST',
        );
        await peer.finish(id('a'), second.token, { status: 'completed', result: 'done' });
        const done = await store.get(id('a'));
        assert.equal(done?.status, 'completed');
        assert.equal(done?.result, 'done');
        assert.deepEqual(done?.steps, [memo('s0', 'x')]);
        // Only a workflow due at once; ids are checked as for insert.
        await expectDurableError(
          () =>
            store.insertClaimed!({ id: id('c'), handler: 'h', runAt: now + 1 }, { leaseMs: 100 }),
          'CONFIG',
        );
        assert.equal(await store.get(id('c')), undefined);
        await expectDurableError(
          () => store.insertClaimed!({ id: '', handler: 'h' }, { leaseMs: 100 }),
          'INVALID_KEY',
        );
      },
      timeout,
    );

    it(
      'a workflow created by insertClaimed and finished by its holder is never claimed, and its holder records steps and finishes like any claim',
      async () => {
        if (store.insertClaimed === undefined) return;
        const claimed = await store.insertClaimed(
          { id: id('a'), handler: 'h' },
          { leaseMs: LEASE },
        );
        assert.ok(claimed);
        for (let i = 0; i < 3; i++)
          await store.saveStep(id('a'), claimed.token, i, memo(`s${i}`, i));
        await store.finish(id('a'), claimed.token, { status: 'completed', result: 3 });
        const done = await peer.get(id('a'));
        assert.equal(done?.status, 'completed');
        assert.equal(done?.steps.length, 3);
        assert.equal(done?.claim, undefined);
        now += LEASE * 2;
        assert.equal(await peer.claim({ leaseMs: LEASE }), undefined);
        assert.equal(await store.claim({ leaseMs: LEASE }), undefined);
      },
      timeout,
    );

    runBatchAndWatchCases(it, timeout, { store: () => store, id, leaseMs: LEASE });
  });
}

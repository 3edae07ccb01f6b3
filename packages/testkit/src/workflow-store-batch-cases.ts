import assert from 'node:assert/strict';
import type { WorkflowStore } from '@durable/core';
import type { TestFn } from './runner.js';
import { expectDurableError } from './runner.js';

/** What the batch and wake-up cases need from the suite's fixture, read when each test runs. */
export interface BatchCaseFixture {
  store: () => WorkflowStore;
  id: (label: string) => string;
  leaseMs: number;
}

/**
 * Waits until the store's `watch` listener is called after `change` ran; resolves with what
 * `change` returned. The suite's timeout is the backstop: a store that never notifies fails.
 */
async function wokenBy<T>(store: WorkflowStore, change: () => Promise<T>): Promise<T> {
  const watch = store.watch?.bind(store);
  assert.ok(watch !== undefined);
  let stop: () => void = () => undefined;
  const woken = new Promise<void>((resolve) => {
    stop = watch(() => resolve());
  });
  try {
    const result = await change();
    await woken;
    return result;
  } finally {
    stop();
  }
}

/**
 * The optional `insertMany` and `watch` of the workflow-store contract: each case checks the
 * ability when the store declares it (the method exists), and that it is really absent otherwise.
 */
export function runBatchAndWatchCases(it: TestFn, timeout: number, fx: BatchCaseFixture): void {
  it(
    'insertMany (when the store has it) creates each absent id once, in order, and is idempotent on retry',
    async () => {
      const store = fx.store();
      if (store.insertMany === undefined) {
        assert.equal(typeof store.insertMany, 'undefined');
        return;
      }
      assert.equal(await store.insert({ id: fx.id('old'), handler: 'h', input: 'old' }), true);
      const batch = [
        { id: fx.id('b0'), handler: 'h', input: 0 },
        { id: fx.id('old'), handler: 'h', input: 'new' },
        { id: fx.id('b1'), handler: 'h', input: 1 },
        { id: fx.id('b0'), handler: 'h', input: 'repeat' },
      ];
      assert.deepEqual(await store.insertMany(batch), [true, false, true, false]);
      assert.equal((await store.get(fx.id('b0')))?.input, 0);
      assert.equal((await store.get(fx.id('old')))?.input, 'old');
      assert.equal((await store.get(fx.id('b1')))?.status, 'ready');
      assert.deepEqual(await store.insertMany(batch), [false, false, false, false]);
      assert.deepEqual(await store.insertMany([]), []);
      await expectDurableError(() => store.insertMany!([{ id: '', handler: 'h' }]), 'INVALID_KEY');
      const claimed: string[] = [];
      for (
        let c = await store.claim({ leaseMs: fx.leaseMs });
        c !== undefined;
        c = await store.claim({ leaseMs: fx.leaseMs })
      ) {
        claimed.push(c.record.id);
      }
      assert.deepEqual(claimed.sort(), [fx.id('b0'), fx.id('b1'), fx.id('old')].sort());
    },
    timeout,
  );

  it(
    'watch (when the store has it) calls the listener after insert, signal, cancel and release, with the work claimable; unsubscribing stops it',
    async () => {
      const store = fx.store();
      if (store.watch === undefined) {
        assert.equal(typeof store.watch, 'undefined');
        return;
      }
      // Inserted: claimable by a claim the listener makes (a spurious call before it claims nothing).
      let stopClaimer: () => void = () => undefined;
      const claimedInListener = new Promise<string>((resolve, reject) => {
        let claiming = false;
        let again = false;
        const attempt = (): void => {
          if (claiming) {
            again = true; // a wake during a claim that may have looked too early: claim once more
            return;
          }
          claiming = true;
          again = false;
          store.claim({ leaseMs: fx.leaseMs }).then((c) => {
            claiming = false;
            if (c !== undefined) resolve(c.record.id);
            else if (again) attempt();
          }, reject);
        };
        stopClaimer = store.watch!(attempt);
      });
      await store.insert({ id: fx.id('a'), handler: 'h' });
      assert.equal(await claimedInListener, fx.id('a'));
      stopClaimer();
      const a = await store.get(fx.id('a'));
      assert.equal(a?.status, 'running');
      const token = a?.claim?.token;
      assert.ok(token !== undefined);
      // Released: claimable again.
      await wokenBy(store, () => store.release(fx.id('a'), token));
      const again = await store.claim({ leaseMs: fx.leaseMs });
      assert.equal(again?.record.id, fx.id('a'));
      assert.ok(again);
      await store.suspend(fx.id('a'), again.token, {
        runAt: Number.MAX_SAFE_INTEGER,
        wakeOn: ['go'],
      });
      // Signalled with an event it waits for: due at once.
      assert.equal(await wokenBy(store, () => store.signal(fx.id('a'), 'go', 1)), true);
      assert.equal((await store.claim({ leaseMs: fx.leaseMs }))?.record.id, fx.id('a'));
      // Cancelled (a parent may wait for it).
      await store.insert({ id: fx.id('c'), handler: 'h', runAt: Number.MAX_SAFE_INTEGER });
      assert.equal(await wokenBy(store, () => store.cancel(fx.id('c'))), true);
      // A stopped listener is not called by the next change; a live one is.
      let stoppedCalls = 0;
      const stop = store.watch(() => stoppedCalls++);
      stop();
      stop();
      await wokenBy(store, () => store.insert({ id: fx.id('d'), handler: 'h' }));
      assert.equal(stoppedCalls, 0);
    },
    timeout,
  );
}

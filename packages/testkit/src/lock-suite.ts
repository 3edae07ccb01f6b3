import assert from 'node:assert/strict';
import type { Lease, LockManager } from '@durable/core';
import { isDurableError } from '@durable/core';
import type { SuiteRunner } from './runner.js';
import { describeLockEdgeCases } from './lock-edge-cases.js';
import type { LostReplyHook } from './storage-suite.js';
import { assertReplyDropped } from './storage-suite.js';
import { delay, expectDurableError, resolveRunner, uniquePrefix } from './runner.js';

/** Options for {@link runLockSuite}. */
export interface LockSuiteOptions {
  /** A fresh lock manager; called before every test. Tests use unique keys. */
  create: () => LockManager | Promise<LockManager>;
  /**
   * A second client of the same backend as `manager` (another connection, another folder
   * handle), so exclusion is proven between clients. Defaults to `manager` itself.
   */
  createPeer?: (manager: LockManager) => LockManager | Promise<LockManager>;
  /** Cleans up after every test. */
  destroy?: (manager: LockManager, peer: LockManager) => void | Promise<void>;
  /** The runner's functions; defaults to the jest/vitest/mocha globals. */
  runner?: SuiteRunner;
  /**
   * Short TTL for the expiry tests; the suite waits a little longer than this. Backends with a
   * coarse clock (seconds) pass a larger value. @default 300
   */
  shortTtlMs?: number;
  /** Timeout for each test. @default 30000 */
  timeoutMs?: number;
  /** Concurrent contenders in the exclusion test. @default 8 */
  contenders?: number;
  /**
   * Optional fault hook on the manager from `create` (not the peer): the next request that changes
   * a lock is applied by the server and its reply lost. With it the suite checks that acquire,
   * extend and release still report what happened (a grant, an extension, a release).
   */
  lostReply?: LostReplyHook;
}

/**
 * The lock conformance suite: mutual exclusion, expired-lease takeover without any sweeper,
 * owner-only release/extend, strictly increasing fencing tokens, timeouts. Every LockManager
 * runs it.
 */
export function runLockSuite(name: string, options: LockSuiteOptions): void {
  const { describe, it, beforeEach, afterEach } = resolveRunner(options.runner);
  const timeout = options.timeoutMs ?? 30_000;
  const shortTtl = options.shortTtlMs ?? 300;
  const contenders = options.contenders ?? 8;
  const contendedWaitMs = Math.max(timeout, 60_000);
  let a: LockManager;
  let b: LockManager;
  let ns: string;

  describe(`lock conformance: ${name}`, () => {
    beforeEach(async () => {
      a = await options.create();
      b = options.createPeer === undefined ? a : await options.createPeer(a);
      ns = uniquePrefix('lk');
    }, timeout);
    afterEach(async () => {
      await options.destroy?.(a, b);
    }, timeout);

    it(
      'acquire grants a lease with key, owner token, numeric fencing token and a future expiry',
      async () => {
        const before = Date.now();
        const lease = await a.acquire(`${ns}/k`, { ttlMs: 5000 });
        assert.equal(lease.key, `${ns}/k`);
        assert.equal(typeof lease.token, 'string');
        assert.ok(lease.token.length >= 8, 'owner token should be unguessable');
        assert.ok(Number.isSafeInteger(lease.fencingToken) && lease.fencingToken > 0);
        assert.ok(
          lease.expiresAt >= before + 4000 && lease.expiresAt <= Date.now() + 6000,
          `expiresAt ${lease.expiresAt}`,
        );
        assert.equal(await lease.release(), true);
      },
      timeout,
    );

    it(
      'a live lease excludes others: a second acquire with waitMs 0 throws LOCK_TIMEOUT',
      async () => {
        const lease = await a.acquire(`${ns}/k`, { ttlMs: 10_000 });
        await expectDurableError(() => b.acquire(`${ns}/k`, { waitMs: 0 }), 'LOCK_TIMEOUT');
        await expectDurableError(() => a.acquire(`${ns}/k`, { waitMs: 0 }), 'LOCK_TIMEOUT');
        await lease.release();
      },
      timeout,
    );

    it(
      'release frees the key at once, and a second release reports false',
      async () => {
        const lease = await a.acquire(`${ns}/k`, { ttlMs: 10_000 });
        assert.equal(await lease.release(), true);
        const next = await b.acquire(`${ns}/k`, { waitMs: 0 });
        assert.equal(await lease.release(), false);
        assert.equal(await next.release(), true);
      },
      timeout,
    );

    it(
      'different keys do not block each other',
      async () => {
        const one = await a.acquire(`${ns}/one`, { ttlMs: 10_000 });
        const two = await b.acquire(`${ns}/two`, { ttlMs: 10_000, waitMs: 0 });
        await Promise.all([one.release(), two.release()]);
      },
      timeout,
    );

    it(
      `${contenders} contenders: never two holders at once, and no increment lost`,
      async () => {
        const key = `${ns}/counter`;
        let holders = 0;
        let maxHolders = 0;
        let counter = 0;
        const fencing: number[] = [];
        await Promise.all(
          Array.from({ length: contenders }, async (_, i) => {
            const manager = i % 2 === 0 ? a : b;
            for (let n = 0; n < 5; n++) {
              // A wait that cannot run out before the test does: on a slow or loaded server the
              // last contender queues behind every other grant, and a LOCK_TIMEOUT here would say
              // nothing about exclusion.
              const lease = await manager.acquire(key, { ttlMs: 10_000, waitMs: contendedWaitMs });
              holders++;
              maxHolders = Math.max(maxHolders, holders);
              fencing.push(lease.fencingToken);
              const read = counter;
              await delay(1);
              counter = read + 1;
              holders--;
              assert.equal(await lease.release(), true);
            }
          }),
        );
        assert.equal(maxHolders, 1);
        assert.equal(counter, contenders * 5);
        for (let i = 1; i < fencing.length; i++) {
          assert.ok(
            (fencing[i] ?? 0) > (fencing[i - 1] ?? 0),
            `fencing tokens must increase: ${fencing.join(',')}`,
          );
        }
      },
      contendedWaitMs + timeout,
    );

    it(
      'an expired lease is taken over at once, without waiting for any sweeper',
      async () => {
        const key = `${ns}/expire`;
        const old = await a.acquire(key, { ttlMs: shortTtl });
        await delay(shortTtl + 150);
        // waitMs 0: a grant that had to wait for a sweeper or a timer would be LOCK_TIMEOUT.
        const fresh = await b.acquire(key, { ttlMs: 10_000, waitMs: 0 });
        assert.ok(
          fresh.fencingToken > old.fencingToken,
          'takeover must get a greater fencing token',
        );
        assert.notEqual(fresh.token, old.token);
        await fresh.release();
      },
      timeout,
    );

    it(
      'only the owner can release or extend: the expired holder gets false and LOCK_LOST, the new holder keeps the lock',
      async () => {
        const key = `${ns}/owner`;
        const old = await a.acquire(key, { ttlMs: shortTtl });
        await delay(shortTtl + 150);
        const fresh = await b.acquire(key, { ttlMs: 10_000, waitMs: 0 });
        assert.equal(await old.release(), false);
        await expectDurableError(() => old.extend(10_000), 'LOCK_LOST');
        assert.equal(await a.release(key, 'not-the-token'), false);
        await expectDurableError(() => a.extend(key, 'not-the-token', 10_000), 'LOCK_LOST');
        await expectDurableError(() => a.acquire(key, { waitMs: 0 }), 'LOCK_TIMEOUT');
        assert.equal(await fresh.release(), true);
      },
      timeout,
    );

    it(
      'extend keeps the lease alive past its first TTL',
      async () => {
        const key = `${ns}/extend`;
        // The extend must reach the server before the first TTL ends. When this process or the
        // server stalled longer than that (a loaded machine), a LOCK_LOST says nothing about
        // extend: the scenario runs again with a doubled TTL. An extend that never keeps the
        // lease still fails every attempt.
        for (let ttl = shortTtl, attempt = 1; ; ttl *= 2, attempt++) {
          const lease = await a.acquire(key, { ttlMs: ttl });
          const first = lease.expiresAt;
          try {
            await lease.extend(ttl * 10);
          } catch (error) {
            if (attempt < 4 && isDurableError(error) && error.code === 'LOCK_LOST') {
              await lease.release();
              await delay(ttl + 150);
              continue;
            }
            throw error;
          }
          assert.ok(lease.expiresAt > first, 'expiresAt should move forward');
          await delay(Math.max(0, first - Date.now()) + 150);
          await expectDurableError(() => b.acquire(key, { waitMs: 0 }), 'LOCK_TIMEOUT');
          assert.equal(await lease.release(), true);
          return;
        }
      },
      timeout,
    );

    it(
      'fencing tokens strictly increase across grants, releases and takeovers of one key',
      async () => {
        const key = `${ns}/fencing`;
        const tokens: number[] = [];
        for (let i = 0; i < 5; i++) {
          const lease = await (i % 2 === 0 ? a : b).acquire(key, { ttlMs: 10_000 });
          tokens.push(lease.fencingToken);
          await lease.release();
        }
        const expiring = await a.acquire(key, { ttlMs: shortTtl });
        tokens.push(expiring.fencingToken);
        await delay(shortTtl + 150);
        const taker = await b.acquire(key, { ttlMs: 10_000 });
        tokens.push(taker.fencingToken);
        await taker.release();
        for (let i = 1; i < tokens.length; i++) {
          assert.ok((tokens[i] ?? 0) > (tokens[i - 1] ?? 0), `not increasing: ${tokens.join(',')}`);
        }
      },
      timeout,
    );

    it(
      'acquire gives up with LOCK_TIMEOUT after waitMs, not much later',
      async () => {
        const key = `${ns}/timeout`;
        const lease = await a.acquire(key, { ttlMs: 10_000 });
        const started = Date.now();
        await expectDurableError(() => b.acquire(key, { waitMs: 400 }), 'LOCK_TIMEOUT');
        const waited = Date.now() - started;
        assert.ok(waited >= 380, `gave up too early: ${waited} ms`);
        assert.ok(waited < 2500, `gave up too late: ${waited} ms`);
        await lease.release();
      },
      timeout,
    );

    it(
      'a waiter gets the lock soon after the holder releases it',
      async () => {
        const key = `${ns}/handoff`;
        const lease = await a.acquire(key, { ttlMs: 10_000 });
        const waiter = b.acquire(key, { ttlMs: 10_000, waitMs: 10_000 });
        await delay(100);
        const releasedAt = Date.now();
        await lease.release();
        const next: Lease = await waiter;
        assert.ok(Date.now() - releasedAt < 1500, 'the waiter should not sleep long after release');
        assert.ok(next.fencingToken > lease.fencingToken);
        await next.release();
      },
      timeout,
    );

    it(
      'an aborted signal ends the wait with LOCK_TIMEOUT',
      async () => {
        const key = `${ns}/abort`;
        const lease = await a.acquire(key, { ttlMs: 10_000 });
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 100);
        const started = Date.now();
        await expectDurableError(
          () => b.acquire(key, { waitMs: 10_000, signal: controller.signal }),
          'LOCK_TIMEOUT',
        );
        // Well before the 10 s wait would end: the abort, not the wait, ended it.
        assert.ok(
          Date.now() - started < 8000,
          `the abort took ${Date.now() - started} ms to end the wait`,
        );
        await lease.release();
      },
      timeout,
    );

    it(
      'invalid keys, TTLs and waits are refused before any I/O',
      async () => {
        for (const key of ['', '/abs', 'a/../b', 'nul\u0000', 'a//b']) {
          await expectDurableError(() => a.acquire(key), 'INVALID_KEY');
          await expectDurableError(() => a.release(key, 't'), 'INVALID_KEY');
        }
        await expectDurableError(() => a.acquire(`${ns}/k`, { ttlMs: -1 }), 'CONFIG');
        await expectDurableError(() => a.acquire(`${ns}/k`, { ttlMs: Number.NaN }), 'CONFIG');
        // A lease that would never expire (or overflow the backend's numbers) is a mistake.
        await expectDurableError(() => a.acquire(`${ns}/k`, { ttlMs: 1e300 }), 'CONFIG');
        // Lone surrogates would become U+FFFD on the wire: two keys, one lock.
        for (const key of [`${ns}/\uD800`, `${ns}/\uDBFF`]) {
          await expectDurableError(() => a.acquire(key), 'INVALID_KEY');
          await expectDurableError(() => a.release(key, 't'), 'INVALID_KEY');
        }
        const held = await a.acquire(`${ns}/held`, { ttlMs: 10_000 });
        // NaN must not turn into an endless wait.
        await expectDurableError(() => b.acquire(`${ns}/held`, { waitMs: Number.NaN }), 'CONFIG');
        await expectDurableError(() => b.acquire(`${ns}/held`, { waitMs: -5 }), 'CONFIG');
        await held.release();
      },
      timeout,
    );

    describeLockEdgeCases(it, timeout, shortTtl, () => ({ a, b }));

    if (options.lostReply !== undefined) {
      const lost = options.lostReply;
      it(
        'acquire, extend and release whose replies were lost still grant, extend and release the lease',
        async () => {
          const key = `${ns}/lost-reply`;
          lost.dropNextReply();
          const lease = await a.acquire(key, { ttlMs: 10_000, waitMs: 0 });
          assertReplyDropped(lost, 'acquire');
          await expectDurableError(() => b.acquire(key, { waitMs: 0 }), 'LOCK_TIMEOUT');
          const before = lease.expiresAt;
          lost.dropNextReply();
          await lease.extend(20_000);
          assertReplyDropped(lost, 'extend');
          assert.ok(lease.expiresAt > before, 'extend moved the expiry');
          lost.dropNextReply();
          assert.equal(
            await lease.release(),
            true,
            'a release whose reply was lost is still a release',
          );
          assertReplyDropped(lost, 'release');
          const next = await b.acquire(key, { waitMs: 0 });
          assert.ok(next.fencingToken > lease.fencingToken);
          assert.equal(await next.release(), true);
        },
        timeout,
      );
    }
  });
}

import assert from 'node:assert/strict';
import type { LockManager } from '@durable/core';
import { isDurableError } from '@durable/core';
import { delay, expectDurableError, uniquePrefix } from './runner.js';
import type { SuiteRunner } from './runner.js';

/**
 * Lock contract edge cases that adapters get wrong (each caught a broken adapter that passed the
 * rest): fencing tokens that are timestamps, `extend` that ignores its TTL, declared
 * capabilities, an expired lease that nobody took over, and tokens that are empty or no string.
 * Registered by `runLockSuite`.
 */
export function describeLockEdgeCases(
  it: SuiteRunner['it'],
  timeout: number,
  shortTtl: number,
  managers: () => { a: LockManager; b: LockManager },
): void {
  it(
    'capabilities are declared as booleans, and a lock that claims fencing gives integer tokens',
    async () => {
      const { a } = managers();
      assert.equal(typeof a.capabilities.fencing, 'boolean');
      assert.equal(typeof a.capabilities.crossProcess, 'boolean');
      const lease = await a.acquire(`${uniquePrefix('edge')}/caps`, { ttlMs: 10_000 });
      if (a.capabilities.fencing)
        assert.ok(Number.isSafeInteger(lease.fencingToken) && lease.fencingToken > 0);
      await lease.release();
    },
    timeout,
  );

  it(
    'an empty, missing or foreign token neither releases nor extends a live lease (false, LOCK_LOST or CONFIG)',
    async () => {
      const { a, b } = managers();
      const key = `${uniquePrefix('edge')}/tokens`;
      const lease = await a.acquire(key, { ttlMs: 10_000 });
      for (const token of ['', undefined, null, 42, `${lease.token}x`] as unknown as string[]) {
        const released = await a.release(key, token).catch((error: unknown) => {
          assert.ok(isDurableError(error, 'CONFIG'), `release with a bad token: ${String(error)}`);
          return false;
        });
        assert.equal(
          released,
          false,
          `release with token ${JSON.stringify(token)} must not free it`,
        );
        await a.extend(key, token, 10_000).then(
          () => assert.fail(`extend with token ${JSON.stringify(token)} must not succeed`),
          (error: unknown) =>
            assert.ok(
              isDurableError(error, 'LOCK_LOST') || isDurableError(error, 'CONFIG'),
              `extend with a bad token must be LOCK_LOST or CONFIG, got ${String(error)}`,
            ),
        );
        await expectDurableError(() => b.acquire(key, { waitMs: 0 }), 'LOCK_TIMEOUT');
      }
      assert.equal(await lease.release(), true);
    },
    timeout,
  );

  it(
    '20 grants of one key within a few milliseconds get 20 distinct, increasing fencing tokens',
    async () => {
      const { a, b } = managers();
      const key = `${uniquePrefix('edge')}/rapid`;
      const tokens: number[] = [];
      for (let i = 0; i < 20; i++) {
        const lease = await (i % 2 === 0 ? a : b).acquire(key, { ttlMs: 10_000 });
        tokens.push(lease.fencingToken);
        await lease.release();
      }
      for (let i = 1; i < tokens.length; i++) {
        assert.ok(
          tokens[i]! > tokens[i - 1]!,
          `fencing tokens must strictly increase, got ${tokens.join(',')}`,
        );
      }
    },
    timeout,
  );

  it(
    'extend honours the TTL it is given: a short lease extended for long outlives its first TTL and still excludes',
    async () => {
      const { a, b } = managers();
      const key = `${uniquePrefix('edge')}/extend`;
      const lease = await a.acquire(key, { ttlMs: shortTtl });
      const before = Date.now();
      const expiresAt = await a.extend(key, lease.token, 20_000);
      assert.ok(
        expiresAt >= before + 15_000,
        `extend(20 s) returned an expiry only ${expiresAt - before} ms ahead`,
      );
      await delay(shortTtl + 150);
      await expectDurableError(() => b.acquire(key, { waitMs: 0 }), 'LOCK_TIMEOUT');
      assert.equal(await a.release(key, lease.token), true);
    },
    timeout,
  );

  it(
    'an expired lease that nobody took over: release and extend answer without error codes other than LOCK_LOST, and the key is free after',
    async () => {
      const { a, b } = managers();
      const key = `${uniquePrefix('edge')}/lapsed`;
      const lease = await a.acquire(key, { ttlMs: shortTtl });
      await delay(shortTtl + 150);
      try {
        await a.extend(key, lease.token, shortTtl);
      } catch (error) {
        // Reviving an untaken lapsed lease is allowed; anything but LOCK_LOST is not.
        assert.ok(
          isDurableError(error, 'LOCK_LOST'),
          `extend of a lapsed lease: expected success or LOCK_LOST, got ${String(error)}`,
        );
      }
      assert.equal(typeof (await a.release(key, lease.token)), 'boolean');
      const next = await b.acquire(key, { ttlMs: 10_000, waitMs: shortTtl * 4 });
      assert.ok(
        next.fencingToken > lease.fencingToken,
        'the next grant must get a larger fencing token',
      );
      assert.equal(
        await a.release(key, lease.token),
        false,
        'the old token must not release the new holder',
      );
      await next.release();
    },
    timeout,
  );

  it(
    "holder(), where a lock has it, tells the live lease's fencing token and expiry, and nothing once it is released",
    async () => {
      const { a, b } = managers();
      if (a.holder === undefined) return; // optional: LOCK_TIMEOUT messages then cannot name the holder
      const key = `${uniquePrefix('edge')}/holder`;
      assert.equal(await a.holder(key), undefined);
      const lease = await b.acquire(key, { ttlMs: 10_000 });
      const seen = await a.holder(key);
      assert.ok(seen !== undefined, 'a held key must report its holder');
      assert.equal(seen.fencingToken, lease.fencingToken);
      assert.ok(
        Math.abs(seen.expiresAt - lease.expiresAt) < 2_000,
        `expiry ${seen.expiresAt} is far from the lease's ${lease.expiresAt}`,
      );
      await lease.release();
      assert.equal(await a.holder(key), undefined);
    },
    timeout,
  );
}

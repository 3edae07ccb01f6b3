import assert from 'node:assert/strict';
import type { StorageManager } from '@durable/core';
import { isDurableError } from '@durable/core';
import { compareKeys } from '@durable/core/adapter';
import type { SuiteRunner } from './runner.js';
import { expectConflict, expectDurableError, uniquePrefix } from './runner.js';

/** Makes the backend unreachable and back; see {@link StorageEdgeOptions.outage}. */
export interface OutageHook {
  /** From now on the backend cannot be reached (stop the server, close a proxy, ...). */
  begin(): Promise<void>;
  /** The backend is reachable again, with the data it had. */
  end(): Promise<void>;
}

/** The optional abilities of a test setup that the edge cases use. */
export interface StorageEdgeOptions {
  /**
   * Another manager on the same backend but in another namespace (another prefix, root folder,
   * collection): nothing written by one may be read or listed by the other.
   */
  createIsolated?: (storage: StorageManager) => StorageManager | Promise<StorageManager>;
  /** Makes the backend unreachable: every operation must then fail with a retryable `BACKEND`. */
  outage?: OutageHook;
  /**
   * Set only for a test server known to list in another order than the real backend (say which
   * and why): the order test then checks the listed set, and its name says the order was not checked.
   */
  listOrderUncheckedBecause?: string;
}

/**
 * Contract edge cases that adapters get wrong (each caught a broken adapter that passed the rest):
 * list order and last page, page size and the largest page, delete conditions on absent keys, namespace isolation,
 * outages reported as retryable `BACKEND`. Registered by `runStorageSuite`.
 */
export function describeStorageEdgeCases(
  it: SuiteRunner['it'],
  timeout: number,
  current: () => StorageManager,
  options: StorageEdgeOptions,
): void {
  const ns = (): string => uniquePrefix('edge');

  const unchecked = options.listOrderUncheckedBecause;
  const orderTitle =
    unchecked === undefined
      ? 'list orders keys by the bytes of their UTF-8, the same on every backend (U+FF61 before U+1F600)'
      : `list returns every key once; ORDER AND PAGING BY ORDER NOT CHECKED on this server: ${unchecked}`;
  it(
    orderTitle,
    async () => {
      const storage = current();
      const prefix = `${ns()}/order/`;
      const tails = ['z', 'A', 'a', '\u00e9', '\uff61', '\u{1f600}', '\u4e2d', 'a/b', 'a-b', 'a0'];
      await Promise.all(tails.map((tail) => storage.write(`${prefix}${tail}`, tail)));
      const byUtf8 = [...tails].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const inOrder = (keys: string[]): string[] =>
        unchecked === undefined ? keys : [...keys].sort(compareKeys);
      assert.deepEqual(
        inOrder((await storage.list(prefix)).keys),
        byUtf8.map((tail) => `${prefix}${tail}`),
      );
      // Cursors are "the last key seen", so paging is only sound on a server that lists in order.
      if (unchecked !== undefined) return;
      const paged: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await storage.list(prefix, {
          limit: 3,
          ...(cursor === undefined ? {} : { cursor }),
        });
        paged.push(...page.keys);
        cursor = page.cursor;
      } while (cursor !== undefined);
      assert.deepEqual(
        paged,
        byUtf8.map((tail) => `${prefix}${tail}`),
        'pages must follow the same order',
      );
    },
    timeout,
  );

  it(
    'a page that holds the last key has no cursor, and no page is larger than its limit',
    async () => {
      const storage = current();
      const prefix = `${ns()}/last/`;
      await Promise.all(['1', '2', '3'].map((tail) => storage.write(`${prefix}${tail}`, tail)));
      const all = await storage.list(prefix, { limit: 10 });
      assert.equal(all.keys.length, 3);
      assert.equal(all.cursor, undefined, 'the only page must not carry a cursor');
      const first = await storage.list(prefix, { limit: 2 });
      assert.equal(first.keys.length, 2);
      assert.ok(first.cursor !== undefined, 'a page followed by more keys carries a cursor');
      const second = await storage.list(prefix, { limit: 2, cursor: first.cursor });
      assert.deepEqual(second.keys, [`${prefix}3`]);
      assert.equal(second.cursor, undefined, 'the last page must not carry a cursor');
      // Exactly full: a backend that sets a cursor whenever a page is full still has none here.
      const full = await storage.list(prefix, { limit: 3 });
      assert.equal(full.keys.length, 3);
      assert.equal(full.cursor, undefined, 'an exactly full last page must not carry a cursor');
      const pairs = await storage.list(prefix, { limit: 1, cursor: `${prefix}2` });
      assert.deepEqual(pairs, { keys: [`${prefix}3`] }, 'a full page of the last key: no cursor');
      const empty = await storage.list(`${ns()}/nothing/`, { limit: 1000 });
      assert.deepEqual(empty, { keys: [] });
      for (const limit of [0, -1, 1.5, Number.NaN])
        await expectDurableError(() => storage.list(prefix, { limit }), 'CONFIG');
    },
    timeout,
  );

  it(
    'the largest page is 1000 keys: 1001 keys list as a full page of 1000 with a cursor, then the last key alone; a limit of 1001 is CONFIG',
    async () => {
      const storage = current();
      const prefix = `${ns()}/max/`;
      const keys = Array.from(
        { length: 1001 },
        (_, i) => `${prefix}k${String(i).padStart(4, '0')}`,
      );
      // A few writes in flight at a time: enough to be quick, few enough for any test server.
      for (let from = 0; from < keys.length; from += 25)
        await Promise.all(keys.slice(from, from + 25).map((key) => storage.write(key, 'x')));
      const full = await storage.list(prefix, { limit: 1000 });
      assert.equal(full.keys.length, 1000, 'a limit of 1000 must be served in one page');
      assert.deepEqual(full.keys, keys.slice(0, 1000));
      assert.ok(full.cursor !== undefined, 'a full page followed by one more key carries a cursor');
      const rest = await storage.list(prefix, { limit: 1000, cursor: full.cursor });
      assert.deepEqual(rest, { keys: [keys[1000]] });
      const byDefault = await storage.list(prefix);
      assert.equal(byDefault.keys.length, 1000, 'the default page size is 1000');
      for (const limit of [1001, 5000, Number.POSITIVE_INFINITY])
        await expectDurableError(() => storage.list(prefix, { limit }), 'CONFIG');
    },
    Math.max(timeout, 120_000),
  );

  it(
    'delete with a version on an absent key is CONFLICT and creates nothing',
    async () => {
      const storage = current();
      const key = `${ns()}/gone`;
      const version = await storage.write(key, 'x');
      assert.equal(await storage.delete(key), true);
      await expectConflict(() => storage.delete(key, { ifVersion: version }), {
        key,
        operation: 'delete',
        expected: version,
      });
      assert.equal(await storage.exists(key), false);
    },
    timeout,
  );

  if (options.createIsolated !== undefined) {
    const createIsolated = options.createIsolated;
    it(
      "two namespaces on one backend never see each other's keys",
      async () => {
        const storage = current();
        const other = await createIsolated(storage);
        try {
          const key = `${ns()}/mine`;
          await storage.write(key, 'one');
          assert.equal(await other.read(key), undefined);
          assert.equal(await other.exists(key), false);
          assert.ok(
            !(await other.list('')).keys.includes(key),
            'list("") of another namespace leaked a key',
          );
          await other.write(key, 'two');
          assert.equal(Buffer.from((await storage.read(key))!.data).toString(), 'one');
        } finally {
          await other.close?.();
        }
      },
      timeout,
    );
  }

  if (options.outage !== undefined) {
    const outage = options.outage;
    it(
      'while the backend is unreachable every operation fails with a retryable BACKEND, and nothing is lost',
      async () => {
        const storage = current();
        const key = `${ns()}/outage`;
        const version = await storage.write(key, 'before');
        await outage.begin();
        try {
          const attempts: Array<() => Promise<unknown>> = [
            () => storage.read(key),
            () => storage.write(key, 'during', { ifVersion: version }),
            () => storage.delete(key, { ifVersion: version }),
            () => storage.exists(key),
            () => storage.list(key),
          ];
          for (const attempt of attempts) {
            const error = await attempt().then(
              () => undefined,
              (caught: unknown) => caught,
            );
            assert.ok(
              error !== undefined,
              'an operation succeeded while the backend was unreachable',
            );
            // An ambiguous write may say UNKNOWN_OUTCOME; anything else must be a retryable BACKEND.
            if (isDurableError(error, 'UNKNOWN_OUTCOME')) continue;
            assert.ok(
              isDurableError(error, 'BACKEND') && error.retryable,
              `expected a retryable BACKEND, got ${
                error instanceof Error ? `${error.name}: ${error.message}` : JSON.stringify(error)
              }`,
            );
          }
        } finally {
          await outage.end();
        }
        const after = await storage.read(key);
        assert.ok(after !== undefined, 'the value written before the outage is still there');
      },
      timeout * 2,
    );
  }
}

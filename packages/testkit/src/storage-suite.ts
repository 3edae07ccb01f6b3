import assert from 'node:assert/strict';
import type { StorageCapabilities, StorageManager } from '@durable/core';
import { bytesToText, isDurableError, listAll } from '@durable/core';
import type { SuiteRunner } from './runner.js';
import type { OutageHook, StorageEdgeOptions } from './storage-edge-cases.js';
import { describeStorageEdgeCases } from './storage-edge-cases.js';
import { describeStorageWatchCases } from './storage-watch-cases.js';
import {
  expectConflict,
  expectDurableError,
  failing,
  resolveRunner,
  uniquePrefix,
} from './runner.js';

/** Options for {@link runStorageSuite}. */
export interface StorageSuiteOptions {
  /** A fresh storage manager; called before every test. Tests use unique keys, so managers may share a namespace. */
  create: () => StorageManager | Promise<StorageManager>;
  /** Cleans up after every test (closes the manager, removes files, ...). */
  destroy?: (storage: StorageManager) => void | Promise<void>;
  /** The runner's functions; defaults to the jest/vitest/mocha globals. */
  runner?: SuiteRunner;
  /** Timeout for each test. @default 30000 */
  timeoutMs?: number;
  /** Writers racing in the concurrency tests. @default 8 */
  racers?: number;
  /**
   * Optional fault hook for backends reached over a network: with it the suite checks that a
   * write or delete whose reply was lost (applied by the server, then retried or failed by the
   * client) is never reported as `CONFLICT`. `@durable/testkit`'s `startLostReplyProxy` gives one
   * for HTTP backends.
   */
  lostReply?: LostReplyHook;
  /** Another manager on the same backend in another namespace: the isolation test runs with it. */
  createIsolated?: StorageEdgeOptions['createIsolated'];
  /** Makes the backend unreachable and back: the outage test runs with it. */
  outage?: OutageHook;
  /** For a test server that lists in another order than the real backend: why (see the edge cases). */
  listOrderUncheckedBecause?: string;
  /**
   * The capabilities the storage declares; a test checks that every manager `create` returns
   * declares exactly these. With `conditionalWrite: false` (conditions checked by a read before the
   * write, not atomically) the compare-and-swap cases (racing creates, racing updates, increments
   * under contention) do not run: each is registered as a test named `NOT RUN
   * (conditionalWrite: false): ...` instead. With `true` they run and must pass.
   * @default { conditionalWrite: true }
   */
  capabilities?: StorageCapabilities;
}

/** Loses the reply of a request that changes the store; see {@link StorageSuiteOptions.lostReply}. */
export interface LostReplyHook {
  /** The next request that changes the store reaches the server and is applied, but its reply is lost. */
  dropNextReply(): void;
  /** Drops armed and not yet used; when given, each lost-reply test checks a reply was really lost. */
  dropsPending?(): number;
}

/** Asserts that the drop armed before an operation was used by it (when the hook can tell). */
export function assertReplyDropped(hook: LostReplyHook, what: string): void {
  if (hook.dropsPending !== undefined)
    assert.equal(
      hook.dropsPending(),
      0,
      `${what}: no reply was dropped, so the test proved nothing`,
    );
}

/** Invalid keys every backend must refuse with `INVALID_KEY` before any I/O. */
export const INVALID_KEYS: readonly unknown[] = [
  '',
  '/abs',
  'a//b',
  'trailing/',
  '.',
  '..',
  '../escape',
  'a/../../etc/passwd',
  'a/./b',
  'nul\u0000byte',
  'line\nbreak',
  'back\\slash',
  'x'.repeat(1025),
  // Lone surrogates: each would become U+FFFD in UTF-8 and collide with the others.
  'users/\uD800',
  'users/\uDBFF',
  'users/\uDC00x',
  'a\uDFFF\uD800b',
  42,
  undefined,
];

/** Values that are neither a string nor a Uint8Array: every backend refuses them with `CONFIG`. */
export const NON_BYTE_VALUES: readonly unknown[] = [
  { a: 1 },
  42,
  true,
  null,
  undefined,
  new ArrayBuffer(4),
  new Uint16Array([1, 2]),
  new DataView(new ArrayBuffer(2)),
  [1, 2, 3],
];

/** Bad `ifVersion` values and option bags: refused with `CONFIG` before any I/O. */
export const BAD_CONDITIONS: readonly unknown[] = [
  { ifVersion: '*' },
  { ifVersion: '' },
  { ifVersion: 'v1\r\nx-amz-acl: public-read' },
  { ifVersion: 42 },
  null,
  'v1',
];

/** Long but valid keys: a backend stores each or refuses it with `INVALID_KEY`, never a retryable error. */
export const LONG_VALID_KEYS: readonly string[] = [
  '日'.repeat(1000),
  'x'.repeat(1000),
  `${'a/'.repeat(500)}z`,
  '🙂'.repeat(500),
];

/**
 * The storage conformance suite: byte-exact round trips, conditional create/update/delete under
 * races, list with prefixes and paging, key rules. Every StorageManager runs it.
 */
export function runStorageSuite(name: string, options: StorageSuiteOptions): void {
  const { describe, it, beforeEach, afterEach } = resolveRunner(options.runner);
  const timeout = options.timeoutMs ?? 30_000;
  const racers = options.racers ?? 8;
  const declared: StorageCapabilities = options.capabilities ?? { conditionalWrite: true };
  let storage: StorageManager;
  let ns: string;
  // A compare-and-swap case: run when the storage declares atomic conditions, otherwise
  // registered under a name that says it did not run (never a silent pass).
  const casIt = (title: string, fn: () => Promise<void>, ms: number): void => {
    if (declared.conditionalWrite) {
      it(title, fn, ms);
      return;
    }
    it(
      `NOT RUN (conditionalWrite: false): ${title}`,
      () => {
        assert.equal(storage.capabilities.conditionalWrite, false);
      },
      ms,
    );
  };

  describe(`storage conformance: ${name}`, () => {
    beforeEach(async () => {
      storage = await options.create();
      ns = uniquePrefix('st');
    }, timeout);
    afterEach(async () => {
      await options.destroy?.(storage);
    }, timeout);

    it(
      `declares the capabilities the suite was given (conditionalWrite: ${declared.conditionalWrite})`,
      () => {
        const actual = (storage as Partial<StorageManager>).capabilities;
        assert.ok(
          actual !== undefined && typeof actual.conditionalWrite === 'boolean',
          'capabilities.conditionalWrite must be declared as a boolean',
        );
        assert.equal(
          actual.conditionalWrite,
          declared.conditionalWrite,
          `the storage declares conditionalWrite: ${String(
            actual.conditionalWrite,
          )}; pass capabilities: { conditionalWrite: ${String(
            actual.conditionalWrite,
          )} } to runStorageSuite if that is what it guarantees`,
        );
      },
      timeout,
    );

    it(
      'reads back exactly what was written: empty, unicode text and every byte value',
      async () => {
        const binary = new Uint8Array(256 * 4).map((_, i) => i % 256);
        const cases: Array<[string, string | Uint8Array]> = [
          [`${ns}/empty`, ''],
          [`${ns}/unicode`, 'héllo wörld ✓ 日本語 🙂 \u{10FFFF} "quoted" \\ back'],
          [`${ns}/binary`, binary],
          [`${ns}/empty-bytes`, new Uint8Array(0)],
          [`${ns}/large`, 'x'.repeat(300_000)],
        ];
        for (const [key, value] of cases) await storage.write(key, value);
        for (const [key, value] of cases) {
          const entry = await storage.read(key);
          assert.ok(entry, `${key} should exist`);
          const expected = typeof value === 'string' ? new TextEncoder().encode(value) : value;
          assert.equal(entry.data.length, expected.length, `${key} length`);
          assert.ok(Buffer.from(entry.data).equals(Buffer.from(expected)), `${key} bytes differ`);
        }
      },
      timeout,
    );

    it(
      'reading an absent key gives undefined and exists() is false',
      async () => {
        assert.equal(await storage.read(`${ns}/absent`), undefined);
        assert.equal(await storage.exists(`${ns}/absent`), false);
      },
      timeout,
    );

    it(
      'every write returns a new version that read() reports',
      async () => {
        const key = `${ns}/versions`;
        const seen = new Set<string>();
        for (let i = 0; i < 5; i++) {
          const version = await storage.write(key, `v${i}`);
          assert.equal(typeof version, 'string');
          assert.ok(!seen.has(version), 'versions must not repeat');
          seen.add(version);
          const entry = await storage.read(key);
          assert.equal(entry?.version, version);
          assert.equal(bytesToText(entry.data), `v${i}`);
        }
        assert.equal(await storage.exists(key), true);
      },
      timeout,
    );

    it(
      'a stored value does not change when the caller later mutates its buffer',
      async () => {
        const key = `${ns}/copy`;
        const buffer = new Uint8Array([1, 2, 3]);
        await storage.write(key, buffer);
        buffer[0] = 9;
        const entry = await storage.read(key);
        assert.deepEqual([...(entry?.data ?? [])], [1, 2, 3]);
      },
      timeout,
    );

    it(
      'create with ifVersion null succeeds when absent and throws CONFLICT, changing nothing, when present',
      async () => {
        const key = `${ns}/create`;
        const version = await storage.write(key, 'first', { ifVersion: null });
        await expectConflict(() => storage.write(key, 'second', { ifVersion: null }), {
          key,
          operation: 'write',
          expected: null,
        });
        const entry = await storage.read(key);
        assert.equal(entry?.version, version);
        assert.equal(bytesToText(entry.data), 'first');
      },
      timeout,
    );

    it(
      'write with a stale version throws CONFLICT and changes nothing',
      async () => {
        const key = `${ns}/stale`;
        const v1 = await storage.write(key, 'one');
        const v2 = await storage.write(key, 'two', { ifVersion: v1 });
        await expectConflict(() => storage.write(key, 'three', { ifVersion: v1 }), {
          key,
          operation: 'write',
          expected: v1,
        });
        const entry = await storage.read(key);
        assert.equal(entry?.version, v2);
        assert.equal(bytesToText(entry.data), 'two');
      },
      timeout,
    );

    it(
      'write with a version on an absent key throws CONFLICT and creates nothing',
      async () => {
        const key = `${ns}/absent-versioned`;
        const other = await storage.write(`${ns}/other`, 'x');
        await expectConflict(() => storage.write(key, 'y', { ifVersion: other }), {
          key,
          operation: 'write',
          expected: other,
        });
        assert.equal(await storage.read(key), undefined);
      },
      timeout,
    );

    casIt(
      `${racers} concurrent creates of one key: exactly one wins, the others get CONFLICT`,
      async () => {
        for (let round = 0; round < 5; round++) {
          const key = `${ns}/race-create-${round}`;
          const results = await Promise.allSettled(
            Array.from({ length: racers }, (_, i) =>
              storage.write(key, `writer-${i}`, { ifVersion: null }),
            ),
          );
          const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
          assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
          for (const r of results) {
            if (r.status === 'rejected')
              await expectConflict(() => failing(r.reason), {
                key,
                operation: 'write',
                expected: null,
              });
          }
          const entry = await storage.read(key);
          assert.equal(bytesToText(entry?.data ?? new Uint8Array()), `writer-${winners[0]}`);
        }
      },
      timeout,
    );

    casIt(
      `${racers} concurrent updates from one version: exactly one wins each round, the others get CONFLICT`,
      async () => {
        const key = `${ns}/race-update`;
        let version = await storage.write(key, '0');
        for (let round = 1; round <= 10; round++) {
          const from = version;
          const results = await Promise.allSettled(
            Array.from({ length: racers }, (_, i) =>
              storage.write(key, `${round}:${i}`, { ifVersion: from }),
            ),
          );
          const winners = results.flatMap((r, i) =>
            r.status === 'fulfilled' ? [{ i, version: r.value }] : [],
          );
          assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
          for (const r of results) {
            if (r.status === 'rejected')
              await expectConflict(() => failing(r.reason), {
                key,
                operation: 'write',
                expected: from,
              });
          }
          const entry = await storage.read(key);
          assert.ok(entry);
          assert.equal(entry.version, winners[0]?.version);
          assert.equal(bytesToText(entry.data), `${round}:${winners[0]?.i}`);
          version = entry.version;
        }
      },
      timeout,
    );

    casIt(
      'read-increment-write with retry on CONFLICT loses no update',
      async () => {
        const key = `${ns}/counter`;
        await storage.write(key, '0');
        const increment = async (): Promise<void> => {
          for (;;) {
            const entry = await storage.read(key);
            assert.ok(entry);
            try {
              await storage.write(key, String(Number(bytesToText(entry.data)) + 1), {
                ifVersion: entry.version,
              });
              return;
            } catch (error) {
              await expectConflict(() => failing(error), {
                key,
                operation: 'write',
                expected: entry.version,
              });
            }
          }
        };
        await Promise.all(
          Array.from({ length: racers }, async () => {
            for (let i = 0; i < 10; i++) await increment();
          }),
        );
        assert.equal(
          bytesToText((await storage.read(key))?.data ?? new Uint8Array()),
          String(racers * 10),
        );
      },
      timeout,
    );

    it(
      'delete: absent gives false; a stale version throws CONFLICT and keeps the value; the right version deletes',
      async () => {
        const key = `${ns}/delete`;
        assert.equal(await storage.delete(key), false);
        const v1 = await storage.write(key, 'a');
        const v2 = await storage.write(key, 'b', { ifVersion: v1 });
        await expectConflict(() => storage.delete(key, { ifVersion: v1 }), {
          key,
          operation: 'delete',
          expected: v1,
        });
        await expectConflict(() => storage.delete(key, { ifVersion: null }), {
          key,
          operation: 'delete',
          expected: null,
        });
        assert.equal(bytesToText((await storage.read(key))?.data ?? new Uint8Array()), 'b');
        assert.equal(await storage.delete(key, { ifVersion: v2 }), true);
        assert.equal(await storage.read(key), undefined);
        assert.equal(await storage.exists(key), false);
        await expectConflict(() => storage.delete(key, { ifVersion: v2 }), {
          key,
          operation: 'delete',
          expected: v2,
        });
      },
      timeout,
    );

    it(
      'after delete and re-create, a version from before the delete no longer matches',
      async () => {
        const key = `${ns}/aba`;
        const old = await storage.write(key, 'old');
        await storage.delete(key);
        await storage.write(key, 'new', { ifVersion: null });
        await expectConflict(() => storage.write(key, 'stale', { ifVersion: old }), {
          key,
          operation: 'write',
          expected: old,
        });
        assert.equal(bytesToText((await storage.read(key))?.data ?? new Uint8Array()), 'new');
      },
      timeout,
    );

    it(
      'keys that nest ("a" and "a/b") and look alike ("A", "a.b") are independent',
      async () => {
        const keys = [
          `${ns}/a`,
          `${ns}/a/b`,
          `${ns}/A`,
          `${ns}/a.b`,
          `${ns}/a~`,
          `${ns}/a%2Fb`,
          `${ns}/a b`,
          `${ns}/.a`,
        ];
        for (const key of keys) await storage.write(key, key);
        for (const key of keys)
          assert.equal(bytesToText((await storage.read(key))?.data ?? new Uint8Array()), key);
        await storage.delete(`${ns}/a`);
        assert.equal(
          bytesToText((await storage.read(`${ns}/a/b`))?.data ?? new Uint8Array()),
          `${ns}/a/b`,
        );
      },
      timeout,
    );

    it(
      'list returns the keys that start with a prefix, sorted, without deleted keys',
      async () => {
        const keys = [
          `${ns}/a/1`,
          `${ns}/a/2`,
          `${ns}/a/sub/3`,
          `${ns}/ab/1`,
          `${ns}/b/1`,
          `${ns}/gone`,
        ];
        for (const key of keys) await storage.write(key, 'x');
        await storage.delete(`${ns}/gone`);
        assert.deepEqual((await storage.list(`${ns}/a/`)).keys, [
          `${ns}/a/1`,
          `${ns}/a/2`,
          `${ns}/a/sub/3`,
        ]);
        assert.deepEqual((await storage.list(`${ns}/a`)).keys, [
          `${ns}/a/1`,
          `${ns}/a/2`,
          `${ns}/a/sub/3`,
          `${ns}/ab/1`,
        ]);
        assert.deepEqual((await storage.list(`${ns}/`)).keys, keys.slice(0, 5));
        assert.deepEqual((await storage.list(`${ns}/none/`)).keys, []);
        const all = (await storage.list('')).keys;
        for (const key of keys.slice(0, 5)) assert.ok(all.includes(key), `list("") misses ${key}`);
      },
      timeout,
    );

    it(
      'list pages with a cursor: every key once, in order',
      async () => {
        const keys = Array.from(
          { length: 25 },
          (_, i) => `${ns}/page/${String(i).padStart(2, '0')}`,
        );
        await Promise.all(keys.map((key) => storage.write(key, 'x')));
        const pages: string[][] = [];
        let cursor: string | undefined;
        do {
          const page = await storage.list(`${ns}/page/`, {
            limit: 10,
            ...(cursor === undefined ? {} : { cursor }),
          });
          assert.ok(page.keys.length <= 10);
          pages.push(page.keys);
          cursor = page.cursor;
        } while (cursor !== undefined);
        assert.ok(pages.length >= 3, `expected at least 3 pages, got ${pages.length}`);
        assert.deepEqual(pages.flat(), keys);
        const streamed: string[] = [];
        for await (const key of listAll(storage, `${ns}/page/`, 7)) streamed.push(key);
        assert.deepEqual(streamed, keys);
      },
      timeout,
    );

    it(
      'invalid keys are refused with INVALID_KEY by every operation and nothing is written',
      async () => {
        for (const key of INVALID_KEYS) {
          const k = key as string;
          await expectDurableError(() => storage.read(k), 'INVALID_KEY');
          await expectDurableError(() => storage.write(k, 'x'), 'INVALID_KEY');
          await expectDurableError(() => storage.write(k, 'x', { ifVersion: null }), 'INVALID_KEY');
          await expectDurableError(() => storage.delete(k), 'INVALID_KEY');
          await expectDurableError(() => storage.exists(k), 'INVALID_KEY');
        }
        await expectDurableError(() => storage.list('/abs'), 'INVALID_KEY');
        await expectDurableError(() => storage.list('users/\uD800'), 'INVALID_KEY');
        await expectDurableError(() => storage.list('a/../'), 'INVALID_KEY');
        const listed = (await storage.list('')).keys;
        for (const key of listed)
          assert.ok(!key.includes('..') && !key.startsWith('/'), `unexpected key ${key}`);
      },
      timeout,
    );

    it(
      'a value that is not a string or a Uint8Array is refused with CONFIG and nothing is written',
      async () => {
        const key = `${ns}/values`;
        for (const value of NON_BYTE_VALUES) {
          await expectDurableError(() => storage.write(key, value as string), 'CONFIG');
          await expectDurableError(
            () => storage.write(key, value as string, { ifVersion: null }),
            'CONFIG',
          );
        }
        assert.equal(await storage.read(key), undefined, 'a refused value must not be stored');
        await storage.write(key, Buffer.from('buffer ok'));
        assert.equal(bytesToText((await storage.read(key))!.data), 'buffer ok');
      },
      timeout,
    );

    it(
      'a bad ifVersion or options bag is refused with CONFIG, never written blind',
      async () => {
        const key = `${ns}/conditions`;
        const version = await storage.write(key, 'first');
        for (const options of BAD_CONDITIONS) {
          const error = await expectDurableError(
            () => storage.write(key, 'blind', options as { ifVersion?: string }),
            'CONFIG',
          );
          assert.equal(error.retryable, false);
          await expectDurableError(
            () => storage.delete(key, options as { ifVersion?: string }),
            'CONFIG',
          );
        }
        const entry = await storage.read(key);
        assert.equal(entry?.version, version);
        assert.equal(bytesToText(entry.data), 'first');
      },
      timeout,
    );

    it(
      'a long valid key round-trips or is refused with INVALID_KEY, and never aliases another',
      async () => {
        for (const [i, tail] of LONG_VALID_KEYS.entries()) {
          const key = `${ns}/long/${tail}`.slice(0, 1024).replace(/[\uD800-\uDBFF]$/, 'z');
          try {
            await storage.write(key, `value ${i}`);
          } catch (error) {
            const refused = await expectDurableError(() => failing(error), 'INVALID_KEY');
            assert.equal(refused.retryable, false);
            continue;
          }
          assert.equal(bytesToText((await storage.read(key))!.data), `value ${i}`);
          assert.ok(
            (await storage.list(`${ns}/long/`)).keys.includes(key),
            'a stored long key must be listed as written',
          );
        }
      },
      timeout,
    );

    describeStorageEdgeCases(it, timeout, () => storage, {
      ...(options.createIsolated === undefined ? {} : { createIsolated: options.createIsolated }),
      ...(options.outage === undefined ? {} : { outage: options.outage }),
      ...(options.listOrderUncheckedBecause === undefined
        ? {}
        : { listOrderUncheckedBecause: options.listOrderUncheckedBecause }),
    });

    describeStorageWatchCases(it, timeout, () => storage, declared.watch === true);

    if (options.lostReply !== undefined) {
      const lost = options.lostReply;
      const text = async (key: string): Promise<string | undefined> => {
        const entry = await storage.read(key);
        return entry === undefined ? undefined : bytesToText(entry.data);
      };

      it(
        'a write whose reply was lost is reported as applied with its version, never CONFLICT (create, update, blind)',
        async () => {
          const key = `${ns}/lost-reply`;
          const steps: Array<[string, { ifVersion?: string | null } | undefined]> = [
            ['created', { ifVersion: null }],
            ['updated', undefined],
            ['blind', {}],
          ];
          let version: string | undefined;
          for (const [value, given] of steps) {
            const condition = given ?? { ifVersion: version! };
            lost.dropNextReply();
            version = await storage.write(key, value, condition);
            assertReplyDropped(lost, `write ${value}`);
            const entry = await storage.read(key);
            assert.equal(
              entry?.version,
              version,
              `write ${value}: the returned version is the stored one`,
            );
            assert.equal(await text(key), value);
          }
        },
        timeout,
      );

      it(
        'a conditional delete whose reply was lost returns true or throws UNKNOWN_OUTCOME, never CONFLICT, and the value is gone',
        async () => {
          const key = `${ns}/lost-delete`;
          const version = await storage.write(key, 'doomed');
          lost.dropNextReply();
          try {
            assert.equal(await storage.delete(key, { ifVersion: version }), true);
          } catch (error) {
            await expectDurableError(() => failing(error), 'UNKNOWN_OUTCOME');
          }
          assertReplyDropped(lost, 'delete');
          assert.equal(await storage.read(key), undefined);
        },
        timeout,
      );

      it(
        'a lost reply does not turn a stale write into a success: it is CONFLICT or UNKNOWN_OUTCOME and changes nothing',
        async () => {
          const key = `${ns}/lost-stale`;
          const v1 = await storage.write(key, 'one');
          const v2 = await storage.write(key, 'two', { ifVersion: v1 });
          lost.dropNextReply();
          const error = await storage.write(key, 'three', { ifVersion: v1 }).then(
            () => assert.fail('a stale write succeeded'),
            (e: unknown) => e,
          );
          if (!isDurableError(error, 'UNKNOWN_OUTCOME'))
            await expectConflict(() => failing(error), { key, operation: 'write', expected: v1 });
          assertReplyDropped(lost, 'stale write');
          assert.equal((await storage.read(key))?.version, v2);
          assert.equal(await text(key), 'two');
        },
        timeout,
      );
    }
  });
}

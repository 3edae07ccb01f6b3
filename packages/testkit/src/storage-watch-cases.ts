import assert from 'node:assert/strict';
import type { StorageManager } from '@durable/core';
import type { SuiteRunner } from './runner.js';
import { uniquePrefix } from './runner.js';

// Resolves at the listener's next call (its first call after now).
function nextCall(): { listener: () => void; called: Promise<void>; count: () => number } {
  let calls = 0;
  let resolve: () => void = () => undefined;
  const called = new Promise<void>((done) => (resolve = done));
  return {
    listener: () => {
      calls += 1;
      resolve();
    },
    called,
    count: () => calls,
  };
}

/**
 * The cases of `watch` (a storage declaring `capabilities.watch`): a write under the prefix is
 * heard and is readable when heard, unwatching stops the calls, a bad prefix is refused. When
 * the suite is told the storage does not watch, one case says so by name and checks the
 * declaration. Registered by `runStorageSuite`.
 */
export function describeStorageWatchCases(
  it: SuiteRunner['it'],
  timeout: number,
  current: () => StorageManager,
  declared: boolean,
): void {
  it(
    `declares capabilities.watch as the suite was told (${String(declared)})`,
    () => {
      const actual = current().capabilities.watch === true;
      assert.equal(
        actual,
        declared,
        `the storage declares watch: ${String(actual)}; pass capabilities: { watch: ${String(
          actual,
        )} } to runStorageSuite if that is what it implements`,
      );
      if (actual) assert.equal(typeof current().watch, 'function', 'watch must be a method');
    },
    timeout,
  );
  if (!declared) {
    it('NOT RUN (watch: false): watch hears writes under its prefix', () => {
      assert.notEqual(current().capabilities.watch, true);
    });
    return;
  }
  const watch = (storage: StorageManager, prefix: string, listener: () => void): (() => void) => {
    assert.equal(typeof storage.watch, 'function', 'watch must be a method');
    return (storage as Required<Pick<StorageManager, 'watch'>>).watch(prefix, listener);
  };

  it(
    'watch hears a write under its prefix, and the write is readable when it is heard',
    async () => {
      const storage = current();
      const prefix = `${uniquePrefix('watch')}/in/`;
      let seen: string | undefined;
      const heard = new Promise<void>((resolve) => {
        const stop = watch(storage, prefix, () => {
          void storage.read(`${prefix}k`).then((entry) => {
            if (entry === undefined) return;
            seen = new TextDecoder().decode(entry.data);
            stop();
            resolve();
          });
        });
      });
      await storage.write(`${prefix}k`, 'v1');
      await heard;
      assert.equal(seen, 'v1');
    },
    timeout,
  );

  it(
    'after unwatch a listener is not called; another prefix is heard on its own',
    async () => {
      const storage = current();
      const base = uniquePrefix('watch');
      const stopped = nextCall();
      const other = nextCall();
      const stop = watch(storage, `${base}/a/`, stopped.listener);
      const stopOther = watch(storage, `${base}/b/`, other.listener);
      stop();
      stop();
      await storage.write(`${base}/a/k`, 'x');
      await storage.write(`${base}/b/k`, 'y');
      await other.called;
      stopOther();
      assert.equal(stopped.count(), 0, 'an unwatched listener was called');
    },
    timeout,
  );

  it(
    'watch refuses an invalid prefix with INVALID_KEY',
    () => {
      const storage = current();
      assert.throws(
        () => watch(storage, '../escape/', () => undefined),
        (error: unknown) => (error as { code?: unknown }).code === 'INVALID_KEY',
      );
    },
    timeout,
  );
}

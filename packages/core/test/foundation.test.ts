import {
  DurableError,
  LockableStorageManager,
  bytesToText,
  MemoryLockManager,
  MemoryStorageManager,
  isDurableError,
  isValidKey,
  MemoryWorkflowStore,
} from '../src/index.js';
import {
  acquireWithRetry,
  resolveBackoff,
  assertValidKey,
  assertValidPrefix,
  backoffDelay,
  createLockToken,
  isWellFormedText,
  checkOptions,
  resolveTtl,
  MAX_TTL_MS,
  assertStorageValue,
  assertConditionalOptions,
  toBackendError,
} from '../src/adapter.js';

describe('DurableError', () => {
  test('isDurableError recognises an error from another copy of the package (the built CommonJS copy)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const otherCopy = require('../dist/cjs/index.js') as typeof import('../src/index.js');
    expect(otherCopy.DurableError).not.toBe(DurableError);
    const foreign = new otherCopy.DurableError('CONFLICT', 'from the other copy');
    expect(isDurableError(foreign)).toBe(true);
    expect(isDurableError(foreign, 'CONFLICT')).toBe(true);
    expect(isDurableError(foreign, 'BACKEND')).toBe(false);
    expect(otherCopy.isDurableError(new DurableError('BACKEND', 'x'), 'BACKEND')).toBe(true);
  });

  test('plain errors and look-alikes are not DurableErrors', () => {
    expect(isDurableError(new Error('x'))).toBe(false);
    expect(isDurableError({ code: 'CONFLICT', name: 'DurableError' })).toBe(false);
    expect(isDurableError(null)).toBe(false);
  });

  test('toBackendError wraps with cause and retryable, and keeps a DurableError as it is', () => {
    const cause = new Error('ECONNRESET');
    const wrapped = toBackendError(cause, 'redis-lock: release failed for orders/42');
    expect(wrapped.code).toBe('BACKEND');
    expect(wrapped.retryable).toBe(true);
    expect(wrapped.cause).toBe(cause);
    expect(wrapped.message).toBe('redis-lock: release failed for orders/42: ECONNRESET');
    const conflict = new DurableError('CONFLICT', 'c');
    expect(toBackendError(conflict, 'x')).toBe(conflict);
  });
});

describe('key rules', () => {
  test.each(['a', 'orders/42', 'a/b/c', 'unicode/日本/🙂', '.hidden/x', 'a..b', 'x'.repeat(1024)])(
    'accepts %j',
    (key) => {
      expect(isValidKey(key)).toBe(true);
    },
  );
  test.each([
    '',
    '/a',
    'a/',
    'a//b',
    '.',
    '..',
    'a/./b',
    'a/../b',
    'nul\u0000',
    'tab\t',
    'del\u007f',
    'c1\u0085',
    'a\\b',
    'x'.repeat(1025),
  ])('refuses %j with INVALID_KEY naming the key', (key) => {
    expect(() => assertValidKey(key, 'test')).toThrow(
      expect.objectContaining({ code: 'INVALID_KEY' }),
    );
    expect(() => assertValidKey(key, 'test')).toThrow(/^test: invalid key/);
  });
  test('keys that differ only in lone surrogates are refused: in UTF-8 they would all be U+FFFD and collide', () => {
    for (const key of ['users/\uD800', 'users/\uDBFF', 'x\uDC00', 'a\uDFFF\uD800b']) {
      expect(() => assertValidKey(key, 'test')).toThrow(/well-formed Unicode/);
    }
    expect(isValidKey('emoji/\uD83D\uDE42')).toBe(true); // a proper pair is 🙂
    expect(isWellFormedText('a\uD83D\uDE42b')).toBe(true);
    expect(isWellFormedText('a\uD83Db')).toBe(false);
  });
  test('prefixes may stop inside a segment but not make a bad segment', () => {
    for (const ok of ['', 'a', 'a/', 'orders/4', 'a/..x', 'a/.'])
      expect(() => assertValidPrefix(ok)).not.toThrow();
    for (const bad of ['/a', 'a//', 'a/../', '../', 'a\u0000']) {
      expect(() => assertValidPrefix(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_KEY' }),
      );
    }
  });
});

describe('backoff', () => {
  test('delays are jittered within an exponentially growing, capped ceiling', () => {
    expect(backoffDelay(0, { random: () => 0.999 })).toBeLessThanOrEqual(5);
    expect(backoffDelay(3, { random: () => 0.999 })).toBeLessThanOrEqual(40);
    expect(backoffDelay(30, { random: () => 0.999 })).toBeLessThanOrEqual(250);
    expect(backoffDelay(30, { random: () => 0 })).toBe(1);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(6)));
    expect(spread.size).toBeGreaterThan(5);
  });
});

describe('waitMs validation', () => {
  test.each([Number.NaN, -1, '10' as unknown as number])(
    'acquire with waitMs %p is a CONFIG error, not an endless wait',
    async (waitMs) => {
      const lock = new MemoryLockManager();
      await lock.acquire('k', { ttlMs: 10_000 });
      await expect(lock.acquire('k', { waitMs })).rejects.toMatchObject({ code: 'CONFIG' });
    },
  );
});

describe('acquireWithRetry with a watch', () => {
  const slowBackoff = { baseMs: 10_000, maxMs: 10_000, random: () => 0.9999 };
  const lease = {
    key: 'k',
    token: 't',
    fencingToken: 1,
    expiresAt: 0,
    extend: async () => undefined,
    release: async () => true,
  };

  test('a notification ends the wait at once, and the watch is closed when the lease is granted', async () => {
    let free = false;
    let notify: (() => void) | undefined;
    let closed = 0;
    let attempts = 0;
    setTimeout(() => {
      free = true;
      notify?.();
    }, 50);
    const started = Date.now();
    const granted = await acquireWithRetry({
      context: 'test',
      key: 'k',
      options: { waitMs: 30_000 },
      defaultTtlMs: 1000,
      backoff: slowBackoff,
      attempt: async () => (attempts++, free ? lease : undefined),
      watch: (onChange) => {
        notify = onChange;
        return () => closed++;
      },
    });
    expect(granted).toBe(lease);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(attempts).toBe(3); // the first, one right after subscribing, one after the notification
    expect(closed).toBe(1);
  });

  test('without notifications (watch gives undefined) it falls back to the backoff, and times out', async () => {
    let watched = 0;
    await expect(
      acquireWithRetry({
        context: 'test',
        key: 'k',
        options: { waitMs: 100 },
        defaultTtlMs: 1000,
        attempt: async () => undefined,
        watch: () => (watched++, undefined),
      }),
    ).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(watched).toBe(1);
  });

  test('waitMs 0 never subscribes; a timeout closes the watch', async () => {
    let watched = 0;
    let closed = 0;
    const watch = (): (() => void) => (watched++, () => closed++);
    const base = {
      context: 'test',
      key: 'k',
      defaultTtlMs: 1000,
      attempt: async () => undefined,
      watch,
    };
    await expect(acquireWithRetry({ ...base, options: {} })).rejects.toMatchObject({
      code: 'LOCK_TIMEOUT',
    });
    expect(watched).toBe(0);
    await expect(acquireWithRetry({ ...base, options: { waitMs: 50 } })).rejects.toMatchObject({
      code: 'LOCK_TIMEOUT',
    });
    expect([watched, closed]).toEqual([1, 1]);
  });
});

describe('backoff options', () => {
  test('NaN, negative, zero or non-number delays and a non-function random are CONFIG errors', () => {
    for (const bad of [
      { baseMs: Number.NaN },
      { maxMs: -1 },
      { baseMs: 0 },
      { maxMs: '10' },
      { random: 0.5 },
      null,
      'fast',
    ]) {
      expect(() => resolveBackoff(bad as never, 'test lock')).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
    expect(() => resolveBackoff({ baseMs: Number.NaN }, 'test lock')).toThrow(
      'test lock: backoff.baseMs must be a positive number of milliseconds, got number NaN',
    );
    expect(resolveBackoff(undefined, 'x')).toEqual({});
    expect(resolveBackoff({ baseMs: 1, maxMs: 2 }, 'x')).toEqual({ baseMs: 1, maxMs: 2 });
  });
});

describe('owner tokens', () => {
  test('are 32 lower-case hex characters and never repeat, across many refills of the random pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const token = createLockToken();
      expect(token).toMatch(/^[0-9a-f]{32}$/);
      seen.add(token);
    }
    expect(seen.size).toBe(5000);
  });
});

describe('option checks', () => {
  test('checkOptions: unknown, renamed and missing keys are CONFIG, never retryable', () => {
    const rules = {
      known: ['storage', 'ttlMs'],
      required: ['storage'],
      renamed: { storageManager: 'storage' },
    };
    expect(() => checkOptions({ storage: 1, ttlMs: 2 }, 'ctx', rules)).not.toThrow();
    expect(() => checkOptions({ storage: 1, tllMs: 2 }, 'ctx', rules)).toThrow(
      'ctx: unknown option "tllMs"; the options are: storage, ttlMs',
    );
    expect(() => checkOptions({ storageManager: 1 }, 'ctx', rules)).toThrow(
      'ctx: option "storageManager" is not ours; use storage',
    );
    expect(() => checkOptions({}, 'ctx', rules)).toThrow(
      'ctx: option "storage" is required (the seed library called it "storageManager")',
    );
    expect(() => checkOptions(null, 'ctx', rules)).toThrow(
      expect.objectContaining({ code: 'CONFIG', retryable: false }),
    );
  });
  test('the memory lock refuses unknown options and a TTL past MAX_TTL_MS', () => {
    expect(() => new MemoryLockManager({ ttl: 5 } as never)).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
    expect(() => new MemoryLockManager({ defaultTtlMs: 1e300 })).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
    expect(() => resolveTtl(MAX_TTL_MS, 1, 'x')).not.toThrow();
  });
  test('assertStorageValue and assertConditionalOptions refuse what would be stored wrongly or written blind', () => {
    for (const value of ['', 'text', new Uint8Array(1), Buffer.from('b')])
      expect(() => assertStorageValue(value, 'ctx')).not.toThrow();
    expect(() => assertStorageValue({ a: 1 }, 'ctx', 'k')).toThrow(
      /ctx: k: a value must be a string or a Uint8Array, got Object \(serialise it first/,
    );
    expect(() => assertStorageValue(new ArrayBuffer(2), 'ctx')).toThrow(/new Uint8Array\(buffer\)/);
    for (const ok of [undefined, {}, { ifVersion: null }, { ifVersion: '17' }])
      expect(() => assertConditionalOptions(ok, 'ctx')).not.toThrow();
    for (const bad of [
      null,
      'v',
      { ifVersion: '*' },
      { ifVersion: '' },
      { ifVersion: 'a\r\nb' },
      { ifVersion: 3 },
    ]) {
      expect(() => assertConditionalOptions(bad, 'ctx')).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
  });
});

describe('memory lock with an injected clock', () => {
  test('a lease expires when the clock passes its TTL, with no real waiting', async () => {
    let now = 1_000;
    const lock = new MemoryLockManager({ clock: () => now });
    const first = await lock.acquire('k', { ttlMs: 100 });
    await expect(lock.acquire('k')).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    now += 101;
    const second = await lock.acquire('k');
    expect(second.fencingToken).toBe(first.fencingToken + 1);
    await expect(first.extend()).rejects.toMatchObject({ code: 'LOCK_LOST' });
  });
});

describe('LockableStorageManager', () => {
  const make = () =>
    new LockableStorageManager({
      storage: new MemoryStorageManager(),
      lock: new MemoryLockManager(),
    });

  test('withLock releases the lease when the callback throws', async () => {
    const store = make();
    await expect(
      store.withLock('k', async () => Promise.reject(new Error('boom'))),
    ).rejects.toThrow('boom');
    const lease = await store.acquire('k', { waitMs: 0 });
    expect(await lease.release()).toBe(true);
  });

  test('update is a read-modify-write under the lease, conditional on the version read', async () => {
    const store = make();
    await store.update('n', (current) =>
      String(Number(current ? bytesToText(current.data) : '0') + 1),
    );
    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.update(
          'n',
          (current) => String(Number(current ? bytesToText(current.data) : '0') + 1),
          { waitMs: 5_000 },
        ),
      ),
    );
    expect(bytesToText((await store.read('n'))!.data)).toBe('21');
  });

  test('update whose lease expired mid-way gets CONFLICT instead of overwriting a newer value', async () => {
    let now = 0;
    const store = new LockableStorageManager({
      storage: new MemoryStorageManager(),
      lock: new MemoryLockManager({ clock: () => now }),
    });
    await store.write('k', 'v0');
    await expect(
      store.update(
        'k',
        async () => {
          now += 10_000; // the lease is long gone...
          await store.write('k', 'written by the next holder'); // ...and someone else wrote
          return 'late';
        },
        { ttlMs: 1_000 },
      ),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(bytesToText((await store.read('k'))!.data)).toBe('written by the next holder');
  });

  test('update returning a non-byte value is CONFIG and writes nothing (it used to store 0 bytes)', async () => {
    const store = make();
    const version = await store.write('k', 'v');
    await expect(store.update('k', () => ({ a: 1 }) as unknown as string)).rejects.toMatchObject({
      code: 'CONFIG',
    });
    expect((await store.read('k'))?.version).toBe(version);
  });

  test('construction refuses missing parts and the seed names with CONFIG naming ours', () => {
    expect(
      () =>
        new LockableStorageManager({
          storageManager: new MemoryStorageManager(),
          lockingManager: new MemoryLockManager(),
        } as never),
    ).toThrow(/option "storageManager" is not ours; use storage/);
    expect(
      () => new LockableStorageManager({ storage: new MemoryStorageManager() } as never),
    ).toThrow(/option "lock" is required/);
    expect(() => new LockableStorageManager(undefined as never)).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
  });

  test('update returning undefined leaves the value untouched', async () => {
    const store = make();
    const version = await store.write('k', 'v');
    expect(await store.update('k', () => undefined)).toBe(version);
  });
});

describe('memory workflow store options', () => {
  test('an unknown option is CONFIG', () => {
    expect(() => new MemoryWorkflowStore({ clok: () => 0 } as never)).toThrow(
      /memory workflow store: unknown option "clok"/,
    );
  });
});

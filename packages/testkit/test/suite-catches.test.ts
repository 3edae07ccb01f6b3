import type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StorageValue,
} from '@durable/core';
import { DurableError, MemoryStorageManager, listAll } from '@durable/core';
import { assertConditionalOptions, assertStorageValue, conflictError } from '@durable/core/adapter';
import type { SuiteRunner } from '../src/index.js';
import { runStorageSuite } from '../src/index.js';

// The storage suite must fail a storage that lies about its capabilities or throws its own
// CONFLICT shape. The suite is registered on a collecting runner and its tests are run here.

interface Collected {
  tests: Map<string, () => Promise<void> | void>;
  run(titlePart: string): Promise<void>;
}

function collect(register: (runner: SuiteRunner) => void): Collected {
  const tests = new Map<string, () => Promise<void> | void>();
  const before: Array<() => Promise<void> | void> = [];
  const after: Array<() => Promise<void> | void> = [];
  register({
    describe: (_name, fn) => fn(),
    it: (name, fn) => void tests.set(name, fn),
    beforeEach: (fn) => void before.push(fn),
    afterEach: (fn) => void after.push(fn),
  });
  return {
    tests,
    async run(titlePart) {
      const matches = [...tests.keys()].filter((title) => title.includes(titlePart));
      if (matches.length !== 1)
        throw new Error(`expected one test titled like "${titlePart}", found ${matches.length}`);
      for (const hook of before) await hook();
      try {
        await tests.get(matches[0]!)!();
      } finally {
        for (const hook of after) await hook();
      }
    },
  };
}

// Checks a condition by a read, then writes after a turn of the event loop: not atomic.
class CheckThenWriteStorage extends MemoryStorageManager {
  constructor(override readonly capabilities: StorageCapabilities) {
    super();
  }

  override async write(
    key: string,
    value: StorageValue,
    options?: ConditionalOptions,
  ): Promise<string> {
    assertStorageValue(value, 'check-then-write', key);
    assertConditionalOptions(options, 'check-then-write', key);
    if (options?.ifVersion === undefined) return super.write(key, value);
    const current = (await this.read(key))?.version ?? null;
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (current !== options.ifVersion) {
      throw conflictError({
        context: 'check-then-write',
        operation: 'write',
        key,
        expected: options.ifVersion,
        actual: current,
      });
    }
    return super.write(key, value);
  }
}

// Atomic, but throws a CONFLICT of its own shape (retryable, other details).
class OwnConflictStorage extends MemoryStorageManager {
  override async write(
    key: string,
    value: StorageValue,
    options?: ConditionalOptions,
  ): Promise<string> {
    try {
      return await super.write(key, value, options);
    } catch (error) {
      throw new DurableError('CONFLICT', `own: conflict for ${key}`, {
        retryable: true,
        details: { key, ifVersion: options?.ifVersion },
      });
    }
  }
}

// Pages of at most 100 keys whatever the limit (as a backend with a smaller page would), and no
// refusal of a limit above 1000.
class SmallPageStorage extends MemoryStorageManager {
  override async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    const limit = Math.min(options.limit ?? 1000, 100);
    return super.list(prefix, { ...options, limit });
  }
}

// Serves any limit, so a caller asking for 5000 gets 5000 here and 1000 from S3.
class UnboundedPageStorage extends MemoryStorageManager {
  override async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    if ((options.limit ?? 0) > 1000) return { keys: await listEvery(this, prefix) };
    return super.list(prefix, options);
  }
}

async function listEvery(storage: MemoryStorageManager, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of listAll(storage, prefix)) keys.push(key);
  return keys;
}

describe('the storage suite catches', () => {
  it('a storage that declares conditionalWrite: true but checks by a read: the racing-create case fails', async () => {
    const suite = collect((runner) =>
      runStorageSuite('liar', {
        runner,
        create: () => new CheckThenWriteStorage({ conditionalWrite: true }),
      }),
    );
    await expect(suite.run('concurrent creates of one key')).rejects.toThrow(/winners/);
    await expect(suite.run('concurrent updates from one version')).rejects.toThrow(/winners/);
  });

  it('the same storage declaring conditionalWrite: false runs without the compare-and-swap cases, and passes', async () => {
    const suite = collect((runner) =>
      runStorageSuite('honest', {
        runner,
        capabilities: { conditionalWrite: false },
        create: () => new CheckThenWriteStorage({ conditionalWrite: false }),
      }),
    );
    const notRun = [...suite.tests.keys()].filter((title) =>
      title.startsWith('NOT RUN (conditionalWrite: false): '),
    );
    expect(notRun).toHaveLength(3);
    for (const title of suite.tests.keys()) await suite.run(title);
  });

  it('a storage whose declaration differs from what the suite was told fails the capabilities test', async () => {
    const suite = collect((runner) =>
      runStorageSuite('undeclared', {
        runner,
        create: () => new CheckThenWriteStorage({ conditionalWrite: false }),
      }),
    );
    await expect(suite.run('declares the capabilities')).rejects.toThrow(
      /pass capabilities: \{ conditionalWrite: false \}/,
    );
  });

  it('a CONFLICT of another shape (retryable, other details) fails the conflict cases', async () => {
    const suite = collect((runner) =>
      runStorageSuite('own conflict', { runner, create: () => new OwnConflictStorage() }),
    );
    await expect(suite.run('write with a stale version throws CONFLICT')).rejects.toThrow(
      /retryable must be false/,
    );
  });

  it('a page capped below 1000 keys, or a limit above 1000 served, fails the largest-page case', async () => {
    const small = collect((runner) =>
      runStorageSuite('small pages', { runner, create: () => new SmallPageStorage() }),
    );
    await expect(small.run('the largest page is 1000 keys')).rejects.toThrow(
      /a limit of 1000 must be served in one page/,
    );
    const unbounded = collect((runner) =>
      runStorageSuite('unbounded pages', { runner, create: () => new UnboundedPageStorage() }),
    );
    await expect(unbounded.run('the largest page is 1000 keys')).rejects.toThrow(/CONFIG/);
  });

  it('the memory storage passes the same cases (the checks above are not failing for another reason)', async () => {
    const suite = collect((runner) =>
      runStorageSuite('memory', { runner, create: () => new MemoryStorageManager() }),
    );
    for (const title of [
      'concurrent creates of one key',
      'concurrent updates from one version',
      'declares the capabilities',
      'write with a stale version throws CONFLICT',
      'the largest page is 1000 keys',
    ]) {
      await suite.run(title);
    }
  });
});

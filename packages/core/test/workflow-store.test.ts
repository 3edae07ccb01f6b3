import type { ConditionalOptions, StepMemo, StorageValue } from '../src/index.js';
import {
  DurableError,
  MemoryStorageManager,
  StorageWorkflowStore,
  isDurableError,
} from '../src/index.js';
import {
  assertJsonValue,
  decodeWorkflowId,
  encodeWorkflowId,
  isWorkflowDue,
  parseWorkflowRecord,
  toStoredError,
  workflowTransitions,
} from '../src/adapter.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isDurableError(error) ? error.code : 'not-durable';
  }
  return undefined;
}

describe('workflow record helpers', () => {
  it('assertJsonValue accepts plain JSON and refuses what JSON would change', () => {
    expect(
      codeOf(() => assertJsonValue({ a: [1, 'x', null, true, { b: undefined }] }, 'v')),
    ).toBeUndefined();
    expect(codeOf(() => assertJsonValue(() => 1, 'v'))).toBe('SERIALIZATION');
    expect(codeOf(() => assertJsonValue({ d: new Date() }, 'v'))).toBe('SERIALIZATION');
    expect(codeOf(() => assertJsonValue([undefined], 'v'))).toBe('SERIALIZATION');
    expect(codeOf(() => assertJsonValue(Number.NaN, 'v'))).toBe('SERIALIZATION');
    expect(codeOf(() => assertJsonValue(new Map(), 'v'))).toBe('SERIALIZATION');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(codeOf(() => assertJsonValue(cyclic, 'v'))).toBe('SERIALIZATION');
    const shared = { x: 1 };
    expect(codeOf(() => assertJsonValue([shared, shared], 'v'))).toBeUndefined();
  });

  it('workflow ids of any characters map to distinct key segments and back', () => {
    const ids = ['a', 'A', 'a.b', '..', 'a/b', 'ü 🎉', '%2F'];
    const segments = ids.map(encodeWorkflowId);
    expect(new Set(segments).size).toBe(ids.length);
    for (const segment of segments) expect(segment).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(segments.map(decodeWorkflowId)).toEqual(ids);
  });

  it('due rules: ready/failed/sleeping at runAt, running when the lease expired, finished never', () => {
    const record = workflowTransitions.create({ id: 'w', handler: 'h', runAt: 100 }, 50);
    expect(isWorkflowDue(record, 99)).toBe(false);
    expect(isWorkflowDue(record, 100)).toBe(true);
    const running = workflowTransitions.claim(record, 't', 10, 100);
    expect(isWorkflowDue(running, 109)).toBe(false);
    expect(isWorkflowDue(running, 110)).toBe(true);
    const done = workflowTransitions.finish(running, 't', { status: 'completed' }, 105);
    expect(isWorkflowDue(done, Number.MAX_SAFE_INTEGER)).toBe(false);
  });

  it('a stored error keeps name, message, stack and a DurableError code', () => {
    const stored = toStoredError(new DurableError('CONFLICT', 'x'));
    expect(stored).toMatchObject({ name: 'DurableError', message: 'x', code: 'CONFLICT' });
    expect(stored.stack).toContain('DurableError');
    expect(toStoredError('plain')).toEqual({ name: 'Error', message: 'plain' });
  });

  it('parseWorkflowRecord refuses an unknown format with VERSION_UNKNOWN and bad JSON with BACKEND', () => {
    expect(codeOf(() => parseWorkflowRecord('{"format":99}'))).toBe('VERSION_UNKNOWN');
    expect(codeOf(() => parseWorkflowRecord('{'))).toBe('BACKEND');
    const record = workflowTransitions.create({ id: 'w', handler: 'h', input: { a: 1 } }, 1);
    expect(parseWorkflowRecord(JSON.stringify(record))).toEqual(record);
  });
});

// A storage whose next armed write is applied and then reported failed, as when the reply is lost
// and the client's retry is answered "precondition failed" (S3 412), or the adapter cannot tell.
class LostReplyStorage extends MemoryStorageManager {
  lose: { code: 'CONFLICT' | 'UNKNOWN_OUTCOME'; keyPart: string } | undefined;

  override async write(
    key: string,
    value: StorageValue,
    options: ConditionalOptions = {},
  ): Promise<string> {
    const version = await super.write(key, value, options);
    const lose = this.lose;
    if (lose !== undefined && key.includes(lose.keyPart)) {
      this.lose = undefined;
      throw new DurableError(lose.code, `lost reply for ${key}`);
    }
    return version;
  }
}

describe.each(['CONFLICT', 'UNKNOWN_OUTCOME'] as const)(
  'storage workflow store: its own write whose reply was lost (%s)',
  (code) => {
    let storage: LostReplyStorage;
    let store: StorageWorkflowStore;
    const memo = (id: string, value?: unknown): StepMemo => ({
      id,
      kind: 'step',
      done: true,
      at: 1,
      ...(value === undefined ? {} : { value }),
    });

    beforeEach(() => {
      storage = new LostReplyStorage();
      store = new StorageWorkflowStore({ storage, clock: () => 1000 });
    });

    async function claimed(): Promise<string> {
      await store.insert({ id: 'w', handler: 'h' });
      const claim = await store.claim({ leaseMs: 10_000 });
      if (claim === undefined) throw new Error('not claimed');
      return claim.token;
    }

    it('saveStep is a success, not NON_DETERMINISTIC, and the next step records after it', async () => {
      const token = await claimed();
      storage.lose = { code, keyPart: 'records/' };
      await store.saveStep('w', token, 0, memo('charge', { id: 'ch_1' }));
      await store.saveStep('w', token, 1, memo('mail'));
      const record = await store.get('w');
      expect(record?.steps.map((s) => [s.id, s.value])).toEqual([
        ['charge', { id: 'ch_1' }],
        ['mail', undefined],
      ]);
    });

    it('suspend and finish are a success, not LOCK_LOST', async () => {
      const token = await claimed();
      storage.lose = { code, keyPart: 'records/' };
      await store.suspend('w', token, { runAt: 1000 });
      expect((await store.get('w'))?.status).toBe('sleeping');
      const again = await store.claim({ leaseMs: 10_000 });
      expect(again).toBeDefined();
      storage.lose = { code, keyPart: 'records/' };
      await store.finish('w', again?.token ?? '', { status: 'completed', result: 5 });
      expect((await store.get('w'))?.result).toBe(5);
    });

    it('a claim is handed out, not lost', async () => {
      await store.insert({ id: 'w', handler: 'h' });
      storage.lose = { code, keyPart: 'records/' };
      const claim = await store.claim({ leaseMs: 10_000 });
      expect(claim?.record.claim?.token).toBe(claim?.token);
      expect((await store.get('w'))?.claim?.token).toBe(claim?.token);
    });
  },
);

describe('storage workflow store: insert', () => {
  it.each(['CONFLICT', 'UNKNOWN_OUTCOME'] as const)(
    'a start whose reply was lost (%s) is true when the start is its own, false when it is another',
    async (code) => {
      const storage = new LostReplyStorage();
      const store = new StorageWorkflowStore({ storage, clock: () => 1000 });
      storage.lose = { code, keyPart: 'due/0/' };
      expect(await store.insert({ id: 'w', handler: 'h', input: 1 })).toBe(true);
      expect((await store.get('w'))?.input).toBe(1);
      const w = await store.claim({ leaseMs: 10_000 });
      await store.finish('w', w?.token ?? '', { status: 'completed' });
      // Its start already made into a record and finished before the lost reply is looked into.
      storage.lose = { code, keyPart: 'due/0/' };
      const claimer = new StorageWorkflowStore({ storage, clock: () => 1000 });
      const racing = Object.assign(Object.create(storage) as LostReplyStorage, {
        write: async (key: string, value: StorageValue, options?: ConditionalOptions) => {
          try {
            return await storage.write(key, value, options);
          } catch (error) {
            const claim = key.includes('due/0/')
              ? await claimer.claim({ leaseMs: 10_000 })
              : undefined;
            // Finished: its start key is gone, only the record says whose start it was.
            if (claim !== undefined)
              await claimer.finish(claim.record.id, claim.token, { status: 'completed' });
            throw error;
          }
        },
      });
      expect(
        await new StorageWorkflowStore({ storage: racing, clock: () => 1000 }).insert({
          id: 'x',
          handler: 'h',
          input: 3,
        }),
      ).toBe(true);
      expect((await store.get('x'))?.status).toBe('completed');
      expect((await storage.list('workflows/due/0/')).keys).toEqual([]);
      await store.insert({ id: 'v', handler: 'h', input: 2 });
      // An outcome left unknown while another caller's start is there: not ours.
      const failing = Object.assign(Object.create(storage) as LostReplyStorage, {
        write: (key: string, value: StorageValue, options?: ConditionalOptions) =>
          key.includes('due/0/')
            ? Promise.reject(new DurableError(code, 'lost'))
            : storage.write(key, value, options),
      });
      const failingStart = () =>
        new StorageWorkflowStore({ storage: failing, clock: () => 1000 }).insert({
          id: 'v',
          handler: 'h',
          input: 2,
        });
      expect(await failingStart()).toBe(false);
      // Again once the other start is a finished record and its start key is gone.
      const v = await store.claim({ leaseMs: 10_000 });
      await store.finish('v', v?.token ?? '', { status: 'completed' });
      expect(await storage.exists('workflows/due/0/dg')).toBe(false);
      expect(await failingStart()).toBe(false);
    },
  );

  it("unknown options and the seed libraries' names are CONFIG errors naming ours", () => {
    const storage = new MemoryStorageManager();
    expect(codeOf(() => new StorageWorkflowStore({ storage, lockWrite: true } as never))).toBe(
      'CONFIG',
    );
    expect(() => new StorageWorkflowStore({ storageManager: storage } as never)).toThrow(
      /use storage/,
    );
    expect(codeOf(() => new StorageWorkflowStore({ storage: {} as never }))).toBe('CONFIG');
  });
});

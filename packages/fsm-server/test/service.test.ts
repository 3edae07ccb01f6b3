import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryStorageManager, isDurableError } from '@durable/core';
import type { StorageManager } from '@durable/core';
import { LocalFileStorageManager } from '@durable/fs';
import {
  FsmService,
  STATEMACHINE_PROTO,
  STATEMACHINE_V2_PROTO,
  parseFsmServerArgs,
} from '../src/index.js';
import { ORDERS_V3, TOGGLE, tempDir } from './support/orders.js';

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isDurableError(error, code)).toBe(true);
}

describe('FsmService', () => {
  it('prefix places every key; the earlier keyPrefix is CONFIG naming prefix', async () => {
    const storage = new MemoryStorageManager();
    const service = new FsmService({ storage, prefix: 'tenant-a' });
    await service.createConfiguration(TOGGLE);
    await service.createMachine('toggle:v1', 'm');
    expect((await storage.list('tenant-a/')).keys.length).toBeGreaterThan(0);
    expect((await storage.list('fsm/')).keys).toEqual([]);
    expect(() => new FsmService({ storage, keyPrefix: 'tenant-a' } as never)).toThrow(
      /"keyPrefix" is not ours; use prefix/,
    );
  });

  it('two services on one folder (two stale caches) never lose or double-apply an event: each once, states consistent', async () => {
    const folder = tempDir('two');
    try {
      const a = new FsmService({ storage: new LocalFileStorageManager({ root: folder.dir }) });
      const b = new FsmService({ storage: new LocalFileStorageManager({ root: folder.dir }) });
      await a.createConfiguration(TOGGLE);
      await a.createMachine('toggle:v1', 'm');
      await b.getMachine('m'); // b caches version 1
      // Some ids go to one service only (a lost update would drop them), some to both (a double
      // apply would repeat them), interleaved.
      const onlyA = Array.from({ length: 30 }, (_, i) => `a${i}`);
      const onlyB = Array.from({ length: 30 }, (_, i) => `b${i}`);
      const both = Array.from({ length: 10 }, (_, i) => `ab${i}`);
      const ids = [...onlyA, ...onlyB, ...both];
      await Promise.all([
        ...onlyA.map((id) => a.applyEvent('m', { event: 'toggle', eventId: id })),
        ...onlyB.map((id) => b.applyEvent('m', { event: 'toggle', eventId: id })),
        ...both.flatMap((id) => [
          a.applyEvent('m', { event: 'toggle', eventId: id }),
          b.applyEvent('m', { event: 'toggle', eventId: id }),
        ]),
      ]);
      const machine = await a.getMachine('m');
      expect(machine?.history.map((h) => h.event_id).sort()).toEqual([...ids].sort());
      machine?.history.forEach((h, i) =>
        expect(h.transition.from).toBe(i % 2 === 0 ? 'off' : 'on'),
      );
      expect(machine?.state).toBe('off');
    } finally {
      folder.remove();
    }
  });

  it('a CONFLICT on the machine write is retried after a re-read, never reported and never a lost event', async () => {
    const inner = new MemoryStorageManager();
    let sabotage = 3;
    // A storage whose machine writes lose the race three times (another writer committed first).
    const storage: StorageManager = {
      capabilities: inner.capabilities,
      read: (k) => inner.read(k),
      delete: (k, o) => inner.delete(k, o),
      exists: (k) => inner.exists(k),
      list: (p, o) => inner.list(p, o),
      write: async (key, value, options) => {
        if (key.includes('/machines/') && options?.ifVersion && sabotage-- > 0) {
          const current = await inner.read(key);
          await inner.write(key, current!.data); // someone else's write: the version moves on
        }
        return inner.write(key, value, options);
      },
    };
    const service = new FsmService({ storage });
    await service.createConfiguration(ORDERS_V3);
    await service.createMachine('test.orders:v3', 'o');
    expect((await service.applyEvent('o', { event: 'accept', eventId: '1' })).status).toBe(
      'applied',
    );
    expect((await service.getMachine('o'))?.history.map((h) => h.event_id)).toEqual(['1']);
  });

  it('historyLimit keeps the newest entries, counts the dropped ones, and still recognises their ids as duplicates', async () => {
    const service = new FsmService({
      storage: new MemoryStorageManager(),
      historyLimit: 3,
      dedupWindow: 5,
    });
    await service.createConfiguration(TOGGLE);
    await service.createMachine('toggle:v1', 't');
    for (let i = 0; i < 8; i++)
      await service.applyEvent('t', { event: 'toggle', eventId: `x${i}` });
    const machine = await service.getMachine('t');
    expect(machine?.history.map((h) => h.event_id)).toEqual(['x5', 'x6', 'x7']);
    expect(machine?.dropped).toBe(5);
    expect((await service.applyEvent('t', { event: 'toggle', eventId: 'x0' })).status).toBe(
      'duplicate',
    );
    expect((await service.getMachine('t'))?.state).toBe('off');
  });

  it("the writer cache's ids follow the dedup window: an id past it is applied again, ids inside it are duplicates, as a fresh reader sees", async () => {
    const storage = new MemoryStorageManager();
    const writer = new FsmService({ storage, historyLimit: 3, dedupWindow: 2 });
    await writer.createConfiguration(TOGGLE);
    await writer.createMachine('toggle:v1', 'w');
    for (let i = 0; i < 10; i++)
      await writer.applyEvent('w', { event: 'toggle', eventId: `x${i}` });
    // Kept: x7..x9 in the history, x5 and x6 as dropped ids; x0..x4 are forgotten.
    for (const service of [writer, new FsmService({ storage, historyLimit: 3, dedupWindow: 2 })]) {
      for (const id of ['x5', 'x6', 'x7', 'x9'])
        expect((await service.applyEvent('w', { event: 'toggle', eventId: id })).status).toBe(
          'duplicate',
        );
    }
    expect((await writer.applyEvent('w', { event: 'toggle', eventId: 'x4' })).status).toBe(
      'applied',
    );
    // x5 is out of the window again (dropped ids now x6, x7): the writer applies it again too.
    expect((await writer.applyEvent('w', { event: 'toggle', eventId: 'x5' })).status).toBe(
      'applied',
    );
    // Now history x9, x4, x5 and dropped ids x7, x8: x8 is a duplicate, x6 is not.
    expect((await writer.applyEvent('w', { event: 'toggle', eventId: 'x8' })).status).toBe(
      'duplicate',
    );
    expect((await writer.applyEvent('w', { event: 'toggle', eventId: 'x6' })).status).toBe(
      'applied',
    );
    const machine = await new FsmService({ storage }).getMachine('w');
    expect(machine?.history.map((h) => h.event_id)).toEqual(['x4', 'x5', 'x6']);
    expect(machine?.dropped).toBe(10);
  });

  it('a machine view handed out does not change when later events are applied', async () => {
    const service = new FsmService({ storage: new MemoryStorageManager(), historyLimit: 2 });
    await service.createConfiguration(TOGGLE);
    const created = await service.createMachine('toggle:v1', 'v');
    await service.applyEvent('v', { event: 'toggle', eventId: 'a' });
    const seen = await service.getMachine('v');
    await service.applyEvent('v', { event: 'toggle', eventId: 'b' });
    await service.applyEvent('v', { event: 'toggle', eventId: 'c' });
    expect(created.history).toEqual([]);
    expect(seen?.history.map((h) => h.event_id)).toEqual(['a']);
    expect((await service.getMachine('v'))?.history.map((h) => h.event_id)).toEqual(['b', 'c']);
  });

  it('the record written by splicing cached entry JSON reads back, in a fresh service, equal to what the writer holds', async () => {
    const storage = new MemoryStorageManager();
    const writer = new FsmService({ storage, historyLimit: 4 });
    await writer.createConfiguration(ORDERS_V3);
    await writer.createMachine('test.orders:v3', 'r');
    const steps = ['accept', 'ship', 'deliver', 'sign', 'close'];
    for (const [i, event] of steps.entries()) {
      await writer.applyEvent('r', {
        event,
        eventId: `s${i}`,
        originator: 'o"quote',
        details: i === 2 ? '{"json":"\\u0000"}' : '',
        timestamp: { seconds: i, nanos: 7 },
      });
    }
    const reader = new FsmService({ storage });
    const stored = JSON.parse(
      new TextDecoder().decode((await storage.read('fsm/machines/r'))!.data),
    ) as Record<string, unknown>;
    expect(stored).toMatchObject({
      format: 1,
      id: 'r',
      state: 'closed',
      dropped: 1,
      dropped_ids: ['s0'],
    });
    expect(await reader.getMachine('r')).toEqual(await writer.getMachine('r'));
    expect((await reader.getMachine('r'))?.history.map((h) => h.transition.event)).toEqual([
      'ship',
      'deliver',
      'sign',
      'close',
    ]);
  });

  it('bad input is a typed error naming the field, before any write', async () => {
    const service = new FsmService({ storage: new MemoryStorageManager() });
    await service.createConfiguration(ORDERS_V3);
    await service.createMachine('test.orders:v3', 'o');
    await expectCode(service.applyEvent('o', { event: '', eventId: '1' }), 'INVALID_REQUEST');
    await expectCode(service.applyEvent('o', { event: 'accept', eventId: '' }), 'INVALID_REQUEST');
    await expectCode(
      service.applyEvent('a/b', { event: 'accept', eventId: '1' }),
      'INVALID_REQUEST',
    );
    await expectCode(
      service.applyEvent('o', {
        event: 'accept',
        eventId: '1',
        timestamp: { seconds: -1, nanos: 0 },
      }),
      'INVALID_REQUEST',
    );
    await expectCode(service.applyEvent('o', { event: 'ship', eventId: '1' }), 'EVENT_NOT_ALLOWED');
    await expectCode(service.applyEvent('nobody', { event: 'ship', eventId: '1' }), 'NOT_FOUND');
    expect((await service.getMachine('o'))?.history).toEqual([]);
    expect(() => new FsmService({ storage: new MemoryStorageManager(), historyLimit: 0 })).toThrow(
      /historyLimit/,
    );
    expect(
      () => new FsmService({ storage: new MemoryStorageManager(), history: 3 } as never),
    ).toThrow(/unknown option "history"/);
  });
});

describe('the shipped proto and the bin flags', () => {
  it('proto/statemachine.proto and proto/statemachine-v2.proto are the texts the server loads', () => {
    expect(readFileSync(join(__dirname, '..', 'proto', 'statemachine.proto'), 'utf8')).toBe(
      STATEMACHINE_PROTO,
    );
    expect(readFileSync(join(__dirname, '..', 'proto', 'statemachine-v2.proto'), 'utf8')).toBe(
      STATEMACHINE_V2_PROTO,
    );
  });

  it("parses the Go sm-server's flags (also Go's single-dash spelling) with their defaults", () => {
    expect(parseFsmServerArgs([])).toMatchObject({
      httpPort: 7399,
      grpcPort: 7398,
      maxRetries: 3,
      local: false,
      debug: false,
      trace: false,
    });
    expect(
      parseFsmServerArgs([
        '-http-port',
        '8080',
        '-events',
        'ev',
        '-notifications',
        'errs',
        '--endpoint-url',
        'http://127.0.0.1:4566',
        '-local',
        '--timeout',
        '2s',
        '--max-retries',
        '5',
      ]),
    ).toMatchObject({
      httpPort: 8080,
      events: 'ev',
      errors: 'errs',
      endpointUrl: 'http://127.0.0.1:4566',
      local: true,
      timeoutMs: 2000,
      maxRetries: 5,
    });
  });

  it.each([
    [['--http-port', 'abc'], /--http-port must be an integer/],
    [['--bogus'], /bogus/],
    [['--data', 'a', '--redis', 'redis://x'], /only one of/],
    [['--timeout', 'soon'], /--timeout must be a duration/],
    [['--max-retries', '0'], /--max-retries must be an integer >= 1/],
  ])('%j is a CONFIG error saying what is wrong', (argv, message) => {
    expect(() => parseFsmServerArgs(argv as string[])).toThrow(message);
  });
});

import { BSON } from 'mongodb';
import { uniquePrefix } from '@durable/testkit';
import { MongoWorkflowStore } from '../src/index.js';
import { mongoServerOrSkip } from '@durable/test-support';
import { useMonitoredMongo } from './support/monitored-mongo.js';

// Recording a step must not cost more as the history grows: saveStep reads the one position it
// records (a $slice projection) and writes that array element alone ($set of steps.N), and
// claims, heartbeats and signals never read the history. Checked on the commands the driver
// actually sends and the replies it gets (command monitoring), so the test does not depend on
// timing: the bytes of step 20's and step 60's commands and replies must be the same size (from
// step 16 on, the list of the last 16 write ids that every write carries is full).
if (mongoServerOrSkip('the MongoDB history-cost tests on mongo-java-server', 'mongo-java-server')) {
  const mongo = useMonitoredMongo('history');
  const { database, started, succeeded } = mongo;

  /** Bytes of the commands sent and the replies received while `fn` runs. */
  async function traffic(
    fn: () => Promise<unknown>,
  ): Promise<{ sent: number; received: number; commands: string[]; updates: object[] }> {
    mongo.clear();
    await fn();
    return {
      sent: started.reduce((n, e) => n + BSON.calculateObjectSize(e.command), 0),
      received: succeeded.reduce((n, e) => n + BSON.calculateObjectSize(e.reply as object), 0),
      commands: started.map((e) => e.commandName),
      updates: started
        .filter((e) => e.commandName === 'update')
        .flatMap((e) => (e.command.updates as Array<{ u: object }>).map((u) => u.u)),
    };
  }

  it('saveStep sends and receives the same bytes at step 20 and at step 60, and sets only steps.N', async () => {
    const store = new MongoWorkflowStore({
      client: mongo.client,
      database,
      collection: `wf_${uniquePrefix('hist').replace(/-/g, '_')}`,
    });
    expect(await store.insert({ id: 'long', handler: 'h' })).toBe(true);
    const claim = await store.claim({ leaseMs: 60_000 });
    const memo = (i: number) => ({
      id: `step-${String(i).padStart(3, '0')}`,
      kind: 'step' as const,
      done: true,
      value: 'x'.repeat(200),
      at: 1_000_000 + i,
    });
    const sizes: Record<number, { sent: number; received: number }> = {};
    for (let i = 0; i <= 60; i++) {
      const seen = await traffic(() => store.saveStep('long', claim!.token, i, memo(i)));
      if (i === 20 || i === 60) {
        sizes[i] = seen;
        expect(seen.commands).toEqual(['find', 'update']);
        const set = (seen.updates[0] as { $set: Record<string, unknown> }).$set;
        expect(Object.keys(set).filter((k) => k.startsWith('steps'))).toEqual([`steps.${i}`]);
      }
    }
    // Same sizes up to the digits of the index (and of the revision) in the command.
    expect(Math.abs(sizes[60]!.sent - sizes[20]!.sent)).toBeLessThanOrEqual(8);
    expect(Math.abs(sizes[60]!.received - sizes[20]!.received)).toBeLessThanOrEqual(8);
    // Nothing was lost on the way: the whole history reads back in order.
    const record = await store.get('long');
    expect(record?.steps.map((s) => s.id)).toEqual(
      Array.from({ length: 61 }, (_, i) => memo(i).id),
    );
  }, 120_000);

  it('a heartbeat and a signal do not read or write the history', async () => {
    const store = new MongoWorkflowStore({
      client: mongo.client,
      database,
      collection: `wf_${uniquePrefix('hist').replace(/-/g, '_')}`,
    });
    expect(await store.insert({ id: 'busy', handler: 'h' })).toBe(true);
    const claim = await store.claim({ leaseMs: 60_000 });
    for (let i = 0; i < 40; i++) {
      await store.saveStep('busy', claim!.token, i, {
        id: `s${i}`,
        kind: 'step',
        done: true,
        value: 'y'.repeat(200),
        at: i,
      });
    }
    const beat = await traffic(() => store.heartbeat('busy', claim!.token, 60_000));
    const signal = await traffic(() => store.signal('busy', 'ping'));
    // 40 steps of 200+ bytes would be over 8 KB in any reply that carried them.
    expect(beat.received).toBeLessThan(2000);
    expect(signal.received).toBeLessThan(2000);
    for (const update of [...beat.updates, ...signal.updates]) {
      expect(
        Object.keys((update as { $set: object }).$set).some((k) => k.startsWith('steps')),
      ).toBe(false);
    }
  }, 120_000);
}

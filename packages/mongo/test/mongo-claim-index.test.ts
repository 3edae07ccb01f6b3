import type { CommandStartedEvent, Document } from 'mongodb';
import { uniquePrefix } from '@durable/testkit';
import { MongoWorkflowStore } from '../src/index.js';
import { mongoServerOrSkip } from '@durable/test-support';
import { useMonitoredMongo } from './support/monitored-mongo.js';

// Neither test server uses an index for a query (mongo-java-server has no `explain`; FerretDB
// 1.24's explain shows a SCAN with filterPushdown and sortPushdown false), so what MongoDB would do
// with the claim is pinned here by its shape: the claim's `find`, as the driver sends it, must be
// served by an index the store creates, keyed by MongoDB's ESR rule (equality fields, then the
// sort fields in the sort's order and direction, then range fields). Then MongoDB walks the index
// from the lowest due time within the range bounds and stops after `limit` keys: sleeping and
// finished workflows are outside the bounds and never examined.

/** The index key MongoDB's ESR rule asks for, for this filter and sort. */
function esrKey(filter: Document, sort: Document): Array<[string, number]> {
  const equality: string[] = [];
  const range: string[] = [];
  for (const [field, condition] of Object.entries(filter)) {
    if (field.startsWith('$')) throw new Error(`not a plain filter: ${JSON.stringify(filter)}`);
    const isOperator =
      typeof condition === 'object' &&
      condition !== null &&
      Object.keys(condition as object).every((k) => k.startsWith('$'));
    (isOperator ? range : equality).push(field);
  }
  const key: Array<[string, number]> = equality.map((field) => [field, 1]);
  for (const [field, direction] of Object.entries(sort)) {
    if (!equality.includes(field)) key.push([field, direction as number]);
  }
  for (const field of range) if (!key.some(([f]) => f === field)) key.push([field, 1]);
  return key;
}

/** Whether `index` (its key spec) serves `key`: the same fields in the same order, each direction equal or all reversed. */
function serves(index: Document, key: Array<[string, number]>): boolean {
  const fields = Object.entries(index);
  if (fields.length < key.length) return false;
  const sign = fields[0]?.[1] === key[0]?.[1] ? 1 : -1;
  return key.every(([field, direction], i) => {
    const entry = fields[i];
    return entry !== undefined && entry[0] === field && entry[1] === direction * sign;
  });
}

if (mongoServerOrSkip('the claim index checks on mongo-java-server', 'mongo-java-server')) {
  const mongo = useMonitoredMongo('index');
  const { database } = mongo;
  const finds = (): CommandStartedEvent[] =>
    mongo.started.filter((event) => event.commandName === 'find');

  it("the claim's find is served by an index the store creates, in ESR order (range and sort on dueAt)", async () => {
    const collection = `wf_${uniquePrefix('idx').replace(/-/g, '_')}`;
    const store = new MongoWorkflowStore({ client: mongo.client, database, collection });
    expect(await store.insert({ id: 'due', handler: 'h' })).toBe(true);
    expect(await store.insert({ id: 'later', handler: 'h', runAt: Date.now() + 3_600_000 })).toBe(
      true,
    );
    await store.ensureIndexes(); // its own find (old-format documents) is not the claim's
    mongo.clear();
    const claim = await store.claim({ leaseMs: 60_000 });
    expect(claim?.record.id).toBe('due');
    const find = finds().find((event) => event.command.find === collection);
    expect(find).toBeDefined();
    const command = find!.command as { filter: Document; sort: unknown; limit: number };
    const { filter, limit } = command;
    // The driver sends the sort as a Map (it keeps the order of the keys).
    const sort: Document =
      command.sort instanceof Map
        ? (Object.fromEntries(command.sort) as Document)
        : (command.sort as Document);
    // The claim reads a bounded batch in due order: without a sort the index could not stop early.
    expect(sort).toEqual({ dueAt: 1 });
    expect(limit).toBeGreaterThan(0);
    expect(Object.keys(filter)).toEqual(['dueAt']);
    expect(Object.keys(filter.dueAt as Document)).toEqual(['$lte']);
    const key = esrKey(filter, sort);
    expect(key).toEqual([['dueAt', 1]]);
    const indexes = await mongo.client.db(database).collection(collection).listIndexes().toArray();
    const serving = indexes.filter((index) => serves(index.key as Document, key));
    expect(serving.map((index) => index.name)).toContain('durable_due_at');
  });

  it('a finished workflow has no numeric due time, so a claim range (numbers up to now) never reaches it', async () => {
    const collection = `wf_${uniquePrefix('idx').replace(/-/g, '_')}`;
    const store = new MongoWorkflowStore({ client: mongo.client, database, collection });
    await store.insert({ id: 'done', handler: 'h' });
    const claim = await store.claim({ leaseMs: 60_000 });
    await store.finish('done', claim!.token, { status: 'completed', result: 1 });
    const stored = await mongo.client
      .db(database)
      .collection(collection)
      .findOne({ _id: 'done' as never }, { projection: { dueAt: 1 } });
    expect(stored?.dueAt).toBeNull();
    expect(await store.claim({ leaseMs: 60_000 })).toBeUndefined();
  });
}

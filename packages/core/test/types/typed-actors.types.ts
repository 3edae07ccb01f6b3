// Type tests, compiled by `pnpm typecheck` (tsconfig.json includes test/): each `@ts-expect-error`
// line fails the typecheck if it stops being an error, so the machine's types must keep flowing.
import { assign, createActor, setup } from 'xstate';
import type { Snapshot } from 'xstate';
import { MemoryLockManager, MemoryStorageManager } from '../../src/index.js';
import { inspectPersistedActor, withPersistedActor } from '../../src/actor/index.js';
import type { PersistedActor } from '../../src/actor/index.js';

const counter = setup({
  types: {
    context: {} as { count: number },
    events: {} as { type: 'inc'; by: number } | { type: 'reset' },
  },
}).createMachine({
  id: 'counter',
  context: { count: 0 },
  on: {
    inc: { actions: assign({ count: ({ context, event }) => context.count + event.by }) },
    reset: { actions: assign({ count: 0 }) },
  },
});

const storage = new MemoryStorageManager();
const options = {
  id: 'counters/1',
  storage,
  lock: new MemoryLockManager(),
  actorCreator: (id: string, snapshot: Snapshot<unknown> | undefined) =>
    createActor(counter, { id, ...(snapshot === undefined ? {} : { snapshot }) }),
};

export async function actorCallbackSeesTheMachine(): Promise<number> {
  return withPersistedActor(options, (actor, persisted: PersistedActor<typeof counter>) => {
    actor.send({ type: 'inc', by: 2 });
    actor.send({ type: 'reset' });
    // @ts-expect-error an event the machine does not declare
    actor.send({ type: 'decrement' });
    // @ts-expect-error the machine's event with a payload of the wrong type
    actor.send({ type: 'inc', by: 'two' });
    // @ts-expect-error the machine's event without its payload
    actor.send({ type: 'inc' });
    persisted.actor.send({ type: 'inc', by: 1 });
    const count: number = actor.getSnapshot().context.count;
    // @ts-expect-error the context has no such field
    actor.getSnapshot().context.total;
    return count;
  });
}

export async function inlineOptionsInferTheMachine(): Promise<void> {
  const result = await withPersistedActor(
    { id: 'counters/2', storage, actorCreator: (id, snapshot) => createActor(counter, { id, ...(snapshot ? { snapshot } : {}) }) },
    (actor) => {
      actor.send({ type: 'inc', by: 1 });
      // @ts-expect-error inferred from actorCreator: only the machine's events
      actor.send({ type: 'inc', by: 1n });
      return actor.getSnapshot().context;
    },
  );
  const count: number = result.count;
  void count;
}

export async function inspectionIsTyped(): Promise<void> {
  const view = await inspectPersistedActor(options);
  if (view === undefined) return;
  const count: number = view.snapshot.context.count;
  // @ts-expect-error the context is the machine's, not any
  const name: string = view.snapshot.context.count;
  void count;
  void name;
}

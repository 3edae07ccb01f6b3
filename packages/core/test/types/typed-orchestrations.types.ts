// Type tests, compiled by `pnpm typecheck` (tsconfig.json includes test/): each `@ts-expect-error`
// line fails the typecheck if it stops being an error.
import { assign, setup } from 'xstate';
import { MemoryLockManager, MemoryStorageManager } from '../../src/index.js';
import { CloudOrchestrationActor, orchestrateCloudEvents } from '../../src/orchestrator/index.js';
import type { CloudEventMiddleware, DurableCloudEvent, OrchestrateCloudEventsOptions } from '../../src/orchestrator/index.js';

const summary = setup({
  types: {
    context: {} as { bookId: string; summary?: string },
    events: {} as { type: 'evt.book.fetched'; data: { text: string } } | { type: 'evt.summary.done'; data: { summary: string } },
    input: {} as { bookId: string },
  },
}).createMachine({
  id: 'summary',
  context: ({ input }) => ({ bookId: input.bookId }),
  initial: 'fetching',
  states: {
    fetching: { on: { 'evt.book.fetched': 'summarising' } },
    summarising: { on: { 'evt.summary.done': { target: 'done', actions: assign({ summary: ({ event }) => event.data.summary }) } } },
    done: { type: 'final' },
  },
});

const storage = new MemoryStorageManager();
const lock = new MemoryLockManager();

export async function orchestrationIsTypedByItsMachine(events: DurableCloudEvent[]): Promise<string> {
  const result = await orchestrateCloudEvents(
    {
      versions: [{ version: '1', logic: summary }],
      storage,
      lock,
      onOrchestrationState: {
        fetching: (_id, { context }) => ({ type: 'cmd.book.fetch', data: { bookId: context.bookId } }),
        // @ts-expect-error the context has no such field
        summarising: (_id, { context }) => ({ type: 'cmd.summarise', data: context.pages }),
      },
      onCloudEvent: {
        'evt.summariser.v1.done': (event) => ({ type: 'evt.summary.done', data: { summary: String(event.data) } }),
        // @ts-expect-error an event type the machine does not declare
        'evt.other': () => ({ type: 'evt.unknown' }),
        // @ts-expect-error the machine's event with a payload of the wrong shape
        'evt.bad': () => ({ type: 'evt.summary.done', data: { summary: 42 } }),
        // Without an annotation, data is unknown: it must be narrowed before use.
        // @ts-expect-error data is unknown unless the handler says what it is
        'evt.untyped': (event) => ({ type: 'evt.summary.done', data: { summary: event.data.text } }),
      },
      onSnapshot: (_subject, snapshot) => {
        const bookId: string = snapshot.context.bookId;
        void bookId;
      },
    },
    events,
    [
      { subject: 'moby-dick', input: { bookId: 'moby-dick' } },
      { subject: 'ulysses', input: { bookId: 'ulysses' } },
    ],
  );
  // A call reports only its first bad argument: the bad start gets a call of its own.
  // @ts-expect-error the machine's input has a bookId string
  await orchestrateCloudEvents({ versions: [{ version: '1', logic: summary }], storage }, [], [{ subject: 'u', input: { bookId: 7 } }]);
  const context = result.processIdContext['moby-dick'];
  return context?.summary ?? context?.bookId ?? '';
}

export function optionsDeclaredAheadAreTyped(): OrchestrateCloudEventsOptions<typeof summary> {
  const done: CloudEventMiddleware<typeof summary, { summary: string }> = (event) => ({
    type: 'evt.summary.done',
    data: { summary: event.data?.summary ?? '' },
  });
  return {
    versions: [{ version: '1', logic: summary }],
    storage,
    onCloudEvent: {
      'evt.done': done,
      'evt.fetched': (event: DurableCloudEvent<{ body: string }>) => ({ type: 'evt.book.fetched', data: { text: event.data?.body ?? '' } }),
    },
  };
}

export function actorIsTyped(): void {
  const actor = new CloudOrchestrationActor(summary, {
    id: 'moby-dick',
    input: { bookId: 'moby-dick' },
    middleware: { orchestration: { done: (_id, snapshot) => ({ type: 'notif.done', data: snapshot.context.summary }) } },
  });
  actor.actor.send({ type: 'evt.book.fetched', data: { text: 'Call me Ishmael.' } });
  // @ts-expect-error the underlying actor only takes the machine's events
  actor.actor.send({ type: 'evt.book.lost' });
  const summaryText: string | undefined = actor.getSnapshot().context.summary;
  void summaryText;
  // @ts-expect-error the input is the machine's
  new CloudOrchestrationActor(summary, { id: 'x', input: { book: 'x' } });
  new CloudOrchestrationActor(summary, {
    id: 'y',
    input: { bookId: 'y' },
    middleware: {
      cloudevent: {
        'evt.fetched': (event) => ({ type: 'evt.book.fetched', data: { text: String(event.data) } }),
        // @ts-expect-error the actor's cloudevent middleware returns the machine's events only
        'evt.lost': () => ({ type: 'evt.book.lost' }),
      },
    },
  });
}

const summaryV2 = setup({
  types: { context: {} as { bookId: string; pages: number }, events: {} as { type: 'evt.book.fetched' }, input: {} as { bookId: string } },
}).createMachine({ id: 'summary', context: ({ input }) => ({ bookId: input.bookId, pages: 0 }) });

export async function severalVersionsTakeTheUnionOfTheirMachines(): Promise<void> {
  const result = await orchestrateCloudEvents<typeof summary | typeof summaryV2>(
    {
      versions: [{ version: '1', logic: summary }, { version: '2', logic: summaryV2 }],
      storage,
      onSnapshot: (_subject, snapshot) => {
        const bookId: string = snapshot.context.bookId;
        void bookId;
      },
    },
    [],
  );
  const context = result.processIdContext['x'];
  if (context !== undefined && 'pages' in context) {
    const pages: number = context.pages;
    void pages;
  }
}

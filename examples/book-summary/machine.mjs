// The literature-summary orchestration: fetch the book, summarise it, check the summary for
// grounding and compliance in parallel, then finish or summarise again (at most twice more). A summariser that does not answer within
// `summaryTimeoutMs` counts as a failed attempt: the `after` below is a durable timer, so it fires
// also when no orchestrator process is running at its deadline (a timer run delivers it).
import { assign, setup } from 'xstate';

export const bookSummaryMachine = setup({
  delays: { summaryTimeout: ({ context }) => context.summaryTimeoutMs },
  guards: {
    checksPassed: ({ context }) => context.grounded === true && context.compliant === true,
    canRetry: ({ context }) => context.attempts < 2,
  },
}).createMachine({
  id: 'book-summary',
  initial: 'fetch_book',
  context: ({ input }) => ({
    bookId: input.bookId,
    summaryTimeoutMs: input.summaryTimeoutMs ?? 60_000,
    attempts: 0,
    timeouts: 0,
    content: null,
    summary: null,
    grounded: null,
    compliant: null,
  }),
  states: {
    fetch_book: {
      on: {
        'evt.book.fetch.success': {
          target: 'summarise',
          actions: assign({ content: ({ event }) => event.data.content }),
        },
        'evt.book.fetch.error': 'failed',
      },
    },
    summarise: {
      on: {
        'evt.book.summary.success': {
          target: 'check',
          actions: assign({
            summary: ({ event }) => event.data.summary,
            grounded: null,
            compliant: null,
          }),
        },
      },
      after: {
        summaryTimeout: {
          target: 'summary_timed_out',
          actions: assign({ timeouts: ({ context }) => context.timeouts + 1 }),
        },
      },
    },
    summary_timed_out: {
      always: [
        {
          guard: 'canRetry',
          target: 'summarise',
          actions: assign({ attempts: ({ context }) => context.attempts + 1 }),
        },
        { target: 'failed' },
      ],
    },
    check: {
      type: 'parallel',
      states: {
        grounded: {
          initial: 'checking',
          states: {
            checking: {
              on: {
                'evt.summary.grounded': {
                  target: 'done',
                  actions: assign({ grounded: ({ event }) => event.data.ok }),
                },
              },
            },
            done: { type: 'final' },
          },
        },
        compliance: {
          initial: 'checking',
          states: {
            checking: {
              on: {
                'evt.summary.compliance': {
                  target: 'done',
                  actions: assign({ compliant: ({ event }) => event.data.ok }),
                },
              },
            },
            done: { type: 'final' },
          },
        },
      },
      onDone: 'decide',
    },
    decide: {
      always: [
        { guard: 'checksPassed', target: 'done' },
        {
          guard: 'canRetry',
          target: 'summarise',
          actions: assign({ attempts: ({ context }) => context.attempts + 1 }),
        },
        { target: 'failed' },
      ],
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
});

// What the orchestrator emits on entering each state (keyed by state path, nested included).
export const onOrchestrationState = {
  fetch_book: (id, { context }) => ({ type: 'cmd.book.fetch', data: { bookId: context.bookId } }),
  summarise: (id, { context }) => ({
    type: 'cmd.book.summarise',
    data: { bookId: context.bookId, content: context.content, attempt: context.attempts + 1 },
  }),
  'check.grounded.checking': (id, { context }) => ({
    type: 'cmd.summary.grounded.check',
    data: { summary: context.summary, content: context.content },
  }),
  'check.compliance.checking': (id, { context }) => ({
    type: 'cmd.summary.compliance.check',
    data: { summary: context.summary },
  }),
  done: (id, { context }) => ({
    type: 'notif.summary.ready',
    data: { bookId: context.bookId, summary: context.summary },
  }),
  summary_timed_out: (id, { context }) => ({
    type: 'notif.summary.timed-out',
    data: { bookId: context.bookId, timeouts: context.timeouts },
  }),
  failed: (id, { context }) => ({
    type: 'notif.summary.failed',
    data: { bookId: context.bookId, attempts: context.attempts, timeouts: context.timeouts },
  }),
};

// The summariser service speaks an older dialect; the cloudevent middleware adapts it.
export const onCloudEvent = {
  'evt.summariser.v1.done': (event) => ({
    type: 'evt.book.summary.success',
    data: { summary: event.data.text },
  }),
};

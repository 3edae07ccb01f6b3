// In-process fake services: each answers a command CloudEvent with an evt.* CloudEvent that
// carries the same subject (the orchestration id). Deterministic, so the demo reads the same
// every run.
import { createCloudEvent } from '@durable/core/orchestrator';

const LIBRARY = {
  'moby-dick':
    'Call me Ishmael. A captain hunts the white whale that took his leg, and the hunt destroys him.',
  'pride-and-prejudice':
    'Elizabeth Bennet misjudges the proud Mr Darcy; both learn better, and marry.',
  'war-and-peace':
    'Five families live through the French invasion of Russia. Pierre finds his way.',
};

// The summariser never answers for this book: its orchestration times out through its `after`.
const SILENT = new Set(['war-and-peace']);

function reply(command, type, data, source) {
  // Reply ids derive from the command id: a redelivered command gets the same reply id, so the
  // orchestrator recognises the reply as a duplicate.
  return createCloudEvent({
    id: `${command.id}/reply`,
    source,
    type,
    subject: command.subject,
    data,
    time: command.time,
  });
}

/** Answers one command; returns the reply events (none for notifications). */
export function answer(command) {
  switch (command.type) {
    case 'cmd.book.fetch': {
      const content = LIBRARY[command.data.bookId];
      return content === undefined
        ? [reply(command, 'evt.book.fetch.error', { reason: 'not in the library' }, 'svc.library')]
        : [reply(command, 'evt.book.fetch.success', { content }, 'svc.library')];
    }
    case 'cmd.book.summarise': {
      if (SILENT.has(command.data.bookId)) return [];
      const first = command.data.content.split('.')[0];
      // The first attempt of one book invents a detail the grounding check will catch.
      const summary =
        command.data.attempt === 1 && first.startsWith('Call me')
          ? `${first}, a whaler from Boston.`
          : `${first}.`;
      return [reply(command, 'evt.summariser.v1.done', { text: summary }, 'svc.summariser')];
    }
    case 'cmd.summary.grounded.check': {
      const ok = !command.data.summary.includes('Boston');
      return [reply(command, 'evt.summary.grounded', { ok }, 'svc.grounding')];
    }
    case 'cmd.summary.compliance.check':
      return [reply(command, 'evt.summary.compliance', { ok: true }, 'svc.compliance')];
    default:
      return [];
  }
}

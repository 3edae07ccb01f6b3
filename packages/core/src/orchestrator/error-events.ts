import { textOf } from '../text.js';
import type { Clock } from '../clock.js';
import { isDurableError, toBackendError } from '../errors.js';
import type { DurableCloudEvent } from './cloudevent.js';
import {
  cloudEventProblem,
  createCloudEvent,
  deterministicEventId,
  eventFacts,
} from './cloudevent.js';
import type { TimerEntry } from './due-index.js';
import type { OrchestrationStart } from './orchestrate-options.js';

/** Type of the CloudEvent reported for an input that failed. */
export const ORCHESTRATION_ERROR_TYPE = 'sys.orchestrator.error';

/** @internal One input of a batch, with its position among the batch's events or starts. */
export type Input =
  | { kind: 'event'; event: DurableCloudEvent; position: number }
  | { kind: 'start'; start: OrchestrationStart; position: number }
  | { kind: 'timer'; timer: TimerEntry; position: number };

/** What an error event's `data.cause` holds: the underlying error's code (when it has one) and message. */
export interface ErrorCause {
  code?: string;
  name?: string;
  message: string;
}

/**
 * @internal The {@link ORCHESTRATION_ERROR_TYPE} event for an input that failed. Its id is the
 * same on every re-run of the same input (a valid event's `source` + `id`, a start's subject);
 * an input with no usable id gets one from its position in the batch and its content, so two
 * malformed inputs never share an error id.
 */
export function errorEvent(
  source: string,
  clock: Clock,
  input: Input,
  error: unknown,
): DurableCloudEvent {
  const durable = toBackendError(error, 'orchestrator: unexpected failure');
  const facts =
    input.kind === 'event'
      ? eventFacts(input.event)
      : input.kind === 'start'
        ? startFacts(input.start)
        : timerFacts(input.timer);
  const subject = input.kind === 'start' ? facts['start'] : facts['subject'];
  // Only a valid input's time is reused (it keeps a re-run's error events identical); an
  // invalid one may carry anything there.
  const time =
    input.kind === 'event' && cloudEventProblem(input.event) === undefined
      ? input.event.time
      : undefined;
  const cause = causeOf(durable.cause);
  const base = {
    id: deterministicEventId(source, 'error', ...trigger(input), durable.code),
    source,
    type: ORCHESTRATION_ERROR_TYPE,
    data: {
      code: durable.code,
      message: durable.message,
      retryable: durable.retryable,
      input: facts,
      ...(cause === undefined ? {} : { cause }),
    },
  };
  try {
    return createCloudEvent({
      ...base,
      ...(typeof subject === 'string' && subject.length > 0 ? { subject } : {}),
      time: time ?? new Date(clock()).toISOString(),
    });
  } catch {
    // The input's own attributes made the report invalid: report it without them.
    return createCloudEvent({ ...base, time: new Date(clock()).toISOString() });
  }
}

function trigger(input: Input): string[] {
  if (input.kind === 'timer')
    return ['timer', input.timer.subject, input.timer.hash, String(input.timer.deadline)];
  if (input.kind === 'event') {
    const { id, source } = eventFacts(input.event);
    if (typeof id === 'string' && id !== '' && typeof source === 'string' && source !== '')
      return ['event', source, id];
    return ['event-at', String(input.position), describe(input.event)];
  }
  const subject =
    typeof input.start === 'object' && input.start !== null
      ? (input.start as { subject?: unknown }).subject
      : undefined;
  if (typeof subject === 'string' && subject !== '') return ['start', subject];
  return ['start-at', String(input.position), describe(input.start)];
}

function timerFacts(timer: TimerEntry): Record<string, unknown> {
  return {
    subject: timer.subject,
    timer: timer.hash,
    deadline: new Date(timer.deadline).toISOString(),
  };
}

function startFacts(start: OrchestrationStart): Record<string, unknown> {
  const subject =
    typeof start === 'object' && start !== null
      ? (start as { subject?: unknown }).subject
      : undefined;
  return { start: typeof subject === 'string' ? subject : '' };
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function causeOf(cause: unknown): ErrorCause | undefined {
  if (cause === undefined || cause === null) return undefined;
  if (cause instanceof Error) {
    const code = isDurableError(cause) ? cause.code : (cause as { code?: unknown }).code;
    return {
      ...(typeof code === 'string' ? { code } : {}),
      name: cause.name,
      message: cause.message,
    };
  }
  return { message: textOf(cause) };
}

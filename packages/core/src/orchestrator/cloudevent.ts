import { createHash, randomUUID } from 'node:crypto';
import { CloudEvent } from 'cloudevents';
import type { CloudEventV1 } from 'cloudevents';
import { DurableError, ErrorCode } from '../errors.js';

/** A CloudEvent (spec 1.0) as a plain JSON object: what the orchestrator consumes, stores and emits. */
export type DurableCloudEvent<T = unknown> = CloudEventV1<T>;

/** Options for {@link createCloudEvent}. */
export interface CreateCloudEventOptions<T = unknown> {
  /** Reverse-DNS style type: `evt.*`, `cmd.*`, `notif.*`. */
  type: string;
  /** URI-reference of the producer. */
  source: string;
  /** The orchestration (process) id this event belongs to. */
  subject?: string;
  /** Payload. */
  data?: T;
  /** @default a random UUID */
  id?: string;
  /** @default now, as an ISO 8601 string */
  time?: string | Date;
  /** @default "application/json" */
  datacontenttype?: string;
  /** URI of the data's schema. */
  dataschema?: string;
  /** Extension attributes (lower-case alphanumeric names). */
  extensions?: Record<string, string | number | boolean>;
}

/** Builds a valid CloudEvent with defaults for id, time and datacontenttype; `INVALID_EVENT` otherwise. */
export function createCloudEvent<T = unknown>(
  options: CreateCloudEventOptions<T>,
): DurableCloudEvent<T> {
  const event: Record<string, unknown> = {
    ...(options.extensions ?? {}),
    specversion: '1.0',
    id: options.id ?? randomUUID(),
    source: options.source,
    type: options.type,
    time:
      options.time instanceof Date
        ? options.time.toISOString()
        : (options.time ?? new Date().toISOString()),
    datacontenttype: options.datacontenttype ?? 'application/json',
  };
  if (options.subject !== undefined) event['subject'] = options.subject;
  if (options.dataschema !== undefined) event['dataschema'] = options.dataschema;
  if (options.data !== undefined) event['data'] = options.data;
  assertCloudEvent(event, 'createCloudEvent');
  return event as unknown as DurableCloudEvent<T>;
}

/**
 * Throws `INVALID_EVENT` unless `event` is a CloudEvent 1.0 with `id`, `source` and `type`
 * (and a `subject` when its type is `evt.*`), valid against the specification's schema.
 */
export function assertCloudEvent(
  event: unknown,
  context = 'orchestrator',
): asserts event is DurableCloudEvent {
  const problem = cloudEventProblem(event);
  if (problem !== undefined) {
    throw new DurableError(ErrorCode.INVALID_EVENT, `${context}: invalid CloudEvent: ${problem}`, {
      details: eventFacts(event),
    });
  }
  try {
    // The SDK's own validation (schema, time format, extension names); it fills defaults on a
    // copy only, so the checks above are what make id/source/type mandatory.
    new CloudEvent(event as DurableCloudEvent, true);
  } catch (cause) {
    const errors = (cause as { errors?: unknown }).errors;
    throw new DurableError(
      ErrorCode.INVALID_EVENT,
      `${context}: invalid CloudEvent: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, details: { ...eventFacts(event), ...(errors === undefined ? {} : { errors }) } },
    );
  }
}

/** Why `event` is not an acceptable CloudEvent, or `undefined`. */
export function cloudEventProblem(event: unknown): string | undefined {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return 'not an object';
  const record = event as Record<string, unknown>;
  if (record['specversion'] !== '1.0')
    return `specversion must be "1.0", got ${JSON.stringify(record['specversion'])}`;
  for (const name of ['id', 'source', 'type']) {
    const value = record[name];
    if (typeof value !== 'string' || value.length === 0)
      return `${name} must be a non-empty string`;
  }
  const subject = record['subject'];
  if (subject !== undefined && (typeof subject !== 'string' || subject.length === 0)) {
    return 'subject must be a non-empty string when present';
  }
  if ((record['type'] as string).startsWith('evt.') && subject === undefined) {
    return 'an evt.* event must carry the orchestration id in subject';
  }
  return undefined;
}

/** A UUID-shaped id that is the same every time for the same parts (SHA-256 based). */
export function deterministicEventId(...parts: Array<string | number>): string {
  const hex = createHash('sha256').update(parts.map(String).join('\u0000')).digest('hex');
  // Version nibble 8 ("custom", RFC 9562) and the RFC variant bits, so it parses as a UUID.
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(
    17,
    20,
  )}-${hex.slice(20, 32)}`;
}

/** The identifying attributes of an event (whatever of them it has), for error reports. */
export function eventFacts(event: unknown): Record<string, unknown> {
  if (typeof event !== 'object' || event === null) return {};
  const record = event as Record<string, unknown>;
  const facts: Record<string, unknown> = {};
  for (const name of ['id', 'source', 'type', 'subject']) {
    if (typeof record[name] === 'string') facts[name] = record[name];
  }
  return facts;
}

import type { DurableLogger } from '../actor/logger.js';
import type { DurableSpan } from '../telemetry.js';
import { contextFromTraceparent, logEvent, startSpan, stampTraceContext } from '../telemetry.js';
import type { DurableCloudEvent } from './cloudevent.js';

/** How the orchestrator ended with one input event. */
export type EventOutcome = 'applied' | 'redelivered' | 'ignored' | 'refused';

/**
 * @internal The span and log of one input event: its span is a child of the trace the event
 * carries (`traceparent`/`tracestate`, CloudEvents' distributed-tracing extension), linked to the
 * batch it arrived in; without one, a child of the batch. The events it causes carry its context.
 */
export class EventTrace {
  private readonly span: DurableSpan;

  constructor(
    private readonly logger: DurableLogger | undefined,
    private readonly event: DurableCloudEvent,
    private readonly subject: string,
  ) {
    const record = event as unknown as Record<string, unknown>;
    const remote = contextFromTraceparent(record['traceparent'], record['tracestate']);
    this.span = startSpan(
      'durable.orchestrator.event',
      {
        'cloudevents.event_id': event.id,
        'cloudevents.event_source': event.source,
        'cloudevents.event_type': event.type,
        'cloudevents.event_subject': subject,
      },
      { kind: 'consumer', ...(remote === undefined ? {} : { parent: remote, linkActive: true }) },
    );
  }

  /** Runs `fn` with the event's span active (the machine's middleware runs inside it). */
  run<T>(fn: () => T): T {
    return this.span.run(fn);
  }

  /** Stamps the events this input produced with its trace context. */
  stamp(produced: readonly DurableCloudEvent[]): void {
    stampTraceContext(produced as unknown as Array<Record<string, unknown>>, this.span);
  }

  /** Ends the span and logs the outcome (`refused` with its error at warn, the rest at debug). */
  end(outcome: EventOutcome, error?: unknown): void {
    const { event, subject } = this;
    this.span.end(outcome, error);
    const details = { subject, eventId: event.id, source: event.source, type: event.type, outcome };
    if (outcome === 'refused') {
      logEvent(
        this.logger,
        'warn',
        { ...details, err: error },
        `orchestrator: ${event.type} ${event.id} refused for ${subject}: ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    } else {
      logEvent(
        this.logger,
        'debug',
        details,
        `orchestrator: ${event.type} ${event.id} ${outcome} on ${subject}`,
      );
    }
  }
}

/** @internal The span of a process start; the events the start produced carry its context. */
export function startTrace(subject: string): DurableSpan {
  return startSpan('durable.orchestrator.start', { 'durable.orchestration.subject': subject });
}

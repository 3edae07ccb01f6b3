import type { SQSClient } from '@aws-sdk/client-sqs';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { CloudEvent, HTTP } from 'cloudevents';
import { toBackendError } from '@durable/core/adapter';
import type { EventOutcome } from './fsm-service.js';
import { outcomeCodeOf } from './outcome-codes.js';

/** Where an event came from. */
export type EventChannel = 'sqs' | 'grpc' | 'cloudevents';

/** A failed event, as reported to the errors queue and the CloudEvents sink. */
export interface EventErrorReport {
  readonly channel: EventChannel;
  readonly eventId?: string;
  readonly dest?: string;
  readonly event?: string;
  readonly error: unknown;
}

/** The JSON body of an error notification (the Go sm-server's `EventResponse`, as JSON). */
export interface ErrorNotification {
  event_id: string;
  outcome: { code: string; dest: string; details: string };
  channel: EventChannel;
  event?: string;
}

/** Options for {@link Notifier}. */
export interface NotifierOptions {
  /** Client and URL of the SQS errors queue. */
  errorsQueue?: { client: SQSClient; queueUrl: string };
  /** URL that receives `notif.fsm.transitioned` and `sys.fsm.error` CloudEvents (HTTP POST, structured mode). */
  cloudEventsSink?: string;
  /** `source` of the CloudEvents we emit. @default "durable-fsm-server" */
  source?: string;
}

/** Type of the CloudEvent published for every applied transition. */
export const TRANSITION_EVENT_TYPE = 'notif.fsm.transitioned';
/** Type of the CloudEvent published for every failed event. */
export const ERROR_EVENT_TYPE = 'sys.fsm.error';

/**
 * Publishes outcomes: failed events to the errors queue and the sink, applied transitions to
 * the sink. Each call rejects when a configured destination refused the notification, so the
 * SQS consumer keeps a message whose error report was not published.
 */
export class Notifier {
  private readonly options: NotifierOptions;
  private readonly source: string;

  constructor(options: NotifierOptions) {
    this.options = options;
    this.source = options.source ?? 'durable-fsm-server';
  }

  /** The error notification body of a report. */
  static errorBody(report: EventErrorReport): ErrorNotification {
    const message = report.error instanceof Error ? report.error.message : String(report.error);
    return {
      event_id: report.eventId ?? '',
      outcome: { code: outcomeCodeOf(report.error), dest: report.dest ?? '', details: message },
      channel: report.channel,
      ...(report.event === undefined ? {} : { event: report.event }),
    };
  }

  /** Publishes a failed event to the errors queue and the sink (those configured). */
  async error(report: EventErrorReport): Promise<void> {
    const body = Notifier.errorBody(report);
    const tasks: Array<Promise<unknown>> = [];
    const queue = this.options.errorsQueue;
    if (queue !== undefined) {
      tasks.push(
        queue.client
          .send(
            new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: JSON.stringify(body) }),
          )
          .catch((error: unknown) =>
            Promise.reject(
              toBackendError(error, 'fsm-server: publishing to the errors queue failed'),
            ),
          ),
      );
    }
    if (this.options.cloudEventsSink !== undefined) {
      tasks.push(
        this.emit({
          type: ERROR_EVENT_TYPE,
          ...(body.outcome.dest === '' ? {} : { subject: body.outcome.dest }),
          data: body,
        }),
      );
    }
    await Promise.all(tasks);
  }

  /** Publishes an applied transition to the sink (when one is configured). */
  async transition(outcome: EventOutcome): Promise<void> {
    if (this.options.cloudEventsSink === undefined || outcome.transition === undefined) return;
    const entry = outcome.transition;
    await this.emit({
      // The same id for the same machine and event: a re-publication after a redelivery is recognisable.
      id: `${outcome.machineId}/${entry.event_id}`,
      type: TRANSITION_EVENT_TYPE,
      subject: outcome.machineId,
      data: { config_id: outcome.configId, state: outcome.state, ...entry },
    });
  }

  private async emit(attributes: {
    id?: string;
    type: string;
    subject?: string;
    data: unknown;
  }): Promise<void> {
    const sink = this.options.cloudEventsSink as string;
    const event = new CloudEvent({
      source: this.source,
      datacontenttype: 'application/json',
      ...attributes,
    });
    const message = HTTP.structured(event);
    let response: Response;
    try {
      response = await fetch(sink, {
        method: 'POST',
        headers: message.headers as Record<string, string>,
        body: message.body as string,
      });
    } catch (error) {
      throw toBackendError(error, `fsm-server: publishing ${attributes.type} to ${sink} failed`);
    }
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) {
      throw toBackendError(
        new Error(`HTTP ${response.status}`),
        `fsm-server: the sink ${sink} refused ${attributes.type}`,
      );
    }
  }
}

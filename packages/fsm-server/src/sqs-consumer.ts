import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { DurableError, ErrorCode } from '@durable/core';
import { checkOptions } from '@durable/core/adapter';
import { invalidRequest } from './errors.js';
import type { FsmService } from './fsm-service.js';
import type { Notifier } from './notifier.js';
import { isPermanent } from './outcome-codes.js';
import type { TextEvent } from './text-format.js';
import { parseEventText } from './text-format.js';

/**
 * True when an SQS body is in the protobuf text format rather than a bare event name: its first
 * word is a field of the sm-server's EventRequest or Event, followed by ":", "{" or "<".
 */
export function isTextFormat(body: string): boolean {
  return /^\s*(#[^\n]*\n\s*)*(event|dest|id|config|event_id|timestamp|transition|originator|details)\s*[:{<]/.test(
    body,
  );
}

/** Options for {@link SqsConsumer}. */
export interface SqsConsumerOptions {
  /** An SQS client (never destroyed by the consumer). */
  client: SQSClient;
  /** URL of the events queue. */
  queueUrl: string;
  service: FsmService;
  notifier: Notifier;
  /** Deliveries of a message that failed transiently before it goes to the errors queue. @default 3 */
  maxRetries?: number;
  /** Messages processed at once (receives wait for `batchSize` free slots). @default 20 */
  concurrency?: number;
  /** Long-poll wait of each ReceiveMessage, 0-20 s. @default 20 */
  waitTimeSeconds?: number;
  /** Seconds a transiently failed message stays hidden before its redelivery. @default 1 */
  retryDelaySeconds?: number;
  /**
   * Messages asked for by one ReceiveMessage (1-10), and deleted together by one
   * DeleteMessageBatch once each one's outcome is committed; 1 = one DeleteMessage a message.
   * @default 10
   */
  batchSize?: number;
  /** Failures that are not an event's outcome (a receive or delete that failed). */
  onError?: (error: unknown, context: string) => void;
}

/** Counters of what the consumer did since it started. */
export interface SqsConsumerStats {
  received: number;
  applied: number;
  duplicates: number;
  /** Permanent errors published to the errors queue (and deleted). */
  rejected: number;
  /** Transient failures left for redelivery. */
  retried: number;
  /** Delete requests sent (DeleteMessageBatch and DeleteMessage). */
  deleteRequests: number;
  /** Messages a DeleteMessageBatch reported failed, deleted again one by one. */
  deleteRetries: number;
}

const CONTEXT = 'fsm-server sqs';

/**
 * Consumes events from an SQS queue. Message body = the event name; message attributes
 * `DestinationId` (the machine id, required), `EventId` (defaults to the SQS MessageId, which
 * stays the same across redeliveries), `Sender` (the originator). Or, as the Go sm-server's
 * clients send it, the body is an `EventRequest` in the protobuf text format
 * (`event { event_id: "..." transition { event: "ship" } originator: "..." } dest: "..."`, or a
 * bare `Event` with `DestinationId`); a malformed one is a permanent error (errors queue).
 *
 * A message is deleted only after its outcome is committed: the event applied (or found already
 * applied), or a permanent error published to the errors queue. A transient failure (storage
 * unreachable, contention) leaves the message for redelivery; once it was received
 * `maxRetries` times, its error is published and it is deleted. A crash at any point leaves an
 * undeleted message, whose redelivery is acknowledged as a duplicate when it was applied.
 */
export class SqsConsumer {
  readonly stats: SqsConsumerStats = {
    received: 0,
    applied: 0,
    duplicates: 0,
    rejected: 0,
    retried: 0,
    deleteRequests: 0,
    deleteRetries: 0,
  };
  private readonly options: Required<Omit<SqsConsumerOptions, 'onError'>> &
    Pick<SqsConsumerOptions, 'onError'>;
  private running = false;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private inFlight = 0;
  private slotFreed: (() => void) | undefined;
  private readonly active = new Set<Promise<void>>();

  constructor(options: SqsConsumerOptions) {
    checkOptions(options, CONTEXT, {
      known: [
        'client',
        'queueUrl',
        'service',
        'notifier',
        'maxRetries',
        'concurrency',
        'waitTimeSeconds',
        'retryDelaySeconds',
        'batchSize',
        'onError',
      ],
      required: ['client', 'queueUrl', 'service', 'notifier'],
    });
    const int = (
      value: number | undefined,
      name: string,
      fallback: number,
      min: number,
      max: number,
    ): number => {
      const v = value ?? fallback;
      if (!Number.isInteger(v) || v < min || v > max) {
        throw new DurableError(
          ErrorCode.CONFIG,
          `${CONTEXT}: ${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
        );
      }
      return v;
    };
    this.options = {
      ...options,
      maxRetries: int(options.maxRetries, 'maxRetries', 3, 1, 1000),
      concurrency: int(options.concurrency, 'concurrency', 20, 1, 1000),
      waitTimeSeconds: int(options.waitTimeSeconds, 'waitTimeSeconds', 20, 0, 20),
      retryDelaySeconds: int(options.retryDelaySeconds, 'retryDelaySeconds', 1, 0, 43_200),
      batchSize: int(options.batchSize, 'batchSize', 10, 1, 10),
    };
  }

  /** Starts polling (a no-op when running). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.poll();
  }

  /** Stops polling and waits for the messages in progress to finish (they are committed and deleted). */
  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    this.slotFreed?.();
    await this.loop;
    await Promise.all([...this.active]);
  }

  private async poll(): Promise<void> {
    let failures = 0;
    // Receive a full batch at a time: wait until batchSize slots are free (all of them when
    // concurrency is below batchSize), so batches do not shrink to the one slot just freed.
    const batch = Math.min(this.options.batchSize, this.options.concurrency);
    while (this.running) {
      while (this.options.concurrency - this.inFlight < batch && this.running) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
      }
      if (!this.running) break;
      this.abort = new AbortController();
      let messages: Message[];
      try {
        const reply = await this.options.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.queueUrl,
            MaxNumberOfMessages: Math.min(
              this.options.batchSize,
              this.options.concurrency - this.inFlight,
            ),
            WaitTimeSeconds: this.options.waitTimeSeconds,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          { abortSignal: this.abort.signal },
        );
        messages = reply.Messages ?? [];
        failures = 0;
      } catch (error) {
        if (!this.running) break;
        this.options.onError?.(error, `${CONTEXT}: receive failed`);
        failures++;
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(5000, 100 * 2 ** Math.min(failures, 6))),
        );
        continue;
      }
      if (messages.length === 0) continue;
      // The messages of one receive are handled at once; those whose outcomes were committed
      // are then deleted together, and only then are their slots free again (so a hanging delete
      // stops the consumer at `concurrency` messages, rather than piling up committed ones).
      this.stats.received += messages.length;
      this.inFlight += messages.length;
      const settled = messages.map((message) =>
        this.handle(message).catch((error: unknown) => {
          this.options.onError?.(error, `${CONTEXT}: message ${String(message.MessageId)}`);
          return false;
        }),
      );
      const task = Promise.all(settled)
        .then((deletable) => this.deleteMessages(messages.filter((_, i) => deletable[i])))
        .catch((error: unknown) => this.options.onError?.(error, `${CONTEXT}: delete failed`))
        .finally(() => {
          this.inFlight -= messages.length;
          this.active.delete(task);
          const wake = this.slotFreed;
          this.slotFreed = undefined;
          wake?.();
        });
      this.active.add(task);
    }
  }

  /**
   * Deletes messages whose outcome is committed: one DeleteMessageBatch (or one DeleteMessage
   * for a single message or `batchSize` 1). Entries the batch reports failed, or all of them when
   * the batch request itself fails, are deleted again one by one; a message still not deleted is
   * redelivered later and acknowledged then as a duplicate (its event is in the history).
   */
  private async deleteMessages(messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    const { client, queueUrl } = this.options;
    const deleteOne = async (message: Message): Promise<void> => {
      this.stats.deleteRequests++;
      try {
        await client.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      } catch (error) {
        this.options.onError?.(
          error,
          `${CONTEXT}: message ${String(message.MessageId)} not deleted: it will be redelivered and acknowledged as a duplicate`,
        );
      }
    };
    if (messages.length === 1 || this.options.batchSize === 1) {
      await Promise.all(messages.map(deleteOne));
      return;
    }
    let retry: Message[];
    this.stats.deleteRequests++;
    try {
      const reply = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((message, i) => ({
            Id: String(i),
            ReceiptHandle: message.ReceiptHandle,
          })),
        }),
      );
      retry = (reply.Failed ?? []).map((entry) => messages[Number(entry.Id)]!);
    } catch (error) {
      this.options.onError?.(error, `${CONTEXT}: DeleteMessageBatch failed; deleting one by one`);
      retry = messages;
    }
    this.stats.deleteRetries += retry.length;
    await Promise.all(retry.map(deleteOne));
  }

  /** Applies one message's event; true when its outcome is committed and it may be deleted. */
  private async handle(message: Message): Promise<boolean> {
    const attributes = message.MessageAttributes ?? {};
    const text = (name: string): string | undefined => attributes[name]?.StringValue;
    let dest = text('DestinationId');
    let eventId = text('EventId') ?? message.MessageId ?? '';
    const body = message.Body ?? '';
    let event = body.trim();
    try {
      let read: TextEvent = {};
      if (isTextFormat(body)) {
        // The Go sm-server's clients: the body is an EventRequest (or Event) in text format; its
        // fields win over the attributes, which stay the fallback.
        read = parseEventText(body);
        event = read.event ?? '';
        dest = read.dest ?? dest;
        eventId = read.eventId ?? eventId;
        if (event === '')
          throw invalidRequest('event.transition.event', 'is missing: the name of the event');
      }
      if (dest === undefined || dest === '')
        throw invalidRequest(
          'dest',
          'is missing: set the message attribute DestinationId (or dest in a text-format body) to the machine id',
        );
      const sender = read.originator ?? text('Sender');
      const outcome = await this.options.service.applyEvent(dest, {
        event,
        eventId,
        ...(sender === undefined ? {} : { originator: sender }),
        ...(read.timestamp === undefined ? {} : { timestamp: read.timestamp }),
        ...(read.details === undefined ? {} : { details: read.details }),
      });
      if (outcome.status === 'applied') {
        this.stats.applied++;
        this.options.notifier
          .transition(outcome)
          .catch((error: unknown) =>
            this.options.onError?.(error, `${CONTEXT}: publishing a transition`),
          );
      } else {
        this.stats.duplicates++;
      }
    } catch (error) {
      const receives = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
      if (!isPermanent(error) && receives < this.options.maxRetries) {
        // Transient: keep the message; it comes back after the retry delay.
        this.stats.retried++;
        this.options.onError?.(
          error,
          `${CONTEXT}: event ${eventId} for ${String(dest)} failed (delivery ${receives} of ${
            this.options.maxRetries
          }); left for redelivery`,
        );
        await this.options.client
          .send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: this.options.queueUrl,
              ReceiptHandle: message.ReceiptHandle,
              VisibilityTimeout: this.options.retryDelaySeconds,
            }),
          )
          .catch(() => undefined);
        return false;
      }
      // Permanent, or out of retries: the outcome is the error report; publish it before deleting.
      await this.options.notifier.error({
        channel: 'sqs',
        eventId,
        ...(dest === undefined ? {} : { dest }),
        event,
        error,
      });
      this.stats.rejected++;
    }
    return true;
  }
}

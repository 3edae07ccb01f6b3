// TEST INFRASTRUCTURE: starts fauxqs in a child process and gives SQS helpers for the tests.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  SQSClient,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import type { ChildServer } from '@durable/testkit';
import { startChildServer } from '@durable/testkit';

// The SDK warns on every client that releases from 2027 on need Node 22; the tests know.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

/** Why fauxqs cannot be used here, or undefined when it is installed (it is ESM-only: look for its folder). */
export function fauxqsMissing(): string | undefined {
  const folder = join(__dirname, '..', '..', 'node_modules', 'fauxqs', 'package.json');
  return existsSync(folder)
    ? undefined
    : `fauxqs is not installed (no ${folder}); run pnpm install`;
}

/** fauxqs, or why it could not be started. */
export async function startFauxqs(): Promise<
  { server: ChildServer; endpoint: string } | { unavailable: string }
> {
  const missing = fauxqsMissing();
  if (missing !== undefined) return { unavailable: missing };
  const server = await startChildServer(join(__dirname, '..', 'fixtures', 'fauxqs-server.mjs'), []);
  return { server, endpoint: `http://127.0.0.1:${server.port}` };
}

/** An SQS client for a local endpoint (any credentials are accepted). */
export function sqsClient(endpoint: string): SQSClient {
  return new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** Creates a queue; returns its URL. */
export async function createQueue(
  client: SQSClient,
  name: string,
  visibilityTimeoutS = 30,
): Promise<string> {
  const reply = await client.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: { VisibilityTimeout: String(visibilityTimeoutS) },
    }),
  );
  return reply.QueueUrl as string;
}

/** One event message as the fsm server reads it. */
export interface EventMessage {
  dest?: string;
  event: string;
  eventId?: string;
  sender?: string;
}

/** Sends messages in batches of 10. */
export async function sendEvents(
  client: SQSClient,
  queueUrl: string,
  messages: EventMessage[],
): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const batch = messages.slice(i, i + 10);
    const reply = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.map((m, j) => ({
          Id: String(j),
          MessageBody: m.event,
          MessageAttributes: {
            ...(m.dest === undefined
              ? {}
              : { DestinationId: { DataType: 'String', StringValue: m.dest } }),
            ...(m.eventId === undefined
              ? {}
              : { EventId: { DataType: 'String', StringValue: m.eventId } }),
            ...(m.sender === undefined
              ? {}
              : { Sender: { DataType: 'String', StringValue: m.sender } }),
          },
        })),
      }),
    );
    if ((reply.Failed ?? []).length > 0)
      throw new Error(`send failed: ${JSON.stringify(reply.Failed)}`);
  }
}

/** Messages visible + in flight + delayed. */
export async function queueDepth(
  client: SQSClient,
  queueUrl: string,
): Promise<{ visible: number; inFlight: number; total: number }> {
  const reply = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const a = reply.Attributes ?? {};
  const visible = Number(a['ApproximateNumberOfMessages'] ?? 0);
  const inFlight = Number(a['ApproximateNumberOfMessagesNotVisible'] ?? 0);
  return {
    visible,
    inFlight,
    total: visible + inFlight + Number(a['ApproximateNumberOfMessagesDelayed'] ?? 0),
  };
}

/** Receives and deletes messages until `count` arrived (long polls; the test timeout is the backstop). */
export async function drain(client: SQSClient, queueUrl: string, count: number): Promise<string[]> {
  const bodies: string[] = [];
  while (bodies.length < count) {
    const reply = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
      }),
    );
    for (const message of reply.Messages ?? []) {
      bodies.push(message.Body ?? '');
      await client.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
      );
    }
  }
  return bodies;
}

/** Calls `check` until it returns true; polling a condition, with a generous backstop. */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  backstopMs = 120_000,
): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - start > backstopMs)
      throw new Error(`not reached within ${backstopMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A started fsm server bin (a real process). */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly httpUrl: string;
  readonly grpcAddress: string;
  /** Everything it printed so far. */
  output(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** Starts `durable-fsm-server` (the built bin) with `args`; resolves once it prints where it listens. */
export function startServerProcess(args: string[]): Promise<ServerProcess> {
  const bin = join(__dirname, '..', '..', 'dist', 'esm', 'cli.js');
  const child = spawn(
    process.execPath,
    [bin, '--http-port', '0', '--grpc-port', '0', '--local', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  );
  let out = '';
  child.stderr!.on('data', (chunk: Buffer) => (out = (out + chunk.toString()).slice(-200_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let first = true;
    lines.on('line', (line) => {
      out = (out + line + '\n').slice(-200_000);
      if (!first) return;
      first = false;
      try {
        const { listening } = JSON.parse(line) as {
          listening: { httpUrl: string; grpcAddress: string };
        };
        resolve({
          child,
          httpUrl: listening.httpUrl,
          grpcAddress: listening.grpcAddress,
          output: () => out,
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
          },
          kill: async () => {
            child.kill('SIGKILL');
            await exited;
          },
        });
      } catch (error) {
        child.kill('SIGKILL');
        reject(new Error(`fsm server printed ${line}: ${String(error)}`));
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`fsm server exited with ${String(code)} before listening: ${out}`)),
    );
  });
}

/**
 * An HTTP proxy in front of the SQS endpoint that holds every DeleteMessage / DeleteMessageBatch
 * request unanswered (never forwarded): a consumer behind it applies events but cannot delete
 * their messages, the state a crash between commit and delete leaves behind.
 */
export async function startDeleteHoldingProxy(
  endpoint: string,
): Promise<{ url: string; held: () => number; close: () => Promise<void> }> {
  const { createServer, request } = await import('node:http');
  const target = new URL(endpoint);
  let held = 0;
  const sockets = new Set<import('node:net').Socket>();
  const proxy = createServer((incoming, outgoing) => {
    const action = String(incoming.headers['x-amz-target'] ?? '');
    if (action.startsWith('AmazonSQS.DeleteMessage')) {
      // Counts the messages whose delete is held (one, or the entries of a DeleteMessageBatch).
      let body = '';
      incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
      incoming.on('end', () => {
        try {
          held += (JSON.parse(body) as { Entries?: unknown[] }).Entries?.length ?? 1;
        } catch {
          held++;
        }
      });
      return;
    }
    const forward = request(
      {
        host: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (reply) => {
        outgoing.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(outgoing);
      },
    );
    forward.on('error', () => outgoing.destroy());
    incoming.pipe(forward);
  });
  proxy.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as import('node:net').AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    held: () => held,
    close: async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}

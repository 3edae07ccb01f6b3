// The fsm server as a separate process on local files (.durable-data/), fed by an SQS queue
// (fauxqs, an SQS emulator from npm, on 127.0.0.1), by gRPC and by a CloudEvent. One order of
// the test.orders:v3 configuration goes from start to closed; its history is printed.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const { statemachineClientConstructor } = await import('@durable/fsm-server');

const ORDERS_V3 = {
  name: 'test.orders',
  version: 'v3',
  states: ['start', 'waiting', 'pending', 'shipped', 'delivered', 'completed', 'closed'],
  transitions: [
    { from: 'start', to: 'pending', event: 'accept' },
    { from: 'start', to: 'waiting', event: 'pause' },
    { from: 'pending', to: 'shipped', event: 'ship' },
    { from: 'shipped', to: 'delivered', event: 'deliver' },
    { from: 'delivered', to: 'completed', event: 'sign' },
    { from: 'completed', to: 'closed', event: 'close' },
  ],
  starting_state: 'start',
};

// 1. SQS: fauxqs on 127.0.0.1, when it can be had.
let fauxqs;
let sqs;
try {
  const { buildApp } = await import('fauxqs');
  fauxqs = buildApp({ logger: false, host: '127.0.0.1' });
  await fauxqs.listen({ host: '127.0.0.1', port: 0 });
  const endpoint = `http://127.0.0.1:${fauxqs.server.address().port}`;
  const client = await import('@aws-sdk/client-sqs');
  const sqsClient = new client.SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const events = (await sqsClient.send(new client.CreateQueueCommand({ QueueName: 'events' })))
    .QueueUrl;
  const errors = (await sqsClient.send(new client.CreateQueueCommand({ QueueName: 'errors' })))
    .QueueUrl;
  sqs = { endpoint, client, sqsClient, events, errors };
  console.log(`SQS: fauxqs at ${endpoint}, queues "events" and "errors"`);
} catch (error) {
  console.log(
    `SQS: fauxqs could not be started (${error.message}); the SQS part is skipped, gRPC and CloudEvents still run`,
  );
}

// 2. The fsm server: the package's bin, on local files.
const bin = join(
  dirname(require.resolve('@durable/fsm-server/package.json')),
  'dist',
  'esm',
  'cli.js',
);
const args = [
  '--data',
  join(here, '.durable-data'),
  '--local',
  '--http-port',
  '0',
  '--grpc-port',
  '0',
];
if (sqs) args.push('--events', 'events', '--errors', 'errors', '--endpoint-url', sqs.endpoint);
const server = spawn(process.execPath, [bin, ...args], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: process.env,
});
const { listening } = await new Promise((resolve, reject) => {
  createInterface({ input: server.stdout }).once('line', (line) => resolve(JSON.parse(line)));
  server.once('exit', (code) => reject(new Error(`the fsm server exited with ${code}`)));
});
console.log(
  `fsm server (pid ${server.pid}): REST ${listening.httpUrl}, gRPC ${listening.grpcAddress}, data in .durable-data/`,
);

try {
  const rest = async (method, path, body) => {
    const response = await fetch(`${listening.httpUrl}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    return {
      status: response.status,
      location: response.headers.get('location'),
      body: await response.json(),
    };
  };

  // 3. The configuration (409 on a second run: configurations are immutable) and a new order.
  const config = await rest('POST', '/api/v1/configurations', ORDERS_V3);
  console.log(
    `POST /api/v1/configurations -> ${config.status}${
      config.location ? ` ${config.location}` : ' (it exists from an earlier run)'
    }`,
  );
  const id = `order-${Date.now()}`;
  const created = await rest('POST', '/api/v1/statemachines', {
    configuration_version: 'test.orders:v3',
    id,
  });
  console.log(
    `POST /api/v1/statemachines -> ${created.status} ${created.location} state=${created.body.statemachine.state}`,
  );

  const stateIs = async (want) => {
    for (let i = 0; i < 600; i++) {
      const got = await rest('GET', `/api/v1/statemachines/${id}`);
      if (got.body.statemachine.state === want) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${id} did not reach ${want}`);
  };
  const Client = statemachineClientConstructor();
  const rpc = new Client(listening.grpcAddress, grpc.credentials.createInsecure());
  const consume = (event, eventId) =>
    new Promise((resolve, reject) =>
      rpc.ConsumeEvent(
        {
          dest: id,
          event: { event_id: eventId, transition: { event }, originator: 'demo gRPC client' },
        },
        (error, reply) => (error ? reject(error) : resolve(reply)),
      ),
    );
  const viaSqs = async (event, eventId) => {
    if (!sqs) return consume(event, eventId);
    await sqs.sqsClient.send(
      new sqs.client.SendMessageCommand({
        QueueUrl: sqs.events,
        MessageBody: event,
        MessageAttributes: {
          DestinationId: { DataType: 'String', StringValue: id },
          EventId: { DataType: 'String', StringValue: eventId },
          Sender: { DataType: 'String', StringValue: 'demo SQS client' },
        },
      }),
    );
  };

  // 4. Drive the order: SQS, gRPC, SQS (sent twice: applied once), a CloudEvent, gRPC.
  await viaSqs('accept', `${id}-1`);
  await stateIs('pending');
  console.log(`accept ${sqs ? 'via SQS' : 'via gRPC (no SQS)'} -> pending`);
  console.log(`ship via gRPC -> ${JSON.stringify(await consume('ship', `${id}-2`))}`);
  await viaSqs('deliver', `${id}-3`);
  await viaSqs('deliver', `${id}-3`);
  await stateIs('delivered');
  console.log(`deliver ${sqs ? 'via SQS, sent twice with one EventId' : 'via gRPC'} -> delivered`);
  const cloudEvent = await fetch(`${listening.httpUrl}/events`, {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': `${id}-4`,
      'ce-source': 'demo/cloudevents',
      'ce-type': 'sign',
      'ce-subject': id,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ signedBy: 'Ada' }),
  });
  console.log(
    `sign as a CloudEvent (POST /events) -> ${cloudEvent.status} ${JSON.stringify(
      await cloudEvent.json(),
    )}`,
  );
  try {
    await consume('ship', `${id}-bad`);
  } catch (error) {
    console.log(`ship again via gRPC -> refused: ${grpc.status[error.code]} ${error.details}`);
  }
  await consume('close', `${id}-5`);
  rpc.close();

  // 5. A bad SQS message (no DestinationId) goes to the errors queue; the server carries on.
  if (sqs) {
    await sqs.sqsClient.send(
      new sqs.client.SendMessageCommand({ QueueUrl: sqs.events, MessageBody: 'accept' }),
    );
    // Errors of the other channels land there too (the refused gRPC "ship" above): read until ours.
    for (let found = false; !found; ) {
      const reply = await sqs.sqsClient.send(
        new sqs.client.ReceiveMessageCommand({
          QueueUrl: sqs.errors,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 5,
        }),
      );
      for (const message of reply.Messages ?? []) {
        console.log(`errors queue: ${message.Body}`);
        found ||= JSON.parse(message.Body).channel === 'sqs';
        await sqs.sqsClient.send(
          new sqs.client.DeleteMessageCommand({
            QueueUrl: sqs.errors,
            ReceiptHandle: message.ReceiptHandle,
          }),
        );
      }
    }
  }

  // 6. The history.
  const final = await rest('GET', `/api/v1/statemachines/test.orders/${id}`);
  console.log(`\n${id}: state ${final.body.statemachine.state}, history:`);
  console.table(
    final.body.statemachine.history.map((h) => ({
      event_id: h.event_id,
      time: new Date(h.timestamp.seconds * 1000 + h.timestamp.nanos / 1e6).toISOString(),
      from: h.transition.from,
      to: h.transition.to,
      event: h.transition.event,
      originator: h.originator,
    })),
  );
  if (final.body.statemachine.state !== 'closed' || final.body.statemachine.history.length !== 5) {
    throw new Error('the order should be closed after exactly 5 transitions');
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  sqs?.sqsClient.destroy();
  await fauxqs?.close();
}

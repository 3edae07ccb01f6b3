// fsm-server: events per second through gRPC ConsumeEvent and through SQS, to distinct machines
// and to one hot machine, with the server (the package's bin, a separate process) on local files
// (@durable/fs, fsync on) and on Redis (RedisStorageManager, a redis-server started here). SQS is
// fauxqs (an SQS emulator from npm) on 127.0.0.1. gRPC: BENCH_INFLIGHT (default 32) calls in
// flight from one client. SQS: the messages are enqueued first, then a server consuming the queue
// (concurrency 20) is started and timed until the queue is empty (every outcome committed and
// its message deleted), batched (10 messages a ReceiveMessage, one DeleteMessageBatch each; the
// default) and unbatched (--sqs-batch 1: one message a receive, one DeleteMessage each) on the
// same distinct events. Also prints the ratios hot / distinct and batched / unbatched measured in
// the same run.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startRedis } from './support/redis-server.mjs';
import { statemachineClientConstructor } from '@durable/fsm-server';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// The gRPC and SQS clients and fauxqs are the fsm-server package's own (dev) dependencies.
const fsmDir = new URL('../packages/fsm-server/', import.meta.url);
const require = createRequire(new URL('package.json', fsmDir));
const grpc = require('@grpc/grpc-js');
const sqs = require('@aws-sdk/client-sqs');
const { buildApp } = await import(new URL('node_modules/fauxqs/dist/app.js', fsmDir).href);

const DISTINCT = Number(process.env.BENCH_EVENTS ?? 2000);
const HOT = Number(process.env.BENCH_HOT_EVENTS ?? 600);
const MACHINES = 200;
const INFLIGHT = Number(process.env.BENCH_INFLIGHT ?? 32);
const bin = new URL('dist/esm/cli.js', fsmDir).pathname;
const TOGGLE = {
  name: 'toggle',
  version: 'v1',
  states: ['off', 'on'],
  transitions: [
    { from: 'off', to: 'on', event: 'toggle' },
    { from: 'on', to: 'off', event: 'toggle' },
  ],
  starting_state: 'off',
};

const fauxqs = buildApp({ logger: false, host: '127.0.0.1' });
await fauxqs.listen({ host: '127.0.0.1', port: 0 });
const endpoint = `http://127.0.0.1:${fauxqs.server.address().port}`;
const sqsClient = new sqs.SQSClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});

async function startServer(storageArgs, extra = []) {
  // --history-limit keeps the hot machine's record one size (its history would grow without bound).
  const child = spawn(
    process.execPath,
    [
      bin,
      ...storageArgs,
      '--local',
      '--http-port',
      '0',
      '--grpc-port',
      '0',
      '--history-limit',
      '50',
      ...extra,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const { listening } = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line)));
    child.once('exit', (code) => reject(new Error(`fsm server exited with ${code}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { ...listening, stop: async () => (child.kill('SIGTERM'), await exited) };
}

async function rest(base, path, body) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 201 && response.status !== 409)
    throw new Error(`${path}: ${response.status} ${await response.text()}`);
}

async function grpcRate(address, targets) {
  const Client = statemachineClientConstructor();
  const client = new Client(address, grpc.credentials.createInsecure());
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (next < targets.length) {
        const [dest, eventId] = targets[next++];
        await new Promise((resolve, reject) =>
          client.ConsumeEvent(
            { dest, event: { event_id: eventId, transition: { event: 'toggle' } } },
            (error) => (error ? reject(error) : resolve()),
          ),
        );
      }
    }),
  );
  const rate = targets.length / ((performance.now() - started) / 1000);
  client.close();
  return rate;
}

async function sqsRate(storageArgs, queueName, targets, extra = []) {
  const url = (await sqsClient.send(new sqs.CreateQueueCommand({ QueueName: queueName }))).QueueUrl;
  for (let i = 0; i < targets.length; i += 10) {
    await sqsClient.send(
      new sqs.SendMessageBatchCommand({
        QueueUrl: url,
        Entries: targets.slice(i, i + 10).map(([dest, eventId], j) => ({
          Id: String(j),
          MessageBody: 'toggle',
          MessageAttributes: {
            DestinationId: { DataType: 'String', StringValue: dest },
            EventId: { DataType: 'String', StringValue: eventId },
          },
        })),
      }),
    );
  }
  const started = performance.now();
  const server = await startServer(storageArgs, [
    '--events',
    queueName,
    '--endpoint-url',
    endpoint,
    ...extra,
  ]);
  for (;;) {
    const { Attributes: a } = await sqsClient.send(
      new sqs.GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    if (
      Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible) ===
      0
    )
      break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  await server.stop();
  return targets.length / seconds;
}

const events = (prefix, count, machines) =>
  Array.from({ length: count }, (_, i) => [machines[i % machines.length], `${prefix}-${i}`]);
const rows = [];
async function run(label, storageArgs) {
  const server = await startServer(storageArgs);
  await rest(server.httpUrl, '/api/v1/configurations', TOGGLE);
  const machines = Array.from({ length: MACHINES }, (_, i) => `d${i}`);
  for (const id of [...machines, 'hot'])
    await rest(server.httpUrl, '/api/v1/statemachines', { configuration_version: 'toggle:v1', id });
  const grpcDistinct = await grpcRate(server.grpcAddress, events('gd', DISTINCT, machines));
  const grpcHot = await grpcRate(server.grpcAddress, events('gh', HOT, ['hot']));
  await server.stop();
  // The server startup is inside the SQS timing: it is part of draining a queue from cold.
  const sqsDistinct = await sqsRate(
    storageArgs,
    `${label}-distinct-${Date.now()}`,
    events('sd', DISTINCT, machines),
  );
  const sqsHot = await sqsRate(
    storageArgs,
    `${label}-hot-${Date.now()}`,
    events('sh', HOT, ['hot']),
  );
  const sqsUnbatched = await sqsRate(
    storageArgs,
    `${label}-unbatched-${Date.now()}`,
    events('su', DISTINCT, machines),
    ['--sqs-batch', '1'],
  );
  rows.push({ label, grpcDistinct, grpcHot, sqsDistinct, sqsHot, sqsUnbatched });
}

const root = mkdtempSync(join(tmpdir(), 'fsm-bench-'));
const redis = await startRedis();
try {
  await run('fs', ['--data', root]);
  await run('redis', ['--redis', redis.url]);
} finally {
  rmSync(root, { recursive: true, force: true });
  await redis.stop();
  sqsClient.destroy();
  await fauxqs.close();
}
console.log(
  `fsm server events/s (server in its own process; gRPC ${INFLIGHT} in flight; SQS consumer concurrency 20, fauxqs; ${DISTINCT} events over ${MACHINES} machines, ${HOT} on one hot machine):`,
);
for (const r of rows) {
  console.log(
    `  ${r.label.padEnd(6)} gRPC distinct ${r.grpcDistinct
      .toFixed(0)
      .padStart(6)}/s, hot ${r.grpcHot.toFixed(0).padStart(6)}/s (hot/distinct ${(
      r.grpcHot / r.grpcDistinct
    ).toFixed(2)}); SQS distinct ${r.sqsDistinct.toFixed(0).padStart(5)}/s, hot ${r.sqsHot
      .toFixed(0)
      .padStart(
        5,
      )}/s (hot/distinct ${(r.sqsHot / r.sqsDistinct).toFixed(2)}); SQS distinct unbatched ${r.sqsUnbatched
      .toFixed(0)
      .padStart(5)}/s (batched/unbatched ${(r.sqsDistinct / r.sqsUnbatched).toFixed(2)})`,
  );
}

import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudEvent, HTTP } from 'cloudevents';
import { MemoryStorageManager } from '@durable/core';
import type { FsmServer } from '../src/index.js';
import { createFsmServer, ERROR_EVENT_TYPE, TRANSITION_EVENT_TYPE } from '../src/index.js';
import { ORDERS_V3 } from './support/orders.js';

// POST /events through the cloudevents SDK's HTTP binding (binary and structured), and the
// notif.* / error CloudEvents published to a sink (a plain HTTP server here).
let server: FsmServer;
let base: string;
let sink: Server;
const received: Array<Record<string, any>> = [];
let waiters: Array<() => void> = [];

function sinkReceived(count: number): Promise<void> {
  if (received.length >= count) return Promise.resolve();
  return new Promise((resolve) =>
    waiters.push(() => (received.length >= count ? resolve() : undefined)),
  );
}

beforeAll(async () => {
  sink = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push(
        HTTP.toEvent({
          headers: request.headers as Record<string, string>,
          body,
        }) as unknown as Record<string, any>,
      );
      response.writeHead(202).end();
      waiters.forEach((wake) => wake());
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  server = createFsmServer({
    storage: new MemoryStorageManager(),
    httpPort: 0,
    grpcPort: false,
    local: true,
    cloudEventsSink: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`,
    logger: { info() {}, warn() {}, error() {} },
  });
  base = (await server.start()).httpUrl as string;
  await server.service.createConfiguration(ORDERS_V3);
  await server.service.createMachine('test.orders:v3', 'o1');
});
afterAll(async () => {
  await server.stop();
  await new Promise((resolve) => sink.close(resolve));
});

async function post(message: { headers: Record<string, unknown>; body: unknown }) {
  const response = await fetch(`${base}/events`, {
    method: 'POST',
    headers: message.headers as Record<string, string>,
    body: message.body as string,
  });
  return { status: response.status, json: (await response.json()) as Record<string, any> };
}

function event(type: string, id: string, subject = 'o1'): CloudEvent<unknown> {
  return new CloudEvent({ type, id, source: 'test/orders', subject, data: { note: id } });
}

it('a binary-mode CloudEvent applies its type to the machine in subject, and the transition is published as notif.fsm.transitioned', async () => {
  const reply = await post(HTTP.binary(event('accept', 'ev-1')));
  expect(reply).toEqual({
    status: 200,
    json: { event_id: 'ev-1', id: 'o1', status: 'applied', state: 'pending' },
  });
  await sinkReceived(1);
  const notif = received.find((e) => e['type'] === TRANSITION_EVENT_TYPE)!;
  expect(notif).toMatchObject({ subject: 'o1', id: 'o1/ev-1', source: 'durable-fsm-server' });
  expect(notif['data']).toMatchObject({
    state: 'pending',
    config_id: 'test.orders:v3',
    transition: { from: 'start', to: 'pending', event: 'accept' },
    originator: 'test/orders',
  });
  const machine = await server.service.getMachine('o1');
  expect(machine?.history[0]).toMatchObject({
    event_id: 'ev-1',
    originator: 'test/orders',
    details: '{"note":"ev-1"}',
  });
});

it('a structured-mode CloudEvent works the same; the same id again is acknowledged as a duplicate and not applied', async () => {
  expect((await post(HTTP.structured(event('ship', 'ev-2')))).json).toMatchObject({
    status: 'applied',
    state: 'shipped',
  });
  expect((await post(HTTP.structured(event('ship', 'ev-2')))).json).toMatchObject({
    status: 'duplicate',
    state: 'shipped',
  });
  expect((await server.service.getMachine('o1'))?.history.map((h) => h.event_id)).toEqual([
    'ev-1',
    'ev-2',
  ]);
});

it('an event not allowed is 409, an unknown machine 404, and each is published as a sys.fsm.error CloudEvent', async () => {
  const before = received.length;
  const refused = await post(HTTP.binary(event('accept', 'ev-3')));
  expect(refused.status).toBe(409);
  expect(refused.json['code']).toBe('EVENT_NOT_ALLOWED');
  expect((await post(HTTP.binary(event('accept', 'ev-4', 'ghost')))).status).toBe(404);
  await sinkReceived(before + 2);
  const errors = received.slice(before).filter((e) => e['type'] === ERROR_EVENT_TYPE);
  expect(errors.map((e) => e['data'].outcome.code).sort()).toEqual([
    'EventNotAllowed',
    'FsmNotFound',
  ]);
  expect(errors.find((e) => e['data'].outcome.code === 'EventNotAllowed')).toMatchObject({
    subject: 'o1',
    data: { event_id: 'ev-3' },
  });
});

it('bad CloudEvents get 400 naming what is wrong, and the server keeps serving', async () => {
  const noSubject = await post(
    HTTP.binary(new CloudEvent({ type: 'deliver', id: 'ev-5', source: 'test' })),
  );
  expect(noSubject.status).toBe(400);
  expect(noSubject.json['message']).toMatch(/subject/);
  expect(
    (
      await post({
        headers: { 'content-type': 'application/cloudevents+json' },
        body: '{"specversion":"1.0"}',
      })
    ).status,
  ).toBe(400);
  expect(
    (await post({ headers: { 'content-type': 'application/cloudevents+json' }, body: '{not json' }))
      .status,
  ).toBe(400);
  expect((await post({ headers: { 'content-type': 'text/plain' }, body: 'hello' })).status).toBe(
    400,
  );
  const slash = await post(HTTP.binary(event('deliver', 'ev-6', '../etc')));
  expect(slash.status).toBe(400);
  expect(slash.json['field']).toBe('dest');
  expect((await post(HTTP.binary(event('deliver', 'ev-7')))).json).toMatchObject({
    status: 'applied',
    state: 'delivered',
  });
});

import * as grpc from '@grpc/grpc-js';
import { MemoryStorageManager } from '@durable/core';
import type { FsmServer } from '../src/index.js';
import { createFsmServer, statemachineClientConstructor } from '../src/index.js';
import { ORDERS_V3 } from './support/orders.js';

// The gRPC API through a real grpc-js client over the network.
let server: FsmServer;
let client: grpc.Client & Record<string, Function>;

beforeAll(async () => {
  server = createFsmServer({
    storage: new MemoryStorageManager(),
    httpPort: false,
    grpcPort: 0,
    local: true,
    logger: { info() {}, warn() {}, error() {} },
  });
  const { grpcAddress } = await server.start();
  const Client = statemachineClientConstructor();
  client = new Client(grpcAddress as string, grpc.credentials.createInsecure()) as grpc.Client &
    Record<string, Function>;
});
afterAll(async () => {
  client.close();
  await server.stop();
});

function rpc<T = Record<string, any>>(method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method]!(request, (error: grpc.ServiceError | null, reply: T) =>
      error ? reject(error) : resolve(reply),
    ),
  );
}

async function status(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected a gRPC error');
}

it('PutConfiguration, GetConfiguration; the same name and version again is ALREADY_EXISTS; unknown is NOT_FOUND', async () => {
  const put = await rpc('PutConfiguration', ORDERS_V3);
  expect(put['id']).toBe('test.orders:v3');
  expect(put['config']).toMatchObject({ name: 'test.orders', starting_state: 'start' });
  expect((await status(rpc('PutConfiguration', ORDERS_V3))).code).toBe(grpc.status.ALREADY_EXISTS);
  const got = await rpc('GetConfiguration', { id: 'test.orders:v3' });
  expect(got['transitions']).toHaveLength(6);
  expect((await status(rpc('GetConfiguration', { id: 'test.orders:v9' }))).code).toBe(
    grpc.status.NOT_FOUND,
  );
});

it('a configuration with a bad transition is INVALID_ARGUMENT naming the field', async () => {
  const error = await status(
    rpc('PutConfiguration', {
      ...ORDERS_V3,
      version: 'bad',
      transitions: [{ from: 'start', to: 'mars', event: 'fly' }],
    }),
  );
  expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(error.details).toMatch(/transitions\[0\]\.to/);
});

it('CreateFiniteStateMachine creates in the starting state; the same id again is ALREADY_EXISTS', async () => {
  const put = await rpc('CreateFiniteStateMachine', {
    id: 'g1',
    fsm: { config_id: 'test.orders:v3' },
  });
  expect(put).toMatchObject({ id: 'g1', fsm: { config_id: 'test.orders:v3', state: 'start' } });
  expect(
    (
      await status(
        rpc('CreateFiniteStateMachine', { id: 'g1', fsm: { config_id: 'test.orders:v3' } }),
      )
    ).code,
  ).toBe(grpc.status.ALREADY_EXISTS);
  expect(
    (await status(rpc('CreateFiniteStateMachine', { fsm: { config_id: 'nope:v1' } }))).code,
  ).toBe(grpc.status.NOT_FOUND);
  expect((await status(rpc('CreateFiniteStateMachine', { id: 'g2' }))).code).toBe(
    grpc.status.INVALID_ARGUMENT,
  );
  const generated = await rpc('CreateFiniteStateMachine', { fsm: { config_id: 'test.orders:v3' } });
  expect(generated['id']).toMatch(/^[0-9a-f-]{36}$/);
});

it('ConsumeEvent applies an event and answers its id; a repeated id is not applied again; history keeps timestamp and originator', async () => {
  const event = {
    event_id: 'e-1',
    timestamp: { seconds: 1661733324, nanos: 461000000 },
    transition: { event: 'accept' },
    originator: 'gRPC Client',
  };
  expect(await rpc('ConsumeEvent', { event, dest: 'g1' })).toMatchObject({
    event_id: 'e-1',
    outcome: { code: 'Ok', dest: 'g1' },
  });
  expect((await rpc('ConsumeEvent', { event, dest: 'g1' }))['event_id']).toBe('e-1');
  const fsm = await rpc('GetFiniteStateMachine', { id: 'g1' });
  expect(fsm['state']).toBe('pending');
  expect(fsm['history']).toHaveLength(1);
  expect(fsm['history'][0]).toMatchObject({
    event_id: 'e-1',
    timestamp: { seconds: 1661733324, nanos: 461000000 },
    transition: { from: 'start', to: 'pending', event: 'accept' },
    originator: 'gRPC Client',
  });
  // Without an id the server generates one.
  const generated = await rpc('ConsumeEvent', {
    event: { transition: { event: 'ship' } },
    dest: 'g1',
  });
  expect(generated['event_id']).toMatch(/^[0-9a-f-]{36}$/);
});

it('an event not allowed is FAILED_PRECONDITION, an unknown machine NOT_FOUND, a missing dest or event INVALID_ARGUMENT', async () => {
  expect(
    (
      await status(
        rpc('ConsumeEvent', {
          event: { event_id: 'x1', transition: { event: 'accept' } },
          dest: 'g1',
        }),
      )
    ).code,
  ).toBe(grpc.status.FAILED_PRECONDITION);
  expect(
    (
      await status(
        rpc('ConsumeEvent', {
          event: { event_id: 'x2', transition: { event: 'accept' } },
          dest: 'ghost',
        }),
      )
    ).code,
  ).toBe(grpc.status.NOT_FOUND);
  expect(
    (
      await status(
        rpc('ConsumeEvent', { event: { event_id: 'x3', transition: { event: 'accept' } } }),
      )
    ).code,
  ).toBe(grpc.status.INVALID_ARGUMENT);
  expect((await status(rpc('ConsumeEvent', { dest: 'g1' }))).code).toBe(
    grpc.status.INVALID_ARGUMENT,
  );
  expect((await status(rpc('ConsumeEvent', { event: { event_id: 'x4' }, dest: 'g1' }))).code).toBe(
    grpc.status.INVALID_ARGUMENT,
  );
  expect((await status(rpc('GetFiniteStateMachine', { id: 'ghost' }))).code).toBe(
    grpc.status.NOT_FOUND,
  );
  expect((await status(rpc('GetFiniteStateMachine', { id: '' }))).code).toBe(
    grpc.status.INVALID_ARGUMENT,
  );
  // Still serving.
  expect((await rpc('GetFiniteStateMachine', { id: 'g1' }))['state']).toBe('shipped');
});

it('50 concurrent ConsumeEvent calls with 10 distinct ids on one machine: each id applied once', async () => {
  await rpc('PutConfiguration', {
    name: 'toggle',
    version: 'v1',
    states: ['off', 'on'],
    transitions: [
      { from: 'off', to: 'on', event: 't' },
      { from: 'on', to: 'off', event: 't' },
    ],
    starting_state: 'off',
  });
  await rpc('CreateFiniteStateMachine', { id: 'hot', fsm: { config_id: 'toggle:v1' } });
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      rpc('ConsumeEvent', {
        event: { event_id: `t-${i % 10}`, transition: { event: 't' } },
        dest: 'hot',
      }),
    ),
  );
  const fsm = await rpc('GetFiniteStateMachine', { id: 'hot' });
  expect(fsm['history'].map((h: { event_id: string }) => h.event_id).sort()).toEqual(
    Array.from({ length: 10 }, (_, i) => `t-${i}`).sort(),
  );
  expect(fsm['state']).toBe('off');
});

import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { MemoryStorageManager } from '@durable/core';
import type { FsmServer } from '../src/index.js';
import { createFsmServer } from '../src/index.js';
import { ORDERS_V3 } from './support/orders.js';

// Clients built from the Go sm-server's own .proto files (test/fixtures/sm-server: its v1 and v2
// releases, re-typed from the field numbers), talking to our server over the network: what the
// sm-server's existing clients send on the wire, we serve.
type AnyClient = grpc.Client & Record<string, Function>;
let server: FsmServer;
let address: string;
const clients: grpc.Client[] = [];

function clientOf(file: string, version: 'v1' | 'v2'): AnyClient {
  const definition = protoLoader.loadSync(join(__dirname, 'fixtures', 'sm-server', file), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    statemachine: Record<string, { StatemachineService: grpc.ServiceClientConstructor }>;
  };
  const Client = loaded.statemachine[version]!.StatemachineService;
  const client = new Client(address, grpc.credentials.createInsecure()) as AnyClient;
  clients.push(client);
  return client;
}

function call<T = Record<string, any>>(client: AnyClient, method: string, request: unknown) {
  return new Promise<T>((resolve, reject) =>
    client[method]!(request, (error: grpc.ServiceError | null, reply: T) =>
      error ? reject(error) : resolve(reply),
    ),
  );
}

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected a gRPC error');
}

beforeAll(async () => {
  server = createFsmServer({
    storage: new MemoryStorageManager(),
    httpPort: false,
    grpcPort: 0,
    local: true,
    logger: { info() {}, warn() {}, error() {} },
  });
  address = (await server.start()).grpcAddress as string;
});
afterAll(async () => {
  for (const client of clients) client.close();
  await server.stop();
});

describe('a client of the sm-server API v1 (package statemachine.v1, ConsumeEvent)', () => {
  it('puts and gets a configuration, creates a machine from a FiniteStateMachine, drives it by ConsumeEvent', async () => {
    const v1 = clientOf('statemachine-v1.proto', 'v1');
    const put = await call(v1, 'PutConfiguration', ORDERS_V3);
    expect(put['id']).toBe('test.orders:v3');
    expect(put['config']).toMatchObject({ name: 'test.orders', version: 'v3' });
    const config = await call(v1, 'GetConfiguration', { id: 'test.orders:v3' });
    expect(config['states']).toEqual(ORDERS_V3.states);
    expect(config['starting_state']).toBe('start');

    // The sm-server's v1 PutFiniteStateMachine takes the machine itself; the id is generated.
    const created = await call(v1, 'PutFiniteStateMachine', { config_id: 'test.orders:v3' });
    expect(created['id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(created['fsm']).toMatchObject({ config_id: 'test.orders:v3', state: 'start' });
    const id = created['id'] as string;

    const event = {
      event_id: 'v1-e1',
      timestamp: { seconds: 1661733324, nanos: 461000000 },
      transition: { event: 'accept' },
      originator: 'gRPC Client',
    };
    expect(await call(v1, 'ConsumeEvent', { event, dest: id })).toEqual({ event_id: 'v1-e1' });
    // A redelivery of the same event id is acknowledged, not applied again.
    expect(await call(v1, 'ConsumeEvent', { event, dest: id })).toEqual({ event_id: 'v1-e1' });
    const fsm = await call(v1, 'GetFiniteStateMachine', { id });
    expect(fsm['state']).toBe('pending');
    expect(fsm['history']).toEqual([
      {
        event_id: 'v1-e1',
        timestamp: { seconds: 1661733324, nanos: 461000000 },
        transition: { from: 'start', to: 'pending', event: 'accept' },
        originator: 'gRPC Client',
      },
    ]);
  });

  it('a FiniteStateMachine with a state starts there; the errors are gRPC statuses', async () => {
    const v1 = clientOf('statemachine-v1.proto', 'v1');
    const created = await call(v1, 'PutFiniteStateMachine', {
      config_id: 'test.orders:v3',
      state: 'shipped',
    });
    expect(created['fsm']).toMatchObject({ state: 'shipped' });
    const notAState = await failure(
      call(v1, 'PutFiniteStateMachine', { config_id: 'test.orders:v3', state: 'mars' }),
    );
    expect(notAState.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(notAState.details).toMatch(/state.*not a state of test\.orders:v3/);
    expect((await failure(call(v1, 'PutFiniteStateMachine', { config_id: 'nope:v1' }))).code).toBe(
      grpc.status.NOT_FOUND,
    );
    expect((await failure(call(v1, 'PutFiniteStateMachine', {}))).code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    const notAllowed = await failure(
      call(v1, 'ConsumeEvent', { event: { transition: { event: 'accept' } }, dest: created['id'] }),
    );
    expect(notAllowed.code).toBe(grpc.status.FAILED_PRECONDITION);
    const noDest = await failure(
      call(v1, 'ConsumeEvent', { event: { transition: { event: 'deliver' } } }),
    );
    expect(noDest.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noDest.details).toMatch(/dest/);
    expect((await failure(call(v1, 'GetFiniteStateMachine', { id: 'no-such-machine' }))).code).toBe(
      grpc.status.NOT_FOUND,
    );
  });
});

describe('a client of the sm-server API v2 (package statemachine.v2, ProcessEvent)', () => {
  it('creates a machine and drives it by ProcessEvent, whose reply carries the outcome; looks it up as id and as configName#id', async () => {
    const v2 = clientOf('statemachine-v2.proto', 'v2');
    await call(v2, 'PutConfiguration', { ...ORDERS_V3, version: 'v2-compat' });
    const created = await call(v2, 'PutFiniteStateMachine', {
      config_id: 'test.orders:v2-compat',
    });
    const id = created['id'] as string;
    const reply = await call(v2, 'ProcessEvent', {
      event: {
        event_id: 'v2-e1',
        transition: { event: 'accept' },
        originator: 'v2 client',
        details: '{"order":"o-1"}',
      },
      dest: id,
    });
    expect(reply).toEqual({
      event_id: 'v2-e1',
      outcome: { code: 'Ok', dest: id, details: '' },
    });
    const byId = await call(v2, 'GetFiniteStateMachine', { id });
    const byTypedId = await call(v2, 'GetFiniteStateMachine', { id: `test.orders#${id}` });
    expect(byTypedId).toEqual(byId);
    expect(byId['state']).toBe('pending');
    expect(byId['history'][0]).toMatchObject({
      event_id: 'v2-e1',
      details: '{"order":"o-1"}',
      transition: { from: 'start', to: 'pending', event: 'accept' },
    });
    // The configuration name before '#' must be the machine's.
    expect((await failure(call(v2, 'GetFiniteStateMachine', { id: `devices#${id}` }))).code).toBe(
      grpc.status.NOT_FOUND,
    );
    expect((await call(v2, 'GetConfiguration', { id: 'test.orders:v2-compat' }))['name']).toBe(
      'test.orders',
    );
  });

  it('GetEventOutcome is UNIMPLEMENTED with a message that says where the outcome is', async () => {
    const v2 = clientOf('statemachine-v2.proto', 'v2');
    const error = await failure(call(v2, 'GetEventOutcome', { id: 'test.orders#v2-e1' }));
    expect(error.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(error.details).toMatch(/ProcessEvent/);
  });
});

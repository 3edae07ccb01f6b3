import { LocalFileStorageManager } from '@durable/fs';
import type { FsmServer } from '../src/index.js';
import { createFsmServer } from '../src/index.js';
import { ORDERS_V3, tempDir } from './support/orders.js';

// The REST API on a real Fastify listener over local files (@durable/fs).
let server: FsmServer;
let base: string;
const folder = tempDir('rest');

beforeAll(async () => {
  server = createFsmServer({
    storage: new LocalFileStorageManager({ root: folder.dir }),
    httpPort: 0,
    grpcPort: false,
    local: true,
    bodyLimit: 4096,
    logger: { info() {}, warn() {}, error() {} },
  });
  base = (await server.start()).httpUrl as string;
});
afterAll(async () => {
  await server.stop();
  folder.remove();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    json: text === '' ? undefined : (JSON.parse(text) as Record<string, any>),
  };
}

describe('configurations', () => {
  it('POST creates with 201 and Location name:version; the same again is 409; GET returns it with both spellings', async () => {
    const created = await call('POST', '/api/v1/configurations', ORDERS_V3);
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/api/v1/configurations/test.orders:v3');
    expect((await call('POST', '/api/v1/configurations', ORDERS_V3)).status).toBe(409);
    const got = await call('GET', '/api/v1/configurations/test.orders:v3');
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({
      name: 'test.orders',
      version: 'v3',
      starting_state: 'start',
      startingState: 'start',
    });
    expect(got.json?.['transitions']).toHaveLength(6);
  });

  it('startingState (camelCase) is accepted as well, and version defaults to v1', async () => {
    const { starting_state: _s, version: _v, ...rest } = ORDERS_V3;
    const created = await call('POST', '/api/v1/configurations', {
      ...rest,
      name: 'camel',
      startingState: 'start',
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/api/v1/configurations/camel:v1');
  });

  it('GET ?name= lists the versions; an unknown id is 404; a missing name is 400', async () => {
    await call('POST', '/api/v1/configurations', { ...ORDERS_V3, version: 'v4' });
    const listed = await call('GET', '/api/v1/configurations?name=test.orders');
    expect(listed.json).toEqual({ configurations: ['test.orders:v3', 'test.orders:v4'] });
    expect((await call('GET', '/api/v1/configurations/test.orders:v9')).status).toBe(404);
    const missing = await call('GET', '/api/v1/configurations');
    expect(missing.status).toBe(400);
    expect(missing.json?.['field']).toBe('name');
  });

  it.each([
    ['a missing name', { ...ORDERS_V3, name: undefined }, 'name'],
    ['a number as a state', { ...ORDERS_V3, states: ['start', 7] }, 'states[1]'],
    [
      'a transition without event',
      { ...ORDERS_V3, transitions: [{ from: 'start', to: 'pending' }] },
      'transitions[0].event',
    ],
    [
      'a transition to an unknown state',
      {
        ...ORDERS_V3,
        version: 'bad1',
        transitions: [{ from: 'start', to: 'nowhere', event: 'go' }],
      },
      'transitions[0].to',
    ],
    [
      'a starting state not in states',
      { ...ORDERS_V3, version: 'bad2', starting_state: 'limbo' },
      'starting_state',
    ],
    [
      'no starting state',
      { ...ORDERS_V3, version: 'bad3', starting_state: undefined },
      'starting_state',
    ],
    [
      'two transitions from one state on one event',
      {
        ...ORDERS_V3,
        version: 'bad4',
        transitions: [
          { from: 'start', to: 'pending', event: 'go' },
          { from: 'start', to: 'waiting', event: 'go' },
        ],
      },
      'transitions[1]',
    ],
    ['a name with a slash', { ...ORDERS_V3, name: 'a/b' }, 'name'],
  ])('%s is 400 naming the field', async (_what, body, field) => {
    const reply = await call('POST', '/api/v1/configurations', JSON.parse(JSON.stringify(body)));
    expect(reply.status).toBe(400);
    expect(reply.json).toMatchObject({ code: 'INVALID_REQUEST', field });
    expect(reply.json?.['message']).toContain(field);
  });

  it('bodies that are not JSON, are empty, or pass the body limit get 4xx and the server stays up', async () => {
    expect((await call('POST', '/api/v1/configurations', '{"name": ')).status).toBe(400);
    expect((await call('POST', '/api/v1/configurations', '[1,2]')).status).toBe(400);
    expect((await call('POST', '/api/v1/configurations', 'null')).status).toBe(400);
    const huge = await call('POST', '/api/v1/configurations', {
      ...ORDERS_V3,
      version: 'huge',
      states: Array.from({ length: 900 }, (_, i) => `s${i}`),
    });
    expect(huge.status).toBe(413);
    expect(huge.json?.['message']).toMatch(/limit/);
    const xml = await fetch(`${base}/api/v1/configurations`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<a/>',
    });
    expect(xml.status).toBe(415);
    expect((await call('GET', '/health')).json).toMatchObject({ status: 'UP' });
  });
});

describe('statemachines', () => {
  it('POST creates in the starting state with 201, Location and the Go sm-server body; GET shows the history', async () => {
    const created = await call('POST', '/api/v1/statemachines', {
      configuration_version: 'test.orders:v3',
      id: '26',
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/api/v1/statemachines/26');
    expect(created.json).toEqual({
      id: '26',
      statemachine: { config_id: 'test.orders:v3', state: 'start' },
    });
    const got = await call('GET', '/api/v1/statemachines/26');
    expect(got.json).toEqual({
      id: '26',
      statemachine: { config_id: 'test.orders:v3', state: 'start', history: [], dropped: 0 },
    });
    // The Go sm-server's path with the configuration name works too, and a wrong name is 404.
    expect((await call('GET', '/api/v1/statemachines/test.orders/26')).status).toBe(200);
    expect((await call('GET', '/api/v1/statemachines/devices/26')).status).toBe(404);
  });

  it('an id is generated when omitted; an existing id is 409; an unknown configuration is 404; a missing one is 400', async () => {
    const created = await call('POST', '/api/v1/statemachines', {
      configuration_version: 'test.orders:v3',
    });
    expect(created.status).toBe(201);
    expect(created.json?.['id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(
      (
        await call('POST', '/api/v1/statemachines', {
          configuration_version: 'test.orders:v3',
          id: '26',
        })
      ).status,
    ).toBe(409);
    expect(
      (await call('POST', '/api/v1/statemachines', { configuration_version: 'devices:v3' })).status,
    ).toBe(404);
    const missing = await call('POST', '/api/v1/statemachines', { id: 'x' });
    expect(missing.status).toBe(400);
    expect(missing.json?.['field']).toBe('configuration_version');
    expect(
      (await call('POST', '/api/v1/statemachines', { configuration_version: 'nocolon' })).json?.[
        'field'
      ],
    ).toBe('configuration_version');
    expect((await call('GET', '/api/v1/statemachines/nobody')).status).toBe(404);
  });

  it('10 concurrent creates of one machine id: exactly one 201, the others 409', async () => {
    const replies = await Promise.all(
      Array.from({ length: 10 }, () =>
        call('POST', '/api/v1/statemachines', {
          configuration_version: 'test.orders:v3',
          id: 'race',
        }),
      ),
    );
    expect(replies.map((r) => r.status).sort()).toEqual([201, ...Array(9).fill(409)]);
  });

  it('events are not accepted through the REST statemachine routes (by design)', async () => {
    expect((await call('POST', '/api/v1/statemachines/26', { event: 'accept' })).status).toBe(404);
    expect((await call('PUT', '/api/v1/configurations/test.orders:v3', ORDERS_V3)).status).toBe(
      404,
    );
  });
});

describe('the OpenAPI document', () => {
  it('is served at /api/v1/openapi.json and describes every route with the same schemas', async () => {
    const doc = await call('GET', '/api/v1/openapi.json');
    expect(doc.json?.['openapi']).toBe('3.0.3');
    const paths = Object.keys(doc.json?.['paths'] ?? {});
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v1/configurations',
        '/api/v1/configurations/{id}',
        '/api/v1/statemachines',
        '/api/v1/statemachines/{id}',
        '/events',
        '/health',
      ]),
    );
    const body =
      doc.json?.['paths']['/api/v1/configurations'].post.requestBody.content['application/json']
        .schema;
    expect(body.required).toEqual(['name', 'states']);
  });
});

// JSON schemas of the REST API: Fastify validates bodies with them, and the OpenAPI document
// is built from the same objects, so the two cannot drift apart.

const label = { type: 'string', minLength: 1, maxLength: 256 } as const;
const name = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]*$',
} as const;

/** A transition `{ from, to, event }`. */
export const transitionSchema = {
  type: 'object',
  required: ['from', 'to', 'event'],
  properties: { from: label, to: label, event: label },
} as const;

/** Body of `POST /api/v1/configurations`. */
export const configurationBodySchema = {
  type: 'object',
  required: ['name', 'states'],
  properties: {
    name,
    version: { ...name, description: 'defaults to "v1"' },
    states: { type: 'array', minItems: 1, maxItems: 1000, items: label },
    transitions: { type: 'array', maxItems: 10000, items: transitionSchema },
    starting_state: label,
    startingState: {
      ...label,
      description: 'the same as starting_state (the Go sm-server accepted both spellings)',
    },
  },
} as const;

/** Body of `POST /api/v1/statemachines`. */
export const machineBodySchema = {
  type: 'object',
  required: ['configuration_version'],
  properties: {
    configuration_version: {
      type: 'string',
      minLength: 3,
      maxLength: 257,
      description: 'the configuration id, name:version',
    },
    id: {
      type: 'string',
      minLength: 1,
      maxLength: 200,
      pattern: '^[A-Za-z0-9_][A-Za-z0-9._~:#@+=-]*$',
    },
  },
} as const;

/** A protobuf-style timestamp. */
export const timestampSchema = {
  type: 'object',
  properties: { seconds: { type: 'integer' }, nanos: { type: 'integer' } },
} as const;

/** One history entry. */
export const historyEntrySchema = {
  type: 'object',
  properties: {
    event_id: { type: 'string' },
    timestamp: timestampSchema,
    transition: transitionSchema,
    originator: { type: 'string' },
    details: { type: 'string' },
  },
} as const;

/** A configuration as returned (both spellings of the starting state). */
export const configurationSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    states: { type: 'array', items: { type: 'string' } },
    transitions: { type: 'array', items: transitionSchema },
    starting_state: { type: 'string' },
    startingState: { type: 'string' },
  },
} as const;

/** A machine as returned. */
export const machineSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    statemachine: {
      type: 'object',
      properties: {
        config_id: { type: 'string' },
        state: { type: 'string' },
        history: { type: 'array', items: historyEntrySchema },
        dropped: { type: 'integer', description: 'history entries dropped by the history limit' },
      },
    },
  },
} as const;

/** Every error body: a code, a message that says what to do, and the field at fault when there is one. */
export const errorSchema = {
  type: 'object',
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
  },
} as const;

/** What `POST /events` answers. */
export const eventResultSchema = {
  type: 'object',
  properties: {
    event_id: { type: 'string' },
    id: { type: 'string', description: 'the machine id' },
    status: { type: 'string', enum: ['applied', 'duplicate'] },
    state: { type: 'string' },
  },
} as const;

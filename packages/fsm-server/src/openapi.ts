import {
  configurationBodySchema,
  configurationSchema,
  errorSchema,
  eventResultSchema,
  machineBodySchema,
  machineSchema,
} from './rest-schemas.js';

const json = (schema: unknown): Record<string, unknown> => ({
  content: { 'application/json': { schema } },
});
const error = (description: string): Record<string, unknown> => ({
  description,
  ...json({ $ref: '#/components/schemas/Error' }),
});
const idParam = (name: string, description: string): Record<string, unknown> => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description,
});

/** The OpenAPI 3.0 document served at `/api/v1/openapi.json`. */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title: 'durable fsm-server',
      version,
      description:
        'Finite state machines as a service. Configurations and machines are created here; events arrive over SQS, gRPC ConsumeEvent, or as CloudEvents at POST /events.',
    },
    paths: {
      '/health': {
        get: {
          summary: 'Liveness',
          responses: { 200: { description: 'up', ...json({ type: 'object' }) } },
        },
      },
      '/api/v1/configurations': {
        post: {
          summary: 'Create an immutable configuration (id name:version)',
          requestBody: { required: true, ...json(configurationBodySchema) },
          responses: {
            201: { description: 'created; Location names it', ...json(configurationSchema) },
            400: error('invalid body (the field is named)'),
            409: error('this name and version exist'),
            413: error('body over the limit'),
          },
        },
        get: {
          summary: 'List the versions of one configuration name',
          parameters: [{ name: 'name', in: 'query', required: true, schema: { type: 'string' } }],
          responses: {
            200: {
              description: 'ids',
              ...json({
                type: 'object',
                properties: { configurations: { type: 'array', items: { type: 'string' } } },
              }),
            },
            400: error('name missing or invalid'),
          },
        },
      },
      '/api/v1/configurations/{id}': {
        get: {
          summary: 'Get a configuration',
          parameters: [idParam('id', 'name:version')],
          responses: {
            200: { description: 'the configuration', ...json(configurationSchema) },
            404: error('unknown'),
          },
        },
      },
      '/api/v1/statemachines': {
        post: {
          summary: 'Create a machine in its starting state',
          requestBody: { required: true, ...json(machineBodySchema) },
          responses: {
            201: { description: 'created; Location names it', ...json(machineSchema) },
            400: error('invalid body'),
            404: error('unknown configuration'),
            409: error('the id exists'),
          },
        },
      },
      '/api/v1/statemachines/{id}': {
        get: {
          summary: 'Get a machine with its history',
          parameters: [idParam('id', 'machine id')],
          responses: {
            200: { description: 'the machine', ...json(machineSchema) },
            404: error('unknown'),
          },
        },
      },
      '/api/v1/statemachines/{configName}/{id}': {
        get: {
          summary: "Get a machine by the Go sm-server's path (configuration name, then id)",
          parameters: [idParam('configName', 'configuration name'), idParam('id', 'machine id')],
          responses: {
            200: { description: 'the machine', ...json(machineSchema) },
            404: error('unknown'),
          },
        },
      },
      '/events': {
        post: {
          summary:
            'Apply a CloudEvent (binary or structured mode): subject = machine id, type = event, id = event id, source = originator',
          requestBody: {
            required: true,
            content: { 'application/cloudevents+json': { schema: { type: 'object' } } },
          },
          responses: {
            200: {
              description: 'applied, or a duplicate acknowledged',
              ...json(eventResultSchema),
            },
            400: error('not a valid CloudEvent, or a bad subject/type'),
            404: error('unknown machine'),
            409: error('event not allowed in the current state'),
            413: error('body over the limit'),
            503: error('storage unavailable or contended: retry'),
          },
        },
      },
    },
    components: { schemas: { Error: errorSchema } },
  };
}

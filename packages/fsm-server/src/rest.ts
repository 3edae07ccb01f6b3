import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HTTP } from 'cloudevents';
import type { CloudEvent } from 'cloudevents';
import { ErrorCode } from '@durable/core';
import { fsmError, invalidRequest } from './errors.js';
import type { FsmService, MachineView } from './fsm-service.js';
import { httpError } from './http-errors.js';
import type { Configuration, IncomingEvent, Timestamp } from './model.js';
import { configurationId } from './model.js';
import type { EventErrorReport, Notifier } from './notifier.js';
import { openApiDocument } from './openapi.js';
import { configurationBodySchema, machineBodySchema } from './rest-schemas.js';

/** What the REST routes need. */
export interface RestContext {
  readonly service: FsmService;
  readonly notifier: Notifier;
  readonly version: string;
  /** Reports a failure that is not the caller's (a notification that could not be published). */
  readonly onError: (error: unknown, context: string) => void;
}

/** The configuration as the API returns it: both spellings of the starting state. */
export function configurationJson(configuration: Configuration): Record<string, unknown> {
  return { ...configuration, startingState: configuration.starting_state };
}

/** The machine as the API returns it (the Go sm-server's shape). */
export function machineJson(machine: MachineView, withHistory = true): Record<string, unknown> {
  return {
    id: machine.id,
    statemachine: {
      config_id: machine.config_id,
      state: machine.state,
      ...(withHistory ? { history: machine.history, dropped: machine.dropped } : {}),
    },
  };
}

/** Registers the REST API, the OpenAPI document and `POST /events` on a Fastify instance. */
export function registerRoutes(app: FastifyInstance, context: RestContext): void {
  const { service } = context;
  app.setErrorHandler((error, _request, reply) => {
    const { status, body } = httpError(error);
    if (status >= 500) context.onError(error, 'rest');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      code: ErrorCode.NOT_FOUND,
      message: `fsm-server: no route ${request.method} ${request.url.split('?')[0]}`,
    });
  });

  app.get('/health', () => Promise.resolve({ status: 'UP', version: context.version }));
  app.get('/api/v1/openapi.json', () => Promise.resolve(openApiDocument(context.version)));

  app.post(
    '/api/v1/configurations',
    { schema: { body: configurationBodySchema } },
    async (request, reply) => {
      const configuration = await service.createConfiguration(request.body);
      return reply
        .status(201)
        .header('Location', `/api/v1/configurations/${pathSegment(configurationId(configuration))}`)
        .send(configurationJson(configuration));
    },
  );

  app.get('/api/v1/configurations', async (request) => {
    const { name } = request.query as { name?: unknown };
    if (name === undefined)
      throw invalidRequest(
        'name',
        'is required: GET /api/v1/configurations?name=<configuration name>',
      );
    return { configurations: await service.listConfigurations(name as string) };
  });

  app.get('/api/v1/configurations/:id', async (request) => {
    const { id } = request.params as { id: string };
    const configuration = await service.getConfiguration(id);
    if (configuration === undefined)
      throw fsmError(ErrorCode.NOT_FOUND, `configuration ${id} does not exist`);
    return configurationJson(configuration);
  });

  app.post(
    '/api/v1/statemachines',
    { schema: { body: machineBodySchema } },
    async (request, reply) => {
      const body = request.body as { configuration_version: string; id?: string };
      const machine = await service.createMachine(body.configuration_version, body.id);
      return reply
        .status(201)
        .header('Location', `/api/v1/statemachines/${pathSegment(machine.id)}`)
        .send(machineJson(machine, false));
    },
  );

  const getMachine = async (id: string, configName?: string): Promise<Record<string, unknown>> => {
    const machine = await service.getMachine(id);
    if (
      machine === undefined ||
      (configName !== undefined && !machine.config_id.startsWith(`${configName}:`))
    ) {
      throw fsmError(
        ErrorCode.NOT_FOUND,
        `statemachine ${id} does not exist${
          configName === undefined ? '' : ` with a ${configName} configuration`
        }`,
      );
    }
    return machineJson(machine);
  };
  app.get('/api/v1/statemachines/:id', async (request) =>
    getMachine((request.params as { id: string }).id),
  );
  app.get('/api/v1/statemachines/:configName/:id', async (request) => {
    const { configName, id } = request.params as { configName: string; id: string };
    return getMachine(id, configName);
  });

  void app.register((events, _options, registered) => {
    // CloudEvents bodies come in any content type (binary mode) or as application/cloudevents+json:
    // take the raw text and let the SDK's HTTP binding read it.
    events.removeAllContentTypeParsers();
    events.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) =>
      done(null, body),
    );
    events.post('/events', async (request, reply) => {
      const event = readCloudEvent(request);
      const incoming = incomingFromCloudEvent(event);
      try {
        const outcome = await service.applyEvent(incoming.dest, incoming.event);
        if (outcome.status === 'applied') {
          context.notifier
            .transition(outcome)
            .catch((error: unknown) => context.onError(error, 'publishing a transition'));
        }
        return reply.send({
          event_id: outcome.eventId,
          id: outcome.machineId,
          status: outcome.status,
          state: outcome.state,
        });
      } catch (error) {
        report(context, {
          channel: 'cloudevents',
          eventId: incoming.event.eventId,
          dest: incoming.dest,
          event: incoming.event.event,
          error,
        });
        throw error;
      }
    });
    registered();
  });
}

/** Publishes an event's failure without making the caller wait or fail on it. */
export function report(
  context: Pick<RestContext, 'notifier' | 'onError'>,
  failure: EventErrorReport,
): void {
  context.notifier
    .error(failure)
    .catch((error: unknown) => context.onError(error, `publishing an error of ${failure.channel}`));
}

function readCloudEvent(request: FastifyRequest): CloudEvent<unknown> {
  let parsed: CloudEvent<unknown> | CloudEvent<unknown>[];
  try {
    parsed = HTTP.toEvent({
      headers: request.headers as Record<string, string>,
      body: request.body as string,
    }) as CloudEvent<unknown> | CloudEvent<unknown>[];
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalidRequest(
      'body',
      `is not a valid CloudEvent (binary mode: ce-* headers; structured: application/cloudevents+json): ${reason}`,
    );
  }
  if (Array.isArray(parsed))
    throw invalidRequest('body', 'is a batch of CloudEvents: send one event per request');
  return parsed;
}

/** Maps a CloudEvent to an event for the service: subject = machine, type = event, id, source = originator. */
export function incomingFromCloudEvent(event: CloudEvent<unknown>): {
  dest: string;
  event: IncomingEvent;
} {
  if (typeof event.subject !== 'string' || event.subject === '')
    throw invalidRequest('dest', 'is missing: set the CloudEvent subject to the machine id');
  const time = Date.parse(event.time ?? '');
  const timestamp: Timestamp | undefined = Number.isNaN(time)
    ? undefined
    : { seconds: Math.floor(time / 1000), nanos: (((time % 1000) + 1000) % 1000) * 1_000_000 };
  const data = event.data;
  const details =
    data === undefined || data === null
      ? undefined
      : typeof data === 'string'
        ? data
        : JSON.stringify(data);
  return {
    dest: event.subject,
    event: {
      event: event.type,
      eventId: event.id,
      originator: event.source,
      ...(timestamp === undefined ? {} : { timestamp }),
      ...(details === undefined ? {} : { details }),
    },
  };
}

/** A path segment as the Go sm-server wrote it: ":" and "@" stay readable, "#" and the rest are escaped. */
function pathSegment(id: string): string {
  return encodeURIComponent(id).replace(/%3A/g, ':').replace(/%40/g, '@');
}

import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { ErrorCode, isDurableError } from '@durable/core';
import { FsmErrorCode, fsmError, invalidRequest } from './errors.js';
import type { FsmService, MachineView } from './fsm-service.js';
import type { Configuration, Timestamp } from './model.js';
import { configurationId } from './model.js';
import type { Notifier } from './notifier.js';
import { STATEMACHINE_PROTO, STATEMACHINE_V2_PROTO } from './proto-source.js';
import { report } from './rest.js';

/** Options proto-loader uses for our service (snake_case field names, as the Go sm-server's JSON). */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The gRPC API versions served: the Go sm-server's v1 (with our additions) and its v2. */
export type StatemachineApiVersion = 'v1' | 'v2';

/**
 * The package definition of `proto/statemachine.proto` (package `statemachine.v1`) and
 * `proto/statemachine-v2.proto` (package `statemachine.v2`), for a server or a client.
 */
export function loadStatemachineProto(): protoLoader.PackageDefinition {
  const root = new protobuf.Root();
  // protobufjs ships google/protobuf/*.proto: this loads the bundled copy, no file is read.
  root.loadSync('google/protobuf/timestamp.proto');
  protobuf.parse(STATEMACHINE_PROTO, root, { keepCase: true });
  protobuf.parse(STATEMACHINE_V2_PROTO, root, { keepCase: true });
  return protoLoader.fromJSON(root.toJSON(), PROTO_LOADER_OPTIONS);
}

interface LoadedPackages {
  statemachine: Record<
    StatemachineApiVersion,
    { StatemachineService: grpc.ServiceClientConstructor }
  >;
}

/**
 * The `StatemachineService` constructor of a grpc-js client (`new Client(address, credentials)`)
 * of API `version` (default `v1`, `package statemachine.v1`).
 */
export function statemachineClientConstructor(
  version: StatemachineApiVersion = 'v1',
): grpc.ServiceClientConstructor {
  const loaded = grpc.loadPackageDefinition(loadStatemachineProto()) as unknown as LoadedPackages;
  return loaded.statemachine[version].StatemachineService;
}

/** The gRPC status of a failure from the service. */
export function grpcStatusOf(error: unknown): grpc.status {
  if (!isDurableError(error)) return grpc.status.INTERNAL;
  switch (error.code) {
    case FsmErrorCode.INVALID_REQUEST:
    case ErrorCode.INVALID_KEY:
      return grpc.status.INVALID_ARGUMENT;
    case ErrorCode.NOT_FOUND:
      return grpc.status.NOT_FOUND;
    case FsmErrorCode.EVENT_NOT_ALLOWED:
      return grpc.status.FAILED_PRECONDITION;
    case FsmErrorCode.UNIMPLEMENTED:
      return grpc.status.UNIMPLEMENTED;
    case ErrorCode.CONFLICT:
      return error.retryable ? grpc.status.UNAVAILABLE : grpc.status.ALREADY_EXISTS;
    default:
      return error.retryable ? grpc.status.UNAVAILABLE : grpc.status.INTERNAL;
  }
}

interface GrpcContext {
  readonly service: FsmService;
  readonly notifier: Notifier;
  readonly onError: (error: unknown, context: string) => void;
}

type Handler<Req, Res> = (
  call: grpc.ServerUnaryCall<Req, Res>,
  callback: grpc.sendUnaryData<Res>,
) => void;

function unary<Req, Res>(
  context: GrpcContext,
  name: string,
  run: (request: Req) => Promise<Res>,
): Handler<Req, Res> {
  return (call, callback) => {
    run(call.request).then(
      (response) => callback(null, response),
      (error: unknown) => {
        const code = grpcStatusOf(error);
        if (code === grpc.status.INTERNAL) context.onError(error, `grpc ${name}`);
        const message =
          code === grpc.status.INTERNAL && !isDurableError(error)
            ? 'fsm-server: internal error (see the server log)'
            : (error as Error).message;
        callback({ code, details: message, metadata: new grpc.Metadata() });
      },
    );
  };
}

interface WireConfiguration {
  name?: string;
  version?: string;
  states?: string[];
  transitions?: Array<{ from?: string; to?: string; event?: string }>;
  starting_state?: string;
}
interface WireEvent {
  event_id?: string;
  timestamp?: Timestamp | null;
  transition?: { event?: string } | null;
  originator?: string;
  details?: string;
}

/** The machine as the gRPC `FiniteStateMachine` message. */
function fsmMessage(machine: MachineView): Record<string, unknown> {
  return {
    config_id: machine.config_id,
    state: machine.state,
    history: machine.history.map((e) => ({ ...e, details: e.details ?? '' })),
  };
}

function configurationMessage(configuration: Configuration): Record<string, unknown> {
  return { ...configuration };
}

interface WireFsm {
  config_id?: string;
  state?: string;
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value === '' ? undefined : value;

/**
 * Reads machine `id`. The Go sm-server's v2 keys a machine as `configName#id`: when `id` has a
 * `#` and names no machine itself, the part after the first `#` is looked up, and found only if
 * its configuration's name is the part before.
 */
async function findMachine(service: FsmService, id: string): Promise<MachineView> {
  const machine = await service.getMachine(id);
  if (machine !== undefined) return machine;
  const hash = id.indexOf('#');
  if (hash > 0 && hash < id.length - 1) {
    const configName = id.slice(0, hash);
    const inner = await service.getMachine(id.slice(hash + 1));
    if (
      inner !== undefined &&
      inner.config_id.slice(0, inner.config_id.lastIndexOf(':')) === configName
    )
      return inner;
  }
  throw fsmError(ErrorCode.NOT_FOUND, `statemachine ${id} does not exist`);
}

/** Builds the gRPC server's handlers for `StatemachineService` of API `version`. */
export function statemachineHandlers(
  context: GrpcContext,
  version: StatemachineApiVersion = 'v1',
): grpc.UntypedServiceImplementation {
  const { service } = context;
  const createMachine = async (
    id: string | undefined,
    fsm: WireFsm | null | undefined,
    field: string,
  ): Promise<Record<string, unknown>> => {
    const configId = fsm?.config_id;
    if (configId === undefined || configId === '')
      throw invalidRequest(`${field}config_id`, 'is required: the configuration id name:version');
    const machine = await service.createMachine(configId, id, nonEmpty(fsm?.state));
    return { id: machine.id, config: null, fsm: fsmMessage(machine) };
  };
  const consume = async (request: {
    event?: WireEvent | null;
    dest?: string;
  }): Promise<Record<string, unknown>> => {
    const event = request.event;
    const dest = request.dest ?? '';
    const eventId = nonEmpty(event?.event_id) ?? randomUUID();
    try {
      if (event === null || event === undefined) throw invalidRequest('event', 'is required');
      if (dest === '') throw invalidRequest('dest', 'is required: the id of the machine');
      const outcome = await service.applyEvent(dest, {
        event: event.transition?.event ?? '',
        eventId,
        ...(event.originator === undefined ? {} : { originator: event.originator }),
        ...(event.timestamp === null || event.timestamp === undefined
          ? {}
          : { timestamp: event.timestamp }),
        ...(event.details === undefined || event.details === '' ? {} : { details: event.details }),
      });
      if (outcome.status === 'applied') {
        context.notifier
          .transition(outcome)
          .catch((error: unknown) => context.onError(error, 'publishing a transition'));
      }
      return {
        event_id: outcome.eventId,
        outcome: {
          code: 'Ok',
          dest,
          details: outcome.status === 'duplicate' ? 'duplicate: already applied' : '',
        },
      };
    } catch (error) {
      report(context, {
        channel: 'grpc',
        eventId,
        dest,
        ...(event?.transition?.event ? { event: event.transition.event } : {}),
        error,
      });
      throw error;
    }
  };
  const handlers: grpc.UntypedServiceImplementation = {
    PutConfiguration: unary(context, 'PutConfiguration', async (request: WireConfiguration) => {
      const configuration = await service.createConfiguration({
        name: request.name,
        ...(nonEmpty(request.version) === undefined ? {} : { version: request.version }),
        states: request.states ?? [],
        transitions: request.transitions ?? [],
        starting_state: request.starting_state,
      });
      return {
        id: configurationId(configuration),
        config: configurationMessage(configuration),
        fsm: null,
      };
    }),
    GetConfiguration: unary(context, 'GetConfiguration', async (request: { id?: string }) => {
      const configuration = await service.getConfiguration(request.id ?? '');
      if (configuration === undefined)
        throw fsmError(ErrorCode.NOT_FOUND, `configuration ${String(request.id)} does not exist`);
      return configurationMessage(configuration);
    }),
    // As the sm-server: the request is the machine itself, its id is generated.
    PutFiniteStateMachine: unary(context, 'PutFiniteStateMachine', (request: WireFsm) =>
      createMachine(undefined, request, ''),
    ),
    GetFiniteStateMachine: unary(
      context,
      'GetFiniteStateMachine',
      async (request: { id?: string }) => fsmMessage(await findMachine(service, request.id ?? '')),
    ),
  };
  if (version === 'v1') {
    handlers['ConsumeEvent'] = unary(context, 'ConsumeEvent', consume);
    handlers['CreateFiniteStateMachine'] = unary(
      context,
      'CreateFiniteStateMachine',
      (request: { id?: string; fsm?: WireFsm | null }) =>
        createMachine(nonEmpty(request.id), request.fsm, 'fsm.'),
    );
  } else {
    handlers['ProcessEvent'] = unary(context, 'ProcessEvent', consume);
    handlers['GetEventOutcome'] = unary(context, 'GetEventOutcome', () =>
      Promise.reject(
        fsmError(
          FsmErrorCode.UNIMPLEMENTED,
          'GetEventOutcome is not served, outcomes are not stored: ProcessEvent applies the event before it answers, and its reply carries the outcome',
        ),
      ),
    );
  }
  return handlers;
}

/** Starts a gRPC server with the service on `host:port` (0 = any free port); resolves with the port bound. */
export async function startGrpcServer(
  context: GrpcContext,
  host: string,
  port: number,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  const loaded = grpc.loadPackageDefinition(loadStatemachineProto()) as unknown as LoadedPackages;
  for (const version of ['v1', 'v2'] as const) {
    server.addService(
      loaded.statemachine[version].StatemachineService.service,
      statemachineHandlers(context, version),
    );
  }
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, actual) =>
      error ? reject(error) : resolve(actual),
    );
  });
  return { server, port: bound };
}

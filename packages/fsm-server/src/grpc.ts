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
import { STATEMACHINE_PROTO } from './proto-source.js';
import { report } from './rest.js';

/** Options proto-loader uses for our service (snake_case field names, as the Go sm-server's JSON). */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The package definition of `proto/statemachine.proto`, for a server or a client. */
export function loadStatemachineProto(): protoLoader.PackageDefinition {
  const root = new protobuf.Root();
  // protobufjs ships google/protobuf/*.proto: this loads the bundled copy, no file is read.
  root.loadSync('google/protobuf/timestamp.proto');
  protobuf.parse(STATEMACHINE_PROTO, root, { keepCase: true });
  return protoLoader.fromJSON(root.toJSON(), PROTO_LOADER_OPTIONS);
}

/** The `StatemachineService` constructor of a grpc-js client (`new Client(address, credentials)`). */
export function statemachineClientConstructor(): grpc.ServiceClientConstructor {
  const loaded = grpc.loadPackageDefinition(loadStatemachineProto()) as unknown as {
    statemachine: { v1: { StatemachineService: grpc.ServiceClientConstructor } };
  };
  return loaded.statemachine.v1.StatemachineService;
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

/** Builds the gRPC server's handlers for `StatemachineService`. */
export function statemachineHandlers(context: GrpcContext): grpc.UntypedServiceImplementation {
  const { service } = context;
  return {
    PutConfiguration: unary(context, 'PutConfiguration', async (request: WireConfiguration) => {
      const configuration = await service.createConfiguration({
        name: request.name,
        ...(request.version === undefined || request.version === ''
          ? {}
          : { version: request.version }),
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
    PutFiniteStateMachine: unary(
      context,
      'PutFiniteStateMachine',
      async (request: { id?: string; fsm?: { config_id?: string } | null }) => {
        const configId = request.fsm?.config_id;
        if (configId === undefined || configId === '')
          throw invalidRequest('fsm.config_id', 'is required: the configuration id name:version');
        const machine = await service.createMachine(
          configId,
          request.id === undefined || request.id === '' ? undefined : request.id,
        );
        return { id: machine.id, config: null, fsm: fsmMessage(machine) };
      },
    ),
    GetFiniteStateMachine: unary(
      context,
      'GetFiniteStateMachine',
      async (request: { id?: string }) => {
        const machine = await service.getMachine(request.id ?? '');
        if (machine === undefined)
          throw fsmError(ErrorCode.NOT_FOUND, `statemachine ${String(request.id)} does not exist`);
        return fsmMessage(machine);
      },
    ),
    ConsumeEvent: unary(
      context,
      'ConsumeEvent',
      async (request: { event?: WireEvent | null; dest?: string }) => {
        const event = request.event;
        const dest = request.dest ?? '';
        const eventId =
          event?.event_id === undefined || event.event_id === '' ? randomUUID() : event.event_id;
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
            ...(event.details === undefined || event.details === ''
              ? {}
              : { details: event.details }),
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
      },
    ),
  };
}

/** Starts a gRPC server with the service on `host:port` (0 = any free port); resolves with the port bound. */
export async function startGrpcServer(
  context: GrpcContext,
  host: string,
  port: number,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  const loaded = grpc.loadPackageDefinition(loadStatemachineProto()) as unknown as {
    statemachine: { v1: { StatemachineService: grpc.ServiceClientConstructor } };
  };
  server.addService(
    loaded.statemachine.v1.StatemachineService.service,
    statemachineHandlers(context),
  );
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, actual) =>
      error ? reject(error) : resolve(actual),
    );
  });
  return { server, port: bound };
}

import { textOf } from './text.js';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import type { DurableLogger } from './logger.js';

// Structured logs and OpenTelemetry spans for the workflow engine, the orchestrator and the
// actor. `@opentelemetry/api` is an optional peer: loaded once, lazily; without it (or without
// an SDK registered, when its tracer is a no-op) every span here costs a few property reads.

/** How loud a log event is: the logger's method of that name is called when it has one. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Sends one structured event to a pino-shaped logger (`logger.info(details, message)`): to the
 * method of `level` when the logger has it (`error` falls back to `warn`), else nowhere. Never
 * throws: logging must not fail what it reports on.
 */
export function logEvent(
  logger: DurableLogger | undefined,
  level: LogLevel,
  details: Record<string, unknown>,
  message: string,
): void {
  if (logger === undefined) return;
  try {
    if (logger[level] !== undefined) logger[level](details, message);
    else if (level === 'error') logger.warn(details, message);
  } catch {
    // A logger that throws is ignored: the call it reports on stands.
  }
}

type OtelApi = typeof import('@opentelemetry/api');

let api: OtelApi | null | undefined;
let loading: Promise<void> | undefined;

/**
 * Loads `@opentelemetry/api` once if it is installed (resolves in any case): call it before
 * starting spans, in an async path that runs before the first one.
 */
export function loadTelemetry(): Promise<void> {
  if (api !== undefined) return Promise.resolve();
  loading ??= import('@opentelemetry/api').then(
    (module) => {
      // A CommonJS module imported from ESM may come wrapped in `default`.
      const loaded =
        (module as unknown as { trace?: unknown }).trace === undefined
          ? (module as unknown as { default?: OtelApi }).default
          : module;
      api = loaded?.trace === undefined ? null : loaded;
    },
    () => {
      api = null;
    },
  );
  return loading;
}

const TRACER_NAME = '@durable/core';
let tracer: Tracer | undefined;

/** Span attributes: `durable.workflow.id`, `cloudevents.event_type`, ... */
export type SpanAttributes = Record<string, string | number | boolean>;

/** An OpenTelemetry context, opaque here (so these types need no `@opentelemetry/api`). */
export type TraceContext = { readonly __traceContext?: never } | object;

/** A span, or nothing when OpenTelemetry is absent: the same calls either way. */
export interface DurableSpan {
  /** Sets attributes (ignored when the span does not record). */
  set(attributes: SpanAttributes): void;
  /** Ends the span with an outcome (`durable.outcome`) and, for a failure, the error. */
  end(outcome: string, error?: unknown): void;
  /** Runs `fn` with this span active, so spans the code inside starts are its children. */
  run<T>(fn: () => T): T;
  /** The W3C `traceparent` of this span (`undefined` without OpenTelemetry or when not sampled). */
  traceparent(): { traceparent: string; tracestate?: string } | undefined;
  /** The OpenTelemetry context with this span active (for children); `undefined` without it. */
  readonly context: TraceContext | undefined;
}

const NO_SPAN: DurableSpan = {
  set: () => undefined,
  end: () => undefined,
  run: (fn) => fn(),
  traceparent: () => undefined,
  context: undefined,
};

/** What a span starts from: a parent span, a remote parent (an event's traceparent), or the active context. */
export interface SpanParent {
  /** The parent: a span of ours, or a remote context from {@link contextFromTraceparent}. @default the active context */
  parent?: DurableSpan | TraceContext | undefined;
  /** The span's kind. @default "internal" */
  kind?: 'internal' | 'server' | 'client' | 'producer' | 'consumer';
  /** Links to other spans (the batch a traced event arrived in). */
  links?: Array<DurableSpan | undefined>;
  /** Also link the span active now (when the parent is a remote one, the local caller stays reachable). */
  linkActive?: boolean;
}

let probedAt = Number.NEGATIVE_INFINITY;
let probed = false;
const PROBE_EVERY_MS = 1000;

/**
 * Whether spans started now would be recorded: the API is loaded and a tracer provider that
 * records is registered. Probed at most once a second (a provider registered later is seen
 * within a second), so a hot path can skip building spans and their attributes altogether.
 */
export function isTracing(): boolean {
  const otel = api;
  if (otel === undefined || otel === null) return false;
  const now = performance.now();
  if (now - probedAt < PROBE_EVERY_MS) return probed;
  probedAt = now;
  try {
    tracer ??= otel.trace.getTracer(TRACER_NAME);
    const probe = tracer.startSpan('durable.probe', { root: true });
    probed = probe.isRecording() || otel.trace.isSpanContextValid(probe.spanContext());
    // A recording probe is never ended, so no processor sees it.
  } catch {
    probed = false;
  }
  return probed;
}

/** Starts a span named `name` (a no-op span without OpenTelemetry). */
export function startSpan(
  name: string,
  attributes: SpanAttributes,
  options: SpanParent = {},
): DurableSpan {
  const otel = api;
  if (otel === undefined || otel === null) return NO_SPAN;
  try {
    tracer ??= otel.trace.getTracer(TRACER_NAME);
    const parent = options.parent;
    const parentContext = (
      parent === undefined
        ? otel.context.active()
        : isDurableSpan(parent)
          ? (parent.context ?? otel.context.active())
          : parent
    ) as Context;
    const links = (options.links ?? []).flatMap((link) => {
      const context =
        link?.context === undefined
          ? undefined
          : otel.trace.getSpanContext(link.context as Context);
      return context === undefined ? [] : [{ context }];
    });
    if (options.linkActive === true) {
      const active = otel.trace.getSpanContext(otel.context.active());
      if (active !== undefined && otel.trace.isSpanContextValid(active))
        links.push({ context: active });
    }
    const kind = options.kind === undefined ? undefined : KINDS[options.kind];
    const span = tracer.startSpan(
      name,
      {
        attributes,
        ...(kind === undefined ? {} : { kind }),
        ...(links.length > 0 ? { links } : {}),
      },
      parentContext,
    );
    return wrap(otel, span, otel.trace.setSpan(parentContext, span));
  } catch {
    return NO_SPAN; // tracing must never fail the work it observes
  }
}

// SpanKind's values (INTERNAL 0, SERVER 1, CLIENT 2, PRODUCER 3, CONSUMER 4), fixed by the API.
const KINDS = { internal: 0, server: 1, client: 2, producer: 3, consumer: 4 } as const;

function isDurableSpan(value: DurableSpan | TraceContext): value is DurableSpan {
  return (
    typeof (value as DurableSpan).end === 'function' &&
    typeof (value as DurableSpan).run === 'function'
  );
}

function wrap(otel: OtelApi, span: Span, context: Context): DurableSpan {
  const recording = span.isRecording();
  return {
    context,
    set: (attributes) => {
      if (recording) span.setAttributes(attributes);
    },
    end: (outcome, error) => {
      try {
        if (recording) {
          span.setAttribute('durable.outcome', outcome);
          if (error !== undefined) {
            if (error instanceof Error) span.recordException(error);
            span.setStatus({
              code: otel.SpanStatusCode.ERROR,
              message: error instanceof Error ? error.message : textOf(error),
            });
          }
        }
        span.end();
      } catch {
        // as above: never fail the observed work
      }
    },
    run: (fn) => otel.context.with(context, fn),
    traceparent: () => {
      const sc = span.spanContext();
      if (!otel.trace.isSpanContextValid(sc)) return undefined;
      const traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff)
        .toString(16)
        .padStart(2, '0')}`;
      const tracestate = sc.traceState?.serialize();
      return tracestate === undefined || tracestate === ''
        ? { traceparent }
        : { traceparent, tracestate };
    },
  };
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The remote parent context a CloudEvent carries in the distributed-tracing extension
 * (`traceparent`, `tracestate`), or `undefined` when it carries none (or a malformed one).
 * Parsed here, so it works whatever propagator the application registered.
 */
export function contextFromTraceparent(
  traceparent: unknown,
  tracestate?: unknown,
): TraceContext | undefined {
  const otel = api;
  if (otel === undefined || otel === null || typeof traceparent !== 'string') return undefined;
  const match = TRACEPARENT.exec(traceparent.trim());
  if (match === null || match[1] === 'ff') return undefined;
  const spanContext = {
    traceId: match[2] as string,
    spanId: match[3] as string,
    traceFlags: Number.parseInt(match[4] as string, 16),
    isRemote: true,
    ...(typeof tracestate === 'string' && tracestate !== ''
      ? { traceState: otel.createTraceState(tracestate) }
      : {}),
  };
  if (!otel.trace.isSpanContextValid(spanContext)) return undefined;
  return otel.trace.setSpanContext(otel.ROOT_CONTEXT, spanContext);
}

/** Sets `traceparent` (and `tracestate`) of `span` on each event (CloudEvents' tracing extension). */
export function stampTraceContext(
  events: ReadonlyArray<Record<string, unknown>>,
  span: DurableSpan,
): void {
  const carried = span.traceparent();
  if (carried === undefined) return;
  for (const event of events) {
    event['traceparent'] = carried.traceparent;
    if (carried.tracestate !== undefined) event['tracestate'] = carried.tracestate;
    else delete event['tracestate'];
  }
}

/** @internal For tests: forget the loaded API and tracer (a test registers a provider afresh). */
export function resetTelemetryForTests(): void {
  tracer = undefined;
  probedAt = Number.NEGATIVE_INFINITY;
}

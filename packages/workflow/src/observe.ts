import type {
  ClaimedWorkflow,
  DurableLogger,
  DurableSpan,
  LogLevel,
  WorkflowOutcome,
} from '@durable/core';
import { isTracing, loadTelemetry, logEvent, startSpan } from '@durable/core';
import { describeValue } from '@durable/core/adapter';
import type { RunEnd } from './run.js';

// Structured logs and OpenTelemetry spans of workflow runs and steps: a span per run (a child of
// the context active when the worker claimed it) and per step (a child of its run; the step's
// function runs with it active), and pino-shaped log events with ids, attempts and durations.

/** What the observation needs of the engine's options. */
export interface ObserveOptions {
  logger?: DurableLogger | undefined;
}

const RUN_LEVELS: Record<RunEnd, LogLevel> = {
  completed: 'info',
  failed: 'warn',
  aborted: 'error',
  suspended: 'info',
  released: 'info',
  lost: 'warn',
  errored: 'error',
};
const RUN_WORDS: Record<RunEnd, string> = {
  completed: 'completed',
  failed: 'failed (a retry is due)',
  aborted: 'aborted',
  suspended: 'sleeping',
  released: 'released (the worker is stopping)',
  lost: 'lost (taken over or cancelled)',
  errored: 'not recorded (the store failed; another worker retries it after the lease)',
};

// Runs under observation by claim token: the step hook in the context finds its run here.
const runs = new Map<string, RunObservation>();

// The cost of observing is paid per run and per step of every workflow, also with a logger whose
// methods do nothing: records are plain literals built only for an event the logger takes (no
// spread of a shared base, no closure per step), steps are tracked for `abandon` only when
// something would see it (a span, a debug event), and the debug level is read once per run.

/** One run's span and log context. */
class RunObservation {
  readonly span: DurableSpan;
  readonly workflowId: string;
  readonly handler: string;
  readonly attempt: number;
  /** Step events (debug) are wanted: read once, when the run is claimed. */
  readonly debug: boolean;
  /** Steps are tracked (a span or a debug event would see them end). */
  readonly tracked: boolean;
  private readonly started: number;
  // Open steps, kept only when tracing or logging debug: `end` closes them as abandoned.
  private open: StepObservation[] | undefined;
  outcome: WorkflowOutcome | undefined;

  constructor(
    readonly logger: DurableLogger | undefined,
    claimed: ClaimedWorkflow,
    readonly tracing: boolean,
  ) {
    const { record } = claimed;
    this.workflowId = record.id;
    this.handler = record.handler;
    this.attempt = record.failures + 1;
    this.debug = wants(logger, 'debug');
    this.tracked = tracing || this.debug;
    this.open = this.tracked ? [] : undefined;
    this.started = logger === undefined ? 0 : performance.now();
    this.span = tracing
      ? startSpan('durable.workflow.run', {
          'durable.workflow.id': record.id,
          'durable.workflow.handler': record.handler,
          'durable.workflow.attempt': this.attempt,
        })
      : NO_SPAN;
    if (wants(logger, 'info')) {
      const last = record.steps[record.steps.length - 1];
      const woken = last !== undefined && !last.done;
      const details: Record<string, unknown> = {
        workflowId: record.id,
        handler: record.handler,
        attempt: this.attempt,
        recorded: record.steps.length,
      };
      if (woken) details['waitedFor'] = `${last.kind} ${last.id}`;
      logEvent(
        logger,
        'info',
        details,
        woken ? `workflow ${record.id} woken` : `workflow ${record.id} claimed`,
      );
    }
  }

  // The one step observation of an untracked run, reused: a run's operations go one at a time
  // (the context refuses one started while another runs), so its steps never overlap.
  private quiet: StepObservation | undefined;

  step(id: string, index: number): StepObservation {
    if (this.open === undefined) {
      if (this.quiet === undefined) this.quiet = new StepObservation(this, id, index);
      else this.quiet.reuse(id, index);
      return this.quiet;
    }
    const step = new StepObservation(this, id, index);
    this.open.push(step);
    return step;
  }

  closed(step: StepObservation): void {
    const open = this.open;
    if (open === undefined) return;
    const at = open.lastIndexOf(step);
    if (at !== -1) open.splice(at, 1);
  }

  end(end: RunEnd): void {
    if (this.open !== undefined) for (const step of [...this.open]) step.abandon(end);
    const error =
      this.outcome !== undefined && 'error' in this.outcome ? this.outcome.error : undefined;
    this.span.end(
      end,
      end === 'failed' || end === 'aborted' || end === 'errored'
        ? (error?.message ?? end)
        : undefined,
    );
    const level = RUN_LEVELS[end];
    if (!wants(this.logger, level)) return;
    const details: Record<string, unknown> = {
      workflowId: this.workflowId,
      handler: this.handler,
      attempt: this.attempt,
      outcome: end,
      durationMs: Math.round(performance.now() - this.started),
    };
    if (error !== undefined)
      details['error'] =
        error.code === undefined
          ? { name: error.name, message: error.message }
          : { name: error.name, message: error.message, code: error.code };
    if (this.outcome?.status === 'failed') details['retryAt'] = this.outcome.runAt;
    logEvent(this.logger, level, details, `workflow ${this.workflowId} ${RUN_WORDS[end]}`);
  }
}

/** One step's span and logs: attempts, retries, the recorded result or the failure. */
export class StepObservation {
  private span: DurableSpan | undefined = undefined;
  private started = 0;
  private ended = false;

  constructor(
    private readonly run: RunObservation | undefined,
    private id: string,
    private index: number,
  ) {}

  /** Observes the next step of the same untracked run (no span, never registered as open). */
  reuse(id: string, index: number): void {
    this.id = id;
    this.index = index;
    this.started = 0;
    this.ended = false;
  }

  /** `fn`, run inside the step's span (started with the first attempt) when tracing. */
  wrap<A extends { attempt: number }, T>(fn: (attempt: A) => T): (attempt: A) => T {
    const run = this.run;
    if (run === undefined) return fn;
    if (run.logger !== undefined) this.started = performance.now();
    // Without tracing the function runs as it is: no closure per step.
    if (!run.tracing) return fn;
    return (attempt) => {
      if (this.span === undefined) {
        this.span = startSpan(
          'durable.step',
          {
            'durable.workflow.id': run.workflowId,
            'durable.step.id': this.id,
            'durable.step.index': this.index,
          },
          { parent: run.span },
        );
      }
      const span = this.span;
      return span === undefined ? fn(attempt) : span.run(() => fn(attempt));
    };
  }

  /** Attempt `attempt` is about to run after `error` failed the one before. */
  retrying(error: unknown, attempt: number): void {
    const run = this.run;
    if (run === undefined || !wants(run.logger, 'warn')) return;
    logEvent(
      run.logger,
      'warn',
      {
        workflowId: run.workflowId,
        handler: run.handler,
        attempt: run.attempt,
        stepId: this.id,
        stepAttempt: attempt,
        err: error,
      },
      `workflow ${run.workflowId}: step ${this.id} retried (attempt ${attempt}): ${messageOf(
        error,
      )}`,
    );
  }

  /** The step's result was recorded after `attempts` attempts. */
  done(attempts: number): void {
    // The common case, with nothing that sees it: no span, no debug event.
    if (this.run?.tracked !== true) return;
    this.close('done', attempts, undefined, 'debug');
  }

  /** The step failed for this run after `attempts` attempts. */
  failed(error: unknown, attempts: number): void {
    this.close('failed', attempts, error, 'warn');
  }

  /** The run ended while the step was open (stopped, lost). */
  abandon(end: RunEnd): void {
    this.close(end, undefined, undefined, 'debug');
  }

  private close(
    outcome: string,
    attempts: number | undefined,
    error: unknown,
    level: LogLevel,
  ): void {
    const run = this.run;
    if (this.ended || run === undefined) return;
    this.ended = true;
    run.closed(this);
    if (this.span !== undefined) {
      if (attempts !== undefined) this.span.set({ 'durable.step.attempts': attempts });
      this.span.end(outcome, error);
    }
    if (level === 'debug' ? !run.debug : !wants(run.logger, level)) return;
    const details: Record<string, unknown> = {
      workflowId: run.workflowId,
      handler: run.handler,
      attempt: run.attempt,
      stepId: this.id,
      stepIndex: this.index,
      outcome,
      durationMs: this.started === 0 ? 0 : Math.round(performance.now() - this.started),
    };
    if (attempts !== undefined) details['stepAttempts'] = attempts;
    if (error !== undefined) details['err'] = error;
    const reason = error === undefined ? '' : `: ${messageOf(error)}`;
    logEvent(
      run.logger,
      level,
      details,
      `workflow ${run.workflowId}: step ${this.id} ${outcome}${reason}`,
    );
  }
}

/** What a thrown value says, for a log message. */
function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : describeValue(error);
}

const NO_STEP = new StepObservation(undefined, '', 0);

const NO_SPAN: DurableSpan = {
  set: () => undefined,
  end: () => undefined,
  run: (fn) => fn(),
  traceparent: () => undefined,
  context: undefined,
};

/**
 * Whether `logger` takes events of `level`: details are built only then. A logger that can tell
 * (pino's and winston's `isLevelEnabled`) is asked; one that cannot (`console`, a bare object) takes
 * info and above, and debug events (one per step) only when its `level` says debug or trace, as
 * pino's default level (info) would, so a logger that tells nothing costs no record per step.
 */
function wants(logger: DurableLogger | undefined, level: LogLevel): boolean {
  if (logger === undefined || (logger[level] === undefined && level !== 'error')) return false;
  const enabled = (logger as { isLevelEnabled?: unknown }).isLevelEnabled;
  if (typeof enabled === 'function')
    return (enabled as (level: string) => boolean).call(logger, level) !== false;
  if (level !== 'debug') return true;
  const declared = (logger as { level?: unknown }).level;
  return declared === 'debug' || declared === 'trace';
}

/**
 * Runs one claimed workflow under observation: its span and its logs (claimed or woken; then
 * completed, failed, aborted, sleeping, released, lost), with its steps' spans and logs inside.
 */
export function observeRun(
  options: ObserveOptions,
  claimed: ClaimedWorkflow,
  run: () => Promise<RunEnd>,
): Promise<RunEnd> {
  // Loading starts with the first run and never delays one: the engine's timing stays the same
  // (a run starts in the same turn as its claim); spans begin once the API is loaded.
  void loadTelemetry();
  const token = claimed?.token;
  const tracing = isTracing();
  // Nothing to log to and nothing recording spans: the run goes as if unobserved.
  if (
    (options.logger === undefined && !tracing) ||
    typeof token !== 'string' ||
    typeof claimed.record?.id !== 'string'
  )
    return run();
  const observation = new RunObservation(options.logger, claimed, tracing);
  runs.set(token, observation);
  const ended = (end: RunEnd): void => {
    runs.delete(token);
    observation.end(end);
  };
  return (tracing ? observation.span.run(run) : run()).then(
    (end) => {
      ended(end);
      return end;
    },
    (error: unknown) => {
      ended('errored');
      throw error;
    },
  );
}

/** The observation of step `id` at `index` of the run holding `token` (a no-op when none). */
export function observeStep(token: string, id: string, index: number): StepObservation {
  if (runs.size === 0) return NO_STEP;
  return runs.get(token)?.step(id, index) ?? NO_STEP;
}

/** Records how the run holding `token` ended in the store (its error, its retry time), for the logs. */
export function observeOutcome(token: string, outcome: WorkflowOutcome): void {
  const run = runs.get(token);
  if (run !== undefined) run.outcome = outcome;
}

/** Logs an operation of the client (a start, a cancel). */
export function logClient(
  options: ObserveOptions,
  details: Record<string, unknown>,
  message: string,
): void {
  logEvent(options.logger, 'info', details, message);
}

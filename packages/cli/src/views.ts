import type {
  StepMemo,
  StoredError,
  WorkflowEvent,
  WorkflowRecord,
  WorkflowStatus,
} from '@durable/core';

/** One recorded position of a workflow, as the CLI and the console show it. */
export interface StepView {
  index: number;
  id: string;
  kind: StepMemo['kind'];
  /** False while a sleep, an event wait or a child wait is pending. */
  done: boolean;
  /** Attempts the step's function took (1 when not recorded). */
  attempts: number;
  /** When the position was recorded (epoch ms). */
  at: number;
  /**
   * Time from the previous recorded position (or from the workflow's creation, for the first) to
   * this one: a step's run time plus any wait before it (the store records when a position ends,
   * not when it began).
   */
  tookMs: number;
  /** Deadline of a sleep or an event wait. */
  until?: number;
  value?: unknown;
  error?: StoredError;
}

/** A workflow with its history, as `durable workflows show --json` prints it and the console draws it. */
export interface WorkflowView {
  id: string;
  handler: string;
  status: WorkflowStatus;
  input: unknown;
  createdAt: number;
  updatedAt: number;
  runAt: number;
  finishedAt?: number;
  failures: number;
  parentId?: string;
  /** The live claim's times (never its token). */
  claim?: { claimedAt: number; expiresAt: number };
  steps: StepView[];
  events: WorkflowEvent[];
  wakeOn?: string[];
  result?: unknown;
  error?: StoredError;
}

/** The view of a stored workflow (the claim token left out). */
export function workflowView(record: WorkflowRecord): WorkflowView {
  let previous = record.createdAt;
  const steps = record.steps.map((memo, index): StepView => {
    const step: StepView = {
      index,
      id: memo.id,
      kind: memo.kind,
      done: memo.done,
      attempts: memo.attempts ?? 1,
      at: memo.at,
      tookMs: Math.max(0, memo.at - previous),
    };
    previous = memo.at;
    if (memo.until !== undefined) step.until = memo.until;
    if (memo.value !== undefined) step.value = memo.value;
    if (memo.error !== undefined) step.error = memo.error;
    return step;
  });
  const view: WorkflowView = {
    id: record.id,
    handler: record.handler,
    status: record.status,
    input: record.input,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    runAt: record.runAt,
    failures: record.failures,
    steps,
    events: record.events,
  };
  if (record.finishedAt !== undefined) view.finishedAt = record.finishedAt;
  if (record.parentId !== undefined) view.parentId = record.parentId;
  if (record.claim !== undefined) {
    view.claim = { claimedAt: record.claim.claimedAt, expiresAt: record.claim.expiresAt };
  }
  if (record.wakeOn !== undefined) view.wakeOn = record.wakeOn;
  if (record.result !== undefined) view.result = record.result;
  if (record.error !== undefined) view.error = record.error;
  return view;
}

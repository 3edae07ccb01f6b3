import type { Document } from 'mongodb';
import type { StepMemo, WorkflowRecord, WorkflowSummary } from '@durable/core';
import { DurableError, ErrorCode, WorkflowStatus } from '@durable/core';
import { parseWorkflowRecord, toWorkflowSummary } from '@durable/core/adapter';

/**
 * Format of the documents {@link MongoWorkflowStore} writes. Format 2 keeps the history apart
 * from the rest of the record, one array element per position, so recording a step writes that
 * element alone; format 1 (`json`: the whole record as one string) is still read, and rewritten
 * as format 2 on its next change.
 */
export const WORKFLOW_DOCUMENT_FORMAT = 2;

/** Write ids kept in `ops`: enough to recognise a write whose reply was lost among the changes made since. */
export const KEPT_WRITE_IDS = 16;

/**
 * One workflow. The record is stored as JSON text (user data may hold keys MongoDB treats
 * specially, like "$x" or "a.b"): `head` is the record without its history, `steps` the history
 * with one JSON text per position. `rev` is the revision every change compares and bumps;
 * `dueAt` the indexed instant it may be claimed (null once finished); `status`, `handler` and
 * `createdAt` are copies for the listing's filters and order; `ops` the ids of the last changes.
 */
export interface WorkflowDocument {
  _id: string;
  /** {@link WORKFLOW_DOCUMENT_FORMAT}; absent in format 1. */
  format?: number;
  rev: number;
  dueAt: number | null;
  status: WorkflowStatus;
  handler?: string;
  createdAt?: number;
  /**
   * The id's UTF-8 bytes in hex: the listing's tie-break sorts on it, so the order is UTF-8 byte
   * order on every server (mongo-java-server compares strings in UTF-16 order, MongoDB in bytes).
   */
  idKey?: string;
  /** The record without `steps`, as JSON. */
  head?: string;
  /** One JSON text per recorded position. */
  steps?: string[];
  /** Positions recorded (the length of the history). */
  stepCount?: number;
  /** Ids of the last {@link KEPT_WRITE_IDS} changes, oldest first. */
  ops?: string[];
  /** Format 1 only: the whole record as JSON. */
  json?: string;
}

const CONTEXT = 'mongo workflow store';

/** When a record may next be claimed: `runAt` while waiting, the lease's end while running, never once finished. */
export function workflowDueAt(record: WorkflowRecord): number | null {
  switch (record.status) {
    case WorkflowStatus.READY:
    case WorkflowStatus.FAILED:
    case WorkflowStatus.SLEEPING:
      return record.runAt;
    case WorkflowStatus.RUNNING:
      return record.claim?.expiresAt ?? 0;
    default:
      return null;
  }
}

/** The fields a change of `record` sets, history apart: the head and the indexed copies. */
export function workflowFields(
  record: WorkflowRecord,
): Required<
  Pick<WorkflowDocument, 'format' | 'dueAt' | 'status' | 'handler' | 'createdAt' | 'idKey' | 'head'>
> {
  return {
    format: WORKFLOW_DOCUMENT_FORMAT,
    dueAt: workflowDueAt(record),
    status: record.status,
    handler: record.handler,
    createdAt: record.createdAt,
    idKey: workflowIdKey(record.id),
    // The head is the record without its history (JSON leaves an undefined field out).
    head: JSON.stringify({ ...record, steps: undefined }),
  };
}

/** The listing's sort key of an id: its UTF-8 bytes in hex, ordered as the bytes are. */
export function workflowIdKey(id: string): string {
  return Buffer.from(id, 'utf8').toString('hex');
}

/** A new workflow's whole document. */
export function newWorkflowDocument(record: WorkflowRecord, writeId: string): WorkflowDocument {
  return {
    _id: record.id,
    rev: 1,
    ...workflowFields(record),
    steps: record.steps.map((memo) => JSON.stringify(memo)),
    stepCount: record.steps.length,
    ops: [writeId],
  };
}

/**
 * The update that stores `next` over `document` (read at revision `document.rev`): the head, and
 * of the history only position `stepIndex` when the change recorded one. A format-1 document is
 * rewritten whole.
 */
export function workflowUpdate(
  document: WorkflowDocument,
  next: WorkflowRecord,
  writeId: string,
  stepIndex: number | undefined,
): Document {
  const set: Document = {
    ...workflowFields(next),
    rev: document.rev + 1,
    ops: [...(document.ops ?? []).slice(-(KEPT_WRITE_IDS - 1)), writeId],
  };
  if (document.head === undefined) {
    set.steps = next.steps.map((memo) => JSON.stringify(memo));
    set.stepCount = next.steps.length;
    return { $set: set, $unset: { json: '' } };
  }
  if (stepIndex !== undefined) {
    set[`steps.${stepIndex}`] = JSON.stringify(next.steps[stepIndex]);
    set.stepCount = next.steps.length;
  }
  return { $set: set };
}

/**
 * The record a document stores. With `only` (a document read with the history cut to that one
 * position), the history is a sparse array of the right length holding that position alone:
 * enough for the transitions, which look at the length and at the position they record.
 */
export function documentRecord(document: WorkflowDocument, only?: number): WorkflowRecord {
  if (document.head === undefined) return parseWorkflowRecord(document.json ?? '', CONTEXT);
  const record = parseWorkflowRecord(document.head, CONTEXT);
  const stored = document.steps ?? [];
  if (only === undefined) {
    record.steps = stored.map(parseMemo);
  } else {
    record.steps = new Array<StepMemo>(document.stepCount ?? 0);
    // A server that ignores the $slice (FerretDB 1.24) sends the whole history: take the position from it.
    const text =
      stored.length === record.steps.length
        ? stored[only]
        : stored.length === 1
          ? stored[0]
          : undefined;
    if (text !== undefined && only < record.steps.length) record.steps[only] = parseMemo(text);
  }
  return record;
}

/** The listing's summary of a document read without its history. */
export function documentSummary(document: WorkflowDocument): WorkflowSummary {
  const record = documentRecord({ ...document, steps: [] }, 0);
  const summary = toWorkflowSummary({ ...record, steps: [] });
  summary.steps = document.head === undefined ? record.steps.length : (document.stepCount ?? 0);
  return summary;
}

function parseMemo(text: string): StepMemo {
  try {
    return JSON.parse(text) as StepMemo;
  } catch (error) {
    throw new DurableError(ErrorCode.BACKEND, `${CONTEXT}: a stored step is not valid JSON`, {
      cause: error,
    });
  }
}

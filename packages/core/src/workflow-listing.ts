import { DurableError, ErrorCode } from './errors.js';
import { describeValue } from './lock-options.js';
import { checkOptions } from './option-checks.js';
import { compareKeys } from './paging.js';
import type { StoredError, WorkflowRecord } from './workflow-store.js';
import { WorkflowStatus } from './workflow-store.js';

/** Largest page {@link WorkflowListQuery.limit} a store must accept. */
export const MAX_WORKFLOW_LIST_LIMIT = 1000;

/** Order of a workflow listing: by `createdAt`, then by id in code-point order. */
export const WorkflowListOrder = {
  /** Oldest first. */
  ASC: 'asc',
  /** Newest first. */
  DESC: 'desc',
} as const;

/** One of the {@link WorkflowListOrder} values. */
export type WorkflowListOrder = (typeof WorkflowListOrder)[keyof typeof WorkflowListOrder];

/**
 * What {@link WorkflowStore.list} returns. Filters combine with AND; the created range is
 * half-open (`createdAfter <= createdAt < createdBefore`), so consecutive windows tile.
 */
export interface WorkflowListQuery {
  /** Only workflows in this status, or in any of these. */
  status?: WorkflowStatus | readonly WorkflowStatus[];
  /** Only workflows of this handler (exact name). */
  handler?: string;
  /** Only workflows created at or after this instant (epoch ms, inclusive). */
  createdAfter?: number;
  /** Only workflows created before this instant (epoch ms, exclusive). */
  createdBefore?: number;
  /** Most items on the page: an integer from 1 to {@link MAX_WORKFLOW_LIST_LIMIT}. */
  limit: number;
  /** The `cursor` of the previous page; absent for the first page. */
  cursor?: string;
  /** By `createdAt` then id, oldest first or newest first. @default "asc" */
  order?: WorkflowListOrder;
}

/** A workflow as listed: its state without input, history, events or result. */
export interface WorkflowSummary {
  id: string;
  handler: string;
  status: WorkflowStatus;
  createdAt: number;
  updatedAt: number;
  /** When a ready, failed or sleeping workflow is due (epoch ms). */
  runAt: number;
  /** Failed runs so far. */
  failures: number;
  /** Recorded positions in its history (steps, sleeps, event waits, starts, children). */
  steps: number;
  finishedAt?: number;
  parentId?: string;
  /** The stored error's name, message and code (failed, aborted, cancelled). */
  error?: Pick<StoredError, 'name' | 'message' | 'code'>;
}

/** One page of {@link WorkflowStore.list}: no `cursor` on the last page. */
export interface WorkflowPage {
  items: WorkflowSummary[];
  cursor?: string;
}

/** How many workflows are in each status (every status present, 0 when none). */
export type WorkflowCounts = Record<WorkflowStatus, number>;

/** A position in the listing order: what a cursor points after. */
export interface WorkflowListPosition {
  createdAt: number;
  id: string;
}

/** A {@link WorkflowListQuery} checked and decoded by {@link checkWorkflowListQuery}. */
export interface CheckedWorkflowListQuery {
  /** The statuses to keep; `undefined` keeps all. */
  statuses?: ReadonlySet<WorkflowStatus>;
  handler?: string;
  createdAfter?: number;
  createdBefore?: number;
  limit: number;
  order: WorkflowListOrder;
  /** The decoded cursor: items strictly after it (in `order`) come next. */
  after?: WorkflowListPosition;
}

const STATUSES = new Set<string>(Object.values(WorkflowStatus));
const CURSOR_FORMAT = 1;

/**
 * Checks a listing query and decodes its cursor, throwing `CONFIG` (before any I/O) for an
 * unknown key or status, a bad limit or instant, and a cursor this helper did not make.
 * Stores use it so every store refuses the same queries.
 */
export function checkWorkflowListQuery(
  query: WorkflowListQuery,
  context = 'workflow store',
): CheckedWorkflowListQuery {
  checkOptions(query, `${context}: list`, {
    known: ['status', 'handler', 'createdAfter', 'createdBefore', 'limit', 'cursor', 'order'],
    required: ['limit'],
  });
  const {
    limit,
    handler,
    createdAfter,
    createdBefore,
    cursor,
    order = WorkflowListOrder.ASC,
  } = query;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_WORKFLOW_LIST_LIMIT) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: list: limit must be an integer from 1 to ${MAX_WORKFLOW_LIST_LIMIT}, got ${describeValue(
        limit,
      )}; page with the returned cursor`,
    );
  }
  if (order !== WorkflowListOrder.ASC && order !== WorkflowListOrder.DESC) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: list: order must be "asc" or "desc", got ${describeValue(order)}`,
    );
  }
  if (handler !== undefined && (typeof handler !== 'string' || handler.length === 0)) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: list: handler must be a non-empty string, got ${describeValue(handler)}`,
    );
  }
  for (const [name, value] of [
    ['createdAfter', createdAfter],
    ['createdBefore', createdBefore],
  ] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: list: ${name} must be an instant in epoch ms (Date.getTime()), got ${describeValue(
          value,
        )}`,
      );
    }
  }
  const checked: CheckedWorkflowListQuery = { limit, order };
  if (query.status !== undefined) checked.statuses = checkStatuses(query.status, context);
  if (handler !== undefined) checked.handler = handler;
  if (createdAfter !== undefined) checked.createdAfter = createdAfter;
  if (createdBefore !== undefined) checked.createdBefore = createdBefore;
  if (cursor !== undefined) checked.after = decodeWorkflowCursor(cursor, context);
  return checked;
}

function checkStatuses(status: unknown, context: string): ReadonlySet<WorkflowStatus> {
  const list: unknown[] = Array.isArray(status) ? status : [status];
  for (const item of list) {
    if (typeof item !== 'string' || !STATUSES.has(item)) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: list: unknown status ${describeValue(item)}; the statuses are: ${[
          ...STATUSES,
        ].join(', ')}`,
      );
    }
  }
  return new Set(list as WorkflowStatus[]);
}

/** The opaque cursor that continues a listing after `position`. */
export function encodeWorkflowCursor(position: WorkflowListPosition): string {
  return Buffer.from(
    JSON.stringify([CURSOR_FORMAT, position.createdAt, position.id]),
    'utf8',
  ).toString('base64url');
}

/** Inverse of {@link encodeWorkflowCursor}; `CONFIG` for anything else. */
export function decodeWorkflowCursor(
  cursor: unknown,
  context = 'workflow store',
): WorkflowListPosition {
  let parsed: unknown;
  try {
    parsed =
      typeof cursor === 'string'
        ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
        : undefined;
  } catch {
    parsed = undefined;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 3 &&
    parsed[0] === CURSOR_FORMAT &&
    Number.isFinite(parsed[1]) &&
    typeof parsed[2] === 'string'
  ) {
    return { createdAt: parsed[1] as number, id: parsed[2] };
  }
  throw new DurableError(
    ErrorCode.CONFIG,
    `${context}: list: the cursor is not one a listing returned; pass the cursor of the previous page unchanged, or none for the first page`,
  );
}

/** The listing order: `createdAt`, then id in code-point order (the order of UTF-8 bytes). */
export function compareWorkflowPositions(a: WorkflowListPosition, b: WorkflowListPosition): number {
  return a.createdAt !== b.createdAt ? a.createdAt - b.createdAt : compareKeys(a.id, b.id);
}

/** True when `item` passes the filters of `query` (not the cursor). */
export function matchesWorkflowQuery(
  item: Pick<WorkflowSummary, 'status' | 'handler' | 'createdAt'>,
  query: CheckedWorkflowListQuery,
): boolean {
  return (
    (query.statuses === undefined || query.statuses.has(item.status)) &&
    (query.handler === undefined || item.handler === query.handler) &&
    (query.createdAfter === undefined || item.createdAt >= query.createdAfter) &&
    (query.createdBefore === undefined || item.createdAt < query.createdBefore)
  );
}

/** True when `item` comes after the cursor of `query` in its order (always, without a cursor). */
export function isAfterWorkflowCursor(
  item: WorkflowListPosition,
  query: CheckedWorkflowListQuery,
): boolean {
  if (query.after === undefined) return true;
  const compared = compareWorkflowPositions(item, query.after);
  return query.order === WorkflowListOrder.DESC ? compared < 0 : compared > 0;
}

/** The summary of a record. */
export function toWorkflowSummary(record: WorkflowRecord): WorkflowSummary {
  const summary: WorkflowSummary = {
    id: record.id,
    handler: record.handler,
    status: record.status,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    runAt: record.runAt,
    failures: record.failures,
    steps: record.steps.length,
  };
  if (record.finishedAt !== undefined) summary.finishedAt = record.finishedAt;
  if (record.parentId !== undefined) summary.parentId = record.parentId;
  if (record.error !== undefined) {
    summary.error = {
      name: record.error.name,
      message: record.error.message,
      ...(record.error.code === undefined ? {} : { code: record.error.code }),
    };
  }
  return summary;
}

/**
 * One page out of every workflow of a store that scans them all (memory, files): filters,
 * sorts, cuts after the cursor and sets the next cursor when more remain. A workflow present
 * for the whole listing appears on exactly one page, whatever is inserted meanwhile.
 */
export function pageWorkflows(
  records: Iterable<WorkflowRecord | WorkflowSummary>,
  query: CheckedWorkflowListQuery,
): WorkflowPage {
  const matching: WorkflowSummary[] = [];
  for (const record of records) {
    if (!matchesWorkflowQuery(record, query) || !isAfterWorkflowCursor(record, query)) continue;
    matching.push(
      Array.isArray(record.steps)
        ? toWorkflowSummary(record as WorkflowRecord)
        : { ...(record as WorkflowSummary) },
    );
  }
  const sign = query.order === WorkflowListOrder.DESC ? -1 : 1;
  matching.sort((a, b) => sign * compareWorkflowPositions(a, b));
  const items = matching.slice(0, query.limit);
  const last = items[items.length - 1];
  return matching.length > query.limit && last !== undefined
    ? { items, cursor: encodeWorkflowCursor(last) }
    : { items };
}

/** Counts of zero for every status. */
export function emptyWorkflowCounts(): WorkflowCounts {
  const counts = {} as WorkflowCounts;
  for (const status of Object.values(WorkflowStatus)) counts[status] = 0;
  return counts;
}

/** Counts by status of the given workflows. */
export function countWorkflows(records: Iterable<Pick<WorkflowSummary, 'status'>>): WorkflowCounts {
  const counts = emptyWorkflowCounts();
  for (const record of records) counts[record.status] += 1;
  return counts;
}

import type { WorkflowCounts, WorkflowListQuery, WorkflowPage, WorkflowStore } from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import { assertValidWorkflowId } from '@durable/core/adapter';
import { childEventName } from './misuse.js';

/** Default page size of the clients' `list`. */
export const DEFAULT_WORKFLOW_PAGE = 100;

/** A listing query with the page size optional (it defaults to {@link DEFAULT_WORKFLOW_PAGE}). */
export type ListWorkflowsQuery = Omit<WorkflowListQuery, 'limit'> & { limit?: number };

type Operation = 'list' | 'counts' | 'resume';

function requireOperation<K extends Operation>(
  store: WorkflowStore,
  operation: K,
): Required<Pick<WorkflowStore, K>> {
  if (typeof store[operation] !== 'function') {
    const kind = (store as { constructor?: { name?: string } }).constructor?.name ?? 'this store';
    throw new DurableError(
      ErrorCode.CONFIG,
      `workflow: ${operation}: the store (${kind}) has no ${operation}(); every WorkflowStore must implement list, counts and resume: upgrade its package, or add the method`,
    );
  }
  return store as unknown as Required<Pick<WorkflowStore, K>>;
}

/** One page of workflows of `store` (see `WorkflowStore.list` for order and paging). */
export function listWorkflows(
  store: WorkflowStore,
  query: ListWorkflowsQuery = {},
): Promise<WorkflowPage> {
  const checked = requireOperation(store, 'list');
  const q = query as Record<string, unknown> | null | undefined;
  const full =
    typeof q === 'object' && q !== null && q['limit'] === undefined
      ? { ...query, limit: DEFAULT_WORKFLOW_PAGE }
      : query;
  return checked.list(full as WorkflowListQuery);
}

/** Every workflow matching `query`, page after page (for scripts and the CLI). */
export async function* iterateWorkflows(
  store: WorkflowStore,
  query: Omit<ListWorkflowsQuery, 'cursor'> = {},
): AsyncGenerator<WorkflowPage> {
  let cursor: string | undefined;
  do {
    const page = await listWorkflows(store, cursor === undefined ? query : { ...query, cursor });
    yield page;
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/** How many workflows of `store` are in each status. */
export function countWorkflowsByStatus(store: WorkflowStore): Promise<WorkflowCounts> {
  return requireOperation(store, 'counts').counts();
}

/**
 * Makes an aborted, cancelled or failed workflow run again from its last recorded step (its
 * recorded steps are replayed, never re-run); false when absent or in another status.
 */
export function resumeWorkflow(store: WorkflowStore, id: string): Promise<boolean> {
  assertValidWorkflowId(id, 'workflow: resume');
  return requireOperation(store, 'resume').resume(id);
}

/**
 * Cancels an unfinished workflow of `store` as the client does (a running one stops at its next
 * operation) and tells its parent, if any, that the child ended; false when absent or finished.
 * The cancel is committed first: a failure to tell the parent goes to `onError` (the parent then
 * learns it when it next runs), and without `onError` it is thrown.
 */
export async function cancelWorkflow(
  store: WorkflowStore,
  id: string,
  onError?: (error: unknown) => void,
): Promise<boolean> {
  assertValidWorkflowId(id, 'workflow: cancel');
  const cancelled = await store.cancel(id);
  if (!cancelled) return false;
  try {
    const record = await store.get(id);
    if (record?.parentId !== undefined)
      await store.signal(record.parentId, childEventName(id), null);
  } catch (error) {
    if (onError === undefined) throw error;
    onError(error);
  }
  return true;
}

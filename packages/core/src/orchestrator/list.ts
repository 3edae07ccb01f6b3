import { DurableError, ErrorCode, isDurableError, toBackendError } from '../errors.js';
import { keyProblem } from '../keys.js';
import { describeValue } from '../lock-options.js';
import { checkOptions } from '../option-checks.js';
import type { StorageManager } from '../storage.js';
import { decodeEnvelope } from '../actor/envelope.js';
import { decodeProcessRecord } from './process-record.js';

/** Default page size of {@link listOrchestrations}. */
export const DEFAULT_ORCHESTRATION_PAGE = 100;

/** What {@link listOrchestrations} pages through. */
export interface OrchestrationListQuery {
  /** Only subjects that start with this (a plain string prefix). @default "" (every process) */
  prefix?: string;
  /** Most processes on the page (1 to 1000). @default 100 */
  limit?: number;
  /** The `cursor` of the previous page. */
  cursor?: string;
}

/** One listed orchestration process: where it stands, or why it could not be read. */
export interface OrchestrationSummary {
  /** The process id (the CloudEvents `subject`). */
  subject: string;
  /** Machine id, pinned version, state value, xstate status and transitions applied. */
  machineId?: string;
  version?: string;
  value?: unknown;
  status?: string;
  sequence?: number;
  /** Epoch milliseconds of its last save. */
  savedAt?: number;
  /** Set instead of the state when the stored value is not a readable process (`INVALID_SNAPSHOT`...). */
  error?: { code: string; message: string };
}

/** One page of processes, by subject in code-point order; no `cursor` on the last page. */
export interface OrchestrationPage {
  items: OrchestrationSummary[];
  cursor?: string;
}

// Reads per page run a few at a time: fast on S3 without flooding it.
const READ_CONCURRENCY = 8;

/**
 * Pages through the orchestration processes under `prefix` (the orchestrator's option) whose
 * subject starts with `query.prefix`: each with its machine, version, state and save time. Read
 * only: no lease, no write, no machine started. A process deleted between the listing and its
 * read is left out; one that cannot be decoded is listed with an `error`, never failing the page.
 */
export async function listOrchestrations(
  options: { storage: StorageManager; prefix?: string },
  query: OrchestrationListQuery = {},
): Promise<OrchestrationPage> {
  if (
    typeof options !== 'object' ||
    options === null ||
    typeof options.storage?.list !== 'function'
  ) {
    throw new DurableError(
      ErrorCode.CONFIG,
      'orchestrator: listOrchestrations needs the options with a storage',
    );
  }
  checkOptions(query, 'orchestrator: listOrchestrations', { known: ['prefix', 'limit', 'cursor'] });
  const limit = query.limit ?? DEFAULT_ORCHESTRATION_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `orchestrator: listOrchestrations: limit must be an integer from 1 to 1000, got ${describeValue(
        limit,
      )}`,
    );
  }
  const subjectPrefix = query.prefix ?? '';
  if (typeof subjectPrefix !== 'string') {
    throw new DurableError(
      ErrorCode.CONFIG,
      `orchestrator: listOrchestrations: prefix must be a string, got ${describeValue(
        subjectPrefix,
      )}`,
    );
  }
  refuseKeyPrefix(options, 'listOrchestrations');
  const base = `${options.prefix ?? 'orchestrations'}/`;
  const problem = keyProblem(`${base}x`);
  if (problem !== undefined)
    throw new DurableError(
      ErrorCode.CONFIG,
      `orchestrator: listOrchestrations: prefix ${JSON.stringify(
        options.prefix,
      )} is not a valid key prefix: ${problem}`,
    );
  let page: { keys: string[]; cursor?: string };
  try {
    page = await options.storage.list(`${base}${subjectPrefix}`, {
      limit,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
    });
  } catch (error) {
    throw toBackendError(error, `orchestrator: listing ${base}${subjectPrefix} failed`);
  }
  const items: Array<OrchestrationSummary | undefined> = new Array<
    OrchestrationSummary | undefined
  >(page.keys.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < page.keys.length; i = next++)
      items[i] = await summarise(options.storage, page.keys[i] as string, base);
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, page.keys.length) }, worker));
  const present = items.filter((item): item is OrchestrationSummary => item !== undefined);
  return page.cursor === undefined ? { items: present } : { items: present, cursor: page.cursor };
}

async function summarise(
  storage: StorageManager,
  key: string,
  base: string,
): Promise<OrchestrationSummary | undefined> {
  const subject = key.slice(base.length);
  let entry: { data: Uint8Array } | undefined;
  try {
    entry = await storage.read(key);
  } catch (error) {
    throw toBackendError(error, `orchestrator: read failed for ${key}`);
  }
  if (entry === undefined) return undefined;
  try {
    const record = decodeProcessRecord(entry.data, key);
    const snapshot = record.snapshot as unknown as { value?: unknown; status?: string };
    const savedAt = decodeEnvelope(entry.data, key).savedAt;
    return {
      subject,
      machineId: record.machineId,
      version: record.version,
      value: snapshot.value,
      ...(typeof snapshot.status === 'string' ? { status: snapshot.status } : {}),
      sequence: record.sequence,
      savedAt,
    };
  } catch (error) {
    if (!isDurableError(error)) throw error;
    return { subject, error: { code: error.code, message: error.message } };
  }
}

/**
 * @internal The orchestrator's key prefix option was `keyPrefix` before it took the name every
 * storage uses; options that still carry it are refused rather than read from the default prefix.
 */
export function refuseKeyPrefix(options: object, operation: string): void {
  if (Object.prototype.hasOwnProperty.call(options, 'keyPrefix')) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `orchestrator: ${operation}: keyPrefix is now prefix (the key prefix of processes); rename the option`,
      { details: { option: 'keyPrefix', use: 'prefix' } },
    );
  }
}

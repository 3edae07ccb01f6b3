import { randomUUID } from 'node:crypto';
import type { StorageManager } from '@durable/core';
import { DurableError, ErrorCode, bytesToText, isDurableError, listAll } from '@durable/core';
import { backoffDelay, checkOptions, sleep } from '@durable/core/adapter';
import { FsmErrorCode, fsmError, invalidRequest } from './errors.js';
import type { Configuration, HistoryEntry, IncomingEvent, MachineRecord } from './model.js';
import {
  assertLabel,
  assertMachineId,
  assertName,
  assertTimestamp,
  configurationId,
  normaliseConfiguration,
  parseConfigurationId,
  timestampNow,
} from './model.js';

/** Options for {@link FsmService}. */
export interface FsmServiceOptions {
  /** Where configurations and machines are kept: any storage with conditional writes. */
  storage: StorageManager;
  /** First key segment of everything the service writes. @default "fsm" */
  prefix?: string;
  /** Keep at most this many history entries per machine (the oldest are dropped and counted). @default unlimited */
  historyLimit?: number;
  /** Ids of this many dropped entries are still recognised as duplicates. @default 1000 */
  dedupWindow?: number;
  /** Attempts of one event's compare-and-swap under contention before a retryable `CONFLICT`. @default 1000 */
  maxAttempts?: number;
  /** Machine records kept in memory to skip the read before a compare-and-swap. @default 10000 */
  cacheSize?: number;
  /** Milliseconds since the epoch. @default Date.now */
  clock?: () => number;
}

/** What happened to one event. */
export interface EventOutcome {
  readonly eventId: string;
  readonly machineId: string;
  /** `applied` now, or `duplicate`: the id was already in the history, nothing changed. */
  readonly status: 'applied' | 'duplicate';
  /** The machine's state after the event. */
  readonly state: string;
  /** The transition taken (absent for a duplicate). */
  readonly transition?: HistoryEntry;
  readonly configId: string;
}

/** A machine as the API returns it. */
export interface MachineView {
  readonly id: string;
  readonly config_id: string;
  readonly state: string;
  readonly history: HistoryEntry[];
  /** Entries dropped by the history limit. */
  readonly dropped: number;
}

const CONTEXT = 'fsm-server';

/**
 * A machine record as last seen, with the JSON of each history entry and of `dropped_ids`, and
 * the set of every event id it holds (history and dropped ids): the next record is written by
 * joining those strings, so an event serialises only its own entry, and the duplicate check is
 * one set lookup (a whole-record JSON.stringify and a scan of the history grew with the history
 * and dominated a transition's CPU time).
 *
 * Ownership: an entry of the cache is changed in place by {@link FsmService} only, only after
 * the compare-and-swap that makes the change has committed, and only by the one event of its
 * machine running in this process (events of one machine are queued). The record's arrays are
 * never handed out: views copy them.
 */
interface CachedRecord {
  version: string;
  readonly record: MachineRecord;
  readonly entries: string[];
  droppedJson: string;
  readonly ids: Set<string>;
}

/** What one event changes in a record, computed before its compare-and-swap, applied after. */
interface Advance {
  readonly entry: HistoryEntry;
  readonly entryJson: string;
  /** How many of the oldest history entries the history limit drops. */
  readonly removed: number;
  readonly droppedIds: string[];
  readonly droppedJson: string;
  /** The next record's JSON. */
  readonly json: string;
}

/**
 * The state-machine service over a {@link StorageManager}: configurations are created once
 * (create-if-absent), machines are created once, and every event is one compare-and-swap of the
 * machine's record (state + history), retried on `CONFLICT` after re-reading. So two processes on
 * one storage never lose or double-apply an event: the write is conditional on the version whose
 * history was checked for the event id and whose state chose the transition.
 */
export class FsmService {
  readonly storage: StorageManager;
  private readonly prefix: string;
  private readonly historyLimit: number;
  private readonly dedupWindow: number;
  private readonly maxAttempts: number;
  private readonly cacheSize: number;
  private readonly clock: () => number;
  // Configurations are immutable once created, so a cached one is never stale.
  private readonly configurations = new Map<string, Configuration>();
  // Last record seen per machine: a guess for the next compare-and-swap (a stale guess is a CONFLICT, then a read).
  private readonly records = new Map<string, CachedRecord>();
  // Events of one machine in this process run one after another (they would only conflict).
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(options: FsmServiceOptions) {
    checkOptions(options, CONTEXT, {
      known: [
        'storage',
        'prefix',
        'historyLimit',
        'dedupWindow',
        'maxAttempts',
        'cacheSize',
        'clock',
      ],
      required: ['storage'],
      renamed: { keyPrefix: 'prefix' },
    });
    if (typeof options.storage.read !== 'function' || typeof options.storage.write !== 'function') {
      throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: storage must be a StorageManager`);
    }
    if (options.storage.capabilities?.conditionalWrite !== true) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: storage must enforce conditional writes (capabilities.conditionalWrite)`,
      );
    }
    this.storage = options.storage;
    this.prefix = options.prefix ?? 'fsm';
    assertName(this.prefix, 'prefix');
    this.historyLimit = positive(options.historyLimit, 'historyLimit', Number.POSITIVE_INFINITY);
    this.dedupWindow = positive(options.dedupWindow, 'dedupWindow', 1000, true);
    this.maxAttempts = positive(options.maxAttempts, 'maxAttempts', 1000);
    this.cacheSize = positive(options.cacheSize, 'cacheSize', 10_000, true);
    this.clock = options.clock ?? Date.now;
  }

  /** Stores a new configuration; `CONFLICT` when `name:version` exists, `INVALID_REQUEST` when malformed. */
  async createConfiguration(input: unknown): Promise<Configuration> {
    const configuration = normaliseConfiguration(input);
    const id = configurationId(configuration);
    try {
      await this.storage.write(
        this.configurationKey(configuration.name, configuration.version),
        JSON.stringify({ format: 1, ...configuration }),
        {
          ifVersion: null,
        },
      );
    } catch (error) {
      if (isDurableError(error, ErrorCode.CONFLICT)) {
        throw fsmError(
          ErrorCode.CONFLICT,
          `configuration ${id} already exists (configurations are immutable: use a new version)`,
          {
            details: { id },
          },
        );
      }
      throw error;
    }
    this.configurations.set(id, configuration);
    return configuration;
  }

  /** A configuration by id (`name:version`), or `undefined`. */
  async getConfiguration(id: string): Promise<Configuration | undefined> {
    const cached = this.configurations.get(id);
    if (cached !== undefined) return cached;
    const { name, version } = parseConfigurationId(id, 'id');
    const entry = await this.storage.read(this.configurationKey(name, version));
    if (entry === undefined) return undefined;
    const { format: _format, ...configuration } = JSON.parse(
      bytesToText(entry.data),
    ) as Configuration & { format: number };
    this.configurations.set(id, configuration);
    return configuration;
  }

  /** The versions stored under one configuration name, as ids, in key order. */
  async listConfigurations(name: string): Promise<string[]> {
    assertName(name, 'name');
    const prefix = `${this.prefix}/configurations/${name}/`;
    const ids: string[] = [];
    for await (const key of listAll(this.storage, prefix))
      ids.push(`${name}:${key.slice(prefix.length)}`);
    return ids;
  }

  /**
   * Creates a machine in its configuration's starting state (or in `state`, one of the
   * configuration's states, as the Go sm-server's gRPC create allowed). `id` is generated when
   * omitted; `CONFLICT` when it exists (of two racing creates exactly one wins), `NOT_FOUND` when
   * the configuration does not, `INVALID_REQUEST` for a state not in the configuration.
   */
  async createMachine(configId: string, id?: string, state?: string): Promise<MachineView> {
    const configuration = await this.requireConfiguration(configId, 'configuration_version');
    const machineId = id ?? randomUUID();
    assertMachineId(machineId, 'id');
    if (state !== undefined && !configuration.states.includes(state)) {
      throw invalidRequest(
        'state',
        `${JSON.stringify(state)} is not a state of ${configurationId(configuration)}: use one of ${configuration.states.join(', ')}, or none for the starting state`,
      );
    }
    const record: MachineRecord = {
      format: 1,
      id: machineId,
      config_id: configurationId(configuration),
      state: state ?? configuration.starting_state,
      history: [],
      dropped: 0,
      dropped_ids: [],
    };
    let version: string;
    try {
      version = await this.storage.write(this.machineKey(machineId), serialise(record, '[]', []), {
        ifVersion: null,
      });
    } catch (error) {
      if (isDurableError(error, ErrorCode.CONFLICT)) {
        throw fsmError(ErrorCode.CONFLICT, `statemachine ${machineId} already exists`, {
          details: { id: machineId },
        });
      }
      throw error;
    }
    this.remember(machineId, { version, record, entries: [], droppedJson: '[]', ids: new Set() });
    return view(record);
  }

  /** A machine with its history, or `undefined`. */
  async getMachine(id: string): Promise<MachineView | undefined> {
    assertMachineId(id, 'id');
    const current = await this.readMachine(id);
    return current === undefined ? undefined : view(current.record);
  }

  /**
   * Applies one event to machine `machineId`: `NOT_FOUND` for an unknown machine,
   * `EVENT_NOT_ALLOWED` when its state has no transition on the event, `INVALID_REQUEST` for a
   * malformed event. An event whose id is already in the history is acknowledged as `duplicate`
   * and changes nothing.
   */
  applyEvent(machineId: string, event: IncomingEvent): Promise<EventOutcome> {
    try {
      assertEvent(machineId, event);
    } catch (error) {
      return Promise.reject(error);
    }
    const previous = this.queues.get(machineId) ?? Promise.resolve();
    const run = previous.then(
      () => this.apply(machineId, event),
      () => this.apply(machineId, event),
    );
    const tail = run.catch(() => undefined);
    this.queues.set(machineId, tail);
    void tail.then(() => {
      if (this.queues.get(machineId) === tail) this.queues.delete(machineId);
    });
    return run;
  }

  private async apply(machineId: string, event: IncomingEvent): Promise<EventOutcome> {
    let current = this.records.get(machineId) ?? (await this.readMachine(machineId));
    for (let attempt = 1; ; attempt++) {
      if (current === undefined) {
        throw fsmError(
          ErrorCode.NOT_FOUND,
          `statemachine ${machineId} does not exist (create it first)`,
          { details: { id: machineId } },
        );
      }
      const { record, version } = current;
      if (current.ids.has(event.eventId)) {
        // Checked against the version we may hold a stale copy of: confirm on a fresh read.
        const fresh = await this.readMachine(machineId);
        if (fresh?.version === version) {
          return {
            eventId: event.eventId,
            machineId,
            status: 'duplicate',
            state: record.state,
            configId: record.config_id,
          };
        }
        current = fresh;
        continue;
      }
      const configuration = await this.requireConfiguration(record.config_id, 'config_id');
      const transition = configuration.transitions.find(
        (t) => t.from === record.state && t.event === event.event,
      );
      if (transition === undefined) {
        const fresh = await this.readMachine(machineId);
        if (fresh?.version !== version) {
          current = fresh;
          continue;
        }
        throw fsmError(
          FsmErrorCode.EVENT_NOT_ALLOWED,
          `event ${JSON.stringify(event.event)} is not allowed in state ${JSON.stringify(
            record.state,
          )} of statemachine ${machineId} (${record.config_id})`,
          { details: { id: machineId, state: record.state, event: event.event } },
        );
      }
      const entry: HistoryEntry = {
        event_id: event.eventId,
        timestamp: event.timestamp ?? timestampNow(this.clock()),
        transition: { ...transition },
        originator: event.originator ?? '',
        ...(event.details === undefined || event.details === '' ? {} : { details: event.details }),
      };
      const next = this.advance(current, entry);
      try {
        const written = await this.storage.write(this.machineKey(machineId), next.json, {
          ifVersion: version,
        });
        commit(current, next, written);
        this.remember(machineId, current);
        return {
          eventId: event.eventId,
          machineId,
          status: 'applied',
          state: entry.transition.to,
          transition: entry,
          configId: record.config_id,
        };
      } catch (error) {
        if (!isDurableError(error, ErrorCode.CONFLICT)) throw error;
        this.records.delete(machineId);
        if (attempt >= this.maxAttempts) {
          throw fsmError(
            ErrorCode.CONFLICT,
            `statemachine ${machineId}: event ${event.eventId} lost ${attempt} compare-and-swap races in a row; retry it`,
            {
              retryable: true,
              details: { id: machineId },
            },
          );
        }
        if (attempt > 2) await sleep(backoffDelay(attempt - 2, { baseMs: 1, maxMs: 50 }));
        current = await this.readMachine(machineId);
      }
    }
  }

  private advance(current: CachedRecord, entry: HistoryEntry): Advance {
    const { record } = current;
    const entryJson = JSON.stringify(entry);
    const removed = Math.max(0, record.history.length + 1 - this.historyLimit);
    let droppedIds = record.dropped_ids;
    let droppedJson = current.droppedJson;
    if (removed > 0) {
      droppedIds =
        this.dedupWindow === 0
          ? []
          : [...droppedIds, ...record.history.slice(0, removed).map((e) => e.event_id)].slice(
              -this.dedupWindow,
            );
      droppedJson = JSON.stringify(droppedIds);
    }
    const kept = removed > 0 ? current.entries.slice(removed) : current.entries;
    const json = serialise(
      { ...record, state: entry.transition.to, dropped: record.dropped + removed },
      droppedJson,
      kept,
      entryJson,
    );
    return { entry, entryJson, removed, droppedIds, droppedJson, json };
  }

  private async readMachine(id: string): Promise<CachedRecord | undefined> {
    const entry = await this.storage.read(this.machineKey(id));
    if (entry === undefined) {
      this.records.delete(id);
      return undefined;
    }
    let record: MachineRecord;
    try {
      record = JSON.parse(bytesToText(entry.data)) as MachineRecord;
    } catch (error) {
      throw fsmError(ErrorCode.BACKEND, `statemachine ${id}: its stored record is not JSON`, {
        cause: error,
        details: { id },
      });
    }
    if (record.format !== 1) {
      throw fsmError(
        ErrorCode.VERSION_UNKNOWN,
        `statemachine ${id}: record format ${String(
          record.format,
        )} is unknown to this server (upgrade it)`,
      );
    }
    const cached: CachedRecord = {
      version: entry.version,
      record,
      entries: record.history.map((e) => JSON.stringify(e)),
      droppedJson: JSON.stringify(record.dropped_ids),
      ids: new Set([...record.history.map((e) => e.event_id), ...record.dropped_ids]),
    };
    this.remember(id, cached);
    return cached;
  }

  private remember(id: string, cached: CachedRecord): void {
    if (this.cacheSize === 0) return;
    this.records.delete(id);
    this.records.set(id, cached);
    if (this.records.size > this.cacheSize) {
      const oldest = this.records.keys().next().value;
      if (oldest !== undefined) this.records.delete(oldest);
    }
  }

  private async requireConfiguration(id: string, field: string): Promise<Configuration> {
    parseConfigurationId(id, field);
    const configuration = await this.getConfiguration(id);
    if (configuration === undefined) {
      throw fsmError(ErrorCode.NOT_FOUND, `configuration ${id} does not exist (create it first)`, {
        details: { id },
      });
    }
    return configuration;
  }

  private configurationKey(name: string, version: string): string {
    return `${this.prefix}/configurations/${name}/${version}`;
  }

  private machineKey(id: string): string {
    // Machine ids may hold ":" and "#": fine in a key segment; "/" is refused by assertMachineId.
    return `${this.prefix}/machines/${id}`;
  }
}

function assertEvent(machineId: string, event: IncomingEvent): void {
  assertMachineId(machineId, 'dest');
  if (typeof event !== 'object' || event === null)
    throw invalidRequest('event', 'must be an object');
  assertLabel(event.event, 'event');
  assertLabel(event.eventId, 'event_id');
  if (event.originator !== undefined) assertLabel(event.originator, 'originator', true);
  if (event.timestamp !== undefined) assertTimestamp(event.timestamp, 'timestamp');
  if (
    event.details !== undefined &&
    (typeof event.details !== 'string' || event.details.length > 65_536)
  ) {
    throw invalidRequest('details', 'must be a string of at most 65536 characters');
  }
}

/**
 * Changes a cached record in place to what its committed compare-and-swap wrote (see
 * {@link CachedRecord} for who may call this, and when).
 */
function commit(current: CachedRecord, next: Advance, version: string): void {
  const { record, entries, ids } = current;
  if (next.removed > 0) {
    // The new dropped ids are the tail of (old dropped ids, then the removed entries' ids): the
    // ids before that tail are no longer recognised. No id is in both lists, nor twice in one
    // (an id already held is a duplicate and never appended).
    const removed = record.history.splice(0, next.removed);
    entries.splice(0, next.removed);
    const before = record.dropped_ids;
    const cut = before.length + removed.length - next.droppedIds.length;
    for (let i = 0; i < cut; i++) {
      ids.delete(
        i < before.length
          ? (before[i] as string)
          : (removed[i - before.length] as HistoryEntry).event_id,
      );
    }
  }
  record.history.push(next.entry);
  entries.push(next.entryJson);
  ids.add(next.entry.event_id);
  record.state = next.entry.transition.to;
  record.dropped += next.removed;
  record.dropped_ids = next.droppedIds;
  current.droppedJson = next.droppedJson;
  current.version = version;
}

/**
 * The record's JSON, with the history and dropped ids spliced in from their cached JSON (and a
 * new entry's JSON after them, when given): the same text as JSON.stringify of the whole record.
 */
function serialise(
  record: Omit<MachineRecord, 'history' | 'dropped_ids'>,
  droppedJson: string,
  entries: readonly string[],
  added?: string,
): string {
  const head = JSON.stringify({
    format: record.format,
    id: record.id,
    config_id: record.config_id,
    state: record.state,
    dropped: record.dropped,
  });
  const history =
    added === undefined
      ? entries.join(',')
      : entries.length === 0
        ? added
        : `${entries.join(',')},${added}`;
  return `${head.slice(0, -1)},"dropped_ids":${droppedJson},"history":[${history}]}`;
}

function view(record: MachineRecord): MachineView {
  return {
    id: record.id,
    config_id: record.config_id,
    state: record.state,
    // A copy: the cached record's history is changed in place by later events.
    history: record.history.slice(),
    dropped: record.dropped,
  };
}

function positive(
  value: number | undefined,
  name: string,
  fallback: number,
  zeroAllowed = false,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < (zeroAllowed ? 0 : 1)) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${CONTEXT}: ${name} must be an integer ${zeroAllowed ? '>= 0' : '>= 1'}, got ${String(
        value,
      )}`,
    );
  }
  return value;
}

import { invalidRequest } from './errors.js';

/** One allowed move: on `event` in state `from`, go to `to`. */
export interface Transition {
  from: string;
  to: string;
  event: string;
}

/** An immutable, versioned machine definition; its id is `name:version`. */
export interface Configuration {
  name: string;
  version: string;
  states: string[];
  transitions: Transition[];
  starting_state: string;
}

/** A point in time as protobuf's `Timestamp` (what the Go sm-server stored and returned). */
export interface Timestamp {
  seconds: number;
  nanos: number;
}

/** One applied event in a machine's history. */
export interface HistoryEntry {
  event_id: string;
  timestamp: Timestamp;
  transition: Transition;
  originator: string;
  /** Free-form payload sent with the event (the Go sm-server's `details`). */
  details?: string;
}

/** The stored record of one machine: one value, changed by one compare-and-swap per event. */
export interface MachineRecord {
  /** Format of this record (a later change can still read this shape). */
  format: 1;
  id: string;
  config_id: string;
  state: string;
  history: HistoryEntry[];
  /** How many of the oldest history entries were dropped by `historyLimit`. */
  dropped: number;
  /** Ids of the most recently dropped entries, still recognised as duplicates. */
  dropped_ids: string[];
}

/** An event to apply, as it arrives over gRPC, SQS or CloudEvents. */
export interface IncomingEvent {
  /** Event name (`transition.event` in the Go sm-server's messages). */
  event: string;
  /** Unique id; a redelivered event with an id already in the history is not applied again. */
  eventId: string;
  /** Who sent it. @default "" */
  originator?: string;
  /** When it happened. @default now */
  timestamp?: Timestamp;
  details?: string;
}

// Names and versions become storage key segments: a safe alphabet, so no key can escape its prefix.
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const MACHINE_ID = /^[A-Za-z0-9_][A-Za-z0-9._~:#@+=-]{0,199}$/;
// The C0 controls and DEL, by code point (a regex literal with them trips no-control-regex).
const CONTROL = new RegExp(
  '[' + String.fromCharCode(0) + '-' + String.fromCharCode(0x1f, 0x7f) + ']',
);

/** Checks a configuration name or version; `INVALID_REQUEST` naming `field` otherwise. */
export function assertName(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || !NAME.test(value) || value === '.' || value === '..') {
    throw invalidRequest(
      field,
      `must be 1-128 letters, digits, ".", "_" or "-" (not starting with "." or "-"), got ${JSON.stringify(
        value,
      )}`,
    );
  }
}

/** Checks a machine id; `INVALID_REQUEST` naming `field` otherwise. */
export function assertMachineId(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || !MACHINE_ID.test(value)) {
    throw invalidRequest(
      field,
      `must be 1-200 letters, digits or ._~:#@+=- (not starting with "." or a sign), got ${JSON.stringify(
        value,
      )}`,
    );
  }
}

/** Checks a state, event or originator string. */
export function assertLabel(
  value: unknown,
  field: string,
  allowEmpty = false,
): asserts value is string {
  if (
    typeof value !== 'string' ||
    (!allowEmpty && value.length === 0) ||
    value.length > 256 ||
    CONTROL.test(value)
  ) {
    throw invalidRequest(
      field,
      `must be a ${
        allowEmpty ? '' : 'non-empty '
      }string of at most 256 characters without control characters, got ${JSON.stringify(value)}`,
    );
  }
}

/** The id of a configuration: `name:version`. */
export function configurationId(configuration: Pick<Configuration, 'name' | 'version'>): string {
  return `${configuration.name}:${configuration.version}`;
}

/** Splits `name:version`; `INVALID_REQUEST` naming `field` when it is not one. */
export function parseConfigurationId(
  id: unknown,
  field: string,
): { name: string; version: string } {
  if (typeof id !== 'string' || !id.includes(':')) {
    throw invalidRequest(
      field,
      `must be a configuration id "name:version", got ${JSON.stringify(id)}`,
    );
  }
  const at = id.lastIndexOf(':');
  const name = id.slice(0, at);
  const version = id.slice(at + 1);
  assertName(name, `${field} (name)`);
  assertName(version, `${field} (version)`);
  return { name, version };
}

/**
 * Validates a configuration as received (either spelling of the starting state, `version`
 * defaulting to "v1" as in the Go sm-server) and returns its canonical form. Refuses, naming the field:
 * unknown states in transitions, a starting state not among the states, duplicate states, and
 * two transitions from one state on one event.
 */
export function normaliseConfiguration(input: unknown): Configuration {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw invalidRequest('body', 'must be a JSON object');
  const raw = input as Record<string, unknown>;
  assertName(raw['name'], 'name');
  const version = raw['version'] ?? 'v1';
  assertName(version, 'version');
  const states: unknown = raw['states'];
  if (!Array.isArray(states) || states.length === 0)
    throw invalidRequest('states', 'must be a non-empty array of state names');
  if (states.length > 1000) throw invalidRequest('states', 'must have at most 1000 states');
  const seen = new Set<string>();
  states.forEach((state, i) => {
    assertLabel(state, `states[${i}]`);
    if (seen.has(state))
      throw invalidRequest(`states[${i}]`, `repeats the state ${JSON.stringify(state)}`);
    seen.add(state);
  });
  const start = raw['starting_state'] ?? raw['startingState'];
  if (
    raw['starting_state'] !== undefined &&
    raw['startingState'] !== undefined &&
    raw['starting_state'] !== raw['startingState']
  ) {
    throw invalidRequest('starting_state', 'and startingState disagree: send one of them');
  }
  assertLabel(start, 'starting_state');
  if (!seen.has(start))
    throw invalidRequest('starting_state', `${JSON.stringify(start)} is not one of the states`);
  const transitions = raw['transitions'] ?? [];
  if (!Array.isArray(transitions))
    throw invalidRequest('transitions', 'must be an array of { from, to, event }');
  if (transitions.length > 10_000)
    throw invalidRequest('transitions', 'must have at most 10000 transitions');
  const moves = new Set<string>();
  const canonical: Transition[] = transitions.map((t: unknown, i) => {
    const field = `transitions[${i}]`;
    if (typeof t !== 'object' || t === null)
      throw invalidRequest(field, 'must be an object { from, to, event }');
    const { from, to, event } = t as Record<string, unknown>;
    assertLabel(from, `${field}.from`);
    assertLabel(to, `${field}.to`);
    assertLabel(event, `${field}.event`);
    if (!seen.has(from))
      throw invalidRequest(`${field}.from`, `${JSON.stringify(from)} is not one of the states`);
    if (!seen.has(to))
      throw invalidRequest(`${field}.to`, `${JSON.stringify(to)} is not one of the states`);
    const move = JSON.stringify([from, event]);
    if (moves.has(move))
      throw invalidRequest(
        field,
        `is a second transition from ${JSON.stringify(from)} on ${JSON.stringify(event)}`,
      );
    moves.add(move);
    return { from, to, event };
  });
  return {
    name: raw['name'],
    version,
    states: states.map(String),
    transitions: canonical,
    starting_state: start,
  };
}

/** Now as a protobuf Timestamp. */
export function timestampNow(now = Date.now()): Timestamp {
  return { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1_000_000 };
}

/** Checks a Timestamp; `INVALID_REQUEST` naming `field` otherwise. */
export function assertTimestamp(value: unknown, field: string): asserts value is Timestamp {
  const t = value as Timestamp | null;
  if (
    typeof t !== 'object' ||
    t === null ||
    !Number.isSafeInteger(t.seconds) ||
    t.seconds < 0 ||
    !Number.isInteger(t.nanos) ||
    t.nanos < 0 ||
    t.nanos > 999_999_999
  ) {
    throw invalidRequest(
      field,
      `must be { seconds: integer >= 0, nanos: 0..999999999 }, got ${JSON.stringify(value)}`,
    );
  }
}

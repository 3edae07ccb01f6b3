import type { AnyStateMachine } from 'xstate';
import { DurableError, ErrorCode } from '../errors.js';

/** The parts of an xstate state node this module reads. */
interface StateNodeLike {
  readonly id: string;
  readonly path: readonly string[];
  readonly states: Readonly<Record<string, StateNodeLike>>;
}

interface MachineIndex {
  byId: Map<string, StateNodeLike>;
  paths: string[];
}

const indexes = new WeakMap<AnyStateMachine, MachineIndex>();

function indexOf(machine: AnyStateMachine): MachineIndex {
  let index = indexes.get(machine);
  if (index !== undefined) return index;
  index = { byId: new Map(), paths: [] };
  const visit = (node: StateNodeLike): void => {
    index.byId.set(node.id, node);
    if (node.path.length > 0) index.paths.push(node.path.join('.'));
    for (const child of Object.values(node.states ?? {})) visit(child);
  };
  visit(machine.root as unknown as StateNodeLike);
  indexes.set(machine, index);
  return index;
}

/**
 * The dot-separated path from the root of the state a middleware key names, or `undefined` when
 * it names none. Accepted: a path (`check.grounded.running`), an xstate id reference (`#grounded`,
 * `#grounded.running`) and xOrca's form, where a `#` segment may also be a child's
 * key (`#Regulate.#Grounded.Check`).
 */
export function resolveStateKey(machine: AnyStateMachine, key: string): string | undefined {
  const { byId } = indexOf(machine);
  let node = machine.root as unknown as StateNodeLike;
  for (const segment of key.split('.')) {
    if (segment.length === 0) return undefined;
    if (segment.startsWith('#')) {
      const name = segment.slice(1);
      const target = byId.get(name) ?? node.states?.[name];
      if (target === undefined) return undefined;
      node = target;
      continue;
    }
    const child = node.states?.[segment];
    if (child === undefined) return undefined;
    node = child;
  }
  return node.path.length === 0 ? undefined : node.path.join('.');
}

/** Every state path of the machine (nested ones included), sorted. */
export function statePaths(machine: AnyStateMachine): string[] {
  return [...indexOf(machine).paths].sort();
}

const resolved = new WeakMap<object, Map<AnyStateMachine, Readonly<Record<string, unknown>>>>();

/**
 * @internal Re-keys `orchestration` middleware by state path for `machine`; a key naming no state
 * is `CONFIG` listing the valid ones (a typo would otherwise never fire and say nothing). With
 * `lenient`, keys unknown to this machine are dropped instead (another registered version has them).
 */
export function resolveMiddlewareKeys<T>(
  machine: AnyStateMachine,
  middleware: Readonly<Record<string, T>>,
  context: string,
  lenient = false,
): Readonly<Record<string, T>> {
  const cached = lenient ? undefined : resolved.get(middleware)?.get(machine);
  if (cached !== undefined) return cached as Readonly<Record<string, T>>;
  const byPath: Record<string, T> = {};
  const unknown: string[] = [];
  for (const [key, handler] of Object.entries(middleware)) {
    const path = resolveStateKey(machine, key);
    if (path === undefined) {
      unknown.push(key);
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(byPath, path)) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: two orchestration middleware keys name the state ${path} of machine ${machine.id}; keep one`,
      );
    }
    byPath[path] = handler;
  }
  if (unknown.length > 0 && !lenient) throw unknownStates(machine, unknown, context);
  if (!lenient) {
    let perMachine = resolved.get(middleware);
    if (perMachine === undefined)
      resolved.set(
        middleware,
        (perMachine = new Map<AnyStateMachine, Readonly<Record<string, unknown>>>()),
      );
    perMachine.set(machine, byPath);
  }
  return byPath;
}

/** @internal `CONFIG` for middleware keys that name no state, listing the valid ones. */
export function unknownStates(
  machine: AnyStateMachine,
  keys: readonly string[],
  context: string,
): DurableError {
  const valid = statePaths(machine);
  const shown =
    valid.length > 40
      ? `${valid.slice(0, 40).join(', ')}, ... (${valid.length} in all)`
      : valid.join(', ');
  return new DurableError(
    ErrorCode.CONFIG,
    `${context}: orchestration middleware ${keys
      .map((key) => JSON.stringify(key))
      .join(', ')} name${keys.length === 1 ? 's' : ''} no state of machine ${machine.id}; ` +
      `use a dotted path from the root or an xstate #id reference. Valid states: ${shown}`,
    { details: { keys: [...keys], valid } },
  );
}

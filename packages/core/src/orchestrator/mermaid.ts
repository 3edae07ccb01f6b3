import type { AnyStateMachine, StateValue } from 'xstate';
import { leafPaths } from './state-paths.js';

/** Options for {@link toMermaid}. */
export interface MermaidOptions {
  /** The state to mark (a snapshot or a state value); its active leaf states get the `current` class. */
  current?: { value: StateValue } | StateValue;
  /** Fill colour of the current states. @default "#ffd54f" */
  currentColor?: string;
}

interface NodeLike {
  key: string;
  path: string[];
  type: string;
  states: Record<string, NodeLike>;
  initial?: { target?: readonly NodeLike[] };
  transitions: Map<
    string,
    ReadonlyArray<{ target?: readonly NodeLike[]; guard?: unknown; eventType: string }>
  >;
  always?: ReadonlyArray<{ target?: readonly NodeLike[]; guard?: unknown; eventType: string }>;
}

/**
 * Renders a machine as a Mermaid `stateDiagram-v2`, with the process's current state marked,
 * so a person can see where an orchestration stands (paste it into any Mermaid viewer).
 */
export function toMermaid(machine: AnyStateMachine, options: MermaidOptions = {}): string {
  const root = machine.root as unknown as NodeLike;
  const lines = ['stateDiagram-v2'];
  const edges: string[] = [];
  renderChildren(root, '  ', lines);
  collectEdges(root, edges);
  lines.push(...edges.map((edge) => `  ${edge}`));
  if (options.current !== undefined) {
    const value = isSnapshotLike(options.current) ? options.current.value : options.current;
    const marked = leafPaths(value).map((path) => nodeId(path.split('.')));
    lines.push(
      `  classDef current fill:${options.currentColor ?? '#ffd54f'},stroke:#333,stroke-width:3px`,
    );
    for (const id of marked) lines.push(`  class ${id} current`);
  }
  return lines.join('\n');
}

function renderChildren(node: NodeLike, indent: string, lines: string[]): void {
  const children = Object.values(node.states);
  const initial = node.initial?.target?.[0];
  if (node.type !== 'parallel' && initial !== undefined)
    lines.push(`${indent}[*] --> ${nodeId(initial.path)}`);
  children.forEach((child, index) => {
    const id = nodeId(child.path);
    lines.push(`${indent}state "${child.key.replace(/"/g, "'")}" as ${id}`);
    if (Object.keys(child.states).length > 0) {
      lines.push(`${indent}state ${id} {`);
      renderChildren(child, `${indent}  `, lines);
      lines.push(`${indent}}`);
    }
    // Inside its parent's block, so a nested final state ends its region, not the whole machine.
    if (child.type === 'final') lines.push(`${indent}${id} --> [*]`);
    // Regions of a parallel state are separated by "--".
    if (node.type === 'parallel' && index < children.length - 1) lines.push(`${indent}--`);
  });
}

function collectEdges(node: NodeLike, edges: string[]): void {
  const from = nodeId(node.path);
  if (node.path.length > 0) {
    for (const [eventType, transitions] of node.transitions) {
      for (const transition of transitions) addEdge(edges, from, transition, eventLabel(eventType));
    }
    for (const transition of node.always ?? []) addEdge(edges, from, transition, 'always');
  }
  for (const child of Object.values(node.states)) collectEdges(child, edges);
}

function addEdge(
  edges: string[],
  from: string,
  transition: { target?: readonly NodeLike[]; guard?: unknown },
  label: string,
): void {
  const guard = guardName(transition.guard);
  for (const target of transition.target ?? []) {
    edges.push(
      `${from} --> ${nodeId(target.path)} : ${label}${guard === undefined ? '' : ` [${guard}]`}`,
    );
  }
}

function eventLabel(eventType: string): string {
  if (eventType.startsWith('xstate.done.state.')) return 'done';
  const after = /^xstate\.after\.(\d+)\./.exec(eventType);
  if (after !== null) return `after ${after[1]} ms`;
  if (eventType.startsWith('xstate.done.actor.'))
    return `done(${eventType.slice('xstate.done.actor.'.length)})`;
  if (eventType.startsWith('xstate.error.actor.'))
    return `error(${eventType.slice('xstate.error.actor.'.length)})`;
  return eventType.replace(/:/g, '-');
}

function guardName(guard: unknown): string | undefined {
  if (typeof guard === 'string') return guard;
  if (
    typeof guard === 'object' &&
    guard !== null &&
    typeof (guard as { type?: unknown }).type === 'string'
  ) {
    return (guard as { type: string }).type;
  }
  return guard === undefined ? undefined : 'guard';
}

function nodeId(path: readonly string[]): string {
  return path.length === 0
    ? 'root'
    : `s_${path.map((key) => key.replace(/[^A-Za-z0-9_]/g, '_')).join('__')}`;
}

function isSnapshotLike(value: unknown): value is { value: StateValue } {
  return typeof value === 'object' && value !== null && 'value' in value;
}

import type { StateValue } from 'xstate';

/**
 * Every active state path of a state value, parents before children, dot-separated from the
 * root: `{ check: { grounded: 'running' } }` gives `check`, `check.grounded`, `check.grounded.running`.
 */
export function activePaths(value: StateValue, parent = ''): string[] {
  if (typeof value === 'string') return [join(parent, value)];
  const paths: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = join(parent, key);
    paths.push(path);
    if (child !== undefined) paths.push(...activePaths(child, path));
  }
  return paths;
}

/** The deepest active paths only (one per parallel region), for display. */
export function leafPaths(value: StateValue): string[] {
  const all = activePaths(value);
  return all.filter((path) => !all.some((other) => other.startsWith(`${path}.`)));
}

function join(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

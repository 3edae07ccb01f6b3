// In-process wake-ups for waiting acquires: every SqliteLockManager on one database path in this
// process shares these listeners, so a release wakes the waiters of its key at once.
const listeners = new Map<string, Set<() => void>>();

function slot(path: string, key: string): string {
  return `${path}\u0000${key}`;
}

/** Subscribes `onChange` to releases of `key` in the database at `path`; returns the unsubscribe function. */
export function watchReleases(path: string, key: string, onChange: () => void): () => void {
  const name = slot(path, key);
  let set = listeners.get(name);
  if (set === undefined) listeners.set(name, (set = new Set()));
  set.add(onChange);
  return () => {
    set.delete(onChange);
    if (set.size === 0) listeners.delete(name);
  };
}

/** Wakes every waiter on `key` in the database at `path`. */
export function notifyRelease(path: string, key: string): void {
  for (const onChange of listeners.get(slot(path, key)) ?? []) onChange();
}

/**
 * Runs `body` at once and returns its result as a promise, and a throw as a rejection: what an
 * `async` function whose body never awaits does. The in-memory implementations use it, since
 * their contract methods return promises but have nothing to wait for.
 */
export function settle<T>(body: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(body()));
}

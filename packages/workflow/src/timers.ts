// Node's setTimeout fires at once for delays past 2^31-1 ms (24.8 days); long waits are chunked.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves after `ms` (any length) or when `signal` aborts (never rejects). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const deadline = Date.now() + Math.max(0, ms);
    let timer: NodeJS.Timeout;
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const arm = (): void => {
      const left = deadline - Date.now();
      if (left <= 0) {
        done();
        return;
      }
      timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    };
    signal?.addEventListener('abort', done, { once: true });
    timer = setTimeout(arm, Math.min(Math.max(0, ms), MAX_TIMER_MS));
  });
}

import type { StorageManager } from '../../src/index.js';

// A storage wrapper for pause tests: it counts calls by operation and, once armed, stops before
// or after its n-th call until released, so a test can run other work at that exact point.

const OPS = new Set(['read', 'write', 'delete', 'exists', 'list']);

/** Storage that counts calls by operation and, once armed, stops before or after its n-th call. */
export class Gate {
  calls = 0;
  readonly counts = new Map<string, number>();
  private at = 0;
  private phase: 'before' | 'after' = 'before';
  private reachedResolve: () => void = () => undefined;
  private releaseResolve: () => void = () => undefined;
  reached: Promise<void> = Promise.resolve();
  private released: Promise<void> = Promise.resolve();
  readonly storage: StorageManager;

  constructor(inner: StorageManager) {
    this.storage = new Proxy(inner, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof prop !== 'string' || !OPS.has(prop) || typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const n = ++this.calls;
          this.counts.set(prop, (this.counts.get(prop) ?? 0) + 1);
          if (n === this.at && this.phase === 'before') await this.stop();
          const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(
            target,
            args,
          );
          if (n === this.at && this.phase === 'after') await this.stop();
          return result;
        };
      },
    });
  }

  arm(at: number, phase: 'before' | 'after'): void {
    this.calls = 0;
    this.at = at;
    this.phase = phase;
    this.reached = new Promise((resolve) => (this.reachedResolve = resolve));
    this.released = new Promise((resolve) => (this.releaseResolve = resolve));
  }

  release(): void {
    this.at = 0;
    this.releaseResolve();
  }

  private async stop(): Promise<void> {
    this.reachedResolve();
    await this.released;
  }
}

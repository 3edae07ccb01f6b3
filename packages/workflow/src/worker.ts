import type { ClaimedWorkflow } from '@durable/core';
import { isRetryable } from './misuse.js';
import type { ResolvedOptions } from './options.js';
import type { RunEnd } from './run.js';
import { runClaimed } from './run.js';
import { pause } from './timers.js';

const MAX_WAKEUPS = 10_000;

/** Counts of how runs ended on one worker. */
export type WorkerStats = Record<RunEnd, number>;

/**
 * A polling worker: claims due workflows (at most `concurrency` at once) and runs them.
 * `stop()` is graceful: no new claims; each running workflow is released at its next
 * operation (its current step finishes and is recorded first) or finishes.
 */
export class WorkflowWorker {
  /** Resolves when the worker has stopped and every run it started has ended. */
  readonly done: Promise<void>;
  /** How runs ended so far. */
  readonly stats: WorkerStats = { completed: 0, failed: 0, aborted: 0, suspended: 0, released: 0, lost: 0, errored: 0 };
  private readonly stopping = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private readonly wakeups: number[] = [];
  private nudge: AbortController = new AbortController();

  /**
   * @param untilIdle Stop by itself once nothing is due and nothing runs (a serverless drain).
   */
  constructor(
    private readonly options: ResolvedOptions,
    signal?: AbortSignal,
    private readonly untilIdle = false,
  ) {
    if (signal !== undefined) {
      if (signal.aborted) this.stopping.abort();
      else signal.addEventListener('abort', () => void this.stop(), { once: true });
    }
    // Never rejects: nothing a workflow, a store or onError does may end the worker's process.
    this.done = this.loop().catch((error: unknown) => this.options.onError(error));
  }

  /** Stops claiming, lets running workflows finish or releases them; resolves when all ended. */
  async stop(): Promise<void> {
    if (!this.stopping.signal.aborted) this.stopping.abort();
    this.nudge.abort();
    await this.done;
  }

  private async loop(): Promise<void> {
    const { store, concurrency, pollIntervalMs, timeoutIntervalMs, clock } = this.options;
    while (!this.stopping.signal.aborted) {
      if (this.untilIdle && concurrency === 0) break;
      if (concurrency === 0 || this.running.size >= concurrency) {
        await this.idle(concurrency === 0 ? pollIntervalMs : Number.POSITIVE_INFINITY);
        continue;
      }
      let claimed: ClaimedWorkflow | undefined;
      try {
        claimed = await store.claim({ leaseMs: timeoutIntervalMs });
      } catch (error) {
        this.options.onError(error);
        await this.idle(Math.max(pollIntervalMs, isRetryable(error) ? 0 : 100));
        continue;
      }
      if (claimed === undefined) {
        if (this.untilIdle) {
          if (this.running.size === 0) break;
          await this.idle(Number.POSITIVE_INFINITY); // until a run ends: it may have started another workflow
          continue;
        }
        const now = clock();
        while (this.wakeups.length > 0 && (this.wakeups[0] ?? 0) <= now) this.wakeups.shift();
        const next = this.wakeups[0];
        await this.idle(next === undefined ? pollIntervalMs : Math.min(pollIntervalMs, Math.max(0, next - now)));
        continue;
      }
      const run = runClaimed(this.options, claimed, this.stopping.signal, (runAt) => this.remember(runAt))
        .catch((error: unknown): RunEnd => {
          // Only a store handing out a malformed claim gets here: even then, never an unhandled rejection.
          this.options.onError(error, typeof claimed?.record?.id === 'string' ? claimed.record.id : undefined);
          return 'errored';
        })
        .then((end) => {
          this.stats[end]++;
          this.running.delete(run);
          this.nudge.abort();
        });
      this.running.add(run);
    }
    await Promise.all([...this.running]);
  }

  /** Waits up to `ms`, or until a run ends or stop() is called. */
  private async idle(ms: number): Promise<void> {
    if (this.nudge.signal.aborted) this.nudge = new AbortController();
    const signal = this.nudge.signal;
    const onStop = (): void => this.nudge.abort();
    this.stopping.signal.addEventListener('abort', onStop, { once: true });
    if (ms === Number.POSITIVE_INFINITY) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    else await pause(ms, signal);
    this.stopping.signal.removeEventListener('abort', onStop);
  }

  // Sleeps this worker itself suspended: wake up for them instead of waiting a whole poll interval.
  private remember(runAt: number): void {
    if (this.wakeups.length >= MAX_WAKEUPS) this.wakeups.pop(); // the latest: a poll will find it
    const at = this.wakeups.findIndex((t) => t > runAt);
    this.wakeups.splice(at === -1 ? this.wakeups.length : at, 0, runAt);
  }
}

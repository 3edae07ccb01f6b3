import type { ClaimedWorkflow, NewWorkflow } from '@durable/core';
import { isRetryable } from './misuse.js';
import type { ResolvedOptions } from './options.js';
import type { RunEnd } from './run.js';
import { runClaimed } from './run.js';
import { observeRun } from './observe.js';
import { pause } from './timers.js';
import type { StartTaker } from './wakes.js';
import { onStart, onWorkWake } from './wakes.js';

const MAX_WAKEUPS = 10_000;

/** Counts of how runs ended on one worker. */
export type WorkerStats = Record<RunEnd, number>;

/**
 * A worker: claims due workflows (at most `concurrency` at once) and runs them. It claims again
 * at once when woken: by a start, signal or cancel in this process, by the store's `watch` (work
 * made claimable elsewhere, on stores that can tell), or by one of its runs ending; otherwise it
 * polls every `pollIntervalMs` (work that becomes due by time, stores without `watch`).
 * `stop()` is graceful: no new claims; each running workflow is released at its next
 * operation (its current step finishes and is recorded first) or finishes.
 */
export class WorkflowWorker implements StartTaker {
  /** Resolves when the worker has stopped and every run it started has ended. */
  readonly done: Promise<void>;
  /** How runs ended so far. */
  readonly stats: WorkerStats = {
    completed: 0,
    failed: 0,
    aborted: 0,
    suspended: 0,
    released: 0,
    lost: 0,
    errored: 0,
  };
  private readonly stopping = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private readonly wakeups: number[] = [];
  private nudge: AbortController = new AbortController();
  // Set by a wake; cleared just before a claim, so a wake during a claim is never lost.
  private woken = false;
  private readonly unsubscribe: Array<() => void> = [];

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
    const wake = (): void => this.wake();
    this.unsubscribe.push(onWorkWake(options.store, wake));
    // A drain ends once nothing is due: it does not take starts made meanwhile (a poll does).
    if (!untilIdle) this.unsubscribe.push(onStart(options.store, this));
    try {
      const stop = options.store.watch?.(wake);
      if (typeof stop === 'function') this.unsubscribe.push(stop);
    } catch (error) {
      this.options.onError(error); // a store that cannot watch after all: the worker polls
    }
    // Never rejects: nothing a workflow, a store or onError does may end the worker's process.
    this.done = this.loop()
      .catch((error: unknown) => this.options.onError(error))
      .finally(() => {
        for (const stop of this.unsubscribe.splice(0)) {
          try {
            stop();
          } catch (error) {
            this.options.onError(error);
          }
        }
      });
  }

  /** Stops claiming, lets running workflows finish or releases them; resolves when all ended. */
  async stop(): Promise<void> {
    if (!this.stopping.signal.aborted) this.stopping.abort();
    this.nudge.abort();
    await this.done;
  }

  private wake(): void {
    this.woken = true;
    this.nudge.abort();
  }

  private async loop(): Promise<void> {
    const { store, concurrency, pollIntervalMs, timeoutIntervalMs, clock } = this.options;
    while (!this.stopping.signal.aborted) {
      if (this.untilIdle && concurrency === 0) break;
      if (concurrency === 0 || this.running.size >= concurrency) {
        // Full: only a run ending (which wakes again) frees a place; earlier wakes are moot.
        this.woken = false;
        await this.idle(concurrency === 0 ? pollIntervalMs : Number.POSITIVE_INFINITY);
        continue;
      }
      this.woken = false;
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
        await this.idle(
          next === undefined ? pollIntervalMs : Math.min(pollIntervalMs, Math.max(0, next - now)),
        );
        continue;
      }
      this.launch(claimed);
    }
    // A start taken meanwhile may launch one more run while the others end.
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /**
   * See {@link StartTaker.takeStart}: when this worker has a free place and knows the handler,
   * creates the workflow claimed (the place is held meanwhile) and runs it.
   */
  takeStart(workflow: NewWorkflow): Promise<boolean> | undefined {
    const { store, concurrency, timeoutIntervalMs } = this.options;
    if (
      typeof store.insertClaimed !== 'function' ||
      this.stopping.signal.aborted ||
      this.running.size >= concurrency ||
      !Object.hasOwn(this.options.handlers, workflow.handler)
    )
      return undefined;
    let free: () => void = () => undefined;
    const place = new Promise<void>((resolve) => (free = resolve));
    this.running.add(place);
    return (async () => {
      let launched = false;
      try {
        const claimed = await store.insertClaimed!(workflow, { leaseMs: timeoutIntervalMs });
        if (claimed === undefined) return false;
        // Launched even when stop() came meanwhile: the run then releases it at its first operation.
        this.launch(claimed);
        launched = true;
        return true;
      } finally {
        this.running.delete(place);
        free();
        // A place given back unused may let the loop claim (the run's end wakes it otherwise).
        if (!launched) this.wake();
      }
    })();
  }

  // Runs a claimed workflow in one of this worker's places.
  private launch(claimed: ClaimedWorkflow): void {
    const run = observeRun(this.options, claimed, () =>
      runClaimed(this.options, claimed, this.stopping.signal, (runAt) => this.remember(runAt)),
    )
      .catch((error: unknown): RunEnd => {
        // Only a store handing out a malformed claim gets here: even then, never an unhandled rejection.
        this.options.onError(
          error,
          typeof claimed?.record?.id === 'string' ? claimed.record.id : undefined,
        );
        return 'errored';
      })
      .then((end) => {
        this.stats[end]++;
        this.running.delete(run);
        this.wake();
      });
    this.running.add(run);
  }

  /** Waits up to `ms`, or until a wake (a run ended, work announced) or stop(). */
  private async idle(ms: number): Promise<void> {
    if (this.woken || this.stopping.signal.aborted) return;
    if (this.nudge.signal.aborted) this.nudge = new AbortController();
    const signal = this.nudge.signal;
    const onStop = (): void => this.nudge.abort();
    this.stopping.signal.addEventListener('abort', onStop, { once: true });
    if (ms === Number.POSITIVE_INFINITY)
      await new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => resolve(), { once: true }),
      );
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

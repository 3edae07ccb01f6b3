import type { NewWorkflow, WorkflowOutcome, WorkflowStore } from '@durable/core';

/**
 * In-process wake-ups, per store object: every client and worker of this process that shares a
 * store shares its wakes. A start, signal or cancel made here wakes this process's workers at once
 * (the store's own `watch`, when it has one, covers other processes), and a run that ends here
 * wakes the `result()` calls waiting for that workflow in this process, so neither waits for a
 * poll. Wakes are advice: a woken waiter reads the store, which alone decides.
 */
interface StoreWakes {
  work: Set<() => void>;
  finished: Map<string, Set<(finish?: LocalFinish) => void>>;
  takers: Set<StartTaker>;
}

/**
 * A worker of this process that can run a workflow started here at once: the start creates it
 * claimed for that worker (`WorkflowStore.insertClaimed`), with no claim to follow.
 */
export interface StartTaker {
  /**
   * Starts `workflow` claimed and runs it, when this worker has a free place and knows its
   * handler: true (created and running here) or false (the id exists, nothing changed);
   * `undefined` when it cannot take it (full, stopping, another handler set), the start then
   * being an ordinary insert. Rejects with what the store's insertClaimed threw.
   */
  takeStart(workflow: NewWorkflow): Promise<boolean> | undefined;
}

/**
 * How a run that ended in this process was recorded, once the store accepted it: what `result()`
 * needs, so a waiter in this process answers without reading the store again.
 */
export interface LocalFinish {
  /** The workflow's handler (definition) name. */
  handler: string;
  /** The outcome the store accepted (completed or aborted). */
  outcome: WorkflowOutcome;
}

const wakes = new WeakMap<WorkflowStore, StoreWakes>();

function of(store: WorkflowStore): StoreWakes {
  let found = wakes.get(store);
  if (found === undefined) {
    found = { work: new Set(), finished: new Map(), takers: new Set() };
    wakes.set(store, found);
  }
  return found;
}

function callAll<A extends unknown[]>(listeners: Iterable<(...args: A) => void>, ...args: A): void {
  for (const listener of [...listeners]) {
    try {
      listener(...args);
    } catch {
      // A wake is advice; the write before it has committed.
    }
  }
}

/** Wakes this process's workers on `store`: work may have become claimable. */
export function wakeWorkers(store: WorkflowStore): void {
  const found = wakes.get(store);
  if (found !== undefined) callAll(found.work);
}

/** Calls `listener` on every {@link wakeWorkers} of `store`; returns the function that stops it. */
export function onWorkWake(store: WorkflowStore, listener: () => void): () => void {
  const set = of(store).work;
  const entry = (): void => listener();
  set.add(entry);
  return () => {
    set.delete(entry);
  };
}

/** Offers `taker` the starts made in this process on `store`; returns the function that stops it. */
export function onStart(store: WorkflowStore, taker: StartTaker): () => void {
  const set = of(store).takers;
  set.add(taker);
  return () => {
    set.delete(taker);
  };
}

/**
 * Starts `workflow` claimed by one of this process's workers on `store` that can run it now;
 * `undefined` when none can (then the caller inserts it).
 */
export function startHere(
  store: WorkflowStore,
  workflow: NewWorkflow,
): Promise<boolean> | undefined {
  const found = wakes.get(store);
  if (found === undefined) return undefined;
  for (const taker of found.takers) {
    const taken = taker.takeStart(workflow);
    if (taken !== undefined) return taken;
  }
  return undefined;
}

/**
 * Says that workflow `id` reached a final state in this process (completed, aborted, cancelled);
 * `finish` when this process's run recorded it (after the store accepted it).
 */
export function announceFinished(store: WorkflowStore, id: string, finish?: LocalFinish): void {
  const waiting = wakes.get(store)?.finished.get(id);
  if (waiting !== undefined) callAll(waiting, finish);
}

/** Calls `listener` when {@link announceFinished} names `id`; returns the function that stops it. */
export function onFinished(
  store: WorkflowStore,
  id: string,
  listener: (finish?: LocalFinish) => void,
): () => void {
  const map = of(store).finished;
  let set = map.get(id);
  if (set === undefined) {
    set = new Set();
    map.set(id, set);
  }
  const entry = (finish?: LocalFinish): void => listener(finish);
  set.add(entry);
  return () => {
    const current = map.get(id);
    if (current === undefined) return;
    current.delete(entry);
    if (current.size === 0) map.delete(id);
  };
}

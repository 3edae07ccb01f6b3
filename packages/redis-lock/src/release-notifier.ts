import type { RedisClient } from './connection.js';
import { closeClient, duplicateClient } from './connection.js';

/**
 * Wakes waiters when a lock is released: one subscriber connection per manager listens on the
 * prefix's release channel (the release script PUBLISHes the lock's Redis key), so a waiter retries at once
 * instead of sleeping out its backoff. Best effort by design: a missed message only costs one
 * backoff interval, never correctness.
 */
export class ReleaseNotifier {
  private readonly listeners = new Map<string, Set<() => void>>();
  private subscriber: RedisClient | undefined;
  private subscribing: Promise<void> | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly channel: string,
  ) {}

  /** Calls `onRelease` whenever the lock stored at Redis key `key` is released, until the returned function is called. */
  listen(key: string, onRelease: () => void): () => void {
    this.ensureSubscribed();
    let set = this.listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(onRelease);
    return () => {
      set.delete(onRelease);
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
    };
  }

  /** Closes the subscriber connection (always ours: a duplicate of the client). */
  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    this.subscribing = undefined;
    if (subscriber !== undefined) await closeClient(subscriber);
  }

  private ensureSubscribed(): void {
    if (this.subscribing !== undefined) return;
    const subscriber = duplicateClient(this.client);
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string, key: string) => {
      if (channel !== this.channel) return;
      for (const onRelease of [...(this.listeners.get(key) ?? [])]) onRelease();
    });
    this.subscribing = subscriber.subscribe(this.channel).then(
      () => undefined,
      () => {
        // Not subscribed (server down): waiters fall back to plain backoff; try again next time.
        if (this.subscriber === subscriber) {
          this.subscriber = undefined;
          this.subscribing = undefined;
          subscriber.disconnect();
        }
      },
    );
  }
}

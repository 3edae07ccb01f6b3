import { PrefixWatchers, assertValidPrefix } from '@durable/core/adapter';
import type { RedisClient } from './connection.js';
import { closeClient, duplicateClient, runScript } from './connection.js';
import { WATCH_REGISTER } from './storage-scripts.js';

/** How long a watched prefix stays registered without a heartbeat (a crashed watcher stops costing). */
export const WATCH_TTL_MS = 60_000;
/** How often a live watcher renews its registrations: a third of their life. */
const HEARTBEAT_MS = WATCH_TTL_MS / 3;

/** The Redis names `watch` uses: the sorted set of watched prefixes and the channels' common start. */
export interface WatchKeyNames {
  /** Sorted set: member a watched prefix, score the epoch ms (server time) it expires at. */
  readonly watches: string;
  /** A prefix's channel is this followed by the prefix. */
  readonly channelPrefix: string;
}

/**
 * `watch` for {@link RedisStorageManager}, across processes, through PUBLISH/SUBSCRIBE. A watched
 * prefix is a member of a sorted set (renewed every 20 s, expiring after 60 s, server time); the
 * write script reads that set and PUBLISHes on the channel of each live prefix that starts the
 * key, so a write under no watched prefix publishes nothing. One subscriber connection (a
 * duplicate of the client, always ours) listens on the channels of this manager's prefixes.
 * Registering, then subscribing, then calling the prefix's listeners once closes the gap of
 * registering (a write before the SUBSCRIBE took hold is looked at). After the subscriber
 * reconnects (messages were missed), every prefix is registered again and every listener called
 * once. Writes of this manager also call its own listeners directly. Advice only: a failure
 * costs the watcher its early wake-up, never correctness; its caller polls.
 */
export class RedisWatches {
  private readonly local = new PrefixWatchers();
  // This manager's watched prefixes by channel.
  private readonly channels = new Map<string, string>();
  private subscriber: RedisClient | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly names: WatchKeyNames,
    private readonly context: string,
  ) {}

  /** Registers `prefix` and calls `listener` on each write heard under it; returns the stop function. */
  watch(prefix: string, listener: () => void): () => void {
    assertValidPrefix(prefix, this.context);
    const remove = this.local.add(prefix, listener);
    const channel = this.names.channelPrefix + prefix;
    if (!this.channels.has(channel)) {
      this.channels.set(channel, prefix);
      void this.start([channel]);
      this.heartbeat ??= setInterval(
        () => void this.register([...this.channels.values()]),
        HEARTBEAT_MS,
      ).unref();
    }
    return () => {
      remove();
      // Another watch of the same prefix in this manager keeps the subscription.
      if ([...this.local.prefixes()].includes(prefix) || !this.channels.has(channel)) return;
      this.channels.delete(channel);
      // The registration is left to expire: another process may watch the same prefix.
      this.subscriber?.unsubscribe(channel).catch(() => undefined);
      if (this.channels.size === 0 && this.heartbeat !== undefined) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
    };
  }

  /** After a write of `key` committed here: calls this manager's listeners of its prefixes. */
  changed(key: string): void {
    this.local.changed(key);
  }

  /** Stops renewing and closes the subscriber connection. */
  async close(): Promise<void> {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.channels.clear();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber !== undefined) await closeClient(subscriber);
  }

  // Registers the channels' prefixes, subscribes to the channels, then calls their listeners once.
  private async start(channels: string[]): Promise<void> {
    await this.register(channels.map((channel) => this.channels.get(channel) ?? ''));
    try {
      await this.connect().subscribe(...channels);
    } catch {
      // Not subscribed (server down): the reconnection subscribes to every channel again.
      return;
    }
    for (const channel of channels) {
      const prefix = this.channels.get(channel);
      if (prefix !== undefined) this.local.notify(prefix);
    }
  }

  private async register(prefixes: string[]): Promise<void> {
    const live = prefixes.filter((prefix) => this.channels.has(this.names.channelPrefix + prefix));
    if (live.length === 0) return;
    try {
      await runScript(this.client, WATCH_REGISTER, [this.names.watches], [WATCH_TTL_MS, ...live]);
    } catch {
      // Advice only: the next heartbeat registers again.
    }
  }

  private connect(): RedisClient {
    if (this.subscriber !== undefined) return this.subscriber;
    const subscriber = duplicateClient(this.client);
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string) => {
      const prefix = this.channels.get(channel);
      if (prefix !== undefined) this.local.notify(prefix);
    });
    // Every (re)connection registers and subscribes again and calls every listener once: messages
    // were missed meanwhile, the server may have lost the set, and a first SUBSCRIBE that failed
    // (server down at start) is retried here. On the first connection this repeats the start.
    subscriber.on('ready', () => {
      if (this.subscriber === subscriber && this.channels.size > 0)
        void this.start([...this.channels.keys()]);
    });
    return subscriber;
  }
}

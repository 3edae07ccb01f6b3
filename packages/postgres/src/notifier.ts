import { createHash } from 'node:crypto';
import type { Notification, Pool, PoolClient } from 'pg';
import { sleep } from '@durable/core/adapter';

/** The LISTEN/NOTIFY channel of one kind of change in one schema and table prefix. */
export function channelName(schema: string, prefix: string, kind: string): string {
  return `durable_${createHash('sha1')
    .update(`${schema}\u0000${prefix}\u0000${kind}`)
    .digest('hex')
    .slice(0, 24)}`;
}

type Listener = (payload: string) => void;

/**
 * Wake-ups across processes through PostgreSQL's LISTEN/NOTIFY: one connection of the pool,
 * taken when the first listener subscribes and kept until `close()`, listens on the channels in
 * use. Notifications are hints only (a waiter still checks the table): while that connection is
 * down some are missed, so every listener is called once it is back (and a channel's listeners
 * once its LISTEN has taken hold), and the callers' own polling bounds any wait.
 */
export class Notifier {
  private readonly listeners = new Map<string, Set<Listener>>();
  private client: PoolClient | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly pool: () => Pool) {}

  /** Calls `listener` with each payload notified on `channel`; returns the unsubscribe function. */
  subscribe(channel: string, listener: Listener): () => void {
    let set = this.listeners.get(channel);
    const fresh = set === undefined;
    if (set === undefined) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    if (fresh && this.client !== undefined) {
      // What was notified before the LISTEN took hold is lost: wake the channel once it has.
      void this.client.query(`LISTEN ${channel}`).then(
        () => this.local(channel, ''),
        () => undefined,
      );
    }
    this.connect();
    return () => {
      set.delete(listener);
    };
  }

  /** Calls this process's listeners of `channel` at once (the change was made here). */
  local(channel: string, payload: string): void {
    for (const listener of this.listeners.get(channel) ?? []) listener(payload);
  }

  /** Stops listening and returns the connection to the pool. */
  close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    client?.release(true);
    return Promise.resolve();
  }

  private connect(): void {
    if (this.client !== undefined || this.connecting !== undefined || this.closed) return;
    this.connecting = this.listen().finally(() => {
      this.connecting = undefined;
    });
  }

  private async listen(): Promise<void> {
    for (let wait = 50; !this.closed; wait = Math.min(wait * 2, 2000)) {
      let client: PoolClient | undefined;
      try {
        client = await this.pool().connect();
        client.on('error', () => undefined);
        for (const channel of this.listeners.keys()) await client.query(`LISTEN ${channel}`);
      } catch {
        client?.release(true);
        await sleep(wait);
        continue;
      }
      if (this.closed) {
        client.release(true);
        return;
      }
      const listening = client;
      listening.on('notification', (message: Notification) =>
        this.local(message.channel, message.payload ?? ''),
      );
      listening.on('error', () => {
        if (this.client !== listening) return;
        this.client = undefined;
        listening.release(true);
        this.connect();
      });
      this.client = listening;
      // Whatever was notified while no connection listened is lost: wake everyone once.
      for (const [channel] of this.listeners) this.local(channel, '');
      return;
    }
  }
}

import { PrefixWatchers, assertValidPrefix, createLockToken } from '@durable/core/adapter';
import type { Connection, Statement } from './connection.js';
import { statement } from './connection.js';
import { Notifier, channelName } from './notifier.js';
import type { Names } from './options.js';

/** How long a watcher's registration lives without a heartbeat (a crashed watcher's row stops costing). */
export const WATCH_TTL_MS = 60_000;
/** How often a live watcher renews its registrations: a third of their life. */
const HEARTBEAT_MS = WATCH_TTL_MS / 3;

/** The table of watched prefixes: one row per watcher, living until its `expires_at`. */
export function watchMigration(names: Names): { name: string; version: number; sql: string } {
  return {
    name: 'kv_watches',
    version: 1,
    sql: `CREATE TABLE IF NOT EXISTS ${names.table(
      'kv_watches',
    )} (prefix text COLLATE "C" NOT NULL, watcher text NOT NULL, channel text NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (prefix, watcher))`,
  };
}

/**
 * The tail of a write statement whose data-modifying CTE `w` returns the written key: one row
 * per written key (so the statement's row count stays the write's), and a `pg_notify` on the
 * channel of each live watcher whose prefix starts the key. In the write's own statement, so the
 * notification is sent on commit only; a write under no watched prefix sends none (no notify
 * lock at commit), and pays one scan of the small watches table.
 */
export function notifyWatchers(names: Names): string {
  return (
    ` SELECT (SELECT count(pg_notify(x.channel, '')) FROM ${names.table('kv_watches')} x` +
    ` WHERE x.expires_at > now() AND left(w.key, length(x.prefix)) = x.prefix) AS notified FROM w`
  );
}

interface Entry {
  readonly channel: string;
  // Each watch of a prefix has its own row: unwatching deletes it without touching another's.
  readonly watcher: string;
  unsubscribe: (() => void) | undefined;
  // The last registration failed: once one succeeds, the listeners may have missed writes.
  failed: boolean;
}

/**
 * `watch` for {@link PostgresStorageManager}, across processes, through LISTEN/NOTIFY. A watched
 * prefix is registered as a row of `<prefix>kv_watches` (renewed every 20 s, expiring after
 * 60 s), and listened to on its own channel; a write under it notifies that channel from its
 * own statement. The order closes the gap of registering: the row first, then LISTEN, then every
 * listener of the prefix is called once, so a write that committed before the LISTEN took hold
 * is looked at. Writes of this manager also call its own listeners directly. Everything here is
 * advice: a failed registration or a lost connection costs the watcher its early wake-up (its
 * caller polls); the next renewal registers again and calls the listeners once.
 */
export class PostgresWatches {
  private readonly local = new PrefixWatchers();
  private readonly entries = new Map<string, Entry>();
  private readonly notifier: Notifier;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly sql: Record<'register' | 'unregister' | 'sweep', Statement>;

  constructor(
    private readonly connection: Connection,
    private readonly context: string,
  ) {
    const names = connection.names;
    const table = names.table('kv_watches');
    this.notifier = new Notifier(() => connection.clients);
    this.sql = {
      register: statement(
        `INSERT INTO ${table} (prefix, watcher, channel, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))` +
          ` ON CONFLICT (prefix, watcher) DO UPDATE SET expires_at = excluded.expires_at`,
      ),
      unregister: statement(`DELETE FROM ${table} WHERE prefix = $1 AND watcher = $2`),
      // Rows of crashed watchers, long expired: writers skip them already, this drops them.
      sweep: statement(`DELETE FROM ${table} WHERE expires_at < now() - make_interval(secs => $1)`),
    };
  }

  /** Registers `prefix` and calls `listener` on each write heard under it; returns the stop function. */
  watch(prefix: string, listener: () => void): () => void {
    assertValidPrefix(prefix, this.context);
    const remove = this.local.add(prefix, listener);
    if (!this.entries.has(prefix)) {
      const { names } = this.connection;
      const entry: Entry = {
        channel: channelName(names.schema, names.prefix, `watch\u0000${prefix}`),
        watcher: createLockToken(),
        unsubscribe: undefined,
        failed: false,
      };
      this.entries.set(prefix, entry);
      void this.register(prefix, entry);
      this.heartbeat ??= setInterval(() => void this.renew(), HEARTBEAT_MS).unref();
    }
    return () => {
      remove();
      // Another watch of the same prefix in this manager keeps the registration.
      if ([...this.local.prefixes()].includes(prefix)) return;
      const entry = this.entries.get(prefix);
      if (entry === undefined) return;
      this.entries.delete(prefix);
      this.drop(prefix, entry);
    };
  }

  /** After a write of `key` committed here: calls this manager's listeners of its prefixes. */
  changed(key: string): void {
    this.local.changed(key);
  }

  /** Stops renewing, deletes this manager's registrations (best effort) and stops listening. */
  async close(): Promise<void> {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    const entries = [...this.entries];
    this.entries.clear();
    await Promise.all(entries.map(([prefix, entry]) => this.unregister(prefix, entry)));
    await this.notifier.close();
  }

  private drop(prefix: string, entry: Entry): void {
    entry.unsubscribe?.();
    void this.unregister(prefix, entry);
    if (this.entries.size === 0 && this.heartbeat !== undefined) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  private async unregister(prefix: string, entry: Entry): Promise<void> {
    try {
      await this.connection.query(this.sql.unregister, [prefix, entry.watcher], 'unwatch', prefix);
    } catch {
      // Advice only: the row expires by itself.
    }
  }

  private async renew(): Promise<void> {
    try {
      await this.connection.query(this.sql.sweep, [WATCH_TTL_MS / 1000], 'watch sweep');
    } catch {
      // The registrations below fail too, or not: each says so for itself.
    }
    await Promise.all([...this.entries].map(([prefix, entry]) => this.register(prefix, entry)));
  }

  private async register(prefix: string, entry: Entry): Promise<void> {
    try {
      await this.connection.query(
        this.sql.register,
        [prefix, entry.watcher, entry.channel, WATCH_TTL_MS / 1000],
        'watch',
        prefix,
      );
    } catch {
      entry.failed = true;
      return;
    }
    if (this.entries.get(prefix) !== entry) {
      // Unwatched while registering: the row just written must not outlive the watch.
      await this.unregister(prefix, entry);
      return;
    }
    if (entry.unsubscribe === undefined) {
      // The notifier calls the listener once when its LISTEN has taken hold (see the class comment).
      entry.unsubscribe = this.notifier.subscribe(entry.channel, () => this.local.notify(prefix));
    } else if (entry.failed) {
      this.local.notify(prefix);
    }
    entry.failed = false;
  }
}

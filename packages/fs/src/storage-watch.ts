import { createHash } from 'node:crypto';
import type { FSWatcher } from 'node:fs';
import {
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  utimesSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { DurableError, ErrorCode } from '@durable/core';
import { PrefixWatchers, assertValidPrefix } from '@durable/core/adapter';

/** Folder under the root that holds watch registrations and signals (no key folder starts with "."). */
export const WATCH_DIR = '.watch';
const REGISTRATION = '.p';
const SIGNAL = '.s';

/**
 * `watch` for {@link LocalFileStorageManager}, across processes, with a plain `fs.watch` of one
 * folder (recursive watches do not exist on Linux for Node 20, and keys live deep in folders).
 * A watcher registers its prefix as a file `<root>/.watch/<hash>.p` holding the prefix, and
 * watches that folder. A writer, after a commit, touches `<hash>.s` for each registered prefix
 * of the key; the watcher hears the touch and calls its listeners. Writers re-read the
 * registrations only when the folder's mtime changes (one lstat per write otherwise).
 * Everything here is advice: a touch that fails, a registration not yet seen, an event the
 * kernel dropped only cost the watcher its early wake-up; its caller polls. Registrations are
 * never removed (another process may watch the same prefix): a stale one costs writers under
 * that prefix one touch per write.
 */
export class FileWatches {
  private readonly local = new PrefixWatchers();
  private readonly dir: string;
  // Registrations seen by this process as a writer, and the folder mtime they were read at.
  private seen: { mtimeMs: number; prefixes: Array<[string, string]> } | undefined;
  // This process's own watched prefixes by file name, and the folder watch that serves them.
  private readonly names = new Map<string, string>();
  private watcher: FSWatcher | undefined;

  constructor(
    root: string,
    private readonly context: string,
  ) {
    this.dir = join(root, WATCH_DIR);
  }

  /** Registers `prefix`, watches the signals, and calls `listener` on each write heard. */
  watch(prefix: string, listener: () => void): () => void {
    assertValidPrefix(prefix, this.context);
    const remove = this.local.add(prefix, listener);
    try {
      const name = signalName(prefix);
      this.register(prefix, name);
      this.names.set(`${name}${SIGNAL}`, prefix);
      this.watcher ??= this.startWatcher();
    } catch (error) {
      remove();
      throw new DurableError(
        ErrorCode.BACKEND,
        `${this.context}: watch failed for prefix ${JSON.stringify(prefix)} (${
          error instanceof Error ? error.message : String(error)
        }); poll instead`,
        { retryable: true, cause: error, details: { prefix } },
      );
    }
    return () => {
      remove();
      if (this.local.prefixes().next().done !== true) return;
      this.watcher?.close();
      this.watcher = undefined;
      this.names.clear();
    };
  }

  /** After a write of `key` committed: wake this process's watchers and signal the others. Never throws. */
  changed(key: string): void {
    this.local.changed(key);
    try {
      for (const [prefix, name] of this.registered())
        if (key.startsWith(prefix)) touch(join(this.dir, `${name}${SIGNAL}`));
    } catch {
      // Advice only: the write has committed, and a watcher that missed it polls.
    }
  }

  private register(prefix: string, name: string): void {
    mkdirSync(this.dir, { recursive: true });
    if (!lstatSync(this.dir).isDirectory()) throw new Error(`${this.dir} is not a folder`);
    const file = join(this.dir, `${name}${REGISTRATION}`);
    // Written whole under a temporary name, then linked: a writer never reads half a prefix.
    const temp = join(this.dir, `${name}.t-${process.pid}-${Date.now().toString(36)}`);
    writeFileSync(temp, prefix);
    try {
      linkSync(temp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(temp);
    }
  }

  private startWatcher(): FSWatcher {
    const watcher = watch(this.dir, { persistent: false }, (_event, file) => {
      const name = typeof file === 'string' ? file : undefined;
      const prefix = name === undefined ? undefined : this.names.get(name);
      // No file name (some platforms): any signal may be ours.
      if (name === undefined) this.local.notify();
      else if (prefix !== undefined) this.local.notify(prefix);
    });
    watcher.on('error', () => {
      // The folder went away or the watch broke: stop hearing; callers poll.
      watcher.close();
      if (this.watcher === watcher) this.watcher = undefined;
    });
    return watcher;
  }

  // The registered prefixes, re-read only when the folder changed.
  private registered(): Array<[string, string]> {
    let stat;
    try {
      stat = lstatSync(this.dir);
    } catch {
      this.seen = undefined;
      return [];
    }
    if (!stat.isDirectory()) return [];
    if (this.seen?.mtimeMs === stat.mtimeMs) return this.seen.prefixes;
    const prefixes: Array<[string, string]> = [];
    for (const file of readdirSync(this.dir)) {
      if (!file.endsWith(REGISTRATION)) continue;
      try {
        const prefix = readFileSync(join(this.dir, file), 'utf8');
        if (prefix !== '') prefixes.push([prefix, file.slice(0, -REGISTRATION.length)]);
      } catch {
        // Removed meanwhile, or unreadable: not a prefix to signal.
      }
    }
    this.seen = { mtimeMs: stat.mtimeMs, prefixes };
    return prefixes;
  }
}

function signalName(prefix: string): string {
  return createHash('sha256').update(prefix).digest('hex').slice(0, 32);
}

// A change of the file's times is what the watcher hears (inotify IN_ATTRIB); the first signal
// creates the file instead.
function touch(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    closeSync(openSync(path, 'a'));
  }
}
